// SPDX-License-Identifier: BSD-3-Clause
// Recovery of a read-only open, which another process may be writing meanwhile
// (docs/format.md 8.4). Writes nothing.
#include "recovery/recovery.hpp"

#include <chrono>
#include <thread>

namespace pmemstream::detail {

namespace {

// Whether two scans found the same: the same state record and span headers in force, and every
// region walked to the same place with the same entries. Every value compared only grows while
// a writer works (record sequences, ids, a region's walk), so two equal scans in a row saw a
// stream that did not change between them, and the first one read it as it was at one moment.
bool same_scan(const stream_scan &a, const stream_scan &b)
{
	auto same_span = [](const span_record &x, const span_record &y) {
		return x.offset == y.offset && std::memcmp(&x.rec.value, &y.rec.value, sizeof(x.rec.value)) == 0 &&
		       x.rec.agree == y.rec.agree;
	};
	auto same_region = [](const region_scan &x, const region_scan &y) {
		return x.offset == y.offset && x.stop == y.stop && x.stop_state == y.stop_state && x.valid_entries == y.valid_entries &&
		       x.last_ts == y.last_ts && x.next_valid_ts == y.next_valid_ts && x.above_floor.size() == y.above_floor.size() &&
		       x.gaps.size() == y.gaps.size();
	};
	if (std::memcmp(&a.state.value, &b.state.value, sizeof(a.state.value)) != 0 || a.state.agree != b.state.agree ||
	    a.spans.size() != b.spans.size() || a.regions.size() != b.regions.size() || a.problems.size() != b.problems.size())
		return false;
	for (size_t i = 0; i < a.spans.size(); ++i)
		if (!same_span(a.spans[i], b.spans[i]))
			return false;
	for (size_t i = 0; i < a.regions.size(); ++i)
		if (!same_region(a.regions[i], b.regions[i]))
			return false;
	for (size_t i = 0; i < a.problems.size(); ++i)
		if (a.problems[i].what != b.problems[i].what)
			return false;
	return true;
}

// Whether the state record and every span header the scan used are still in force as it read
// them. A free, an allocation or a close changes a header of the layout in force, so an
// unchanged set means the regions walked were the stream's regions until now: none of them
// was freed (and its space reused) behind the walk, and the span walk read one layout.
bool layout_held(const std::byte *base, const stream_scan &scan)
{
	auto st = read_dual<format::state_slot>(base, format::state_slot_offset[0], format::state_slot_offset[1]);
	if (!st || std::memcmp(&st->value, &scan.state.value, sizeof(st->value)) != 0)
		return false;
	for (const auto &sp : scan.spans) {
		auto now = read_dual<format::span_slot>(base, sp.offset, sp.offset + format::span_slot_size);
		if (!now || std::memcmp(&now->value, &sp.rec.value, sizeof(now->value)) != 0)
			return false;
	}
	return true;
}

} // namespace

bool recover_read_only(const media &m, const format::stream_header &h, bool salvage, stream_scan &scan, recovery_plan &plan,
		       bool &live_writer, std::string &fatal, scan_depth depth, bool skip_corrupt)
{
	// The walk reads the regions one after another while a writer may append to all of them:
	// an entry a later region got during the walk looks like proof of loss in an earlier one
	// (R3), a torn append completed behind the walk like damage (R2). A scan that finds no
	// problem is consistent anyway (its prefix is what it found); one that does is repeated
	// until two in a row agree (the stream held still, the problems are real) or, with a
	// writer at work, until it is clear that the stream keeps changing.
	const bool writer_seen = m.writer() == media::writer_presence::present;
	const int attempts = writer_seen ? 2 : 10;
	stream_scan prev;
	std::string prev_fatal;
	bool have_prev = false;
	for (int a = 0;; ++a) {
		scan = stream_scan{};
		std::string why;
		const bool readable = scan_stream(m.base(), h, scan, why, depth, skip_corrupt);
		if (readable)
			plan = plan_recovery(scan, salvage, false);
		const bool held = readable && layout_held(m.base(), scan);
		if (held && scan.problems.empty() && plan.problems.empty()) {
			live_writer = writer_seen;
			return true;
		}
		const bool stable = have_prev && (readable ? held && prev_fatal.empty() && same_scan(prev, scan) : prev_fatal == why);
		if (stable || a + 1 >= attempts) {
			if (!stable && readable && scan.problems.empty()) {
				// Still changing: a writer is at work, and the rules that cannot tell its
				// appends from loss are left out.
				live_writer = true;
				plan = plan_recovery(scan, salvage, false, true);
				return true;
			}
			live_writer = writer_seen || !stable;
			fatal = why;
			return readable;
		}
		prev = std::move(scan);
		prev_fatal = why;
		have_prev = true;
		// Without a writer holding the lock one may be opening or closing: give it a moment.
		if (!writer_seen && a >= 2)
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
}

} // namespace pmemstream::detail
