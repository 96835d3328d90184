// SPDX-License-Identifier: BSD-3-Clause
// Recovery step 2: rules R1-R4 and S4 as a pure function of the scan (docs/format.md 8).
#include "recovery/recovery.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace pmemstream::detail {

recovery_plan plan_recovery(const stream_scan &scan, bool salvage, bool writable, bool live_writer)
{
	// A scan made while a writer appends (read-only opens only, format.md 8.4) cannot tell its
	// appends from loss: rules R2-R4 are left out, and R1's prefix is what the walk found.
	const bool verify = !(live_writer && !writable);
	recovery_plan p;
	const uint64_t floor = scan.state.value.ts_floor;
	auto problem = [&](uint64_t reg, uint64_t ent, std::string what) { p.problems.push_back({reg, ent, std::move(what)}); };

	// S4: an id names one region, an epoch belongs to one region. A region that repeats one
	// is shown only in salvage, and only the first.
	std::set<uint64_t> ids, epochs;
	std::vector<size_t> usable;
	for (size_t i = 0; i < scan.regions.size(); ++i) {
		const auto &sc = scan.regions[i];
		const auto &v = scan.spans[sc.span_index].v();
		const uint64_t head_epoch = v.reserved[format::span_head_epoch]; // a wrapped region's second epoch
		if (ids.count(v.id) || epochs.count(v.epoch) || (head_epoch != 0 && epochs.count(head_epoch))) {
			problem(sc.offset, 0, "region at " + hex(sc.offset) + " repeats the id or epoch of another region");
			continue;
		}
		ids.insert(v.id);
		epochs.insert(v.epoch);
		if (head_epoch != 0)
			epochs.insert(head_epoch);
		usable.push_back(i);
	}

	// Timestamps above the floor, with their flags, for R1 and the duplicate check: sorted
	// once (a reopen after a crash may find hundreds of thousands; a tree of them cost more
	// than the walk). Of entries sharing a timestamp the first in region order counts, and
	// the others are reported with their region, in walk order.
	struct ts_ref {
		uint64_t ts, flags;
		size_t pos; // in usable
		size_t k;   // in the region's above_floor
	};
	std::vector<ts_ref> all;
	{
		size_t n = 0;
		for (size_t i : usable)
			n += scan.regions[i].above_floor.size();
		all.reserve(n);
	}
	auto before = [](const ts_ref &a, const ts_ref &b) {
		return a.ts != b.ts ? a.ts < b.ts : a.pos != b.pos ? a.pos < b.pos : a.k < b.k;
	};
	// Each region's list is in timestamp order (E4): a few are merged, many sorted.
	const bool merge = usable.size() <= 8;
	for (size_t u = 0; u < usable.size(); ++u) {
		const auto &af = scan.regions[usable[u]].above_floor;
		const auto mid = static_cast<std::ptrdiff_t>(all.size());
		for (size_t k = 0; k < af.size(); ++k)
			all.push_back({af[k].timestamp, af[k].flags, u, k});
		if (merge)
			std::inplace_merge(all.begin(), all.begin() + mid, all.end(), before);
	}
	if (!merge)
		std::sort(all.begin(), all.end(), before);
	std::vector<std::vector<size_t>> dups(usable.size());
	std::vector<std::pair<uint64_t, uint64_t>> flags_of; // (timestamp, flags), ascending, unique
	flags_of.reserve(all.size());
	for (size_t j = 0; j < all.size(); ++j) {
		if (j > 0 && all[j].ts == all[j - 1].ts)
			dups[all[j].pos].push_back(all[j].k);
		else
			flags_of.emplace_back(all[j].ts, all[j].flags);
	}
	for (auto &d : dups)
		std::sort(d.begin(), d.end());
	std::set<size_t> damaged; // regions whose walk stopped at damage (R2, R4), not a torn tail
	uint64_t max_seen = floor, acknowledged = floor;
	for (size_t u = 0; u < usable.size(); ++u) {
		const size_t i = usable[u];
		const auto &sc = scan.regions[i];
		const auto &v = scan.spans[sc.span_index].v();
		for (size_t k : dups[u])
			problem(sc.offset, sc.above_floor[k].offset,
				"two entries carry timestamp " + std::to_string(sc.above_floor[k].timestamp));
		max_seen = std::max(max_seen, sc.last_ts);
		// R3: an entry followed by max_in_flight others in its region was acknowledged, unless
		// it is a member of a transaction that the member ending it has not closed (a
		// transaction is acknowledged as a whole, when it ends).
		// An entry that carries flag_settled was written once the entry before it was
		// persisted, so that one was acknowledged (the same exception applies).
		const uint64_t w = v.max_in_flight;
		auto unfinished = [](const scanned_entry &e) { return (e.flags & format::flag_tx) && !(e.flags & format::flag_tx_end); };
		for (size_t k = verify ? sc.above_floor.size() : 0; k > w; --k) {
			const auto &e = sc.above_floor[k - 1 - w];
			if (unfinished(e))
				continue;
			acknowledged = std::max(acknowledged, e.timestamp);
			break;
		}
		for (size_t k = verify ? sc.above_floor.size() : 0; k > 1; --k) {
			if (!(sc.above_floor[k - 1].flags & format::flag_settled) || unfinished(sc.above_floor[k - 2]))
				continue;
			acknowledged = std::max(acknowledged, sc.above_floor[k - 2].timestamp);
			break;
		}

		if (!verify)
			continue;
		// R2: a torn append is followed by at most W - 1 newer entries in its region (the
		// appends in flight with it); with W = 1 by none. A transaction's members of one
		// region are written together before one fence: a torn one may be followed by others
		// of its transaction (the first entry behind carries tx; its block is then unfinished
		// and R1 hides it).
		const uint64_t behind = std::max<uint64_t>(sc.valid_behind, sc.next_valid_ts != 0);
		if (sc.stop_state == entry_state::invalid && sc.next_valid_ts > floor && !sc.tx_behind &&
		    (behind >= w || sc.settled_behind) &&
		    damaged.insert(i).second)
			problem(sc.offset, sc.stop,
				"region " + hex(sc.offset) + ": entry at " + hex(sc.stop) + " is damaged (" + sc.stop_why +
					") and followed by valid entries");
		// R4: the checkpoint written at the last clean close is present and unchanged.
		// (In a wrapped region the checkpoint ends in the second lap: every stop in the head's
		// lap is before it.)
		const uint64_t sealed_end = sc.data_begin + v.sealed_tail;
		if ((sc.stop_in_head_lap || sc.stop < sealed_end) && damaged.insert(i).second)
			problem(sc.offset, sc.stop,
				"region " + hex(sc.offset) + ": entry at " + hex(sc.stop) + " is damaged (" +
					(sc.stop_why ? sc.stop_why : "missing") + ") inside data sealed at the last clean close");
		else if (!sc.reached_sealed || sc.count_at_sealed != v.sealed_count ||
			 sc.last_ts_at_sealed != v.sealed_last_ts)
			problem(sc.offset, sealed_end,
				"region " + hex(sc.offset) + ": the entries before " + hex(sealed_end) +
					" do not match the checkpoint of the last clean close");
	}

	// R1: the visible timestamps are a prefix: contiguous above the floor up to the first gap.
	uint64_t prefix = floor;
	for (auto [t, f] : flags_of) {
		if (t != prefix + 1)
			break;
		prefix = t;
	}
	// ... and never end inside a transaction: drop back to just before an unfinished block.
	if (prefix > floor) {
		uint64_t t = prefix;
		while (t > floor) {
			const uint64_t f = std::lower_bound(flags_of.begin(), flags_of.end(), std::make_pair(t, uint64_t{0}))->second;
			if (!(f & format::flag_tx) || (f & format::flag_tx_end))
				break;
			--t;
		}
		// t is the block's boundary (an entry that ends one, or the floor); if prefix sat
		// inside an unfinished block, everything after t goes.
		if (t != prefix)
			prefix = t;
	}
	if (prefix < acknowledged) {
		std::string where;
		for (size_t i : usable)
			if (scan.regions[i].stop_state == entry_state::invalid)
				where += (where.empty() ? "" : ", ") + hex(scan.regions[i].stop);
		problem(0, 0,
			"entry with timestamp " + std::to_string(prefix + 1) + " is missing although entries up to " +
				std::to_string(acknowledged) + " were acknowledged" +
				(where.empty() ? std::string() : " (damaged entries at " + where + ")"));
	}
	// Transaction markers: a transaction committed iff its last timestamp is at or below the
	// floor or inside the prefix (rule R1 shows all of its block or none). A committed
	// allocation stands and a committed free completes; otherwise they are undone.
	std::set<size_t> gone;
	for (size_t i : usable) {
		const auto &v = scan.spans[scan.regions[i].span_index].v();
		tx_marker mk;
		mk.kind = v.reserved[format::span_tx_kind];
		if (mk.kind == 0)
			continue;
		mk.span_index = scan.regions[i].span_index;
		mk.end_ts = v.reserved[format::span_tx_end];
		mk.committed = mk.end_ts <= floor || mk.end_ts <= prefix;
		if (mk.gone())
			gone.insert(i);
		p.tx_markers.push_back(mk);
	}
	if (salvage)
		prefix = max_seen;

	// Each region's visible tail is its first entry above the prefix.
	for (size_t i : usable) {
		if (gone.count(i))
			continue;
		const auto &sc = scan.regions[i];
		region_outcome o;
		o.scan_index = i;
		o.tail = sc.stop;
		o.count = sc.visible_entries;
		o.walked = sc.valid_entries;
		o.last_ts = sc.last_ts;
		o.last_entry = sc.last_entry;
		o.torn = sc.stop_state == entry_state::invalid;
		for (size_t k = 0; k < sc.above_floor.size(); ++k) {
			if (sc.above_floor[k].timestamp <= prefix)
				continue;
			// A wrap persists every timestamp up to its lap's last (region_catalog::wrap), so
			// only damage elsewhere can put the prefix inside a head lap, whose end recovery
			// cannot move (it is sealed): the stream is corrupt, salvage shows it.
			if (sc.wrap != 0 && sc.above_floor[k].offset >= sc.data_begin + scan.spans[sc.span_index].v().head)
				problem(sc.offset, sc.above_floor[k].offset,
					"region " + hex(sc.offset) + ": entry at " + hex(sc.above_floor[k].offset) +
						" of the lap before the wrap lies above the recovered prefix");
			o.tail = sc.above_floor[k].offset;
			o.last_ts = k > 0 ? sc.above_floor[k - 1].timestamp : sc.last_floor_ts;
			o.last_entry = k > 0 ? sc.above_floor[k - 1].offset : sc.last_floor_entry;
			o.walked -= sc.above_floor.size() - k;
			for (size_t j = k; j < sc.above_floor.size(); ++j) {
				if (sc.above_floor[j].flags & format::flag_padding)
					continue;
				--o.count;
				++p.trimmed_entries;
			}
			break;
		}
		// The header at the visible tail must read as a clean end before the next append: a
		// trimmed entry, or the remains of a torn one (whose timestamp the next append may
		// reuse, since a torn entry's timestamp cannot be read).
		o.zero_tail = writable && (o.tail != sc.stop || sc.stop_state == entry_state::invalid);
		if (o.torn && !damaged.count(i))
			++p.torn_tails;
		p.entries += o.count;
		p.regions.push_back(o);
	}

	p.prefix = prefix;
	p.max_seen = max_seen;
	// Writable recovery burns every timestamp found and every one leased (format.hpp).
	p.last_issued = writable ? std::max({max_seen, floor, scan.state.value.ts_lease}) : prefix;
	return p;
}

} // namespace pmemstream::detail
