// SPDX-License-Identifier: BSD-3-Clause
// Truncation (issue 14): region clear, prefix and suffix truncation. The order of the writes
// and why it is crash-safe: docs/format.md 5 ("Writes that change the layout") and
// docs/design.md 5.5. Every operation here:
//   1. holds the catalog (the only writer of span headers) and the region's lock (no append
//      in progress), and persists the region's entries;
//   2. raises ts_floor to the persisted watermark, which covers every entry of the region:
//      the timestamps about to be dropped become legitimately absent (rule R1), so entries of
//      other regions with larger timestamps stay visible, and no dropped timestamp is ever
//      handed out again (the floor only grows; new ones start above it);
//   3. makes the cut with one atomic span-header update (clear, prefix) or one zeroed entry
//      header (suffix). A crash before 3 shows the region as before, after 3 as after.
#include "engine/region_catalog.hpp"
#include "engine/region_writer.hpp"
#include "engine/sidecar.hpp"
#include "engine/state_record.hpp"
#include "util/hex.hpp"

#include <cassert>
#include <cstring>

namespace pmemstream::detail {

namespace {

// A walk of the committed entries of a live region from `first` (its lock held: every entry
// below the tail is complete). Stops at `target` (an offset; 0: never) or at the first entry
// whose timestamp is >= min_ts (min_ts 0: never), else at the tail.
struct walk_result {
	uint64_t pos = 0;     // where it stopped
	uint64_t walked = 0;  // entries before pos, padding included
	uint64_t visible = 0; // entries before pos, padding excluded
	uint64_t last_ts = 0; // timestamp of the entry before pos (0: none)
	bool at_target = false;
	// It walked past every entry. Not the same as pos == tail: in a wrapped region whose
	// second lap reaches the line of head, the head lap's first entry and the tail are at
	// one offset.
	bool at_end = false;
	format::entry_header at{}; // the header at pos when it is an entry
};

walk_result walk(const std::byte *base, const region_runtime &rt, uint64_t target, uint64_t min_ts)
{
	walk_result w;
	w.pos = rt.first.load(std::memory_order_relaxed);
	const uint64_t tail = rt.tail.load(std::memory_order_relaxed);
	// A wrapped region: the head lap to its end, then the second lap to the tail.
	const uint64_t wrap = rt.wrap.load(std::memory_order_relaxed);
	uint64_t end = wrap != 0 ? wrap : tail;
	for (;;) {
		if (w.pos == end && end != tail) {
			w.pos = rt.data_begin.load(std::memory_order_relaxed);
			end = tail;
		}
		if (w.pos >= end) {
			w.at_end = true;
			break;
		}
		std::memcpy(&w.at, base + w.pos, sizeof(w.at));
		const uint64_t ts = w.at.timestamp & format::timestamp_mask;
		const bool padding = w.at.timestamp & format::flag_padding;
		if (w.pos == target) {
			w.at_target = !padding;
			return w;
		}
		if (min_ts && !padding && ts >= min_ts)
			return w;
		++w.walked;
		w.visible += !padding;
		w.last_ts = ts;
		w.pos += format::entry_footprint(w.at.size);
	}
	return w;
}

// Reader processes (docs/design.md 5.4, "Truncation"): the region's slot of the sidecar's cut
// table is odd from before the cut changes anything until its last byte is drained. `low` is
// the suffix cut (0: a clear or prefix cut); a clear passes the new epoch.
class cut_announcement {
public:
	cut_announcement(cut_table *t, const region_runtime &rt, uint64_t epoch, uint64_t low) noexcept
	    : slot_(t ? &t->slot_for(rt.offset) : nullptr)
	{
		if (!slot_)
			return;
		const uint64_t x = slot_->seq.load(std::memory_order_relaxed);
		assert(x % 2 == 0);
		// seq_cst read-modify-write: a full fence, so no store of the cut (the non-temporal
		// ones included) is seen before the odd value.
		slot_->seq.fetch_add(1, std::memory_order_seq_cst);
		const bool same = slot_->region.load(std::memory_order_relaxed) == rt.offset &&
				  slot_->epoch.load(std::memory_order_relaxed) == epoch;
		if (!same) {
			slot_->region.store(rt.offset, std::memory_order_relaxed);
			slot_->epoch.store(epoch, std::memory_order_relaxed);
			slot_->low.store(~uint64_t{0}, std::memory_order_relaxed);
			slot_->since.store(x, std::memory_order_relaxed);
		}
		if (low != 0 && low < slot_->low.load(std::memory_order_relaxed))
			slot_->low.store(low, std::memory_order_relaxed);
	}
	// After the cut's last byte is drained and before the layout bump (followers that see the
	// bump find the slot even).
	void done() noexcept
	{
		if (slot_)
			slot_->seq.fetch_add(1, std::memory_order_release);
		slot_ = nullptr;
	}
	~cut_announcement()
	{
		done();
	}
	cut_announcement(const cut_announcement &) = delete;
	cut_announcement &operator=(const cut_announcement &) = delete;

private:
	cut_slot *slot_;
};

// The books of a region that goes on appending at its data area's start in a new epoch (a
// clear, a wrap, a suffix cut in a wrapped region's head lap), after its readers' fields were
// stored: the tail last but for these writer-only fields, which nothing in flight reads (the
// caller quiesced the region). `v` is the span header just written (its checkpoint).
void restart_at_data_start(region_runtime &rt, const format::span_slot &v) noexcept
{
	const uint64_t data = rt.offset + format::span_header_size;
	rt.survive_below.store(~uint64_t{0}, std::memory_order_release); // a new epoch: nothing cut yet
	rt.tail.store(data, std::memory_order_release);
	rt.claim_end = data;
	rt.window.reset();
	rt.appended = 0;
	rt.sealed_tail = v.sealed_tail;
	rt.sealed_count = v.sealed_count;
	rt.sealed_last_ts = v.sealed_last_ts;
	std::memset(rt.line.bytes, 0, sizeof(rt.line.bytes)); // data is line-aligned: nothing before it
	rt.line_valid = true;
}

error not_an_entry(uint64_t pos, uint64_t region)
{
	return error(errc::invalid_handle, "no committed entry at offset " + hex(pos) + " in region " + hex(region));
}

} // namespace

status region_catalog::prepare_cut(region_runtime *rt, uint64_t id, commit_tracker &tracker, std::unique_lock<region_mutex> &rl)
{
	const uint64_t cur_id = rt->id.load(std::memory_order_relaxed);
	if (cur_id == 0 || (id != 0 && id != cur_id))
		return error(errc::invalid_handle, "no live region at offset " + hex(rt->offset));
	if (rt->reservations != 0)
		return error(errc::busy, "region " + hex(rt->offset) + " has an outstanding reservation; publish or cancel it first");
	detail::quiesce(*rt, rl); // appends in flight finish; new ones wait for the cut
	if (rt->id.load(std::memory_order_relaxed) != cur_id || rt->reservations != 0)
		return error(errc::busy, "region " + hex(rt->offset) + " changed while its appends finished; try again");
	// Every entry of the region persisted: the floor raised after this covers them all, and
	// every entry an iterator or handle may still name is committed.
	if (!tracker.ensure_persisted(rt->last_ts) || !m_.healthy())
		return error(errc::media_failed, "the medium failed while persisting the region's entries");
	return {};
}

result<uint64_t> region_catalog::clear_locked(region_runtime *rt, state_record &state, commit_tracker &tracker)
{
	if (next_counter_ >= format::max_generation)
		return error(errc::out_of_space, "region epochs exhausted (2^62 allocations and clears)");
	auto it = spans_.find(rt->offset);
	assert(it != spans_.end() && it->second.state == format::span_region);
	const uint64_t dropped = rt->count.load(std::memory_order_relaxed);
	state.raise_floor(tracker.persisted());

	// One update: a new epoch (every old entry stops validating), head and checkpoint reset.
	format::span_slot v = it->second.rec.value;
	v.epoch = next_counter_++;
	cut_announcement announce(cuts_, *rt, v.epoch, 0);
	v.head = 0;
	v.reserved[format::span_wrap] = 0; // a wrapped region is linear again, all laps dropped
	v.reserved[format::span_head_epoch] = 0;
	v.sealed_tail = 0;
	v.sealed_count = 0;
	v.sealed_last_ts = 0;
	v.reserved[format::span_sealed_shown] = 0;
	v.reserved[format::span_sealed_last] = 0;
	it->second.rec = write_span(rt->offset, v, it->second.rec);

	const uint64_t data = rt->offset + format::span_header_size;
	rt->rewrites.fetch_add(1, std::memory_order_release); // before any byte or field changes
	rt->head_epoch.store(0, std::memory_order_release);
	rt->wrap.store(0, std::memory_order_release);
	rt->epoch.store(v.epoch, std::memory_order_release);
	rt->first.store(data, std::memory_order_release);
	// Positions of the new epoch survive later suffix cuts above them (survive_below reset);
	// readers of the old one see the epoch change first (stored before it, loaded after it).
	restart_at_data_start(*rt, v);
	rt->count.store(0, std::memory_order_relaxed);
	rt->walked = 0;
	rt->last_ts = 0;
	rt->last_entry = 0;

	// The old first entry would read as a torn one (another epoch); a clean end instead. A
	// crash before this drain leaves that torn-looking entry, which recovery zeroes.
	const uint64_t room = rt->data_end.load(std::memory_order_relaxed) - data;
	m_.set_nodrain(m_.base() + data, 0, std::min<uint64_t>(sizeof(format::entry_header), room));
	m_.drain();
	announce.done();
	bump_layout();
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while clearing a region");
	return dropped;
}

result<uint64_t> region_catalog::clear(region_runtime *rt, uint64_t id, state_record &state, commit_tracker &tracker)
{
	std::lock_guard al(alloc_mutex_);
	std::unique_lock rl(rt->lock);
	if (auto s = prepare_cut(rt, id, tracker, rl); !s)
		return s.err();
	return clear_locked(rt, state, tracker);
}

result<uint64_t> region_catalog::truncate_before(region_runtime *rt, uint64_t id, uint64_t pos, bool by_ts, uint64_t ts,
						 state_record &state, commit_tracker &tracker)
{
	std::lock_guard al(alloc_mutex_);
	std::unique_lock rl(rt->lock);
	if (auto s = prepare_cut(rt, id, tracker, rl); !s)
		return s.err();
	const walk_result w = walk(m_.base(), *rt, by_ts ? 0 : pos, by_ts ? std::max<uint64_t>(ts, 1) : 0);
	if (!by_ts && !w.at_target)
		return not_an_entry(pos, rt->offset);
	const uint64_t data = rt->offset + format::span_header_size;
	if (by_ts && w.at_end) {
		if (w.walked == 0 && w.pos == data)
			return uint64_t{0}; // empty, and no space hidden before head: nothing to do
		return clear_locked(rt, state, tracker); // every entry goes: the whole space is reused
	}
	if (w.walked == 0)
		return uint64_t{0};

	auto it = spans_.find(rt->offset);
	assert(it != spans_.end() && it->second.state == format::span_region);
	state.raise_floor(tracker.persisted());

	const uint64_t head = w.pos - data;
	format::span_slot v = it->second.rec.value;
	v.head = head;
	// A wrapped region (docs/design.md 5.5): a cut inside the head lap keeps the laps (the
	// checkpoint covers the head lap whole, so every dropped entry is inside it); a cut into
	// the second lap drops the head lap and the region is linear again, in the second lap's
	// epoch, which the checkpoint then describes as in any linear region.
	const bool wrapped = rt->wrap.load(std::memory_order_relaxed) != 0;
	const bool unwrap = wrapped && w.pos < rt->first.load(std::memory_order_relaxed);
	if (unwrap) {
		v.reserved[format::span_wrap] = 0;
		v.reserved[format::span_head_epoch] = 0;
	}
	if (wrapped && !unwrap) {
		v.sealed_count -= w.walked;
		if (v.reserved[format::span_sealed_last] != 0)
			v.reserved[format::span_sealed_shown] -= std::min(w.visible, v.reserved[format::span_sealed_shown]);
	} else if (v.sealed_tail < head || v.sealed_count < w.walked) {
		// The checkpoint covered only dropped entries (the second test cannot hold for a
		// checkpoint recovery accepted; an empty one at head is valid whatever happened).
		v.sealed_tail = head;
		v.sealed_count = 0;
		v.sealed_last_ts = 0;
		v.reserved[format::span_sealed_shown] = 0;
		v.reserved[format::span_sealed_last] = 0;
	} else {
		// Every dropped entry lies in [old head, head), inside the checkpoint; its last entry
		// stays where the fast-reopen field says (format.md 8.5), the count of shown ones
		// drops with the visible entries cut (a checkpoint an older library wrote keeps
		// its unrecorded 0: a walk verifies it).
		v.sealed_count -= w.walked;
		if (v.reserved[format::span_sealed_last] != 0)
			v.reserved[format::span_sealed_shown] -= std::min(w.visible, v.reserved[format::span_sealed_shown]);
		if (v.sealed_count == 0) {
			v.sealed_last_ts = 0;
			v.reserved[format::span_sealed_shown] = 0;
			v.reserved[format::span_sealed_last] = 0;
		}
	}
	// The cut: one atomic record update.
	cut_announcement announce(cuts_, *rt, rt->epoch.load(std::memory_order_relaxed), 0);
	it->second.rec = write_span(rt->offset, v, it->second.rec);

	if (unwrap) {
		// The head lap's bytes are appended over from now on: iterators there must see their
		// lap gone before any of it changes (the bump first, as a clear does).
		rt->rewrites.fetch_add(1, std::memory_order_release);
		rt->head_epoch.store(0, std::memory_order_release);
		rt->wrap.store(0, std::memory_order_release);
	}
	rt->first.store(w.pos, std::memory_order_release);
	rt->count.store(rt->count.load(std::memory_order_relaxed) - w.visible, std::memory_order_relaxed);
	rt->walked -= w.walked;
	rt->sealed_tail = v.sealed_tail;
	rt->sealed_count = v.sealed_count;
	rt->sealed_last_ts = v.sealed_last_ts;
	announce.done(); // write_span drained the record
	bump_layout();
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while truncating a region");
	return w.visible;
}

result<uint64_t> region_catalog::truncate_after(region_runtime *rt, uint64_t id, uint64_t pos, state_record &state,
						commit_tracker &tracker)
{
	std::lock_guard al(alloc_mutex_);
	std::unique_lock rl(rt->lock);
	if (auto s = prepare_cut(rt, id, tracker, rl); !s)
		return s.err();
	const walk_result w = walk(m_.base(), *rt, pos, 0);
	if (!w.at_target)
		return not_an_entry(pos, rt->offset);
	const uint64_t cut = pos + format::entry_footprint(w.at.size);
	const uint64_t tail = rt->tail.load(std::memory_order_relaxed);
	if (cut == tail)
		return uint64_t{0};
	const uint64_t walked = w.walked + 1; // up to and including the entry kept last
	const uint64_t count = w.visible + 1;
	const uint64_t last_ts = w.at.timestamp & format::timestamp_mask;
	const uint64_t dropped = rt->count.load(std::memory_order_relaxed) - count;

	auto it = spans_.find(rt->offset);
	assert(it != spans_.end() && it->second.state == format::span_region);
	state.raise_floor(tracker.persisted());

	const uint64_t data = rt->offset + format::span_header_size;
	if (rt->wrap.load(std::memory_order_relaxed) != 0 && pos >= rt->first.load(std::memory_order_relaxed))
		return cut_head_lap(rt, it, pos, cut, walked, count, last_ts, dropped, state, tracker);
	cut_announcement announce(cuts_, *rt, rt->epoch.load(std::memory_order_relaxed), cut);
	if (it->second.rec.value.sealed_tail > cut - data) {
		// The checkpoint must not claim dropped entries (rule R4): move it to the cut first, so
		// that a crash before the cut below still finds the walk at the checkpoint.
		format::span_slot v = it->second.rec.value;
		v.sealed_tail = cut - data;
		v.sealed_count = walked;
		v.sealed_last_ts = last_ts;
		v.reserved[format::span_sealed_shown] = count; // the fast-reopen fields (format.md 8.5)
		v.reserved[format::span_sealed_last] = pos - data + 1;
		it->second.rec = write_span(rt->offset, v, it->second.rec);
		rt->sealed_tail = v.sealed_tail;
		rt->sealed_count = v.sealed_count;
		rt->sealed_last_ts = v.sealed_last_ts;
	}

	// Positions at or below the cut keep their entries: lower the bound and the tail, then
	// bump the count (release), so that an iterator that adopts the count (it loads it with
	// acquire) also sees the new tail and never walks into dropped bytes a later append
	// reuses. Nothing at or after the cut changes before the bump.
	rt->survive_below.store(std::min(rt->survive_below.load(std::memory_order_relaxed), cut), std::memory_order_relaxed);
	rt->tail.store(cut, std::memory_order_release);
	rt->rewrites.fetch_add(1, std::memory_order_release);
	rt->count.store(count, std::memory_order_relaxed);
	rt->walked = walked;
	rt->last_ts = last_ts;
	rt->last_entry = pos;
	rt->window.reset();
	rt->appended = 0;
	const uint64_t line = cut & ~(format::cache_line - 1);
	std::memcpy(rt->line.bytes, m_.base() + line, cut - line);
	rt->line_valid = true;

	// The cut: the header after the last entry kept reads as a clean end (rule E2). Dropped
	// entries behind it are unreachable; one a later, shorter entry exposes is refused by
	// rule E4 (its timestamp is at most the floor, below every new one).
	// (A wrapped region's second lap ends before `first`: the header there is the head lap's.)
	const uint64_t lap_end = rt->wrap.load(std::memory_order_relaxed) != 0 ? rt->first.load(std::memory_order_relaxed)
										 : rt->data_end.load(std::memory_order_relaxed);
	const uint64_t room = lap_end - cut;
	if (room >= sizeof(format::entry_header))
		m_.set_nodrain(m_.base() + cut, 0, sizeof(format::entry_header));
	m_.drain();
	announce.done();
	bump_layout();
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while truncating a region");
	return dropped;
}

result<uint64_t> region_catalog::cut_head_lap(region_runtime *rt, span_map::iterator it, uint64_t pos, uint64_t cut, uint64_t walked,
					      uint64_t count, uint64_t last_ts, uint64_t dropped, state_record &state,
					      commit_tracker &tracker)
{
	// A suffix cut inside a wrapped region's head lap (docs/design.md 5.5): the head lap now
	// ends at the cut and the second lap starts again, empty, in a new epoch, so one header
	// update drops both the head lap's entries after the cut and the whole second lap. (The
	// region stays wrapped: going back to the head lap's epoch would drop the second lap's
	// epoch from every header, and a later clear could be given it again and revive its
	// entries. The head lap's space after the cut is reused once a prefix cut passes the wrap.)
	if (next_counter_ >= format::max_generation)
		return error(errc::out_of_space, "region epochs exhausted (2^62 allocations and clears)");
	const uint64_t data = rt->offset + format::span_header_size;
	if (cut == rt->wrap.load(std::memory_order_relaxed) && rt->tail.load(std::memory_order_relaxed) == data)
		return uint64_t{0}; // the last entry of the head lap, and nothing after it
	state.raise_floor(tracker.persisted());
	format::span_slot v = it->second.rec.value;
	v.epoch = next_counter_++;
	cut_announcement announce(cuts_, *rt, v.epoch, 0);
	v.reserved[format::span_wrap] = cut - data;
	v.sealed_tail = 0; // the checkpoint: the head lap up to the cut
	v.sealed_count = walked;
	v.sealed_last_ts = last_ts;
	v.reserved[format::span_sealed_shown] = count;
	v.reserved[format::span_sealed_last] = pos - data + 1;
	it->second.rec = write_span(rt->offset, v, it->second.rec);

	rt->rewrites.fetch_add(1, std::memory_order_release); // before any field changes
	rt->wrap.store(cut, std::memory_order_release);
	rt->epoch.store(v.epoch, std::memory_order_release);
	restart_at_data_start(*rt, v);
	rt->count.store(count, std::memory_order_relaxed);
	rt->walked = walked;
	rt->last_ts = last_ts;
	rt->last_entry = pos;

	// The second lap's first header: a clean end. A crash before this drain leaves an entry
	// of the old epoch there, an unclean stop recovery zeroes.
	m_.set_nodrain(m_.base() + data, 0, sizeof(format::entry_header));
	m_.drain();
	announce.done();
	bump_layout();
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while truncating a region");
	return dropped;
}

result<bool> region_catalog::wrap(region_runtime *rt, uint64_t id, uint64_t need, state_record &state, commit_tracker &tracker)
{
	// Issue 14's ring (docs/design.md 5.5): an append of `need` bytes found no room after the
	// tail. Whether it may fit now: true when this call (or another thread's) made room.
	std::lock_guard al(alloc_mutex_);
	std::unique_lock rl(rt->lock);
	if (!ring_)
		return false;
	if (auto s = prepare_cut(rt, id, tracker, rl); !s)
		return s.err();
	const uint64_t data = rt->offset + format::span_header_size;
	const uint64_t tail = rt->tail.load(std::memory_order_relaxed);
	if (need <= rt->append_end() - tail)
		return true; // another thread wrapped, or a cut made room, meanwhile
	const uint64_t first = rt->first.load(std::memory_order_relaxed);
	if (rt->wrap.load(std::memory_order_relaxed) != 0 || first == data)
		return false; // the second lap is full, or nothing before head to reuse
	if (first == tail) { // every entry was cut: the whole space is reused by a clear
		auto c = clear_locked(rt, state, tracker);
		if (!c)
			return c.err();
		return need <= rt->append_end() - rt->tail.load(std::memory_order_relaxed);
	}
	if (need > (first & ~(format::cache_line - 1)) - data)
		return false; // does not fit before head either
	if (next_counter_ >= format::max_generation)
		return error(errc::out_of_space, "region epochs exhausted (2^62 allocations and clears)");
	auto it = spans_.find(rt->offset);
	assert(it != spans_.end() && it->second.state == format::span_region);
	if (it->second.rec.value.reserved[format::span_tx_kind] != 0)
		return false; // a transaction's allocation not yet resolved (it holds the region)

	// The second lap's first header reads as a clean end before the lap exists: the bytes
	// before head are dead (dropped entries), and the next open must not take one of them
	// for a torn entry of the new lap. Drained before the header update, so a crash between
	// the two leaves the region as it was (that header was already before head).
	m_.set_nodrain(m_.base() + data, 0, sizeof(format::entry_header));
	m_.drain();
	// One update: the head lap keeps its epoch as head_epoch, the second lap gets a new one,
	// the checkpoint covers the head lap whole (prepare_cut persisted it).
	format::span_slot v = it->second.rec.value;
	v.reserved[format::span_head_epoch] = v.epoch;
	v.epoch = next_counter_++;
	// Reader processes take the laps in from the span header (follower::relayout).
	cut_announcement announce(cuts_, *rt, v.epoch, 0);
	v.reserved[format::span_wrap] = tail - data;
	v.sealed_tail = 0;
	v.sealed_count = rt->walked;
	v.sealed_last_ts = rt->last_ts;
	v.reserved[format::span_sealed_shown] = rt->count.load(std::memory_order_relaxed);
	v.reserved[format::span_sealed_last] = rt->last_entry - data + 1;
	it->second.rec = write_span(rt->offset, v, it->second.rec);

	// Readers: the head lap's entries stay where they are in the epoch they were read in;
	// head_epoch and wrap before the new epoch, the tail last (release each).
	rt->head_epoch.store(v.reserved[format::span_head_epoch], std::memory_order_release);
	rt->wrap.store(tail, std::memory_order_release);
	rt->epoch.store(v.epoch, std::memory_order_release);
	restart_at_data_start(*rt, v);
	announce.done(); // write_span drained the record
	bump_layout();
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while wrapping a region");
	return need <= rt->append_end() - data;
}

} // namespace pmemstream::detail
