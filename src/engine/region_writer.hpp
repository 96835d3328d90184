// SPDX-License-Identifier: BSD-3-Clause
// The one path by which entries reach a region: claim (check the region and its in-flight
// window, take space and a timestamp under the region's lock), fill (write the entry's
// bytes), commit (advance the region's tail and complete the timestamp), and, for a
// synchronous append, wait until every smaller timestamp is persisted (outside the lock).
// append() and reserve()+publish() differ only in who fills; asynchronous ones only in not
// waiting. On persistent memory a synchronous append flushes its lines and drains before it
// commits (one fence); an asynchronous one stores its lines and leaves the flush to the sweep
// that persists it (commit_tracker). On msync media both store and leave it to the sweep, so
// that threads appending at once share one msync.
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

	// Fast reopen (docs/format.md 8.5): once a region has grown `bytes` past its checkpoint,
	// the append that notices calls `hook` after it returns from its region's lock (the
	// stream writes checkpoints then). 0: never.
	void set_checkpoint_hook(uint64_t bytes, std::function<void()> hook)
	{
		checkpoint_bytes_ = bytes;
		checkpoint_hook_ = std::move(hook);
	}

private:
	// Claim: with rt.lock held, the region checks; `pos` is where the entry goes.
	status check_region(const region_runtime &rt, uint64_t id, bool replace_reservation) const;
	status check_space(const region_runtime &rt, uint64_t pos, uint64_t need) const;
	// Rule R3's premise: entry k of a region is written only once entry k - W is persisted.
	status make_room(region_runtime &rt);
	result<uint64_t> take_timestamp();
	// The flags of the next entry of rt: flag_settled when every earlier one is persisted.
	uint64_t settled_flag(const region_runtime &rt) const noexcept
	{
		return windowed_ && rt.last_ts <= tracker_.persisted() ? format::flag_settled : 0;
	}
	// Commit, with rt.lock held and the entry's bytes written (and flushed, if `flushed`).
	status commit(region_runtime &rt, uint64_t pos, uint64_t footprint, uint64_t ts, bool flushed);
	// Without the lock: an append returns once every timestamp <= ts is committed
	// (asynchronous) or persisted (synchronous).
	status finish(uint64_t ts, bool async);
	// With rt.lock held after a commit: whether the region is due for a checkpoint. Asked
	// again by every append until a round has written one (a round already running makes
	// the hook return at once), so a region whose append met a running round is not missed.
	bool checkpoint_due(const region_runtime &rt) const noexcept
	{
		if (checkpoint_bytes_ == 0)
			return false;
		const uint64_t grown = rt.tail.load(std::memory_order_relaxed) - rt.data_begin.load(std::memory_order_relaxed) - rt.sealed_tail;
		return grown >= checkpoint_bytes_;
	}
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

	media &m_;
	commit_tracker &tracker_;
	write_gate &gate_;
	const bool windowed_;
	std::atomic<uint64_t> tickets_{0};
	uint64_t checkpoint_bytes_ = 0;
	std::function<void()> checkpoint_hook_;
};

} // namespace pmemstream::detail

#endif
