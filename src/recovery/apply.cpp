// SPDX-License-Identifier: BSD-3-Clause
// Recovery step 3: the writes that make a plan final before anything else is written.
#include "engine/state_record.hpp"
#include "recovery/recovery.hpp"

namespace pmemstream::detail {

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

	bool zeroed = false;
	for (const auto &o : plan.regions) {
		if (o.zero_tail) {
			m.set_nodrain(m.base() + o.tail, 0, sizeof(format::entry_header));
			zeroed = true;
		}
	}
	if (zeroed)
		m.drain();
	// Timestamps found on media, and leased ones, are never handed out again: a trimmed entry
	// stays unreachable behind its zeroed header, and rule E4 rejects it if a shorter new
	// entry exposes it. The floor goes to the last timestamp burnt, so that the gap up to the
	// first new one is legitimately absent (rule R1).
	state.raise_floor(plan.last_issued);
}

} // namespace pmemstream::detail
