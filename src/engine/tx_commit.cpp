// SPDX-License-Identifier: BSD-3-Clause
#include "engine/tx_commit.hpp"
#include "engine/region_writer.hpp"
#include "engine/state_record.hpp"
#include "util/hex.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

namespace pmemstream::detail {

namespace {

// A region the transaction writes to (or frees), with what the commit plans for it.
struct tx_region {
	region_runtime *rt;
	uint64_t id;
	bool allocated = false; // by this transaction: not live before the commit
	bool freed = false;
	uint64_t need = 0; // bytes of its members
	uint64_t pos = 0;  // where its next member goes
};

struct scratch {
	std::vector<tx_region> regions;
	std::vector<size_t> region_of, order;
	std::vector<uint64_t> off, len;
	std::vector<std::byte> stage;
	bool busy = false;
};

error failed_after(const tx_units &u)
{
	u.gate.fail(errc::media_failed);
	return error(errc::media_failed, "the medium failed after a transaction was persisted (it stands)");
}

} // namespace

result<uint64_t> commit_transaction(const tx_units &u, std::span<const tx_member> members, const std::byte *buf,
				    std::span<const region_catalog::tx_span> allocs, std::span<const tx_free> frees, bool async)
{
	media &m = u.m;
	commit_tracker &tracker = u.tracker;
	const bool layout = !allocs.empty() || !frees.empty();
	if (members.empty() && !layout) {
		// Nothing to write; the timestamp returned is durable like any commit's (found by the
		// rapidcheck model: an empty commit after an asynchronous one).
		const uint64_t c = tracker.committed();
		if (!async && (!tracker.ensure_persisted(c) || !m.healthy())) {
			u.gate.fail(errc::media_failed);
			return error(errc::media_failed, "the medium failed while persisting earlier entries");
		}
		return c;
	}

	// Scratch kept by the thread, so that a commit allocates nothing in the steady state; a
	// commit inside a commit (a media hook of a test) gets its own.
	thread_local scratch kept;
	scratch own;
	scratch &sc = kept.busy ? own : kept;
	sc.busy = true;
	struct release {
		scratch &s;
		~release()
		{
			s.busy = false;
		}
	} release_scratch{sc};
	auto &regions = sc.regions;
	auto &region_of = sc.region_of;
	auto &order = sc.order;
	auto &off = sc.off;
	auto &len = sc.len;
	auto &stage = sc.stage;
	regions.clear();
	auto find = [&](region_runtime *rt) {
		return std::find_if(regions.begin(), regions.end(), [&](const tx_region &r) { return r.rt == rt; });
	};
	for (const auto &a : allocs)
		regions.push_back({a.rt, a.counter, true, false});
	for (const auto &f : frees)
		regions.push_back({f.rt, f.id, false, true});
	region_of.assign(members.size(), 0);
	for (size_t i = 0; i < members.size(); ++i) {
		const tx_member &mb = members[i];
		auto it = find(mb.rt);
		if (it == regions.end()) {
			regions.push_back({mb.rt, mb.id});
			it = regions.end() - 1;
		} else if (it->id != mb.id || it->freed) {
			return error(errc::invalid_handle, "region " + hex(mb.rt->offset) + " was freed during the transaction");
		}
		it->need += format::entry_footprint(mb.size);
		region_of[i] = static_cast<size_t>(it - regions.begin());
	}
	// A transaction without entries still needs one to commit by: a padding entry (shown to
	// nobody) ending the block, in an allocated region or else a freed one with room.
	constexpr uint64_t record_size = sizeof(format::entry_header);
	const bool needs_record = members.empty();

	std::unique_lock<checked_mutex> catalog_lock;
	if (layout)
		catalog_lock = u.catalog.tx_lock(); // before any region lock, as free() does
	order.resize(regions.size());
	for (size_t k = 0; k < order.size(); ++k)
		order[k] = k;
	// Offset order: two commits that share regions lock them in the same order.
	std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return regions[a].rt->offset < regions[b].rt->offset; });
	std::vector<std::unique_lock<region_mutex>> locks;
	locks.reserve(order.size());
	for (size_t k : order) {
		// Each region's appends in flight finish before the next region is locked: they may
		// need the lock of a region not locked yet, never of one already drained.
		region_runtime &rt = *regions[k].rt;
		locks.emplace_back(rt.lock);
		if (rt.reservations != 0)
			return error(errc::busy, "region " + hex(rt.offset) + " has an outstanding reservation; publish or cancel it first");
		quiesce(rt, locks.back());
		if (!rt.line_valid)
			rt.refresh_line(m.base()); // the members are built from the tail line on
	}

	size_t record_region = regions.size();
	for (size_t k = 0; k < regions.size(); ++k) {
		tx_region &r = regions[k];
		region_runtime &rt = *r.rt;
		if (r.allocated) {
			if (needs_record && record_region == regions.size())
				record_region = k;
			continue; // room checked against its size when the members were added
		}
		const uint64_t cur = rt.id.load(std::memory_order_relaxed);
		if (cur == 0 || cur != r.id)
			return error(errc::invalid_handle, "no live region at offset " + hex(rt.offset) + " with id " + std::to_string(r.id));
		r.pos = rt.tail.load(std::memory_order_relaxed);
		const uint64_t left = rt.append_end() - r.pos; // (a wrapped region: before its head lap)
		if (r.need > left)
			return error(errc::region_full, "region " + hex(rt.offset) + " has " + std::to_string(left) +
								" bytes left; the transaction's entries need " + std::to_string(r.need));
		if (r.freed && needs_record && record_region == regions.size() && left >= record_size)
			record_region = k;
	}
	if (needs_record && record_region == regions.size())
		return error(errc::region_full, "no region of the transaction has the 16 bytes of its commit record");
	if (needs_record)
		regions[record_region].need += record_size;
	// Rule R3's premise, for W = 1 and any W: the members of a region are written together,
	// so everything before them must be persisted first (a torn member may then be followed
	// by others of its transaction only; rule R2's exception). A freed region's entries are
	// persisted before the floor covers them.
	for (auto &r : regions)
		if (!r.allocated && r.rt->last_ts > tracker.persisted() && !tracker.ensure_persisted(r.rt->last_ts))
			return error(errc::media_failed, "the medium failed while persisting earlier entries of region " + hex(r.rt->offset));
	if (!u.windowed)
		tracker.enable_leases(&u.state);

	const uint64_t n = members.size() + (needs_record ? 1 : 0);
	const uint64_t first = tracker.acquire_block(n);
	const uint64_t last = first + n - 1;
	off.assign(n, 0);
	len.assign(n, 0);
	if (last > format::max_timestamp) {
		tracker.complete_block(first, n, off.data(), len.data(), true);
		u.gate.fail(errc::timestamps_exhausted);
		return u.gate.refusal();
	}
	auto failed = [&](const char *what) -> error {
		tracker.complete_block(first, n, off.data(), len.data(), true); // nothing readable: no tail moved
		u.gate.fail(errc::media_failed);
		return error(errc::media_failed, std::string("the medium failed while ") + what);
	};

	// The markers name the block's last timestamp: recovery keeps the allocations and
	// completes the frees exactly when it shows the block (docs/format.md 8.3).
	for (auto &a : allocs)
		if (!u.catalog.tx_write_allocation(a, last))
			return failed("allocating a transaction's region");
	for (auto &r : regions)
		if (r.allocated)
			r.pos = r.rt->tail.load(std::memory_order_relaxed);
	for (auto &f : frees)
		if (!u.catalog.tx_mark_free(f.rt, last))
			return failed("freeing a transaction's region");

	// On persistent memory a synchronous commit writes every member with non-temporal stores
	// and flushes and drains once; otherwise the members are stored and a sweep persists them
	// (msync media: one msync for all; asynchronous: whoever waits).
	const bool drains = !m.flush_syncs() && (!async || layout);
	// The members of each region lie one after another: they are built in one buffer (from
	// the region's tail line on, to the end of the last one's line) and written as whole lines
	// with one call, so a line two members share is written once.
	constexpr uint64_t cl = format::cache_line;
	for (size_t k = 0; k < regions.size(); ++k) {
		tx_region &r = regions[k];
		if (r.need == 0)
			continue;
		const uint64_t start = r.pos, line0 = start & ~(cl - 1);
		const uint64_t total = format::align_up(r.pos + r.need, cl) - line0;
		stage.assign(total, std::byte{0});
		std::memcpy(stage.data(), r.rt->line.bytes, r.pos - line0);
		const uint64_t epoch = r.rt->epoch.load(std::memory_order_relaxed);
		for (uint64_t i = 0; i < n; ++i) {
			const bool record = i == members.size();
			if ((record ? record_region : region_of[i]) != k)
				continue;
			const uint64_t word = (first + i) | format::flag_tx | (i + 1 == n ? format::flag_tx_end : 0) |
					      (record ? format::flag_padding : 0);
			const uint32_t size = record ? 0 : members[i].size;
			const std::byte *payload = record ? nullptr : buf + members[i].data;
			std::byte *at = stage.data() + (r.pos - line0);
			const format::entry_header h{word, size, entry_checksum(epoch, word, size, payload)};
			std::memcpy(at, &h, sizeof(h));
			if (size)
				std::memcpy(at + sizeof(h), payload, size);
			const uint64_t fp = format::entry_footprint(size);
			off[i] = r.pos;
			len[i] = format::align_up(r.pos + fp, cl) - r.pos;
			r.pos += fp;
		}
		const media::piece all{stage.data(), total};
		if (drains)
			m.write_lines_nodrain(m.base() + line0, &all, 1, start - line0);
		else
			m.store_lines(m.base() + line0, &all, 1, start - line0);
		// Keep the new tail's line for the next append (zero when the tail starts a line).
		const uint64_t tail_line = r.pos & ~(cl - 1);
		if (tail_line - line0 < total)
			std::memcpy(r.rt->line.bytes, stage.data() + (tail_line - line0), cl);
		else
			std::memset(r.rt->line.bytes, 0, cl);
	}
	if (drains)
		m.drain(); // the one fence of the transaction's entries
	if (!m.healthy())
		return failed("writing a transaction");
	for (uint64_t i = 0; i < n; ++i) {
		const bool record = i == members.size();
		region_runtime &rt = *regions[record ? record_region : region_of[i]].rt;
		if (!record)
			rt.count.store(rt.count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
		++rt.walked;
		rt.last_ts = first + i;
		rt.last_entry = off[i]; // the checkpoint round's last sealed entry (fast reopen)
		if (rt.max_in_flight > 1) {
			if (!rt.window)
				rt.window.reset(new uint64_t[rt.max_in_flight]());
			rt.window[rt.appended % rt.max_in_flight] = first + i;
		}
		++rt.appended;
	}
	for (auto &r : regions)
		r.rt->tail.store(r.pos, std::memory_order_release);
	if (layout) {
		std::vector<region_runtime *> freed;
		for (auto &f : frees)
			freed.push_back(f.rt);
		u.catalog.tx_publish(allocs.data(), allocs.size(), freed.data(), freed.size());
	}
	tracker.complete_block(first, n, off.data(), len.data(), drains);
	const bool checkpoint = u.writer && std::any_of(regions.begin(), regions.end(), [&](const tx_region &r) {
		return !r.freed && u.writer->checkpoint_due(*r.rt);
	});
	locks.clear();

	if (async && !layout) {
		tracker.wait_committed(last);
		if (checkpoint)
			u.writer->run_checkpoint_hook();
		return last;
	}
	if (!tracker.ensure_persisted(last) || !m.healthy()) {
		u.gate.fail(errc::media_failed);
		return error(errc::media_failed, "the medium failed while persisting a transaction");
	}
	if (layout) {
		// The block is persisted: the markers are resolved already (committed), and what is
		// left only tidies up. The floor first covers the freed regions' timestamps (their
		// entries are about to go), as free() does.
		if (!frees.empty())
			u.state.raise_floor(tracker.persisted());
		for (auto &f : frees)
			if (!u.catalog.tx_complete_free(f.rt->offset))
				return failed_after(u);
		for (auto &a : allocs)
			if (!u.catalog.tx_settle_allocation(a.off))
				return failed_after(u);
	}
	if (checkpoint) {
		if (catalog_lock.owns_lock())
			catalog_lock.unlock(); // the round takes it (region_catalog::write_checkpoints)
		u.writer->run_checkpoint_hook();
	}
	return last;
}

} // namespace pmemstream::detail
