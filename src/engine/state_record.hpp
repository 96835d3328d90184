// SPDX-License-Identifier: BSD-3-Clause
// The stream's mutable state record (format.hpp state_slot): the timestamp floor and lease,
// updated atomically through its two slots.
#ifndef PMEMSTREAM_ENGINE_STATE_RECORD_HPP
#define PMEMSTREAM_ENGINE_STATE_RECORD_HPP

#include "format/dual_slot.hpp"

#include <algorithm>
#include <mutex>

namespace pmemstream::detail {

class state_record {
public:
	state_record(media &m, const slot_read<format::state_slot> &current) : m_(m), cur_(current)
	{
	}

	// Raises the floor to ts (never lowers it); persisted on return.
	void raise_floor(uint64_t ts)
	{
		std::lock_guard lk(mutex_);
		if (ts <= cur_.value.ts_floor)
			return;
		format::state_slot s = cur_.value;
		s.ts_floor = ts;
		cur_ = write_dual(m_, format::state_slot_offset[0], format::state_slot_offset[1], s, cur_);
	}

	// Raises the lease to ts (timestamps up to it may be in use); persisted on return.
	void raise_lease(uint64_t ts)
	{
		std::lock_guard lk(mutex_);
		if (ts <= cur_.value.ts_lease)
			return;
		format::state_slot s = cur_.value;
		s.ts_lease = ts;
		cur_ = write_dual(m_, format::state_slot_offset[0], format::state_slot_offset[1], s, cur_);
	}

	// At a clean close every timestamp handed out is persisted and found by the next open:
	// the floor moves to ts and the lease falls back to it, so timestamps continue without a
	// gap. One record update.
	void close_at(uint64_t ts)
	{
		std::lock_guard lk(mutex_);
		if (ts == cur_.value.ts_floor && cur_.value.ts_lease <= ts)
			return;
		format::state_slot s = cur_.value;
		s.ts_floor = std::max(ts, s.ts_floor);
		s.ts_lease = std::min(s.ts_lease, s.ts_floor);
		cur_ = write_dual(m_, format::state_slot_offset[0], format::state_slot_offset[1], s, cur_);
	}

	// Point-in-time repair (docs/format.md 8.6): the cut is recorded before the repair writes
	// anything else, and cleared by the record update that raises the floor at its end.
	void begin_repair(uint64_t cut)
	{
		std::lock_guard lk(mutex_);
		if (cur_.value.reserved[format::state_repair_cut] == cut + 1)
			return;
		format::state_slot s = cur_.value;
		s.reserved[format::state_repair_cut] = cut + 1;
		cur_ = write_dual(m_, format::state_slot_offset[0], format::state_slot_offset[1], s, cur_);
	}
	void end_repair(uint64_t floor)
	{
		std::lock_guard lk(mutex_);
		format::state_slot s = cur_.value;
		s.ts_floor = std::max(s.ts_floor, floor);
		s.reserved[format::state_repair_cut] = 0;
		cur_ = write_dual(m_, format::state_slot_offset[0], format::state_slot_offset[1], s, cur_);
	}

	uint64_t lease() const
	{
		std::lock_guard lk(mutex_);
		return cur_.value.ts_lease;
	}

	// Rule R5 for this record: copy the record in force over a disagreeing slot. Not drained;
	// returns whether anything was written.
	bool repair_nodrain()
	{
		std::lock_guard lk(mutex_);
		if (cur_.agree)
			return false;
		repair_dual_nodrain(m_, format::state_slot_offset[0], format::state_slot_offset[1], cur_);
		return true;
	}

private:
	media &m_;
	mutable std::mutex mutex_;
	slot_read<format::state_slot> cur_;
};

} // namespace pmemstream::detail

#endif
