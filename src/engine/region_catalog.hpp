// SPDX-License-Identifier: BSD-3-Clause
// The region catalog: every span of the arena (regions and free space), allocation (best fit,
// O(log n) in the number of spans), free with coalescing, the live regions in id order, and
// the lock-free table readers use to find the region of an offset. The only writer of span
// headers.
#ifndef PMEMSTREAM_ENGINE_REGION_CATALOG_HPP
#define PMEMSTREAM_ENGINE_REGION_CATALOG_HPP

#include "engine/commit_tracker.hpp"
#include "engine/region_runtime.hpp"
#include "engine/region_table.hpp"
#include "engine/visibility.hpp"
#include "recovery/recovery.hpp"
#include "util/checked_mutex.hpp"

#include <pmemstream/errors.hpp>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>

namespace pmemstream::detail {

class state_record;
class follower;
struct cut_table;

// The record of a free span of `size` bytes that keeps `epoch` (the largest id or epoch the
// space ever held, so that none is used twice).
inline format::span_slot free_span_slot(uint64_t size, uint64_t epoch) noexcept
{
	format::span_slot s{};
	s.span_size = size;
	s.state = format::span_free;
	s.epoch = epoch;
	return s;
}

struct catalog_stats {
	uint64_t regions = 0;
	uint64_t allocated_bytes = 0;
	uint64_t free_bytes = 0;
	uint64_t largest_free = 0; // usable bytes of the largest region that fits now
};

class region_catalog {
public:
	region_catalog(const void *owner, media &m, const format::stream_header &h, visibility_state &vis);
	~region_catalog();

	// Takes the spans found by recovery and makes the regions of the plan live.
	void load(const stream_scan &scan, const recovery_plan &plan);

	// Allocates a region with at least `size` usable bytes; persisted on return.
	result<region_runtime *> allocate(uint64_t size);
	// Frees a live region (after waiting for its writer); persisted on return. The floor is
	// raised first, to the persisted watermark read once the region's writer is done, so
	// that the region's timestamps are legitimately absent (rule R1).
	status free(region_runtime *rt, uint64_t id, state_record &state, commit_tracker &tracker);
	// W of regions allocated from now on (1 unless the stream has format::incompat_windowed).
	void set_max_in_flight(uint32_t w) noexcept
	{
		max_in_flight_ = w;
	}

	// The runtime of the live region whose header is at `off` (and whose id is `id`, unless
	// 0), or null. Lock-free.
	region_runtime *live_at(uint64_t off, uint64_t id) const noexcept
	{
		region_runtime *rt = table_.find(off);
		if (!rt || rt->offset != off)
			return nullptr;
		const uint64_t cur = rt->id.load(std::memory_order_acquire);
		return cur != 0 && (id == 0 || id == cur) ? rt : nullptr;
	}
	// The runtime whose region covered `off` last (live or not), or null. Lock-free.
	region_runtime *covering(uint64_t off) const noexcept
	{
		return table_.find(off);
	}

	// Live regions in id (allocation) order: the first with an id above `after`, or null.
	region_runtime *next_by_id(uint64_t after, uint64_t *id) const;

	// Records the checkpoint of each live region: at a clean close (everything persisted),
	// and while running (fast reopen, docs/format.md 8.5), where `persisted` is the persisted
	// watermark read before: each checkpoint then ends at the region's last entry at or below
	// it. Returns how far the floor may rise (`persisted`): every entry at or below it lies
	// inside its region's checkpoint.
	uint64_t write_checkpoints(uint64_t persisted = UINT64_MAX);

	// ---- truncation (issue 14; src/engine/region_truncate.cpp, docs/design.md 5.5) ----
	// Each waits for the region's writer, persists its entries, raises the floor over them,
	// then cuts; persisted on return. They return the number of entries dropped (padding not
	// counted). `id` as for free().
	result<uint64_t> clear(region_runtime *rt, uint64_t id, state_record &state, commit_tracker &tracker);
	// Drops the entries before the entry at `pos` (when by_ts is false) or before the first
	// entry with a timestamp >= ts (by_ts true; clears the region when there is none).
	result<uint64_t> truncate_before(region_runtime *rt, uint64_t id, uint64_t pos, bool by_ts, uint64_t ts,
					 state_record &state, commit_tracker &tracker);
	// Drops the entries after the entry at `pos`.
	result<uint64_t> truncate_after(region_runtime *rt, uint64_t id, uint64_t pos, state_record &state, commit_tracker &tracker);
	// The ring (docs/design.md 5.5): an append of `need` bytes (a footprint) found no room
	// after the region's tail. Wraps the region when the space before its head holds it (or
	// clears it when every entry was cut); true when the append may now fit (this call or
	// another made room), false when the region is full, errors as for a cut (busy: a
	// reservation outstanding). Only in streams with format::incompat_ring (set_ring).
	result<bool> wrap(region_runtime *rt, uint64_t id, uint64_t need, state_record &state, commit_tracker &tracker);
	void set_ring(bool on) noexcept
	{
		ring_ = on;
	}

	catalog_stats stats() const;

	// ---- truncation seen by reader processes (docs/design.md 5.4, "Truncation") ----
	// The writer's sidecar table that its cuts bump (sidecar.hpp cut_table); null without a
	// sidecar. Set once at open, before any cut.
	void set_cut_table(cut_table *t) noexcept
	{
		cuts_ = t;
	}

	// ---- transactions (issue 13; region_catalog_tx.cpp) ----
	// A free span set aside for a transaction's allocation, split to the region's size at once
	// (on media a free span; the rest stays free for others); until the commit no allocation,
	// free or coalescing touches it.
	struct tx_span {
		uint64_t free_off = 0;	// where the span set aside is (its own free span: = off)
		uint64_t off = 0;	// the region's span
		uint64_t size = 0;	// its bytes, header included
		uint64_t counter = 0;	// its id and epoch
		region_runtime *rt = nullptr;
		uint64_t capacity() const noexcept
		{
			return size - format::span_header_size;
		}
	};
	result<tx_span> tx_reserve(uint64_t size);
	// An aborted transaction's span goes back to the free spans (unless a commit wrote it).
	void tx_release(const tx_span &t);
	// Serialises a commit with region operations against allocation, free and checkpoints;
	// the calls below need it held (and the regions' locks where they say so).
	std::unique_lock<checked_mutex> tx_lock()
	{
		return std::unique_lock(alloc_mutex_);
	}
	// Writes the region's header with the marker (end_ts, tx_allocating) and makes its runtime
	// usable (t.rt's lock held); readers find it only after tx_publish.
	status tx_write_allocation(const tx_span &t, uint64_t end_ts);
	// Writes the marker (end_ts, tx_freeing) into the region's header.
	status tx_mark_free(region_runtime *rt, uint64_t end_ts);
	// The transaction is committed: its regions appear, its freed regions disappear.
	void tx_publish(const tx_span *allocs, size_t na, region_runtime *const *frees, size_t nf);
	// Once the transaction is persisted: clears an allocation's marker; completes a free (the
	// floor already covers the region's timestamps), coalescing like free().
	status tx_settle_allocation(uint64_t off);
	status tx_complete_free(uint64_t off);

private:
	// A read-only stream's follower (follower.hpp) replays the writer's allocations and frees
	// in this catalog from the span headers.
	friend class follower;
	struct span {
		uint32_t state;
		slot_read<format::span_slot> rec;
		uint64_t size() const noexcept
		{
			return rec.value.span_size;
		}
	};
	using span_map = std::map<uint64_t, span>;

	region_runtime *runtime_for(uint64_t off);
	// Merges the free span `it` (free on media, not indexed) with free neighbours, each step
	// one atomic header write, and indexes the result (free(), transactions;
	// region_catalog_tx.cpp).
	void coalesce(span_map::iterator it);
	void activate(region_runtime *rt, const format::span_slot &v, uint64_t tail, uint64_t count, uint64_t walked, uint64_t last_ts,
		      uint64_t last_entry);
	span_map::iterator choose_free(uint64_t need);
	bool recently_freed(uint64_t off, uint64_t size) const noexcept;
	// The total size of the recently freed regions whose space is still free.
	uint64_t freed_still_free() const noexcept;
	// Records a free of the span [off, off + size) (before it merges with its neighbours).
	void remember_free(uint64_t off, uint64_t size);
	// [off, off + size) is no longer free (allocated, or set aside by a transaction).
	void forget_freed_in(uint64_t off, uint64_t size) noexcept;
	void index_free(span_map::iterator it);
	void unindex_free(span_map::iterator it);
	slot_read<format::span_slot> write_span(uint64_t off, const format::span_slot &v, const slot_read<format::span_slot> &cur);
	// Truncation helpers (region_truncate.cpp), with alloc_mutex_ and rt->lock held.
	// Refuses a region with reservations outstanding, waits for its appends in flight (rl
	// on rt->lock) and persists its entries.
	status prepare_cut(region_runtime *rt, uint64_t id, commit_tracker &tracker, std::unique_lock<region_mutex> &rl);
	result<uint64_t> clear_locked(region_runtime *rt, state_record &state, commit_tracker &tracker);
	// A suffix cut after the entry at `pos` (ending at `cut`) of a wrapped region's head lap.
	result<uint64_t> cut_head_lap(region_runtime *rt, span_map::iterator it, uint64_t pos, uint64_t cut, uint64_t walked,
				      uint64_t count, uint64_t last_ts, uint64_t dropped, state_record &state, commit_tracker &tracker);
	void bump_layout() noexcept
	{
		vis_.layout_generation.fetch_add(1, std::memory_order_release);
	}

	const void *const owner_;
	media &m_;
	const uint64_t block_size_;
	const uint64_t arena_off_;
	const uint64_t arena_size_;
	visibility_state &vis_;
	cut_table *cuts_ = nullptr; // written by region_truncate.cpp under alloc_mutex_
	bool ring_ = false;	    // regions may wrap (format::incompat_ring)

	// Serialises allocation, free and checkpoints (the only writers of span headers); guards
	// everything below but by_id_, which iterators read under iter_mutex_.
	mutable checked_mutex alloc_mutex_{"region catalog's lock"};
	span_map spans_;
	std::set<std::pair<uint64_t, uint64_t>> free_by_size_; // (size, offset) of free spans
	// The last frees (offset and span size): allocation avoids handing their offsets out again
	// first, so a stale C handle (an offset only) does not silently name a new region at once.
	struct freed_span {
		uint64_t off, size;
		bool free; // its offset is still in a free span (cleared when that space is taken)
	};
	std::deque<freed_span> recently_freed_;
	std::unordered_map<uint64_t, std::unique_ptr<region_runtime>> runtimes_; // by offset, never erased
	uint64_t next_counter_ = 1;
	uint32_t max_in_flight_ = 1;
	region_table table_;

	mutable std::shared_mutex iter_mutex_;
	std::map<uint64_t, region_runtime *> by_id_; // live regions
};

} // namespace pmemstream::detail

#endif
