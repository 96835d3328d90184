// SPDX-License-Identifier: BSD-3-Clause
#include "engine/tx_commit.hpp"
#include "engine/state_record.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

namespace pmemstream::detail {

namespace {

// A region the transaction writes to, with what the commit plans for it.
struct tx_region {
	region_runtime *rt;
	uint64_t id;
	uint64_t need = 0; // bytes of its members
	uint64_t pos = 0;  // where its next member goes
};

} // namespace

result<uint64_t> commit_transaction(media &m, commit_tracker &tracker, write_gate &gate, state_record &state, bool windowed,
				    std::span<const tx_member> members, const std::byte *buf, bool async)
{
	const uint64_t n = members.size();
	if (n == 0)
		return tracker.committed(); // nothing to write: the empty transaction is trivially durable

	std::vector<tx_region> regions;
	std::vector<size_t> region_of(n);
	for (uint64_t i = 0; i < n; ++i) {
		const tx_member &mb = members[i];
		auto it = std::find_if(regions.begin(), regions.end(), [&](const tx_region &r) { return r.rt == mb.rt; });
		if (it == regions.end()) {
			regions.push_back({mb.rt, mb.id});
			it = regions.end() - 1;
		} else if (it->id != mb.id) {
			return error(errc::invalid_handle, "region " + hex(mb.rt->offset) + " was freed and allocated again during the transaction");
		}
		it->need += format::entry_footprint(mb.size);
	}
	// Offset order: two commits that share regions lock them in the same order.
	std::vector<size_t> order(regions.size());
	for (size_t k = 0; k < order.size(); ++k)
		order[k] = k;
	std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return regions[a].rt->offset < regions[b].rt->offset; });
	for (uint64_t i = 0; i < n; ++i)
		region_of[i] = static_cast<size_t>(
			std::find_if(regions.begin(), regions.end(), [&](const tx_region &r) { return r.rt == members[i].rt; }) - regions.begin());

	std::vector<std::unique_lock<std::mutex>> locks;
	locks.reserve(order.size());
	for (size_t k : order)
		locks.emplace_back(regions[k].rt->lock);

	for (auto &r : regions) {
		region_runtime &rt = *r.rt;
		const uint64_t cur = rt.id.load(std::memory_order_relaxed);
		if (cur == 0 || cur != r.id)
			return error(errc::invalid_handle, "no live region at offset " + hex(rt.offset) + " with id " + std::to_string(r.id));
		if (rt.reserved)
			return error(errc::busy, "region " + hex(rt.offset) + " has an outstanding reservation; publish it first");
		r.pos = rt.tail.load(std::memory_order_relaxed);
		const uint64_t left = rt.data_end.load(std::memory_order_relaxed) - r.pos;
		if (r.need > left)
			return error(errc::region_full, "region " + hex(rt.offset) + " has " + std::to_string(left) +
								" bytes left; the transaction's entries need " + std::to_string(r.need));
	}
	// Rule R3's premise, for W = 1 and any W: the members of a region are written together,
	// so everything before them must be persisted first (a torn member may then be followed
	// by others of its transaction only; rule R2's exception).
	for (auto &r : regions)
		if (r.rt->last_ts > tracker.persisted() && !tracker.ensure_persisted(r.rt->last_ts))
			return error(errc::media_failed, "the medium failed while persisting earlier entries of region " + hex(r.rt->offset));
	if (!windowed)
		tracker.enable_leases(&state);

	const uint64_t first = tracker.acquire_block(n);
	const uint64_t last = first + n - 1;
	std::vector<uint64_t> off(n), len(n);
	if (last > format::max_timestamp) {
		tracker.complete_block(first, n, off.data(), len.data(), true);
		gate.fail(errc::timestamps_exhausted);
		return gate.refusal();
	}

	// On persistent memory a synchronous commit writes every member with non-temporal stores
	// and flushes and drains once; otherwise the members are stored and a sweep persists them
	// (msync media: one msync for all; asynchronous: whoever waits).
	const bool drains = !m.flush_syncs() && !async;
	for (uint64_t i = 0; i < n; ++i) {
		const tx_member &mb = members[i];
		tx_region &r = regions[region_of[i]];
		const uint64_t word = (first + i) | format::flag_tx | (i + 1 == n ? format::flag_tx_end : 0);
		write_entry_nodrain(m, m.base(), r.pos, r.rt->epoch.load(std::memory_order_relaxed), word, buf + mb.data, mb.size,
				    r.rt->line, !drains);
		const uint64_t fp = format::entry_footprint(mb.size);
		off[i] = r.pos;
		len[i] = format::align_up(r.pos + fp, format::cache_line) - r.pos;
		r.pos += fp;
	}
	if (drains)
		m.drain(); // the one fence of the transaction
	const bool ok = m.healthy();
	if (ok) {
		for (uint64_t i = 0; i < n; ++i) {
			region_runtime &rt = *regions[region_of[i]].rt;
			rt.count.store(rt.count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
			++rt.walked;
			rt.last_ts = first + i;
			if (rt.max_in_flight > 1) {
				if (!rt.window)
					rt.window.reset(new uint64_t[rt.max_in_flight]());
				rt.window[rt.appended % rt.max_in_flight] = first + i;
			}
			++rt.appended;
		}
		for (auto &r : regions)
			r.rt->tail.store(r.pos, std::memory_order_release);
	} else {
		gate.fail(errc::media_failed);
	}
	tracker.complete_block(first, n, off.data(), len.data(), drains && ok);
	locks.clear();
	if (!ok)
		return error(errc::media_failed, "the medium failed while writing a transaction");

	if (async) {
		tracker.wait_committed(last);
		return last;
	}
	if (!tracker.ensure_persisted(last) || !m.healthy()) {
		gate.fail(errc::media_failed);
		return error(errc::media_failed, "the medium failed while persisting a transaction");
	}
	return last;
}

} // namespace pmemstream::detail
