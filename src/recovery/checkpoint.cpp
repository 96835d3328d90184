// SPDX-License-Identifier: BSD-3-Clause
// Fast reopen (docs/format.md 8.5): whether a region's walk may start at its checkpoint.
// Kept apart from the walk itself (scan.cpp) so that other ways of starting or wrapping a
// walk compose with it: this only chooses the start.
#include "recovery/recovery.hpp"

namespace pmemstream::detail {

bool checkpoint_start(const std::byte *base, const format::span_slot &v, uint64_t span_offset, uint64_t floor, walk_start &out) noexcept
{
	const uint64_t data = span_offset + format::span_header_size;
	const uint64_t data_end = span_offset + v.span_size;
	const uint64_t last_rel = v.reserved[format::span_sealed_last];
	const uint64_t shown = v.reserved[format::span_sealed_shown];
	// Nothing sealed: the walk from head costs nothing more. Every sealed entry must be at or
	// below the floor (sealed timestamps increase, so the last one says it): recovery then
	// needs none of their timestamps (rules R1-R3 look above the floor only). A checkpoint
	// above the floor is one whose floor raise a crash interrupted: walk instead.
	if (v.sealed_count == 0 || v.sealed_last_ts > floor || last_rel == 0 || shown > v.sealed_count)
		return false;
	const uint64_t last = data + last_rel - 1;
	const uint64_t rel = last_rel - 1;
	// A wrapped region (format.md 5.2): the checkpoint ends in the second lap; its last entry
	// is the head lap's last when nothing of the second lap is sealed.
	const uint64_t wrap = v.reserved[format::span_wrap];
	const bool in_head_lap = wrap != 0 && v.sealed_tail == 0;
	uint64_t epoch = v.epoch, lap_end = data_end, end = data + v.sealed_tail;
	if (wrap == 0) {
		if (rel < v.head || rel >= v.sealed_tail || v.sealed_count > (v.sealed_tail - v.head) / sizeof(format::entry_header))
			return false;
	} else if (in_head_lap) {
		if (rel < v.head || rel >= wrap)
			return false;
		epoch = v.reserved[format::span_head_epoch];
		lap_end = end = data + wrap;
	} else if (rel >= v.sealed_tail) {
		return false;
	}
	if (rel % format::entry_alignment != 0)
		return false;
	// The last sealed entry is where the checkpoint says, whole, with its timestamp, and ends
	// at sealed_tail: one entry read per region, which catches a checkpoint copied from
	// another state of the region (a header rewritten by a library that keeps these fields
	// stale) and damage to the last sealed entry. Damage further back is found only by a
	// full walk (pmemstream check, open_options::verify = full).
	auto c = check_entry(base, last, lap_end, epoch, 0);
	if (c.state != entry_state::valid || c.timestamp() != v.sealed_last_ts || last + format::entry_footprint(c.header.size) != end)
		return false;
	out.second_lap = wrap != 0;
	out.pos = data + v.sealed_tail;
	out.valid_entries = v.sealed_count;
	out.visible_entries = shown;
	out.last_ts = v.sealed_last_ts;
	out.last_entry = last;
	out.from_checkpoint = true;
	return true;
}

} // namespace pmemstream::detail
