// SPDX-License-Identifier: BSD-3-Clause
// The paths by which entries reach a region, with any number of threads appending to it at
// once (docs/design.md 2.3). Plain appends are combined (see below); reservations, and
// appends while reservations are outstanding, take the claim path:
//   claim     under the region's lock, briefly: check the region, take the next bytes of its
//             space (a slot of its claim ring);
//   sequence  under the same lock, in claim order: take the timestamp (so offsets and
//             timestamps agree, rule E4); an append claimed behind a reservation that is not
//             published yet waits for it here;
//   fill      without the lock: wait for the region's in-flight window (entry k is written
//             only once entry k - W is persisted), write the entry's bytes, and on persistent
//             memory for a synchronous append flush and drain them (its one fence);
//   finish    under the lock, briefly: mark the claim filled and advance the region's visible
//             tail over the contiguous run of filled claims; then complete the timestamp;
//   wait      without the lock, a synchronous append until every smaller timestamp is
//             persisted (the prefix rule), an asynchronous one until it is committed.
// Combining: an append queues itself on the region (region_runtime::requests) and whoever
// holds the region's lock writes every queued append while nothing else is in flight there:
// it takes their bytes and one block of timestamps together, writes them as whole lines from
// the cached tail line, drains once for up to W of them and advances the tail, so two threads
// feeding one region pay one lock transfer and one fence per batch instead of per entry. A lone
// appender (nothing queued, the lock free, the last batch of one) skips the queue and writes
// its own request as a batch of one. While claims are outstanding (reservations) or a quiesce
// runs, queued appends take the claim path below, each on its own thread.
// An append that finds nothing else in flight in its region writes whole cache lines from the
// region's cached tail line with a zero fill (the fast path of a single writer); one with
// others in flight stores only its own bytes in the lines it shares with them. Reservations
// are claims too: several may be outstanding, one per thread per region; publish() and
// cancel() sequence them, and the unused rest of a claim that others follow becomes a padding
// entry. On msync media everything is stored and left to a sweep, so that threads appending
// at once share one msync.
// Sources: region_writer.cpp (waiting, the claim path), region_combine.cpp (combining),
// region_reservations.cpp (reserve, publish, cancel).
#ifndef PMEMSTREAM_ENGINE_REGION_WRITER_HPP
#define PMEMSTREAM_ENGINE_REGION_WRITER_HPP

#include "engine/commit_tracker.hpp"
#include "engine/region_runtime.hpp"
#include "engine/write_gate.hpp"
#include "media/media.hpp"

#include <pmemstream/stream.hpp>

#include <functional>
#include <mutex>
#include <span>

namespace pmemstream::detail {

// ---- what the layout-changing operations need of the claims (region_runtime::lock held) ----
// Waits, releasing and retaking `lk` meanwhile, until no claim of the region is outstanding;
// new claims wait until it returns. Callers first refuse a region with outstanding
// reservations (busy): their publish may be far off.
void quiesce(region_runtime &rt, std::unique_lock<region_mutex> &lk);
// Sleeps until rt.progress moves (releasing `lk`), then retakes `lk`.
void wait_progress(region_runtime &rt, std::unique_lock<region_mutex> &lk);
// Wakes the waiters of rt.progress, if any (lock held).
void bump_progress(region_runtime &rt) noexcept;

class region_writer {
public:
	// `windowed`: the stream has format::incompat_windowed (entries may carry flag_settled).
	region_writer(media &m, commit_tracker &tracker, write_gate &gate, bool windowed)
	    : m_(m), tracker_(tracker), gate_(gate), windowed_(windowed)
	{
	}

	// `id` is the caller's region id (0: whatever region lives in rt).
	result<appended> append(region_runtime &rt, uint64_t id, std::span<const std::byte> data, bool async);
	result<reservation> reserve(region_runtime &rt, uint64_t id, uint64_t size);
	result<uint64_t> publish(region_runtime &rt, uint64_t id, const entry &e, uint64_t size, bool async);
	status cancel(region_runtime &rt, uint64_t id, const entry &e);

	// Fast reopen (docs/format.md 8.5): once a region has grown `bytes` past its checkpoint,
	// the append that notices calls `hook` after it returns from its region's lock (the
	// stream writes checkpoints then). 0: never.
	void set_checkpoint_hook(uint64_t bytes, std::function<void()> hook)
	{
		checkpoint_bytes_ = bytes;
		checkpoint_hook_ = std::move(hook);
	}
	// Whether the region (lock held) is due for a checkpoint. Asked again by every append
	// until a round has written one (a round already running makes the hook return at
	// once), so a region whose append met a running round is not missed.
	bool checkpoint_due(const region_runtime &rt) const noexcept
	{
		if (checkpoint_bytes_ == 0)
			return false;
		const uint64_t grown = rt.tail.load(std::memory_order_relaxed) - rt.data_begin.load(std::memory_order_relaxed) - rt.sealed_tail;
		return grown >= checkpoint_bytes_;
	}
	// The ring (issue 14, docs/design.md 5.5): an append or reservation of `need` bytes (a
	// footprint) that got region_full calls `hook` without any lock held; when it returns
	// true (the region wrapped, or room was made otherwise) the append is tried again.
	using wrap_fn = std::function<result<bool>(region_runtime &, uint64_t id, uint64_t need)>;
	void set_wrap_hook(wrap_fn hook)
	{
		wrap_hook_ = std::move(hook);
	}
	// Runs the hook (transactions call it once their regions' locks are released).
	void run_checkpoint_hook() const
	{
		if (checkpoint_hook_)
			checkpoint_hook_();
	}

private:
	using claim = region_runtime::claim;
	using request = append_request;
	// The claim path of one append (what combine() hands back while claims are outstanding).
	result<appended> append_claimed(region_runtime &rt, uint64_t id, std::span<const std::byte> data, bool async);
	// A written request's outcome: its error, or the append once finish() has waited for it.
	result<appended> served(request &req, bool async);
	// With the lock: writes every queued request, or hands each back to its thread for the
	// claim path. Returns whether a checkpoint is due (the caller runs the hook unlocked).
	bool combine(region_runtime &rt);
	// How long a combiner waits for the requests it expects (region_runtime::combine_expect).
	static constexpr int64_t combine_wait_ns = 1000;
	// With the lock, nothing in flight: writes `n` requests (n <= W) as one batch.
	void write_batch(region_runtime &rt, request *const *reqs, size_t n);
	using lock_type = std::unique_lock<region_mutex>;

	// A claim being written: what the fill needs once the lock is released.
	struct work {
		uint64_t index = 0;
		uint64_t pos = 0, size = 0; // the claim's bytes (size: the entry's footprint)
		uint64_t ts = 0, ts2 = 0, pos2 = 0;
		uint64_t oldest = 0;	    // the window: persisted before the entry is written
		uint64_t prev_ts = 0;	    // the region's entry before it (flag_settled)
		uint64_t fill_wait = ~uint64_t{0}; // an exclusive claim whose zero fill covers this one
		uint64_t epoch = 0;
		bool exclusive = false;
	};

	claim &slot(region_runtime &rt, uint64_t index) const noexcept
	{
		return rt.claims[index % rt.max_in_flight];
	}
	status check_region(const region_runtime &rt, uint64_t id) const;
	// With the lock: waits while the region drains or its ring is full, then checks the
	// region again and claims `bytes` (region_full when they do not fit; with `exact` >
	// 0, a reservation claims `exact` when `bytes` does not fit: nothing can follow then).
	result<uint64_t> take_claim(region_runtime &rt, lock_type &lk, uint64_t id, uint64_t bytes, uint64_t exact, work &w);
	// With the lock: waits until every earlier claim is sequenced, then takes the claim's
	// timestamp (and `pad`'s, a padding entry after it). A failure marks the claim failed.
	status sequence(region_runtime &rt, lock_type &lk, work &w, bool pad);
	// Without the lock, before writing: the window and the zero fill of an exclusive claim.
	status prepare_fill(region_runtime &rt, work &w);
	// flag_settled for an entry whose region's previous entry has timestamp prev_ts.
	uint64_t settled_flag(uint64_t prev_ts) const noexcept
	{
		return windowed_ && prev_ts <= tracker_.persisted() ? format::flag_settled : 0;
	}
	static error too_large(uint64_t size);
	static error region_full(const region_runtime &rt, uint64_t left, uint64_t need);
	// Marks the claim filled (or failed), advances the region's tail, completes its
	// timestamps. `durable`: the entry was flushed and drained by this thread.
	status finish_claim(region_runtime &rt, const work &w, bool ok, bool durable, bool &checkpoint);
	// After the fill of an append or publish: finish_claim, then finish, then the checkpoint
	// hook if the region is due.
	status end_fill(region_runtime &rt, const work &w, bool ok, bool durable, bool async);
	// Without the lock: an append returns once every timestamp <= ts is committed
	// (asynchronous) or persisted (synchronous).
	status finish(uint64_t ts, bool async);
	// Writes a padding entry of `bytes` (>= 16) at `pos`.
	void write_padding(uint64_t pos, uint64_t bytes, uint64_t ts, uint64_t epoch, bool flush);
	// Whether an append flushes and drains itself (whole lines, non-temporal stores) rather
	// than storing and leaving the flush to a sweep: a synchronous append on persistent
	// memory; an asynchronous one there too from async_self_drain bytes on, where cached
	// stores written back by clwb cost more than the fences a sweep saves (docs/design.md
	// 2.2: 1646 against 458 ns at 4 KiB on the development VM). Non-temporal stores cannot be
	// left to another thread's sweep: they become visible and durable only by this thread's
	// fence.
	static constexpr uint64_t async_self_drain = 1024;
	bool drains_itself(bool async, uint64_t footprint) const noexcept
	{
		return !m_.flush_syncs() && (!async || footprint >= async_self_drain);
	}
	// Finds the outstanding reservation `e` (lock held); null when there is none.
	claim *find_reservation(region_runtime &rt, const entry &e) const noexcept;
	// The outstanding reservation `e` of the region (id as in append), or invalid_handle.
	result<claim *> named_reservation(region_runtime &rt, uint64_t id, const entry &e) const;
	// Cancels the reservation in `c` (lock held; may wait for its turn).
	status cancel_locked(region_runtime &rt, lock_type &lk, claim &c);

	media &m_;
	commit_tracker &tracker_;
	write_gate &gate_;
	const bool windowed_;
	std::atomic<uint64_t> tickets_{0};
	uint64_t checkpoint_bytes_ = 0;
	std::function<void()> checkpoint_hook_;
	wrap_fn wrap_hook_;
	// Whether a region_full outcome of `need` bytes is worth another try (the wrap hook made
	// room).
	bool wrapped_for(region_runtime &rt, uint64_t id, uint64_t need) const
	{
		if (!wrap_hook_)
			return false;
		auto r = wrap_hook_(rt, id, need);
		return r && *r;
	}
	result<appended> append_once(region_runtime &rt, uint64_t id, std::span<const std::byte> data, bool async);
	result<reservation> reserve_once(region_runtime &rt, uint64_t id, uint64_t size);
};

} // namespace pmemstream::detail

#endif
