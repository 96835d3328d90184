// SPDX-License-Identifier: BSD-3-Clause
#include "engine/follower.hpp"
#include "engine/stream_impl.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <thread>

namespace pmemstream::detail {

follower::follower(stream::impl &s) noexcept : s_(s)
{
	seen_w_.store(s.own_vis_.committed.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

sidecar &follower::side() const noexcept
{
	return *s_.sidecar_;
}

void follower::set_gone() noexcept
{
	gone_.store(true, std::memory_order_release);
	// Iterators that cached a position look at the layout again and find the follower gone.
	s_.own_vis_.layout_generation.fetch_add(1, std::memory_order_acq_rel);
}

bool follower::writer_alive() noexcept
{
	if (gone())
		return false;
	if (side().closed_state() != 0 || s_.m_->writer() == media::writer_presence::absent) {
		set_gone();
		return false;
	}
	return true;
}

bool follower::refresh() noexcept
{
	std::lock_guard lk(mutex_);
	sidecar &sc = side();
	bool pending = false; // a cut not applied yet: the watermark waits
	for (int attempt = 0; attempt < 1000; ++attempt) {
		if (gone())
			return false;
		if (sc.closed_state() != 0) {
			set_gone();
			return false;
		}
		// The watermark first, then the layout: a region holding an entry <= w was allocated
		// before the entry was appended, so its bump is visible now.
		const uint64_t w = sc.vis().committed.load(std::memory_order_acquire);
		const uint64_t g = sc.vis().layout_generation.load(std::memory_order_acquire);
		if (!pending && w == seen_w_.load(std::memory_order_relaxed) && g == seen_g_.load(std::memory_order_relaxed))
			return true; // another thread did it
		if (g != seen_g_.load(std::memory_order_relaxed)) {
			if (!reload_catalog()) {
				// Span headers read in the middle of an update that did not add up: the
				// writer is between two header writes; look again.
				std::this_thread::yield();
				continue;
			}
			seen_g_.store(g, std::memory_order_relaxed);
		}
		// Cuts the writer announced (a region whose cut is in progress is not walked, and the
		// watermark waits for it: a stream reader must not show later entries of other
		// regions before that region's new ones).
		const bool settled = sync_cuts();
		walk_regions(w);
		pending = !settled;
		if (pending) {
			std::this_thread::yield();
			continue;
		}
		// Entries of every live region up to w are in; only now may iterators show them.
		uint64_t c = s_.own_vis_.committed.load(std::memory_order_relaxed);
		if (w > c)
			s_.own_vis_.committed.store(w, std::memory_order_release);
		const uint64_t p = std::min(sc.vis().persisted.load(std::memory_order_acquire), std::max(w, c));
		if (p > s_.own_vis_.persisted.load(std::memory_order_relaxed))
			s_.own_vis_.persisted.store(p, std::memory_order_release);
		seen_w_.store(w, std::memory_order_release);
		if (cuts_changed_) {
			cuts_changed_ = false;
			s_.own_vis_.layout_generation.fetch_add(1, std::memory_order_acq_rel);
		}
		if (sc.vis().layout_generation.load(std::memory_order_acquire) == g)
			return true;
		// A region was allocated or freed during the walk: read the layout again (the walk
		// itself never took in bytes of reused space: they fail the old epoch's checksum).
	}
	return true; // still changing: the next step looks again
}

bool follower::reload_catalog() noexcept
{
	const std::byte *base = s_.base_;
	const auto &h = s_.header_;
	const uint64_t arena_end = h.arena_offset + h.arena_size;
	// The cut slots before the span headers: a region made live below reflects at least them
	// (an odd value, a cut in progress, is rounded down so that the region is synced later).
	cut_table &cuts = side().cuts();
	uint64_t slot_seq[uint64_t{1} << cut_table::slot_bits];
	for (size_t i = 0; i < std::size(cuts.slots); ++i)
		slot_seq[i] = cuts.slots[i].seq.load(std::memory_order_acquire) & ~uint64_t{1};
	std::vector<span_record> spans;
	try {
		for (uint64_t off = h.arena_offset; off < arena_end;) {
			auto r = read_dual<format::span_slot>(base, off, off + format::span_slot_size);
			if (!r)
				return false;
			const auto &v = r->value;
			if (v.span_size < format::min_span(h.block_size) || v.span_size % h.block_size != 0 ||
			    v.span_size > arena_end - off || (v.state != format::span_free && v.state != format::span_region) ||
			    (v.state == format::span_region && (v.id == 0 || v.head > v.span_size - format::span_header_size)))
				return false;
			spans.push_back({off, *r});
			off += v.span_size;
		}
	} catch (...) {
		return false;
	}

	region_catalog &c = s_.catalog_;
	bool changed = false;
	try {
		std::lock_guard al(c.alloc_mutex_);
		// Regions that are no longer there (freed, or a new region at their offset).
		std::vector<std::pair<uint64_t, region_runtime *>> live;
		{
			std::shared_lock lk(c.iter_mutex_);
			live.assign(c.by_id_.begin(), c.by_id_.end());
		}
		// (A wrap, or a suffix cut in a wrapped region's head lap, gives the region a new
		// epoch but keeps the head lap's: the region stays, and its cut slot, which those
		// bump, makes sync_region take its laps in again.)
		auto still_there = [&](uint64_t id, const region_runtime *rt) {
			return std::any_of(spans.begin(), spans.end(), [&](const span_record &sp) {
				const uint64_t head_epoch = sp.v().reserved[format::span_head_epoch];
				return sp.offset == rt->offset && sp.v().state == format::span_region && sp.v().id == id &&
				       (sp.v().epoch == rt->epoch.load(std::memory_order_relaxed) ||
					(head_epoch != 0 && (head_epoch == rt->epoch.load(std::memory_order_relaxed) ||
							     head_epoch == rt->head_epoch.load(std::memory_order_relaxed))));
			});
		};
		for (auto &[id, rt] : live) {
			if (still_there(id, rt))
				continue;
			{
				std::lock_guard rl(rt->lock);
				rt->id.store(0, std::memory_order_release);
			}
			std::unique_lock lk(c.iter_mutex_);
			c.by_id_.erase(id);
			changed = true;
		}
		// Regions allocated since.
		for (const auto &sp : spans) {
			if (sp.v().state != format::span_region)
				continue;
			region_runtime *rt = c.runtime_for(sp.offset);
			if (rt->id.load(std::memory_order_relaxed) == sp.v().id)
				continue;
			const uint64_t first = sp.offset + format::span_header_size + sp.v().head;
			{
				std::lock_guard rl(rt->lock);
				c.activate(rt, sp.v(), first, 0, 0, 0, 0);
				if (sp.v().reserved[format::span_wrap] != 0) { // before the id is stored below
					const uint64_t id = rt->id.load(std::memory_order_relaxed);
					rt->id.store(0, std::memory_order_release);
					take_laps(rt, sp.v());
					rt->id.store(id, std::memory_order_release);
				}
				rt->cut_seen.store(slot_seq[cut_table::index_of(sp.offset)], std::memory_order_release);
			}
			std::unique_lock lk(c.iter_mutex_);
			c.by_id_[sp.v().id] = rt;
			changed = true;
		}
		// The span map, for info().
		c.spans_.clear();
		c.free_by_size_.clear();
		for (const auto &sp : spans) {
			auto it = c.spans_.emplace(sp.offset, region_catalog::span{sp.v().state, sp.rec}).first;
			if (sp.v().state == format::span_free)
				c.index_free(it);
		}
	} catch (...) {
		return false;
	}
	if (changed)
		s_.own_vis_.layout_generation.fetch_add(1, std::memory_order_acq_rel);
	return true;
}

void follower::walk_regions(uint64_t w) noexcept
{
	region_catalog &c = s_.catalog_;
	const std::byte *base = s_.base_;
	uint64_t id = 0;
	for (region_runtime *rt = c.next_by_id(0, &id); rt; rt = c.next_by_id(id, &id)) {
		// A region with an unapplied cut: its bytes past the cut may be a later append's.
		if (slot_of(rt).seq.load(std::memory_order_acquire) != rt->cut_seen.load(std::memory_order_relaxed))
			continue;
		// Only this follower moves a read-only stream's tails (under mutex_).
		const uint64_t from = rt->tail.load(std::memory_order_relaxed);
		uint64_t end = rt->data_end.load(std::memory_order_relaxed);
		uint64_t epoch = rt->epoch.load(std::memory_order_relaxed);
		// A wrapped region (the ring, docs/design.md 5.5) taken in anew starts in its head lap,
		// whose entries were all persisted before the wrap: walked to its end whatever the
		// watermark (iterators check each entry's timestamp against it anyway), then the
		// second lap, which ends before the head lap's first entry.
		const uint64_t wrap = rt->wrap.load(std::memory_order_relaxed);
		const uint64_t first = rt->first.load(std::memory_order_relaxed);
		bool head_lap = wrap != 0 && from >= first;
		if (head_lap) {
			end = wrap;
			epoch = rt->head_epoch.load(std::memory_order_relaxed);
		} else if (wrap != 0) {
			end = first;
		}
		uint64_t pos = from, last = rt->last_ts, count = rt->count.load(std::memory_order_relaxed), walked = rt->walked;
		for (;;) {
			if (head_lap && pos == end) {
				head_lap = false;
				pos = rt->data_begin.load(std::memory_order_relaxed);
				end = first;
				epoch = rt->epoch.load(std::memory_order_relaxed);
			}
			const auto e = check_entry(base, pos, end, epoch, last);
			if (e.state != entry_state::valid || (!head_lap && e.timestamp() > w))
				break;
			last = e.timestamp();
			pos += format::entry_footprint(e.header.size);
			++walked;
			if (!(e.flags() & format::flag_padding))
				++count;
		}
		if (pos == from)
			continue;
		rt->last_ts = last;
		rt->walked = walked;
		rt->count.store(count, std::memory_order_relaxed);
		rt->tail.store(pos, std::memory_order_release);
	}
}

cut_slot &follower::slot_of(const region_runtime *rt) const noexcept
{
	return side().cuts().slot_for(rt->offset);
}

bool follower::cuts_settled_after_reads(const region_runtime *rt) const noexcept
{
	const cut_slot &sl = slot_of(rt);
#if defined(__SANITIZE_THREAD__)
	const uint64_t seen = rt->cut_seen.load(std::memory_order_seq_cst);
	return sl.seq.load(std::memory_order_seq_cst) == seen;
#else
	std::atomic_thread_fence(std::memory_order_acquire);
	// cut_seen first: a sync that stored it bumped `rewrites` before, so an iterator that
	// sees the new value also sees the bump.
	const uint64_t seen = rt->cut_seen.load(std::memory_order_acquire);
	return sl.seq.load(std::memory_order_relaxed) == seen;
#endif
}

follower::cut_sync follower::sync_region(region_runtime *rt) noexcept
{
	cut_slot &sl = slot_of(rt);
	const uint64_t seen = rt->cut_seen.load(std::memory_order_relaxed);
	const uint64_t x = sl.seq.load(std::memory_order_acquire);
	if (x == seen)
		return cut_sync::settled;
	if (x & 1)
		return cut_sync::in_progress;
	const uint64_t id = rt->id.load(std::memory_order_relaxed);
	if (id == 0) { // dead: its iterators stop on the id
		rt->cut_seen.store(x, std::memory_order_release);
		return cut_sync::settled;
	}
	const uint64_t rec_region = sl.region.load(std::memory_order_relaxed);
	const uint64_t rec_epoch = sl.epoch.load(std::memory_order_relaxed);
	const uint64_t rec_low = sl.low.load(std::memory_order_relaxed);
	const uint64_t rec_since = sl.since.load(std::memory_order_relaxed);
	const std::byte *base = s_.base_;
	const auto hdr = read_dual<format::span_slot>(base, rt->offset, rt->offset + format::span_slot_size);
	const uint64_t epoch = rt->epoch.load(std::memory_order_relaxed);
	if (hdr && hdr->value.state == format::span_region && hdr->value.id == id &&
	    (rt->wrap.load(std::memory_order_relaxed) != 0 || hdr->value.reserved[format::span_wrap] != 0))
		return relayout(rt, hdr->value, x);
	if (!hdr || hdr->value.state != format::span_region || hdr->value.id != id || hdr->value.epoch != epoch)
		return sl.seq.load(std::memory_order_acquire) == x ? cut_sync::needs_layout : cut_sync::in_progress;

	const uint64_t new_first = rt->offset + format::span_header_size + hdr->value.head;
	const uint64_t old_first = rt->first.load(std::memory_order_relaxed);
	const uint64_t tail = rt->tail.load(std::memory_order_relaxed);
	const uint64_t last_ts = rt->last_ts;
	if (new_first < old_first) // only a clear moves head back, and it changes the epoch
		return cut_sync::needs_layout;
	// Every suffix cut of the region since `seen` is at or above rec_low when the record was
	// the region's the whole time; then none below our tail means none to find.
	const bool known = rec_region == rt->offset && rec_epoch == epoch && rec_since <= seen;
	const bool find_cut = !(known && rec_low >= tail);
	// Our entries [old_first, tail) were the writer's at `seen`, all with timestamps <= last_ts.
	// Bytes below the lowest cut since then are unchanged; at the cut lies a zeroed header or
	// a later append's, whose timestamp is above the floor the cut raised, so above last_ts.
	// So the walk of our own entries stops exactly at the lowest cut (or at our tail).
	const uint64_t stop = find_cut ? tail : std::min(new_first, tail);
	uint64_t pos = old_first, last = 0;
	uint64_t kept = 0, kept_walked = 0, dropped = 0, dropped_walked = 0;
	while (pos < stop) {
		format::entry_header h;
		std::memcpy(&h, base + pos, sizeof(h));
		const uint64_t ts = h.timestamp & format::timestamp_mask;
		const uint64_t fp = format::entry_footprint(h.size);
		if (ts == 0 || ts > last_ts || fp > tail - pos)
			break;
		const bool visible = !(h.timestamp & format::flag_padding);
		if (pos < new_first) {
			dropped += visible;
			++dropped_walked;
		} else {
			kept += visible;
			++kept_walked;
		}
		last = ts;
		pos += fp;
	}
	const uint64_t cut = find_cut ? pos : tail; // positions up to it keep their entries
#if defined(__SANITIZE_THREAD__)
	if (sl.seq.load(std::memory_order_seq_cst) != x)
#else
	std::atomic_thread_fence(std::memory_order_acquire);
	if (sl.seq.load(std::memory_order_relaxed) != x)
#endif
		return cut_sync::in_progress; // another cut began during the reads: look again

	uint64_t new_tail, count, walked, new_last = last_ts;
	if (cut < tail) {
		new_tail = std::max(cut, new_first);
		count = cut > new_first ? kept : 0;
		walked = cut > new_first ? kept_walked : 0;
		new_last = last;
	} else if (new_first >= tail) {
		new_tail = new_first;
		count = walked = 0;
	} else {
		count = rt->count.load(std::memory_order_relaxed) - std::min(dropped, rt->count.load(std::memory_order_relaxed));
		walked = rt->walked - std::min(dropped_walked, rt->walked);
		new_tail = tail;
	}
	const bool moved = cut < tail || new_first != old_first;
	if (moved) {
		// As the writer's truncate_after: the bound and the tail before the bump.
		if (cut < tail)
			rt->survive_below.store(std::min(rt->survive_below.load(std::memory_order_relaxed), cut),
						std::memory_order_relaxed);
		rt->first.store(new_first, std::memory_order_release);
		rt->tail.store(new_tail, std::memory_order_release);
		rt->count.store(count, std::memory_order_relaxed);
		rt->walked = walked;
		rt->last_ts = new_last;
		rt->rewrites.fetch_add(1, std::memory_order_release);
		cuts_changed_ = true;
	}
	rt->cut_seen.store(x, std::memory_order_release);
	return cut_sync::settled;
}

void follower::take_laps(region_runtime *rt, const format::span_slot &v) noexcept
{
	// The region's laps from its span header; a wrapped region's head lap is walked here
	// whole (the writer persisted it before the wrap), so that the tail is in the second lap
	// from the start, where walk_regions goes on: a tail is never left in the head lap.
	const uint64_t data = rt->offset + format::span_header_size;
	const uint64_t wrap = v.reserved[format::span_wrap];
	uint64_t tail = data + v.head, count = 0, walked = 0, last_ts = 0, last_entry = 0;
	if (wrap != 0) {
		const uint64_t end = data + wrap;
		for (uint64_t pos = data + v.head; pos < end;) {
			const auto e = check_entry(s_.base_, pos, end, v.reserved[format::span_head_epoch], last_ts);
			if (e.state != entry_state::valid)
				break; // damage recovery reports; the entries before it stand
			++walked;
			count += !(e.flags() & format::flag_padding);
			last_ts = e.timestamp();
			last_entry = pos;
			pos += format::entry_footprint(e.header.size);
		}
		tail = data;
	}
	rt->head_epoch.store(v.reserved[format::span_head_epoch], std::memory_order_release);
	rt->wrap.store(wrap ? data + wrap : 0, std::memory_order_release);
	rt->epoch.store(v.epoch, std::memory_order_release);
	rt->first.store(data + v.head, std::memory_order_release);
	rt->tail.store(tail, std::memory_order_release);
	rt->count.store(count, std::memory_order_relaxed);
	rt->walked = walked;
	rt->last_ts = last_ts;
	rt->last_entry = last_entry;
}

follower::cut_sync follower::relayout(region_runtime *rt, const format::span_slot &v, uint64_t x) noexcept
{
	// A region that is or was wrapped (the ring): its laps are taken from the span header
	// again and walked anew from the head (walk_regions). Iterators see the bump first, keep
	// positions of the head lap that are still in it, and lose those of the region's epoch
	// (survive_below 0: a second lap may have been cut anywhere); they seek again.
#if defined(__SANITIZE_THREAD__)
	if (slot_of(rt).seq.load(std::memory_order_seq_cst) != x)
#else
	std::atomic_thread_fence(std::memory_order_acquire);
	if (slot_of(rt).seq.load(std::memory_order_relaxed) != x)
#endif
		return cut_sync::in_progress; // another cut began during the read: look again
	rt->rewrites.fetch_add(1, std::memory_order_release);
	rt->survive_below.store(0, std::memory_order_release);
	take_laps(rt, v);
	rt->rewrites.fetch_add(1, std::memory_order_release);
	cuts_changed_ = true;
	rt->cut_seen.store(x, std::memory_order_release);
	return cut_sync::settled;
}

bool follower::sync_cuts() noexcept
{
	region_catalog &c = s_.catalog_;
	bool all = true;
	uint64_t id = 0;
	for (region_runtime *rt = c.next_by_id(0, &id); rt; rt = c.next_by_id(id, &id))
		all &= sync_region(rt) == cut_sync::settled;
	return all;
}

bool follower::settle(const region_runtime *rt, bool may_poll) noexcept
{
	if (cuts_settled_after_reads(rt))
		return true;
	// A cut holds its slot odd for a span-header write and a drain: wait for it, checking now
	// and then that the writer lives (one killed in the middle of a cut wakes nobody).
	using clock = std::chrono::steady_clock;
	auto checked = clock::now();
	for (unsigned i = 1;; ++i) {
		if (may_poll && !poll())
			return false;
		cut_sync r;
		{
			std::lock_guard lk(mutex_);
			// The catalog's runtimes live as long as the stream: the cast only drops the
			// const of the iterator's view.
			r = sync_region(const_cast<region_runtime *>(rt));
			if (cuts_changed_) {
				// Entries appended at the cut up to the watermark already shown.
				walk_regions(s_.own_vis_.committed.load(std::memory_order_relaxed));
				cuts_changed_ = false;
				s_.own_vis_.layout_generation.fetch_add(1, std::memory_order_acq_rel);
			}
		}
		if (cuts_settled_after_reads(rt))
			return true;
		if (r == cut_sync::needs_layout && !may_poll)
			return false; // a clear or free: the next poll reads the layout
		if (gone())
			return false;
		if (i % 64 == 0 && clock::now() - checked >= cut_wait) {
			checked = clock::now();
			if (!writer_alive())
				return false;
		}
		std::this_thread::yield();
	}
}

status follower::wait_above(uint64_t seen, std::chrono::steady_clock::time_point deadline) noexcept
{
	using clock = std::chrono::steady_clock;
	sidecar &sc = side();
	visibility_state &v = sc.vis();
	auto moved = [&] { return v.committed.load(std::memory_order_seq_cst) > seen; };
	for (int spin = 0; spin < 4096; ++spin) {
		if (!poll())
			return error(errc::writer_gone, "the writer closed the stream, died or was replaced");
		if (moved())
			return {};
#if defined(__x86_64__)
		__builtin_ia32_pause();
#endif
	}
	if (!writer_alive())
		return error(errc::writer_gone, "the writer closed the stream, died or was replaced");
	const bool reg = sc.can_register();
	status st;
	auto checked = clock::now();
	for (;;) {
		// Registered anew before every look that may end in sleep: the writer takes all
		// registrations when it wakes (wake_shared_waiters), none is ever taken back.
		if (reg)
			v.shared_waiters.fetch_add(1, std::memory_order_seq_cst);
		const uint64_t c = v.committed.load(std::memory_order_seq_cst);
		if (c > seen)
			break;
		if (sc.closed_state() != 0 || gone()) {
			st = error(errc::writer_gone, "the writer closed the stream, died or was replaced");
			break;
		}
		const auto now = clock::now();
		if (now - checked >= liveness) {
			checked = now;
			if (!writer_alive()) {
				st = error(errc::writer_gone, "the writer process died (it no longer holds the stream's lock)");
				break;
			}
		}
		if (now >= deadline) {
			st = error(errc::timed_out, "no entry was committed before the timeout");
			break;
		}
		// Nobody wakes a waiter that could not register: look again every millisecond.
		auto until = std::min(deadline, checked + liveness);
		if (!reg)
			until = std::min(until, now + std::chrono::milliseconds(1));
		if (futex_wait(v.committed, c, until, true) == EINTR) {
			st = error(errc::timed_out, "the wait was interrupted by a signal");
			break;
		}
	}
	if (st && !poll())
		return error(errc::writer_gone, "the writer closed the stream, died or was replaced");
	return st;
}

} // namespace pmemstream::detail

namespace pmemstream {

const char *stream::impl::not_following() const noexcept
{
	if (!m_->read_only())
		return nullptr;
	if (!follower_)
		return "the read-only stream follows no writer (none was live when it was opened); reopen to follow a new one";
	if (follower_->gone())
		return "the writer this read-only stream followed closed, died or was replaced; reopen";
	return nullptr;
}

status stream::impl::wait_beyond(uint64_t seen, std::chrono::steady_clock::time_point deadline) const
{
	if (follower_) {
		for (;;) {
			if (!follower_->poll())
				return error(errc::writer_gone, not_following());
			if (own_vis_.committed.load(std::memory_order_acquire) > seen)
				return {};
			const uint64_t w = sidecar_->vis().committed.load(std::memory_order_acquire);
			if (w > seen)
				continue; // poll() is taking it in
			if (auto st = follower_->wait_above(w, deadline); !st)
				return st;
		}
	}
	if (m_->read_only())
		return error(errc::writer_gone, not_following());
	if (gate_.forked())
		return error(errc::wrong_process, "iterators of a child of fork() do not see its parent's new entries");
	using clock = std::chrono::steady_clock;
	for (;;) {
		if (vis_.committed.load(std::memory_order_acquire) > seen)
			return {};
		const auto now = clock::now();
		if (now >= deadline)
			return error(errc::timed_out, "no entry was committed before the timeout");
		const uint64_t left = deadline == clock::time_point::max()
					      ? ~uint64_t{0}
					      : static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count());
		if (detail::wait_committed_for(vis_, seen + 1, left, true) <= seen && clock::now() < deadline)
			return error(errc::timed_out, "the wait was interrupted by a signal");
	}
}

} // namespace pmemstream
