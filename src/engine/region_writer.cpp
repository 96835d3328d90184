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

status region_writer::make_room(region_runtime &rt)
{
	uint64_t oldest = rt.last_ts; // W = 1: the previous entry
	if (rt.max_in_flight > 1)
		oldest = rt.window ? rt.window[rt.appended % rt.max_in_flight] : 0;
	if (oldest > tracker_.persisted() && !tracker_.ensure_persisted(oldest))
		return error(errc::media_failed, "the medium failed while persisting earlier entries of region " + hex(rt.offset));
	return {};
}

result<uint64_t> region_writer::take_timestamp()
{
	const uint64_t ts = tracker_.acquire();
	if (ts > format::max_timestamp) {
		// The format has no more: complete it so waiters are not stuck, and stop writing.
		tracker_.complete(ts, 0, 0, true);
		gate_.fail(errc::timestamps_exhausted);
		return gate_.refusal();
	}
	return ts;
}

status region_writer::commit(region_runtime &rt, uint64_t pos, uint64_t footprint, uint64_t ts, bool flushed)
{
	if (flushed)
		m_.drain(); // the one fence of a synchronous append
	const bool ok = m_.healthy();
	if (ok) {
		// Written under the region lock only; readers load tail (acquire) and count.
		rt.count.store(rt.count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
		++rt.walked;
		rt.last_ts = ts;
		rt.last_entry = pos;
		if (rt.max_in_flight > 1) {
			if (!rt.window)
				rt.window.reset(new uint64_t[rt.max_in_flight]());
			rt.window[rt.appended % rt.max_in_flight] = ts;
		}
		++rt.appended;
		rt.tail.store(pos + footprint, std::memory_order_release);
	} else {
		gate_.fail(errc::media_failed);
	}
	// A sweep flushes to the end of the entry's last line: the zero fill there gives the next
	// header position its clean end.
	const uint64_t line_end = format::align_up(pos + footprint, format::cache_line);
	tracker_.complete(ts, pos, line_end - pos, flushed && ok);
	if (!ok)
		return error(errc::media_failed, "the medium failed while persisting an entry");
	return {};
}

status region_writer::finish(uint64_t ts, bool async)
{
	// An asynchronous append returns once its entry is visible: every smaller timestamp is
	// committed too (another thread may still be writing one).
	if (async) {
		tracker_.wait_committed(ts);
		return {};
	}
	// Acknowledge only when every smaller timestamp is persisted too (the prefix rule).
	if (!tracker_.ensure_persisted(ts) || !m_.healthy()) {
		gate_.fail(errc::media_failed);
		return error(errc::media_failed, "the medium failed while persisting an entry");
	}
	return {};
}

result<appended> region_writer::append(region_runtime &rt, uint64_t id, std::span<const std::byte> data, bool async)
{
	if (data.size() > format::max_payload)
		return too_large(data.size());
	appended a;
	bool due = false;
	{
		std::lock_guard lk(rt.lock);
		if (auto s = check_region(rt, id, false); !s)
			return s.err();
		const uint64_t pos = rt.tail.load(std::memory_order_relaxed);
		const uint64_t need = format::entry_footprint(data.size());
		if (auto s = check_space(rt, pos, need); !s)
			return s.err();
		if (auto s = make_room(rt); !s)
			return s.err();
		auto ts = take_timestamp();
		if (!ts)
			return std::move(ts).err();
		const uint64_t flags = settled_flag(rt);
		const bool flushed = drains_itself(async, need);
		write_entry_nodrain(m_, m_.base(), pos, rt.epoch.load(std::memory_order_relaxed), *ts | flags, data.data(),
				    static_cast<uint32_t>(data.size()), rt.line, !flushed);
		if (auto s = commit(rt, pos, need, *ts, flushed); !s)
			return s.err();
		a.offset = pos;
		a.region_id = rt.id.load(std::memory_order_relaxed);
		a.timestamp = *ts;
		due = checkpoint_due(rt);
	}
	if (auto s = finish(a.timestamp, async); !s)
		return s.err();
	if (due)
		checkpoint_hook_();
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

result<uint64_t> region_writer::publish(region_runtime &rt, uint64_t id, const entry &e, uint64_t size, bool async)
{
	uint64_t ts;
	bool due = false;
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
		if (auto s = make_room(rt); !s)
			return s.err();
		auto t = take_timestamp();
		if (!t)
			return std::move(t).err();
		ts = *t;
		const uint64_t pos = e.offset;
		const auto sz = static_cast<uint32_t>(size);
		std::byte *dst = m_.base() + pos;
		const uint64_t word = ts | settled_flag(rt);
		format::entry_header h{word, sz, entry_checksum(rt.epoch.load(std::memory_order_relaxed), word, sz, dst + sizeof(format::entry_header))};
		const bool flushed = drains_itself(async, format::entry_footprint(size));
		if (flushed) {
			std::memcpy(dst, &h, sizeof(h));
			m_.flush(dst, sizeof(h) + size);
		} else {
			const media::piece header{&h, sizeof(h)};
			m_.store_lines(dst, &header, 1, 0);
		}
		rt.reserved = false;
		const uint64_t need = format::entry_footprint(size);
		auto done = commit(rt, pos, need, ts, flushed);
		// The caller wrote the tail line directly: keep the copy appends build lines from.
		const uint64_t line = (pos + need) & ~(format::cache_line - 1);
		std::memcpy(rt.line.bytes, m_.base() + line, pos + need - line);
		if (!done)
			return done.err();
		due = checkpoint_due(rt);
	}
	if (auto s = finish(ts, async); !s)
		return s.err();
	if (due)
		checkpoint_hook_();
	return ts;
}

} // namespace pmemstream::detail
