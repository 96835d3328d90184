// SPDX-License-Identifier: BSD-3-Clause
// Point-in-time repair (docs/format.md 8.6): a writable open that cuts the stream back to the
// last moment before its first damage instead of refusing it.
#include "engine/state_record.hpp"
#include "recovery/recovery.hpp"
#include "util/hex.hpp"

#include <algorithm>

namespace pmemstream::detail {

namespace {

// The timestamp of the last entry the walk from head accepts that starts before `before`
// (0: none).
uint64_t last_ts_before(const std::byte *base, const region_scan &sc, const format::span_slot &v, uint64_t before)
{
	lap_walk w(sc.offset, v);
	uint64_t last = 0;
	// In a wrapped region every position of the head lap comes before every one of the second.
	const bool before_in_head_lap = w.head_lap && before >= w.second_end;
	while (w.head_lap != before_in_head_lap || w.pos < before) {
		if (!w.head_lap && before_in_head_lap)
			break;
		auto c = check_entry(base, w.pos, w.end, w.epoch, last);
		if (c.state != entry_state::valid)
			break;
		last = c.timestamp();
		w.step(format::entry_footprint(c.header.size));
	}
	return last;
}

// Counts the valid entries of a chain from `pos` (each newer than the one before) into `d`;
// returns where the chain stops.
uint64_t count_chain(const std::byte *base, uint64_t pos, uint64_t end, uint64_t epoch, uint64_t &prev_ts, repair_drop &d, uint64_t &burn)
{
	for (;;) {
		auto c = check_entry(base, pos, end, epoch, prev_ts);
		if (c.state != entry_state::valid)
			return pos;
		prev_ts = c.timestamp();
		burn = std::max(burn, prev_ts);
		if (!(c.flags() & format::flag_padding)) {
			if (d.entries++ == 0)
				d.first_ts = prev_ts;
			d.last_ts = prev_ts;
		}
		pos += format::entry_footprint(c.header.size);
	}
}

} // namespace

bool plan_point_in_time(const std::byte *base, const stream_scan &scan, recovery_plan &plan, repair_plan &out, std::string &why,
			bool writable)
{
	if (!scan.problems.empty()) {
		why = "cannot be repaired: " + scan.problems.front().what;
		return false;
	}
	if (plan.regions.size() != scan.regions.size()) {
		why = "cannot be repaired: two regions share an id or an epoch";
		return false;
	}
	const auto &state = scan.state.value;
	const uint64_t recorded = state.reserved[format::state_repair_cut];
	auto span_of = [&](const region_scan &sc) -> const format::span_slot & { return scan.spans[sc.span_index].v(); };

	// The cut: the last timestamp known to precede every damage. A damaged entry's own
	// timestamp cannot be trusted, so each region tied to a problem contributes the last
	// timestamp before the damage; a missing acknowledged entry (R3) the prefix before the
	// gap. A repair a crash interrupted recorded its cut: its own cuts look like damage now.
	uint64_t cut = recorded != 0 ? recorded - 1 : plan.prefix;
	std::vector<std::string> why_of(scan.regions.size());
	// Every timestamp the walks accept, at or below the floor included: a damaged entry's
	// timestamp is none of them, so a cut may pass over the ones found after the last good
	// entry of the damaged region.
	std::vector<uint64_t> found;
	if (recorded == 0) {
		for (const auto &sc : scan.regions) {
			lap_walk w(sc.offset, span_of(sc));
			uint64_t prev = 0;
			for (;;) {
				auto c = check_entry(base, w.pos, w.end, w.epoch, prev);
				if (c.state != entry_state::valid)
					break;
				found.push_back(prev = c.timestamp());
				w.step(format::entry_footprint(c.header.size));
			}
		}
		std::sort(found.begin(), found.end());
	}
	for (const auto &p : plan.problems) {
		if (p.region_offset == 0)
			continue;
		for (size_t i = 0; i < scan.regions.size(); ++i) {
			const auto &sc = scan.regions[i];
			if (sc.offset != p.region_offset)
				continue;
			if (why_of[i].empty())
				why_of[i] = p.what;
			if (recorded != 0)
				continue;
			uint64_t c = last_ts_before(base, sc, span_of(sc), p.entry_offset ? p.entry_offset : sc.stop);
			// Damage where the walk stopped: its timestamp is above c and not one found
			// elsewhere. (A duplicate or a checkpoint that does not match cuts at c.)
			if (p.entry_offset == sc.stop)
				while (std::binary_search(found.begin(), found.end(), c + 1))
					++c;
			cut = std::min(cut, c);
		}
	}
	out.cut = cut;
	out.burn = std::max(plan.max_seen, state.ts_floor);

	plan.entries = 0;
	plan.trimmed_entries = 0;
	plan.torn_tails = 0;
	for (auto &o : plan.regions) {
		const auto &sc = scan.regions[o.scan_index];
		const auto &v = span_of(sc);
		// Keep the entries up to the cut, counted as the walk from head does.
		lap_walk w(sc.offset, v);
		uint64_t prev = 0;
		o.count = o.walked = o.last_ts = o.last_entry = 0;
		for (;;) {
			auto c = check_entry(base, w.pos, w.end, w.epoch, prev);
			if (c.state != entry_state::valid || c.timestamp() > cut)
				break;
			prev = o.last_ts = c.timestamp();
			o.last_entry = w.pos;
			++o.walked;
			if (!(c.flags() & format::flag_padding))
				++o.count;
			w.step(format::entry_footprint(c.header.size));
		}
		// A cut inside a wrapped region's head lap (format.md 5.2): the head lap ends at the cut
		// and the second lap, every entry of which is newer, goes whole (a new epoch, written
		// by apply_point_in_time, as a suffix cut in the head lap does).
		const bool head_cut = w.head_lap;
		const uint64_t pos = w.pos;
		o.tail = head_cut ? sc.data_begin : pos;
		o.lap_end = head_cut ? pos : 0;
		// What goes: the rest of the chain, and behind damage every chain found by looking at
		// each 8-byte position (their timestamps are burnt: a later, shorter entry at the cut
		// could expose one, and rule E4 then rejects it).
		repair_drop d;
		d.region_offset = sc.offset;
		d.offset = pos;
		d.damaged = !why_of[o.scan_index].empty();
		d.why = why_of[o.scan_index];
		uint64_t chain_prev = prev;
		uint64_t at = count_chain(base, pos, w.end, w.epoch, chain_prev, d, out.burn);
		const bool unclean = check_entry(base, at, w.end, w.epoch, chain_prev).state == entry_state::invalid;
		if (unclean && d.damaged) {
			for (uint64_t p = next_valid_position(base, at + format::entry_alignment, w.end, w.epoch, 0); p != 0;) {
				uint64_t p_prev = 0;
				p = next_valid_position(base, count_chain(base, p, w.end, w.epoch, p_prev, d, out.burn), w.end, w.epoch, 0);
			}
		}
		if (head_cut) { // and the second lap's entries go too
			lap_walk second = w;
			second.to_second_lap();
			uint64_t second_prev = 0;
			(void)count_chain(base, second.pos, second.end, second.epoch, second_prev, d, out.burn);
		}
		o.torn = unclean && !d.damaged;
		o.zero_tail = head_cut || at != pos || unclean;
		o.rewrite_checkpoint = head_cut || d.damaged || pos < sc.data_begin + v.sealed_tail;
		if (o.torn)
			++plan.torn_tails;
		plan.entries += o.count;
		plan.trimmed_entries += d.entries;
		if (d.entries != 0 || d.damaged)
			out.dropped.push_back(std::move(d));
	}
	plan.prefix = std::min(plan.prefix, cut);
	plan.max_seen = out.burn;
	plan.last_issued = writable ? std::max({out.burn, state.ts_floor, state.ts_lease}) : plan.prefix;
	return true;
}

void dry_run_layout(stream_scan &scan, const recovery_plan &plan)
{
	for (const auto &o : plan.regions) {
		if (o.lap_end == 0)
			continue;
		auto &sp = scan.spans[scan.regions[o.scan_index].span_index];
		format::span_slot &v = sp.rec.value;
		const uint64_t data = sp.offset + format::span_header_size;
		if (o.walked == 0) { // nothing kept: an empty region (its bytes are not read)
			v.head = 0;
			v.reserved[format::span_wrap] = 0;
			v.reserved[format::span_head_epoch] = 0;
		} else {
			v.reserved[format::span_wrap] = o.lap_end - data;
		}
	}
}

void apply_point_in_time(media &m, stream_scan &scan, const recovery_plan &plan, const repair_plan &rp, state_record &state)
{
	// R5 as in any writable recovery.
	bool repaired = state.repair_nodrain();
	for (auto &s : scan.spans) {
		if (!s.rec.agree) {
			repair_dual_nodrain(m, s.offset, s.offset + format::span_slot_size, s.rec);
			repaired = true;
		}
	}
	if (repaired)
		m.drain();
	// The cut first: a crash from here on leaves a repair the next open must finish, and it
	// finishes it with this cut (its own zeroed tails would otherwise look like new damage
	// and cut further). Then the lease over every timestamp found, as apply_recovery does.
	state.begin_repair(rp.cut);
	state.raise_lease(rp.burn);
	zero_tails(m, plan);
	// The checkpoints of cut regions describe the new tails (R4 holds again).
	for (const auto &o : plan.regions) {
		if (!o.rewrite_checkpoint)
			continue;
		auto &sp = scan.spans[scan.regions[o.scan_index].span_index];
		format::span_slot v = sp.rec.value;
		const uint64_t data = sp.offset + format::span_header_size;
		if (o.lap_end != 0) {
			// Cut in a wrapped region's head lap: the lap ends at the cut, the second lap starts
			// again empty in a new epoch (one above every epoch and id found, which the catalog
			// then counts from), or the region is empty when nothing of the head lap is kept.
			v.epoch = ++scan.max_counter;
			if (o.walked == 0) {
				v.head = 0;
				v.reserved[format::span_wrap] = 0;
				v.reserved[format::span_head_epoch] = 0;
			} else {
				v.reserved[format::span_wrap] = o.lap_end - data;
			}
		}
		v.sealed_tail = o.tail - data;
		v.sealed_count = o.walked;
		v.sealed_last_ts = o.walked ? o.last_ts : 0;
		v.reserved[format::span_sealed_shown] = o.count;
		v.reserved[format::span_sealed_last] = o.walked ? o.last_entry - data + 1 : 0;
		sp.rec = write_dual(m, sp.offset, sp.offset + format::span_slot_size, v, sp.rec);
	}
	state.end_repair(plan.last_issued);
}

} // namespace pmemstream::detail
