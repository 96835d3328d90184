// SPDX-License-Identifier: BSD-3-Clause
// Recovery step 3: the writes that make a plan final before anything else is written.
#include "engine/state_record.hpp"
#include "recovery/recovery.hpp"

#include <algorithm>

namespace pmemstream::detail {

namespace {

// The free span that replaces a region (its epoch: the largest value used in it).
format::span_slot free_span_slot(const format::span_slot &region)
{
	format::span_slot f{};
	f.span_size = region.span_size;
	f.state = format::span_free;
	f.epoch = std::max(region.epoch, region.id);
	return f;
}

} // namespace

void zero_tails(media &m, const recovery_plan &plan)
{
	bool zeroed = false;
	for (const auto &o : plan.regions) {
		if (o.zero_tail) {
			m.set_nodrain(m.base() + o.tail, 0, sizeof(format::entry_header));
			zeroed = true;
		}
	}
	if (zeroed)
		m.drain();
}

void apply_recovery(media &m, stream_scan &scan, const recovery_plan &plan, state_record &state)
{
	// R5: the slot not in force may hold pieces of an interrupted write; they must not meet
	// the pieces of a later write that reuses the same sequence number.
	bool repaired = state.repair_nodrain();
	for (auto &s : scan.spans) {
		if (!s.rec.agree) {
			repair_dual_nodrain(m, s.offset, s.offset + format::span_slot_size, s.rec);
			repaired = true;
		}
	}
	if (repaired)
		m.drain();

	// Transaction markers (issue 13), before the floor moves past their timestamps: clear
	// those that stand, undo allocations, then raise the floor over the committed frees'
	// timestamps (their regions' entries are about to go) and complete them. A crash in
	// between resolves the same way again: what was undone lies above the prefix, and a
	// completed free's timestamp is at or below the floor.
	uint64_t freed_up_to = 0;
	for (const auto &mk : plan.tx_markers) {
		auto &sp = scan.spans[mk.span_index];
		format::span_slot v = sp.rec.value;
		v.reserved[format::span_tx_end] = 0;
		v.reserved[format::span_tx_kind] = 0;
		if (mk.kind == format::tx_freeing && mk.committed) {
			freed_up_to = std::max(freed_up_to, mk.end_ts);
			continue;
		}
		if (mk.gone())
			v = free_span_slot(v);
		sp.rec = write_dual(m, sp.offset, sp.offset + format::span_slot_size, v, sp.rec);
	}
	if (freed_up_to != 0) {
		state.raise_floor(freed_up_to);
		for (const auto &mk : plan.tx_markers) {
			if (mk.kind != format::tx_freeing || !mk.committed)
				continue;
			auto &sp = scan.spans[mk.span_index];
			sp.rec = write_dual(m, sp.offset, sp.offset + format::span_slot_size, free_span_slot(sp.rec.value), sp.rec);
		}
	}

	// Before any tail is zeroed, lease every timestamp found: a region may hold several
	// trimmed entries (W > 1, transactions), and only the first is zeroed. If a crash comes
	// before the floor below is raised, the next recovery cannot reach the others, and the
	// lease keeps it from handing out their timestamps again (a later, shorter entry could
	// expose one, and rule E4 rejects it only if its timestamp is smaller).
	bool zero_any = false;
	for (const auto &o : plan.regions)
		zero_any = zero_any || o.zero_tail;
	if (zero_any)
		state.raise_lease(plan.max_seen);

	zero_tails(m, plan);
	// Timestamps found on media, and leased ones, are never handed out again: a trimmed entry
	// stays unreachable behind its zeroed header, and rule E4 rejects it if a shorter new
	// entry exposes it. The floor goes to the last timestamp burnt, so that the gap up to the
	// first new one is legitimately absent (rule R1).
	state.raise_floor(plan.last_issued);
}

} // namespace pmemstream::detail
