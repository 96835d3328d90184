// SPDX-License-Identifier: BSD-3-Clause
// Recovery step 1: read everything recovery decides on. Writes nothing.
#include "recovery/recovery.hpp"
#include "util/hex.hpp"

#include <algorithm>

namespace pmemstream::detail {

namespace {

// Rules S2-S3 for one span header; null when it holds.
const char *span_violation(const format::span_slot &v, uint64_t off, uint64_t arena_end, uint64_t block_size, bool windowed,
			   bool tx, bool ring) noexcept
{
	const uint64_t data = v.span_size - format::span_header_size;
	if (v.span_size < format::min_span(block_size) || v.span_size % block_size != 0)
		return "size is not a whole number of blocks";
	if (v.span_size > arena_end - off)
		return "runs past the end of the stream";
	if (v.state != format::span_free && v.state != format::span_region)
		return "unknown state";
	if (v.epoch >= format::max_generation || v.id >= format::max_generation)
		return "id or epoch out of range";
	const uint64_t tx_kind = v.reserved[format::span_tx_kind], tx_end = v.reserved[format::span_tx_end];
	if (tx_kind != 0 || tx_end != 0) {
		if (!tx || v.state != format::span_region || (tx_kind != format::tx_allocating && tx_kind != format::tx_freeing) ||
		    tx_end == 0 || tx_end > format::max_timestamp)
			return "bad transaction marker";
	}
	const uint64_t wrap = v.reserved[format::span_wrap], head_epoch = v.reserved[format::span_head_epoch];
	if (v.state == format::span_free)
		return v.id != 0 || v.max_in_flight != 0 || v.head != 0 || v.sealed_tail != 0 || wrap != 0 || head_epoch != 0
			       ? "free span with region fields"
			       : nullptr;
	if (v.id == 0 || v.epoch == 0 || v.epoch < v.id)
		return "id or epoch out of range";
	if (v.max_in_flight < 1 || v.max_in_flight > (windowed ? format::max_window : 1))
		return "unsupported number of appends in flight";
	if (v.head > data || v.head % format::entry_alignment != 0)
		return "head beyond the region";
	if (wrap != 0 || head_epoch != 0) {
		// A wrapped region (format.md 5.2): the head's lap [head, wrap) has the older epoch,
		// the second lap [0, head) the region's; the checkpoint covers the head's lap whole.
		if (!ring)
			return "wrapped region in a stream without rings";
		if (wrap <= v.head || wrap > data || wrap % format::entry_alignment != 0)
			return "lap end out of range";
		if (head_epoch < v.id || head_epoch >= v.epoch)
			return "id or epoch out of range";
		if (v.sealed_tail > v.head || v.sealed_tail % format::entry_alignment != 0)
			return "sealed tail beyond the region";
		if (v.sealed_last_ts > format::max_timestamp || v.sealed_count == 0 ||
		    v.sealed_count > (wrap - v.head + v.sealed_tail) / sizeof(format::entry_header) || v.sealed_last_ts == 0)
			return "checkpoint out of range";
		return nullptr;
	}
	if (v.sealed_tail > data || v.sealed_tail < v.head || v.sealed_tail % format::entry_alignment != 0)
		return "sealed tail beyond the region";
	if (v.sealed_last_ts > format::max_timestamp || v.sealed_count > v.sealed_tail / sizeof(format::entry_header) ||
	    (v.sealed_count == 0) != (v.sealed_last_ts == 0))
		return "checkpoint out of range";
	return nullptr;
}

// The walk's start without a checkpoint: the first visible entry, nothing accepted yet.
walk_start head_start(const span_record &s) noexcept
{
	walk_start w;
	w.pos = s.offset + format::span_header_size + s.v().head;
	return w;
}

void walk_entries(const std::byte *base, const span_record &s, uint64_t floor, const walk_start &start, region_scan &sc,
		  bool skip_corrupt)
{
	const auto &v = s.v();
	sc.offset = s.offset;
	sc.data_begin = s.offset + format::span_header_size;
	sc.data_end = s.offset + v.span_size;
	const uint64_t sealed_end = sc.data_begin + v.sealed_tail;
	// A wrapped region is walked in two laps (format.md 5.2): [head, wrap) with the head
	// lap's epoch, then [data, data + head) with the region's. Each lap's end bounds its
	// entries like the end of a region.
	const uint64_t wrap = v.reserved[format::span_wrap];
	sc.wrap = wrap ? sc.data_begin + wrap : 0;
	bool head_lap = wrap != 0 && !start.second_lap;
	uint64_t epoch = head_lap ? v.reserved[format::span_head_epoch] : v.epoch;
	uint64_t lap_end = wrap == 0 ? sc.data_end : head_lap ? sc.wrap : sc.data_begin + v.head;
	uint64_t pos = start.pos;
	sc.valid_entries = start.valid_entries;
	sc.visible_entries = start.visible_entries;
	sc.last_ts = start.last_ts;
	sc.last_entry = start.last_entry;
	sc.from_checkpoint = start.from_checkpoint;
	if (start.from_checkpoint) { // every entry before the start lies at or below the floor
		sc.last_floor_ts = start.last_ts;
		sc.last_floor_entry = start.last_entry;
	}
	for (;;) {
		if (head_lap && pos == lap_end) { // the head's lap is whole: on into the second
			head_lap = false;
			pos = sc.data_begin;
			epoch = v.epoch;
			lap_end = sc.data_begin + v.head;
		}
		if (!head_lap && pos == sealed_end) {
			sc.reached_sealed = true;
			sc.count_at_sealed = sc.valid_entries;
			sc.last_ts_at_sealed = sc.last_ts;
		}
		auto c = check_entry(base, pos, lap_end, epoch, sc.last_ts);
		if (c.state != entry_state::valid) {
			// Skip-corrupt salvage (format.md 8.7): behind an invalid entry, the next valid
			// one newer than the last accepted (E4) continues the walk.
			if (skip_corrupt && c.state == entry_state::invalid) {
				const uint64_t n = next_valid_position(base, pos + format::entry_alignment, lap_end, epoch, sc.last_ts);
				if (n != 0) {
					sc.gaps.push_back({pos, n, c.why});
					pos = n;
					continue;
				}
			}
			sc.stop_state = c.state;
			sc.stop_why = c.why;
			sc.stop_in_head_lap = head_lap;
			// Rule R2 evidence: valid newer entries behind the invalid one, up to W of them
			// (W - 1 may be appends that were in flight with it).
			if (c.state == entry_state::invalid && lap_end - pos >= sizeof(format::entry_header) &&
			    c.header.size <= lap_end - pos - sizeof(format::entry_header)) {
				uint64_t next = pos + format::entry_footprint(c.header.size);
				uint64_t prev_ts = sc.last_ts;
				while (next < lap_end && sc.valid_behind < v.max_in_flight) {
					auto n = check_entry(base, next, lap_end, epoch, prev_ts);
					if (n.state != entry_state::valid)
						break;
					if (sc.valid_behind++ == 0) {
						sc.next_valid_ts = n.timestamp();
						sc.tx_behind = n.flags() & format::flag_tx;
					}
					if (n.flags() & format::flag_settled)
						sc.settled_behind = true;
					prev_ts = n.timestamp();
					next += format::entry_footprint(n.header.size);
				}
			}
			break;
		}
		sc.last_ts = c.timestamp();
		sc.last_entry = pos;
		++sc.valid_entries;
		if (!(c.flags() & format::flag_padding))
			++sc.visible_entries;
		if (c.timestamp() > floor)
			sc.above_floor.push_back({pos, c.timestamp(), c.flags()});
		else {
			sc.last_floor_ts = c.timestamp();
			sc.last_floor_entry = pos;
		}
		pos += format::entry_footprint(c.header.size);
	}
	sc.stop = pos;
}

} // namespace

uint64_t next_valid_position(const std::byte *base, uint64_t from, uint64_t end, uint64_t epoch, uint64_t prev_ts) noexcept
{
	for (uint64_t p = from; p + sizeof(format::entry_header) <= end; p += format::entry_alignment)
		if (check_entry(base, p, end, epoch, prev_ts).state == entry_state::valid)
			return p;
	return 0;
}

bool scan_stream(const std::byte *base, const format::stream_header &h, stream_scan &out, std::string &problem, scan_depth depth,
		 bool skip_corrupt)
{
	auto st = read_dual<format::state_slot>(base, format::state_slot_offset[0], format::state_slot_offset[1]);
	if (!st) {
		problem = "stream state record at offset 0x100: both copies damaged";
		return false;
	}
	out.state = *st;
	const uint64_t floor = st->value.ts_floor;
	if (floor > format::max_timestamp || st->value.ts_lease > format::max_timestamp) {
		problem = "stream state record: timestamp floor or lease beyond the format's limit";
		return false;
	}

	const uint64_t arena_end = h.arena_offset + h.arena_size;
	for (uint64_t off = h.arena_offset; off < arena_end;) {
		auto s = read_dual<format::span_slot>(base, off, off + format::span_slot_size);
		if (!s) {
			out.problems.push_back({0, 0, "span header at " + hex(off) + ": both copies damaged"});
			break;
		}
		if (const char *why = span_violation(s->value, off, arena_end, h.block_size, h.incompat_features & format::incompat_windowed,
						    h.incompat_features & format::incompat_tx, h.incompat_features & format::incompat_ring)) {
			out.problems.push_back({0, 0, "span header at " + hex(off) + ": " + why});
			break;
		}
		out.max_counter = std::max({out.max_counter, s->value.epoch, s->value.id});
		out.spans.push_back({off, *s});
		off += s->value.span_size;
	}

	for (size_t i = 0; i < out.spans.size(); ++i) {
		if (out.spans[i].v().state != format::span_region)
			continue;
		region_scan sc;
		sc.span_index = i;
		walk_start start = head_start(out.spans[i]);
		if (depth == scan_depth::checkpoint)
			(void)checkpoint_start(base, out.spans[i].v(), out.spans[i].offset, floor, start);
		walk_entries(base, out.spans[i], floor, start, sc, skip_corrupt);
		out.regions.push_back(std::move(sc));
	}
	return true;
}

} // namespace pmemstream::detail
