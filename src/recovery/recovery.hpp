// SPDX-License-Identifier: BSD-3-Clause
// Recovery in three steps (docs/format.md section 8):
//  1. scan: read the state record, the span headers and every region's entries; read-only,
//     applies the structural rules (H, S, E) and records what it found;
//  2. plan: a pure function of the scan that applies rules R1-R4 (which entries are visible,
//     what is damage and what is a torn tail) and says what writable recovery must write;
//     tested on hand-built scans, without a medium;
//  3. apply: the writes that make the plan final (rule R5, zeroed tails, the raised floor).
#ifndef PMEMSTREAM_RECOVERY_RECOVERY_HPP
#define PMEMSTREAM_RECOVERY_RECOVERY_HPP

#include "format/dual_slot.hpp"
#include "format/entry_codec.hpp"
#include "format/format.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pmemstream::detail {

class state_record;

// One problem, tied to a region and an entry where it can be (0 otherwise).
struct scan_problem {
	uint64_t region_offset = 0;
	uint64_t entry_offset = 0;
	std::string what;
};

// A span header in force.
struct span_record {
	uint64_t offset = 0;
	slot_read<format::span_slot> rec{};

	const format::span_slot &v() const noexcept
	{
		return rec.value;
	}
};

// An entry the walk accepted whose timestamp is above the floor.
struct scanned_entry {
	uint64_t offset = 0;
	uint64_t timestamp = 0; // without flags
	uint64_t flags = 0;
};

// Skip-corrupt salvage (format.md 8.7): a damaged range [offset, next) of a region the walk
// stepped over; `next` holds a valid entry.
struct scan_gap {
	uint64_t offset = 0;
	uint64_t next = 0;
	const char *why = nullptr;
};

// The first position p >= from, in steps of the entry alignment, that holds a valid entry
// (prev_ts for rule E4); 0 when none. The search behind damage of point-in-time repair and of
// skip-corrupt salvage.
uint64_t next_valid_position(const std::byte *base, uint64_t from, uint64_t end, uint64_t epoch, uint64_t prev_ts) noexcept;

// A walk of a region's entries in the order they were written: from data + head to the end
// of the data area, or in a wrapped region (format.md 5.2) from data + head to the lap's end
// (wrap, epoch head_epoch) and on from data to data + head (the region's epoch). `end` bounds
// the current lap's entries like the end of a region.
struct lap_walk {
	uint64_t pos = 0, end = 0, epoch = 0;
	bool head_lap = false; // in a wrapped region's older lap
	uint64_t data = 0, second_end = 0, second_epoch = 0;

	lap_walk(uint64_t span_offset, const format::span_slot &v) noexcept
	    : data(span_offset + format::span_header_size), second_end(data + v.head), second_epoch(v.epoch)
	{
		pos = data + v.head;
		const uint64_t wrap = v.reserved[format::span_wrap];
		head_lap = wrap != 0;
		end = head_lap ? data + wrap : span_offset + v.span_size;
		epoch = head_lap ? v.reserved[format::span_head_epoch] : v.epoch;
	}
	// Past an entry of `footprint` bytes: into the second lap at the head lap's end.
	void step(uint64_t footprint) noexcept
	{
		pos += footprint;
		if (head_lap && pos == end)
			to_second_lap();
	}
	void to_second_lap() noexcept
	{
		head_lap = false;
		pos = data;
		end = second_end;
		epoch = second_epoch;
	}
};

// What the walk of one region's entries found.
struct region_scan {
	size_t span_index = 0; // in stream_scan::spans
	uint64_t offset = 0;   // span offset
	uint64_t data_begin = 0;
	uint64_t data_end = 0;
	uint64_t valid_entries = 0;   // accepted by the walk (padding included)
	uint64_t visible_entries = 0; // of which not padding
	uint64_t last_ts = 0;	      // timestamp of the last accepted entry (0: none)
	uint64_t last_floor_ts = 0;   // timestamp of the last accepted entry <= the floor (0: none)
	uint64_t last_entry = 0;      // offset of the last accepted entry (0: none)
	uint64_t last_floor_entry = 0; // offset of the last accepted entry <= the floor (0: none)
	// The walk started at the region's checkpoint instead of data + head (checkpoint.cpp):
	// the counts and timestamps above include the sealed entries it did not read.
	bool from_checkpoint = false;
	std::vector<scanned_entry> above_floor;
	uint64_t stop = 0; // offset where the walk stopped
	// A wrapped region (format.md 5.2): where the head's lap ends (absolute; 0: not wrapped),
	// and whether the walk stopped inside that lap (before the second lap's start).
	uint64_t wrap = 0;
	bool stop_in_head_lap = false;
	entry_state stop_state = entry_state::empty;
	const char *stop_why = nullptr;
	// Rule R2 evidence: the walk stopped at an invalid entry whose size field fits, and the
	// position after it holds a valid entry with this timestamp (0: none), followed by
	// valid_behind - 1 more valid entries in timestamp order (counted up to the region's W).
	uint64_t next_valid_ts = 0;
	uint64_t valid_behind = 0;
	bool settled_behind = false; // one of them carries flag_settled
	// The first of them is a transaction's member (flag_tx): the torn entry may be an earlier
	// member of the same transaction, written with it before one fence (rule R2's exception).
	bool tx_behind = false;
	// What the walk had accepted when it passed the checkpoint (data_begin + sealed_tail).
	bool reached_sealed = false;
	uint64_t count_at_sealed = 0;
	uint64_t last_ts_at_sealed = 0;
	// Skip-corrupt salvage (format.md 8.7): the damaged ranges the walk stepped over, in offset
	// order; empty in every other mode.
	std::vector<scan_gap> gaps;
};

struct stream_scan {
	slot_read<format::state_slot> state{};
	std::vector<span_record> spans; // offset order; ends at the first unreadable span
	std::vector<region_scan> regions;
	std::vector<scan_problem> problems; // structural (S1-S3): spans after one are not known
	uint64_t max_counter = 0;	    // largest epoch or id of any span
};

// Where the walk of a region's entries starts, with what it counts as already accepted.
struct walk_start {
	uint64_t pos = 0; // absolute offset
	uint64_t valid_entries = 0;
	uint64_t visible_entries = 0;
	uint64_t last_ts = 0;
	uint64_t last_entry = 0;
	bool from_checkpoint = false;
	bool second_lap = false; // a wrapped region's walk starts in the lap that begins at offset 0
};

// Fast reopen (checkpoint.cpp, docs/format.md 8.5): the start the region's checkpoint vouches
// for, when it can be trusted without reading the sealed entries; else false. The sealed
// entries then all lie at or below `floor`, so recovery's rules need none of their timestamps.
bool checkpoint_start(const std::byte *base, const format::span_slot &v, uint64_t span_offset, uint64_t floor, walk_start &out) noexcept;

// How much of each region recovery reads (open_options::verify).
enum class scan_depth {
	checkpoint, // start at a trusted checkpoint (fast reopen)
	full,	    // walk and checksum every entry from data + head
};

// Step 1. `floor` selects which timestamps are collected; the state record is read first and
// fails the scan (with *problem) when both copies are damaged or the floor is out of range.
// `skip_corrupt` (format.md 8.7): a region's walk continues behind an invalid entry at the
// next valid one (scan_gap).
bool scan_stream(const std::byte *base, const format::stream_header &h, stream_scan &out, std::string &problem,
		 scan_depth depth = scan_depth::full, bool skip_corrupt = false);

struct region_outcome {
	size_t scan_index = 0; // in stream_scan::regions
	uint64_t tail = 0;     // visible tail
	uint64_t count = 0;    // visible entries
	uint64_t walked = 0;   // entries before tail, padding included
	uint64_t last_ts = 0;  // timestamp of the last visible entry (or the last entry <= floor)
	uint64_t last_entry = 0; // offset of the entry with last_ts (0: none)
	bool torn = false;     // the walk stopped at an unclean entry
	bool zero_tail = false; // writable recovery must zero the header at tail
	bool rewrite_checkpoint = false; // point-in-time repair: the checkpoint goes to the new tail
	// Point-in-time repair of a wrapped region cut inside its head lap: where that lap now
	// ends (absolute; 0: not such a cut). The tail is then the second lap's start.
	uint64_t lap_end = 0;
};

// A transaction marker of a span header (format.hpp span_tx_*), resolved by the plan.
struct tx_marker {
	size_t span_index = 0; // in stream_scan::spans
	uint64_t end_ts = 0;
	uint64_t kind = 0;	// format::tx_allocating or tx_freeing
	bool committed = false; // end_ts <= floor or inside the visible prefix
	// The region is not shown: an allocation undone or a free completed.
	bool gone() const noexcept
	{
		return (kind == format::tx_allocating) != committed;
	}
};

struct recovery_plan {
	std::vector<scan_problem> problems; // corruption (R2-R4, S4, duplicates); strict fails on any
	uint64_t prefix = 0;		    // R1: visible timestamps are exactly (floor, prefix]
	uint64_t max_seen = 0;		    // largest timestamp found (trimmed ones included)
	std::vector<region_outcome> regions;
	uint64_t torn_tails = 0;
	uint64_t trimmed_entries = 0;
	uint64_t entries = 0;
	uint64_t last_issued = 0; // the tracker starts after this
	std::vector<tx_marker> tx_markers; // of the regions reached (transactions, issue 13)
};

// Step 2. Pure. `salvage` shows every reachable entry instead of the prefix. `live_writer`
// (read-only only): the scan raced a writer's appends, so rules R2-R4 are not applied
// (format.md 8.4).
recovery_plan plan_recovery(const stream_scan &scan, bool salvage, bool writable, bool live_writer = false);

// Steps 1 and 2 of a read-only open, which a writer in another process may be appending to
// meanwhile (format.md 8.4): scans until a scan finds no problem or two scans in a row agree;
// a stream that keeps changing gets the plan without rules R2-R4 (`live_writer` set). False,
// with *fatal, when the state record cannot be read.
bool recover_read_only(const media &m, const format::stream_header &h, bool salvage, stream_scan &scan, recovery_plan &plan,
		       bool &live_writer, std::string &fatal, scan_depth depth = scan_depth::full, bool skip_corrupt = false);

// Step 3. Writable opens only: R5 repairs, zeroed tails, floor raised to max_seen. Each group
// of writes is drained before the next.
// Zeroes the header at every tail the plan marks (zero_tail) and drains once: the remains of
// a torn or trimmed entry never read as a newer one (apply_recovery, apply_point_in_time).
void zero_tails(media &m, const recovery_plan &plan);
void apply_recovery(media &m, stream_scan &scan, const recovery_plan &plan, state_record &state);

// Point-in-time repair (repair.cpp, docs/format.md 8.6), writable opens only.
struct repair_drop {
	uint64_t region_offset = 0;
	uint64_t offset = 0; // the region's new tail: where the dropped part starts
	uint64_t entries = 0;
	uint64_t first_ts = 0, last_ts = 0;
	bool damaged = false;
	std::string why;
};
struct repair_plan {
	uint64_t cut = 0;  // every entry kept has a timestamp <= cut
	uint64_t burn = 0; // largest timestamp found anywhere, behind damage included
	std::vector<repair_drop> dropped;
};
// Turns `plan` (of a writable scan with problems, or of a stream whose state records an
// interrupted repair) into the plan of the repaired stream: each region cut at its first
// damage and every region at the cut timestamp, so that the visible set is the prefix up to
// the last timestamp known to precede the first damage. Reads the regions again (to place
// cuts at or below the floor and to find what lies behind damage). False, with *why, when the
// damage is not repairable (structure: span headers, repeated ids).
// A read-only plan (`writable` false) is a dry run: its watermark is the cut.
bool plan_point_in_time(const std::byte *base, const stream_scan &scan, recovery_plan &plan, repair_plan &out, std::string &why,
			bool writable = true);
// Writes it: the cut recorded in the state record first, the lease over every timestamp
// found, the zeroed tails, the rewritten checkpoints, then the floor with the cut cleared.
void apply_point_in_time(media &m, stream_scan &scan, const recovery_plan &plan, const repair_plan &rp, state_record &state);
// A read-only dry run of it: the layout the repair would write, in the scan's copies of the
// span headers only (a wrapped region cut inside its head lap: the lap's new end).
void dry_run_layout(stream_scan &scan, const recovery_plan &plan);

} // namespace pmemstream::detail

#endif
