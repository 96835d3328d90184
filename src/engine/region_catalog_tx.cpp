// SPDX-License-Identifier: BSD-3-Clause
// The catalog's part of transactions (issue 13): spans set aside for a transaction's
// allocations, and the markers that make its allocations and frees all-or-nothing with its
// entries (docs/format.md 5.1, 8.3).
#include "engine/region_catalog.hpp"
#include "util/hex.hpp"

#include <cassert>

namespace pmemstream::detail {

namespace {

// The in-memory state of a span set aside for a transaction (never on media).
constexpr uint32_t span_tx_reserved = 0;

} // namespace

result<region_catalog::tx_span> region_catalog::tx_reserve(uint64_t size)
{
	if (size == 0)
		return error(errc::invalid_argument, "region size 0");
	if (size > arena_size_)
		return error(errc::out_of_space, "region of " + std::to_string(size) + " bytes exceeds the stream's " +
							 std::to_string(arena_size_) + "-byte region space");
	const uint64_t need = format::align_up(size + format::span_header_size, block_size_);
	std::lock_guard al(alloc_mutex_);
	auto it = choose_free(need);
	if (it == spans_.end())
		return error(errc::out_of_space, "no free span for a region of " + std::to_string(size) + " bytes");
	if (next_counter_ >= format::max_generation)
		return error(errc::out_of_space, "region ids exhausted (2^62 allocations)");
	tx_span t;
	const uint64_t free_off = it->first;
	const span old = it->second;
	const uint64_t fsize = old.size();
	const bool split = fsize - need >= format::min_span(block_size_);
	const bool from_end = split && recently_freed(free_off, fsize);
	t.size = split ? need : fsize;
	t.off = from_end ? free_off + fsize - need : free_off;
	t.free_off = t.off;
	t.counter = next_counter_++;
	t.rt = runtime_for(t.off);
	unindex_free(it);
	forget_freed_in(t.off, t.size);
	if (split) {
		// Split now, as a free span of exactly the region's size, so that the rest stays free
		// for everyone else (other transactions, plain allocations) until the commit. On media
		// this is allocate()'s split with a free span where the region will be: the spans
		// still tile the arena at every step, and nothing visible changes.
		const uint64_t epoch = old.rec.value.epoch;
		slot_read<format::span_slot> set_aside, rest;
		uint64_t rest_off;
		if (from_end) {
			set_aside = write_fresh_nodrain(m_, t.off, t.off + format::span_slot_size, free_span_slot(t.size, epoch));
			m_.drain();
			rest = write_span(free_off, free_span_slot(fsize - t.size, epoch), old.rec);
			rest_off = free_off;
		} else {
			rest_off = t.off + t.size;
			rest = write_fresh_nodrain(m_, rest_off, rest_off + format::span_slot_size, free_span_slot(fsize - t.size, epoch));
			m_.drain();
			set_aside = write_span(free_off, free_span_slot(t.size, epoch), old.rec);
		}
		if (!m_.healthy())
			return error(errc::media_failed, "the medium failed while setting a region aside");
		spans_.erase(it);
		spans_[t.off] = span{span_tx_reserved, set_aside};
		index_free(spans_.emplace(rest_off, span{format::span_free, rest}).first);
	} else {
		it->second.state = span_tx_reserved;
	}
	return t;
}

void region_catalog::tx_release(const tx_span &t)
{
	std::lock_guard al(alloc_mutex_);
	auto it = spans_.find(t.free_off);
	if (it == spans_.end() || it->second.state != span_tx_reserved)
		return; // written by a commit that failed afterwards (the stream refuses writes now)
	// Free on media all along: it only merges with free neighbours again (as a free does),
	// so that aborted transactions do not cut the free space into pieces.
	it->second.state = format::span_free;
	coalesce(it);
}

status region_catalog::tx_write_allocation(const tx_span &t, uint64_t end_ts)
{
	// tx_reserve() split the span already: it is exactly the region's, free on media.
	auto it = spans_.find(t.off);
	assert(it != spans_.end() && it->second.state == span_tx_reserved && it->second.size() == t.size);
	format::span_slot reg{};
	reg.span_size = t.size;
	reg.state = format::span_region;
	reg.epoch = t.counter;
	reg.id = t.counter;
	reg.max_in_flight = max_in_flight_;
	reg.reserved[format::span_tx_end] = end_ts;
	reg.reserved[format::span_tx_kind] = format::tx_allocating;
	// As allocate(): the first entry header zeroed (fenced) before the one atomic record
	// update that makes the span a region.
	m_.set_nodrain(m_.base() + t.off + format::span_header_size, 0,
		       std::min<uint64_t>(sizeof(format::entry_header), t.size - format::span_header_size));
	m_.drain();
	auto reg_rec = write_span(t.off, reg, it->second.rec);
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while allocating a region");
	it->second = span{format::span_region, reg_rec};
	activate(t.rt, reg_rec.value, t.off + format::span_header_size, 0, 0, 0, 0);
	return {};
}

status region_catalog::tx_mark_free(region_runtime *rt, uint64_t end_ts)
{
	auto it = spans_.find(rt->offset);
	assert(it != spans_.end() && it->second.state == format::span_region);
	format::span_slot v = it->second.rec.value;
	v.reserved[format::span_tx_end] = end_ts;
	v.reserved[format::span_tx_kind] = format::tx_freeing;
	it->second.rec = write_span(rt->offset, v, it->second.rec);
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while freeing a region");
	return {};
}

void region_catalog::tx_publish(const tx_span *allocs, size_t na, region_runtime *const *frees, size_t nf)
{
	for (size_t k = 0; k < nf; ++k) {
		const uint64_t id = frees[k]->id.load(std::memory_order_relaxed);
		frees[k]->id.store(0, std::memory_order_release);
		std::unique_lock lk(iter_mutex_);
		by_id_.erase(id);
	}
	for (size_t k = 0; k < na; ++k) {
		std::unique_lock lk(iter_mutex_);
		by_id_[allocs[k].counter] = allocs[k].rt;
	}
	bump_layout();
}

status region_catalog::tx_settle_allocation(uint64_t off)
{
	auto it = spans_.find(off);
	assert(it != spans_.end() && it->second.state == format::span_region);
	format::span_slot v = it->second.rec.value;
	v.reserved[format::span_tx_end] = 0;
	v.reserved[format::span_tx_kind] = 0;
	it->second.rec = write_span(off, v, it->second.rec);
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while allocating a region");
	return {};
}

status region_catalog::tx_complete_free(uint64_t off)
{
	// As free(): the span becomes free, then merges with free neighbours, each step one
	// atomic header write.
	auto it = spans_.find(off);
	assert(it != spans_.end());
	it->second = span{format::span_free, write_span(off, free_span_slot(it->second.size(), it->second.rec.value.epoch), it->second.rec)};
	remember_free(off, it->second.size());
	coalesce(it);
	bump_layout();
	if (!m_.healthy())
		return error(errc::media_failed, "the medium failed while freeing a region");
	return {};
}

void region_catalog::coalesce(span_map::iterator it)
{
	// `it` is free on media and not indexed (free() and transactions).
	uint64_t size = it->second.size();
	uint64_t epoch = it->second.rec.value.epoch;
	auto next = std::next(it);
	if (next != spans_.end() && next->second.state == format::span_free) {
		size += next->second.size();
		epoch = std::max(epoch, next->second.rec.value.epoch);
		it->second.rec = write_span(it->first, free_span_slot(size, epoch), it->second.rec);
		unindex_free(next);
		spans_.erase(next);
	}
	if (it != spans_.begin()) {
		auto prev = std::prev(it);
		if (prev->second.state == format::span_free) {
			unindex_free(prev);
			const uint64_t psize = prev->second.size() + size;
			const uint64_t pepoch = std::max(prev->second.rec.value.epoch, epoch);
			prev->second.rec = write_span(prev->first, free_span_slot(psize, pepoch), prev->second.rec);
			spans_.erase(it);
			it = prev;
		}
	}
	index_free(it);
}

} // namespace pmemstream::detail
