// SPDX-License-Identifier: BSD-3-Clause
#include "engine/region_writer.hpp"
#include "util/hex.hpp"

namespace pmemstream::detail {

namespace {

error too_large(uint64_t size)
{
	return error(errc::entry_too_large,
		     "entry of " + std::to_string(size) + " bytes; the limit is " + std::to_string(format::max_payload));
}

} // namespace

status region_writer::check_region(const region_runtime &rt, uint64_t id, bool replace_reservation) const
{
	const uint64_t cur = rt.id.load(std::memory_order_relaxed);
	if (cur == 0 || (id != 0 && id != cur))
		return error(errc::invalid_handle, "no live region at offset " + hex(rt.offset) +
							   (cur != 0 ? " with id " + std::to_string(id) : std::string()));
	if (rt.reserved && !replace_reservation)
		return error(errc::busy, "region " + hex(rt.offset) + " has an outstanding reservation; publish it first");
	return {};
}

status region_writer::check_space(const region_runtime &rt, uint64_t pos, uint64_t need) const
{
	const uint64_t left = rt.data_end.load(std::memory_order_relaxed) - pos;
	if (need > left)
		return error(errc::region_full, "region " + hex(rt.offset) + " has " + std::to_string(left) +
							" bytes left; the entry needs " + std::to_string(need));
	return {};
}

result<uint64_t> region_writer::take_timestamp()
{
	const uint64_t ts = tracker_.acquire();
	if (ts > format::max_timestamp) {
		// The format has no more: complete it so waiters are not stuck, and stop writing.
		tracker_.complete_persisted(ts);
		gate_.fail(errc::timestamps_exhausted);
		return gate_.refusal();
	}
	return ts;
}

result<uint64_t> region_writer::commit(region_runtime &rt, uint64_t pos, uint64_t footprint, uint64_t ts)
{
	m_.drain(); // the one fence of an append
	const bool ok = m_.healthy();
	if (ok) {
		// Written under the region lock only; readers load tail (acquire) and count.
		rt.count.store(rt.count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
		++rt.walked;
		rt.last_ts = ts;
		rt.tail.store(pos + footprint, std::memory_order_release);
	} else {
		gate_.fail(errc::media_failed);
	}
	tracker_.complete_persisted(ts);
	if (!ok)
		return error(errc::media_failed, "the medium failed while persisting an entry");
	// Acknowledge only when every smaller timestamp is persisted too (the prefix rule). The
	// region stays locked until then: an entry followed by another in its region is always
	// an acknowledged one, which recovery relies on (rule R3 with max_in_flight 1).
	tracker_.wait_persisted(ts);
	return ts;
}

result<appended> region_writer::append(region_runtime &rt, uint64_t id, std::span<const std::byte> data)
{
	if (data.size() > format::max_payload)
		return too_large(data.size());
	std::lock_guard lk(rt.lock);
	if (auto s = check_region(rt, id, false); !s)
		return s.err();
	const uint64_t pos = rt.tail.load(std::memory_order_relaxed);
	const uint64_t need = format::entry_footprint(data.size());
	if (auto s = check_space(rt, pos, need); !s)
		return s.err();
	auto ts = take_timestamp();
	if (!ts)
		return std::move(ts).err();
	write_entry_nodrain(m_, m_.base(), pos, rt.epoch.load(std::memory_order_relaxed), *ts, data.data(),
			    static_cast<uint32_t>(data.size()), rt.line);
	auto done = commit(rt, pos, need, *ts);
	if (!done)
		return std::move(done).err();
	appended a;
	a.offset = pos;
	a.region_id = rt.id.load(std::memory_order_relaxed);
	a.timestamp = *ts;
	return a;
}

result<reservation> region_writer::reserve(region_runtime &rt, uint64_t id, uint64_t size)
{
	if (size > format::max_payload)
		return too_large(size);
	std::lock_guard lk(rt.lock);
	// A reservation replaces an outstanding one (whose ticket then stops working).
	if (auto s = check_region(rt, id, true); !s)
		return s.err();
	rt.reserved = false;
	const uint64_t pos = rt.tail.load(std::memory_order_relaxed);
	if (auto s = check_space(rt, pos, format::entry_footprint(size)); !s)
		return s.err();
	rt.reserved = true;
	rt.reserve_pos = pos;
	rt.reserve_size = size;
	rt.reserve_ticket = tickets_.fetch_add(1, std::memory_order_relaxed) + 1;
	reservation r;
	r.ent.offset = pos;
	r.ent.region_id = rt.id.load(std::memory_order_relaxed);
	r.ent.ticket = rt.reserve_ticket;
	r.data = m_.base() + pos + sizeof(format::entry_header);
	r.size = size;
	return r;
}

result<uint64_t> region_writer::publish(region_runtime &rt, uint64_t id, const entry &e, uint64_t size)
{
	std::lock_guard lk(rt.lock);
	const uint64_t cur = rt.id.load(std::memory_order_relaxed);
	if (cur == 0 || (id != 0 && id != cur) || (e.region_id != 0 && e.region_id != cur) || !rt.reserved ||
	    rt.reserve_pos != e.offset || (e.ticket != 0 && e.ticket != rt.reserve_ticket))
		return error(errc::invalid_handle, "entry " + hex(e.offset) + " is not the outstanding reservation of region " +
							   hex(rt.offset));
	if (size > rt.reserve_size)
		return error(errc::invalid_argument, "publishing " + std::to_string(size) + " bytes of a " +
							     std::to_string(rt.reserve_size) + "-byte reservation");
	auto ts = take_timestamp();
	if (!ts)
		return std::move(ts).err();
	const uint64_t pos = e.offset;
	const auto sz = static_cast<uint32_t>(size);
	std::byte *dst = m_.base() + pos;
	format::entry_header h{*ts, sz, entry_checksum(rt.epoch.load(std::memory_order_relaxed), *ts, sz, dst + sizeof(format::entry_header))};
	std::memcpy(dst, &h, sizeof(h));
	m_.flush(dst, sizeof(h) + size);
	rt.reserved = false;
	const uint64_t need = format::entry_footprint(size);
	auto done = commit(rt, pos, need, *ts);
	// The caller wrote the tail line directly: keep the copy appends build lines from.
	const uint64_t line = (pos + need) & ~(format::cache_line - 1);
	std::memcpy(rt.line.bytes, m_.base() + line, pos + need - line);
	return done;
}

} // namespace pmemstream::detail
