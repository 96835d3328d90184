// SPDX-License-Identifier: BSD-3-Clause
// A simulated persistent medium for crash tests. The program stores straight into a heap
// buffer; durability is tracked by content: flush() snapshots the covered cache lines,
// drain() makes the snapshots durable. At any moment the medium can produce the images a
// power failure could leave behind: every cache line whose content differs from the durable
// image is independently lost, kept as flushed or kept as last written, optionally torn at
// 8-byte granularity (the only store size the hardware makes atomic). A line flushed several
// times before a fence may hold any of its flushed versions.
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
	flush, // after a flush (or copy/set) recorded its snapshots
	drain, // before a fence makes the pending snapshots durable
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

	// An all-zero medium of `size` bytes (a multiple of 64).
	explicit sim_media(uint64_t size, bool read_only = false);
	// A medium holding `image` as its durable content (a crash image, a file).
	sim_media(const std::vector<std::byte> &image, bool read_only = false);
	sim_media(const std::byte *image, uint64_t size, bool read_only = false);

	void flush(const void *addr, size_t len) noexcept override;
	void drain() noexcept override;
	void copy_nodrain(void *dst, const void *src, size_t len) noexcept override;
	void set_nodrain(void *dst, int c, size_t len) noexcept override;

	// Called at every drain (before the fence) and flush. The hook may draw images.
	void set_hook(hook_fn hook)
	{
		hook_ = std::move(hook);
	}
	// For fault injection: the drain with this number (1-based) does nothing and forgets the
	// pending flushes, as if the fence and the flushes before it were missing. 0 = none.
	void drop_drain(uint64_t n) noexcept
	{
		drop_drain_ = n;
	}
	// Calls the hook: lets a test mark a crash point of its own (right after an operation
	// returned, or where the program stored without flushing, e.g. filling a reservation).
	void crash_point()
	{
		call_hook(sim_event::point);
	}

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
	// The image if every store so far became durable / if nothing since the last fence did.
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
	void record_flush(const void *addr, size_t len) noexcept;
	std::vector<uint64_t> dirty_lines_locked() const;
	void call_hook(sim_event e);

	// Flushed, not yet fenced: per line, the bytes of each flush since the last drain (the
	// last one becomes durable at the drain; any of them may have reached the medium).
	std::unordered_map<uint64_t, std::vector<std::vector<std::byte>>> pending_;
	// Guards pending_ and persisted_: streams flush from many threads. The hook runs
	// unlocked, and only single-threaded tests install one.
	mutable std::mutex mutex_;
	std::shared_ptr<std::vector<std::byte>> sink_;
	hook_fn hook_;
	bool in_hook_ = false;
	std::atomic<uint64_t> drains_{0};
	std::atomic<uint64_t> flushes_{0};
	uint64_t drop_drain_ = 0;
};

} // namespace pmemstream::test

#endif
