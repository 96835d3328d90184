// SPDX-License-Identifier: BSD-3-Clause
// A simulated persistent medium for crash tests. The program stores straight into a heap
// buffer; durability is tracked by content. Under the persistent-memory fence model (the
// default), flush() snapshots the covered cache lines into the calling thread's pending set
// and drain() makes that thread's snapshots durable, and no other thread's: on x86 an sfence
// orders only the clwb/clflushopt of the thread that issues it. Under the msync model, flush()
// makes the range durable whoever stored it, and drain() orders nothing.
// At any moment the medium can produce the images a power failure could leave behind: every
// cache line whose content differs from the durable image is independently lost, kept as
// flushed (any version some thread flushed and has not fenced) or kept as last written,
// optionally torn at 8-byte granularity (the only store size the hardware makes atomic).
#ifndef PMEMSTREAM_TEST_SIM_MEDIA_HPP
#define PMEMSTREAM_TEST_SIM_MEDIA_HPP

#include "media.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

namespace pmemstream::test {

inline constexpr uint64_t line_size = 64;

// What the medium is doing when it calls its hook.
enum class sim_event {
	flush, // a flush (or copy/set) stored its bytes; under range_sync, before they are durable
	drain, // before a fence makes the calling thread's pending snapshots durable
	point, // a crash point the test marked (crash_point())
};

// A byte buffer aligned to the cache line.
class aligned_buffer {
public:
	explicit aligned_buffer(uint64_t size);
	std::byte *data() const noexcept
	{
		return data_.get();
	}
	uint64_t size() const noexcept
	{
		return size_;
	}

private:
	struct deleter {
		void operator()(std::byte *p) const noexcept;
	};
	std::unique_ptr<std::byte, deleter> data_;
	uint64_t size_;
};

// How crash images are drawn.
struct image_options {
	// Probability that a dirty line is torn word by word rather than kept or lost whole.
	double tear_probability = 0.25;
	// Probability that an untorn dirty line survives (else it is lost).
	double keep_probability = 0.5;
};

// Owns the buffers; a base so that they exist before detail::media is given their address.
struct sim_storage {
	sim_storage(uint64_t size) : current_(size), persisted_(size)
	{
	}
	aligned_buffer current_;
	aligned_buffer persisted_;
};

class sim_media : private sim_storage, public detail::media {
public:
	using hook_fn = std::function<void(sim_media &, sim_event)>;

	// What makes a flushed line durable.
	enum class fence_model {
		// Persistent memory with clwb/clflushopt + sfence: a drain makes durable the lines the
		// calling thread flushed since its own last drain, nothing another thread flushed.
		per_thread,
		// A file synced with msync (libpmem2 at page granularity): a flush makes the lines of
		// its range durable before it returns, whichever thread stored them; drain is a no-op.
		// Lines, not pages: a test that passes here relies only on the ranges it synced.
		range_sync,
	};

	// An all-zero medium of `size` bytes (a multiple of 64).
	explicit sim_media(uint64_t size, bool read_only = false, fence_model f = fence_model::per_thread);
	// A medium holding `image` as its durable content (a crash image, a file).
	sim_media(const std::vector<std::byte> &image, bool read_only = false, fence_model f = fence_model::per_thread);
	sim_media(const std::byte *image, uint64_t size, bool read_only = false, fence_model f = fence_model::per_thread);

	void flush(const void *addr, size_t len) noexcept override;
	void drain() noexcept override;
	void copy_nodrain(void *dst, const void *src, size_t len) noexcept override;
	void set_nodrain(void *dst, int c, size_t len) noexcept override;
	void store_lines(void *dst, const piece *pieces, size_t n, size_t unchanged) noexcept override;
	bool flush_syncs() const noexcept override
	{
		return fence_ == fence_model::range_sync;
	}

	// Stores without flushing, serialised like every store of the medium: for a medium of a
	// test's own that defers the flush (to an msync worker, say) while threads share it.
	void store(void *dst, const void *src, size_t len) noexcept;
	void fill(void *dst, int c, size_t len) noexcept;

	fence_model fence() const noexcept
	{
		return fence_;
	}
	// Called at every drain (before the fence) and flush. The hook may draw images. Install it
	// before any thread uses the medium.
	void set_hook(hook_fn hook)
	{
		hook_ = std::move(hook);
	}
	// Serialised: every store, flush, drain and crash point (with the hook it calls) runs
	// under one lock, so that a hook, or quiesced() on another thread, draws images of a
	// medium no thread is storing into while threads share it. Covers only the stores the
	// program makes through the medium (appends do; a caller filling a reservation does not).
	// Set before any thread uses the medium.
	void set_serialized(bool on) noexcept
	{
		serialized_ = on;
	}
	// Runs `fn` with the medium's stores held off (serialised media; `fn` must not use it
	// through the stream, only draw images).
	void quiesced(const std::function<void()> &fn);
	// For fault injection: the drain with this number (1-based, counted over all threads) does
	// nothing and forgets the calling thread's pending flushes, as if the fence and the flushes
	// before it were missing. 0 = none. Nothing is pending under range_sync.
	void drop_drain(uint64_t n) noexcept
	{
		drop_drain_ = n;
	}
	// Calls the hook: lets a test mark a crash point of its own (right after an operation
	// returned, or where the program stored without flushing, e.g. filling a reservation).
	void crash_point();

	uint64_t drains() const noexcept
	{
		return drains_;
	}
	uint64_t flushes() const noexcept
	{
		return flushes_;
	}

	// Lines whose current or flushed content differs from the durable image.
	std::vector<uint64_t> dirty_lines() const;
	// One image a power failure at this moment could leave. Returns a fingerprint of the
	// random choices (equal fingerprints at one moment mean equal images).
	uint64_t crash_image(std::mt19937_64 &rng, std::vector<std::byte> &out, const image_options &opt = {}) const;
	// The image if every store so far became durable / if nothing did that no fence (or,
	// under range_sync, no flush) made durable.
	std::vector<std::byte> current_image() const;
	std::vector<std::byte> persisted_image() const;
	// When the medium is destroyed (with its stream), its durable image is stored here: what a
	// power failure right after the stream's close would leave.
	void keep_on_destroy(std::shared_ptr<std::vector<std::byte>> sink)
	{
		sink_ = std::move(sink);
	}
	~sim_media() override;

private:
	// The bytes of one line as one flush saw them; `seq` orders every flush of the medium.
	struct snapshot {
		uint64_t seq;
		std::vector<std::byte> bytes;
	};
	using line_snapshots = std::unordered_map<uint64_t, std::vector<snapshot>>;

	std::unique_lock<std::mutex> serial_guard();
	void record_flush(const void *addr, size_t len) noexcept;
	void sync_range(const void *addr, size_t len) noexcept;
	void make_durable(uint64_t line, uint64_t seq, const std::byte *bytes, uint64_t n) noexcept;
	std::vector<uint64_t> dirty_lines_locked() const;
	void call_hook(sim_event e);

	// Flushed, not yet fenced, per thread: per line, the bytes of each flush since that
	// thread's last drain (its drain makes the last one durable; any of them may have reached
	// the medium). A thread's drain leaves the others' snapshots pending.
	std::unordered_map<uint64_t, line_snapshots> pending_; // by thread
	// Per line, the flush whose bytes are durable (absent: the initial content). A version
	// older than the durable one can no longer reach the medium: writebacks of one line
	// arrive in the order of the line's coherence, so it is pruned.
	std::unordered_map<uint64_t, uint64_t> durable_seq_;
	uint64_t seq_ = 0;
	// Guards pending_, durable_seq_ and persisted_: streams flush from many threads.
	mutable std::mutex mutex_;
	// Held around each store, flush and fence (and its hook) when serialized_; taken before
	// mutex_.
	std::mutex serial_;
	bool serialized_ = false;
	fence_model fence_;
	std::shared_ptr<std::vector<std::byte>> sink_;
	hook_fn hook_;
	bool in_hook_ = false;
	std::atomic<uint64_t> drains_{0};
	std::atomic<uint64_t> flushes_{0};
	uint64_t drop_drain_ = 0;
};

} // namespace pmemstream::test

#endif
