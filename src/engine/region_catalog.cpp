// SPDX-License-Identifier: BSD-3-Clause
#include "engine/region_catalog.hpp"
#include "engine/region_writer.hpp"
#include "engine/state_record.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace pmemstream::detail {

namespace {

// How many recent frees allocation steers away from.
constexpr size_t quarantine = 16;

} // namespace

region_catalog::region_catalog(const void *owner, media &m, const format::stream_header &h, visibility_state &vis)
    : owner_(owner),
      m_(m),
      block_size_(h.block_size),
      arena_off_(h.arena_offset),
      arena_size_(h.arena_size),
      vis_(vis),
      table_(h.arena_offset, h.arena_size, h.block_size)
{
}

region_catalog::~region_catalog() = default;

region_runtime *region_catalog::runtime_for(uint64_t off)
{
	auto &p = runtimes_[off];
	if (!p)
		p = std::make_unique<region_runtime>(owner_, off);
	return p.get();
}

void region_catalog::index_free(span_map::iterator it)
{
	free_by_size_.emplace(it->second.size(), it->first);
}

void region_catalog::unindex_free(span_map::iterator it)
{
	free_by_size_.erase({it->second.size(), it->first});
}

slot_read<format::span_slot> region_catalog::write_span(uint64_t off, const format::span_slot &v, const slot_read<format::span_slot> &cur)
{
	return write_dual(m_, off, off + format::span_slot_size, v, cur);
}

void region_catalog::activate(region_runtime *rt, const format::span_slot &v, uint64_t tail, uint64_t count, uint64_t walked, uint64_t last_ts,
			      uint64_t last_entry)
{
	// Readers that hold the old id see it change and stop (region_runtime::id).
	rt->id.store(0, std::memory_order_release);
	rt->epoch.store(v.epoch, std::memory_order_relaxed);
	const uint64_t wrap = v.reserved[format::span_wrap]; // the ring (issue 14): 0 unless wrapped
	rt->wrap.store(wrap ? rt->offset + format::span_header_size + wrap : 0, std::memory_order_relaxed);
	rt->head_epoch.store(v.reserved[format::span_head_epoch], std::memory_order_relaxed);
	rt->survive_below.store(~uint64_t{0}, std::memory_order_relaxed); // truncation (issue 14)
	rt->data_begin.store(rt->offset + format::span_header_size, std::memory_order_relaxed);
	rt->data_end.store(rt->offset + v.span_size, std::memory_order_relaxed);
	rt->first.store(rt->offset + format::span_header_size + v.head, std::memory_order_relaxed);
	rt->tail.store(tail, std::memory_order_relaxed);
	rt->count.store(count, std::memory_order_relaxed);
	const uint64_t line = tail & ~(format::cache_line - 1);
	std::memcpy(rt->line.bytes, m_.base() + line, tail - line);
	rt->line_valid = true;
	rt->reset_claims();
	rt->claim_end = tail;
	rt->claim_last_ts = last_ts;
	rt->walked = walked;
	rt->last_ts = last_ts;
	rt->last_entry = last_entry;
	rt->max_in_flight = std::max<uint32_t>(v.max_in_flight, 1);
	rt->window.reset();
	rt->appended = 0;
	rt->sealed_tail = v.sealed_tail;
	rt->sealed_count = v.sealed_count;
	rt->sealed_last_ts = v.sealed_last_ts;
	table_.assign(rt->offset, v.span_size, rt);
	rt->id.store(v.id, std::memory_order_release);
}

void region_catalog::load(const stream_scan &scan, const recovery_plan &plan)
{
	std::lock_guard al(alloc_mutex_);
	next_counter_ = scan.max_counter + 1;
	for (const auto &s : scan.spans) {
		auto it = spans_.emplace(s.offset, span{s.v().state, s.rec}).first;
		if (s.v().state == format::span_free)
			index_free(it);
	}
	for (const auto &o : plan.regions) {
		const auto &sc = scan.regions[o.scan_index];
		const auto &v = scan.spans[sc.span_index].v();
		region_runtime *rt = runtime_for(sc.offset);
		{
			std::lock_guard rl(rt->lock);
			if (!sc.gaps.empty()) { // skip-corrupt salvage (format.md 8.7), before the id is stored
				auto g = std::make_unique<std::vector<std::pair<uint64_t, uint64_t>>>();
				for (const auto &x : sc.gaps)
					g->emplace_back(x.offset, x.next);
				rt->gaps = std::move(g);
			}
			activate(rt, v, o.tail, o.count, o.walked, o.last_ts, o.last_entry);
		}
		// Never under a region's lock: free() takes that first, then this one.
		std::unique_lock lk(iter_mutex_);
		by_id_[v.id] = rt;
	}
	// A region refused in salvage (a repeated id) stays a span nobody can allocate or reach.
}

bool region_catalog::recently_freed(uint64_t off, uint64_t size) const noexcept
{
	return std::any_of(recently_freed_.begin(), recently_freed_.end(),
			   [&](const freed_span &f) { return f.off >= off && f.off < off + size; });
}

uint64_t region_catalog::freed_still_free() const noexcept
{
	uint64_t total = 0;
	for (const freed_span &f : recently_freed_)
		total += f.free ? f.size : 0;
	return total;
}

void region_catalog::remember_free(uint64_t off, uint64_t size)
{
	recently_freed_.push_back({off, size, true});
	if (recently_freed_.size() > quarantine)
		recently_freed_.pop_front();
}

void region_catalog::forget_freed_in(uint64_t off, uint64_t size) noexcept
{
	// (A transaction that gives set-aside space back leaves these cleared: the rule then
	// steers a little less, never wrongly.)
	for (freed_span &f : recently_freed_)
		if (f.off >= off && f.off < off + size)
			f.free = false;
}

region_catalog::span_map::iterator region_catalog::choose_free(uint64_t need)
{
	// Best fit, but steer away from the space of recently freed regions: take a span that
	// holds none, or carve a larger one that holds some from its end (allocate() does), which
	// gives the region a new offset anyway. Steering only uses a span that keeps at least
	// the recently freed regions' total size free in one piece after this allocation, else
	// the plain best fit is taken (which may be a freed region's own offset). Without that
	// rule, freeing two regions and allocating the smaller size first carved it from the
	// larger one's space, and the larger size then found no room.
	auto best = free_by_size_.lower_bound({need, 0});
	if (best == free_by_size_.end())
		return spans_.end();
	const uint64_t keep = freed_still_free();
	if (keep == 0)
		return spans_.find(best->second);
	// The smallest span that leaves `keep`, found in the size index (O(log n)). (A span that
	// holds a freed region still free has that much only when it has room beyond the region,
	// at least one smallest span: allocate() splits it.)
	auto roomy = free_by_size_.lower_bound({need + keep, 0});
	return spans_.find((roomy != free_by_size_.end() ? roomy : best)->second);
}

result<region_runtime *> region_catalog::allocate(uint64_t size)
{
	if (size == 0)
		return error(errc::invalid_argument, "region size 0");
	if (size > arena_size_)
		return error(errc::out_of_space, "region of " + std::to_string(size) + " bytes exceeds the stream's " +
							 std::to_string(arena_size_) + "-byte region space");
	const uint64_t need = format::align_up(size + format::span_header_size, block_size_);
	const uint64_t min_span = format::min_span(block_size_);

	std::lock_guard al(alloc_mutex_);
	auto it = choose_free(need);
	if (it == spans_.end())
		return error(errc::out_of_space, "no free span for a region of " + std::to_string(size) + " bytes");
	if (next_counter_ >= format::max_generation)
		return error(errc::out_of_space, "region ids exhausted (2^62 allocations)");

	const uint64_t free_off = it->first;
	const span old = it->second;
	const uint64_t counter = next_counter_++;
	const bool split = old.size() - need >= min_span;
	const bool from_end = split && recently_freed(free_off, old.size());
	const uint64_t rsize = split ? need : old.size();
	const uint64_t off = from_end ? free_off + old.size() - need : free_off;

	format::span_slot reg{};
	reg.span_size = rsize;
	reg.state = format::span_region;
	reg.epoch = counter;
	reg.id = counter;
	reg.max_in_flight = max_in_flight_;

	// Stale bytes would only ever fail to validate (another epoch); zeroing the first entry
	// header keeps a fresh region from looking torn.
	m_.set_nodrain(m_.base() + off + format::span_header_size, 0,
		       std::min<uint64_t>(sizeof(format::entry_header), rsize - format::span_header_size));
	slot_read<format::span_slot> reg_rec, rest_rec;
	if (from_end) {
		// The region's header is unreachable until the free span in front of it shrinks,
		// which is one atomic record update.
		reg_rec = write_fresh_nodrain(m_, off, off + format::span_slot_size, reg);
		m_.drain();
		rest_rec = write_span(free_off, free_span_slot(old.size() - need, old.rec.value.epoch), old.rec);
	} else {
		if (split) // the remainder's header is unreachable until the region's is in force
			rest_rec = write_fresh_nodrain(m_, off + need, off + need + format::span_slot_size,
						       free_span_slot(old.size() - need, old.rec.value.epoch));
		m_.drain();
		reg_rec = write_span(off, reg, old.rec);
	}
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while allocating a region");

	unindex_free(it);
	spans_.erase(it);
	spans_[off] = span{format::span_region, reg_rec};
	forget_freed_in(off, rsize);
	if (split) {
		const uint64_t rest_off = from_end ? free_off : off + need;
		index_free(spans_.emplace(rest_off, span{format::span_free, rest_rec}).first);
	}

	region_runtime *rt = runtime_for(off);
	{
		std::lock_guard rl(rt->lock);
		activate(rt, reg_rec.value, off + format::span_header_size, 0, 0, 0, 0);
	}
	{
		std::unique_lock lk(iter_mutex_);
		by_id_[counter] = rt;
	}
	bump_layout();
	return rt;
}

status region_catalog::free(region_runtime *rt, uint64_t id, state_record &state, commit_tracker &tracker)
{
	std::lock_guard al(alloc_mutex_);
	std::unique_lock rl(rt->lock);
	const uint64_t cur_id = rt->id.load(std::memory_order_relaxed);
	if (cur_id == 0 || (id != 0 && id != cur_id))
		return error(errc::invalid_handle, "no live region at offset " + hex(rt->offset));
	if (rt->reservations != 0)
		return error(errc::busy, "region " + hex(rt->offset) + " has an outstanding reservation; publish or cancel it first");
	detail::quiesce(*rt, rl); // appends in flight finish; new ones wait, then find the region gone
	if (rt->id.load(std::memory_order_relaxed) != cur_id || rt->reservations != 0)
		return error(errc::busy, "region " + hex(rt->offset) + " changed while its appends finished; try again");
	if (!tracker.ensure_persisted(rt->last_ts))
		return error(errc::media_failed, "the medium failed while persisting the region's entries");
	rt->id.store(0, std::memory_order_release);
	{
		std::unique_lock lk(iter_mutex_);
		by_id_.erase(cur_id);
	}
	// Every entry of the region is committed (its writer is done: we hold its lock); once
	// they are persisted too, the watermark covers them, and raising the floor to it makes
	// their timestamps legitimately absent (rule R1). Read before the lock, it could miss an
	// append in flight; read before persisting, an asynchronous one.
	state.raise_floor(tracker.persisted());

	auto it = spans_.find(rt->offset);
	assert(it != spans_.end());
	uint64_t size = it->second.size();
	uint64_t epoch = it->second.rec.value.epoch;
	auto rec = write_span(rt->offset, free_span_slot(size, epoch), it->second.rec);

	it->second = span{format::span_free, rec};
	remember_free(rt->offset, size);
	coalesce(it); // with free neighbours, each step one atomic header write
	bump_layout();
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while freeing a region");
	return {};
}

region_runtime *region_catalog::next_by_id(uint64_t after, uint64_t *id) const
{
	std::shared_lock lk(iter_mutex_);
	auto it = by_id_.upper_bound(after);
	if (it == by_id_.end())
		return nullptr;
	*id = it->first;
	return it->second;
}

uint64_t region_catalog::write_checkpoints(uint64_t persisted)
{
	std::lock_guard al(alloc_mutex_);
	for (auto &[off, sp] : spans_) {
		if (sp.state != format::span_region)
			continue;
		auto found = runtimes_.find(off);
		if (found == runtimes_.end())
			continue; // refused in salvage (never live)
		region_runtime *rt = found->second.get();
		std::lock_guard lk(rt->lock);
		if (rt->id.load(std::memory_order_relaxed) == 0)
			continue; // refused in salvage (never live)
		const auto &cur = sp.rec.value;
		const uint64_t data_begin = rt->data_begin.load(std::memory_order_relaxed);
		uint64_t pos = rt->tail.load(std::memory_order_relaxed);
		uint64_t walked = rt->walked, shown = rt->count.load(std::memory_order_relaxed), last_ts = rt->last_ts,
			 last_entry = rt->last_entry;
		if (rt->last_ts > persisted) {
			// Entries appended since `persisted` was read: the checkpoint goes to the last
			// entry at or below it, found by reading the committed headers after the
			// current checkpoint (no checksums: these are our own entries). Every sealed
			// entry is then persisted and at or below the floor the round raises to
			// `persisted`, and every entry above the checkpoint is above that floor
			// (docs/format.md 8.5).
			const bool recorded = cur.sealed_count == 0 || cur.reserved[format::span_sealed_last] != 0;
			pos = recorded ? data_begin + cur.sealed_tail : rt->first.load(std::memory_order_relaxed);
			walked = recorded ? cur.sealed_count : 0;
			shown = recorded ? cur.reserved[format::span_sealed_shown] : 0;
			last_ts = recorded ? cur.sealed_last_ts : 0;
			last_entry = recorded && cur.sealed_count ? data_begin + cur.reserved[format::span_sealed_last] - 1 : 0;
			const uint64_t tail = rt->tail.load(std::memory_order_relaxed);
			while (pos < tail) {
				format::entry_header h;
				std::memcpy(&h, m_.base() + pos, sizeof(h));
				const uint64_t ts = h.timestamp & format::timestamp_mask;
				if (ts > persisted)
					break;
				++walked;
				shown += !(h.timestamp & format::flag_padding);
				last_ts = ts;
				last_entry = pos;
				pos += format::entry_footprint(h.size);
			}
		}
		const uint64_t used = pos - data_begin;
		const uint64_t last = walked ? last_entry - data_begin + 1 : 0;
		if (used == rt->sealed_tail && walked == rt->sealed_count && cur.reserved[format::span_sealed_shown] == shown &&
		    cur.reserved[format::span_sealed_last] == last)
			continue;
		format::span_slot v = cur;
		v.sealed_tail = used;
		v.sealed_count = walked;
		v.sealed_last_ts = walked ? last_ts : 0;
		v.reserved[format::span_sealed_shown] = shown;
		v.reserved[format::span_sealed_last] = last;
		sp.rec = write_span(off, v, sp.rec);
		rt->sealed_tail = used;
		rt->sealed_count = walked;
		rt->sealed_last_ts = v.sealed_last_ts;
	}
	return persisted;
}

catalog_stats region_catalog::stats() const
{
	catalog_stats st;
	std::lock_guard al(alloc_mutex_);
	for (auto &[off, sp] : spans_) {
		if (sp.state == format::span_free) {
			st.free_bytes += sp.size();
			st.largest_free = std::max(st.largest_free, sp.size() - format::span_header_size);
		} else if (live_at(off, 0)) {
			++st.regions;
			st.allocated_bytes += sp.size();
		}
	}
	return st;
}

} // namespace pmemstream::detail
