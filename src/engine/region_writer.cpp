// SPDX-License-Identifier: BSD-3-Clause
// The claim path (region_writer.hpp): waiting on a region, claims, their fill and finish, and
// the append that takes it. Combining is in region_combine.cpp, reservations in
// region_reservations.cpp.
#include "engine/region_writer.hpp"
#include "util/cpu_relax.hpp"
#include "util/futex.hpp"
#include "util/hex.hpp"

#include <cstring>

namespace pmemstream::detail {

error region_writer::too_large(uint64_t size)
{
	return error(errc::entry_too_large,
		     "entry of " + std::to_string(size) + " bytes; the limit is " + std::to_string(format::max_payload));
}

error region_writer::region_full(const region_runtime &rt, uint64_t left, uint64_t need)
{
	return error(errc::region_full, "region " + hex(rt.offset) + " has " + std::to_string(left) +
						" bytes left; the entry needs " + std::to_string(need));
}

// ==================================================================== waiting on a region

void region_mutex::sleep() noexcept
{
	::syscall(SYS_futex, reinterpret_cast<uint32_t *>(&word_), FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
}

void region_mutex::wake() noexcept
{
	::syscall(SYS_futex, reinterpret_cast<uint32_t *>(&word_), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
}

void wait_progress(region_runtime &rt, std::unique_lock<region_mutex> &lk)
{
	const uint64_t seen = rt.progress.load(std::memory_order_relaxed);
	rt.progress_waiters.store(rt.progress_waiters.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
	lk.unlock();
	// What is waited for is mostly another thread's claim a few hundred nanoseconds from its
	// end (a zero fill, a turn): spin a little before sleeping.
	for (int i = 0; i < 4096 && rt.progress.load(std::memory_order_acquire) == seen; ++i)
		cpu_relax();
	if (rt.progress.load(std::memory_order_acquire) == seen) {
		rt.progress_sleepers.fetch_add(1, std::memory_order_seq_cst);
		if (rt.progress.load(std::memory_order_seq_cst) == seen)
			futex_wait(rt.progress, seen, std::chrono::steady_clock::time_point::max());
		rt.progress_sleepers.fetch_sub(1, std::memory_order_seq_cst);
	}
	lk.lock();
	rt.progress_waiters.store(rt.progress_waiters.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

void bump_progress(region_runtime &rt) noexcept
{
	// Waiters register under the lock, which the caller holds: without any, nothing to do.
	if (rt.progress_waiters.load(std::memory_order_relaxed) == 0)
		return;
	rt.progress.store(rt.progress.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
	if (rt.progress_sleepers.load(std::memory_order_seq_cst) != 0)
		futex_wake_all(rt.progress);
}

void quiesce(region_runtime &rt, std::unique_lock<region_mutex> &lk)
{
	if (!rt.outstanding())
		return;
	++rt.draining;
	while (rt.outstanding())
		wait_progress(rt, lk);
	--rt.draining;
	bump_progress(rt); // claims that waited for the drain
}

// ==================================================================== claims

status region_writer::check_region(const region_runtime &rt, uint64_t id) const
{
	const uint64_t cur = rt.id.load(std::memory_order_relaxed);
	if (cur == 0 || (id != 0 && id != cur))
		return error(errc::invalid_handle, "no live region at offset " + hex(rt.offset) +
							   (cur != 0 ? " with id " + std::to_string(id) : std::string()));
	return {};
}

result<uint64_t> region_writer::take_claim(region_runtime &rt, lock_type &lk, uint64_t id, uint64_t bytes, uint64_t exact,
					   work &w)
{
	for (;;) {
		if (auto s = check_region(rt, id); !s)
			return s.err();
		if (rt.draining == 0 && rt.claims_made - rt.claims_done < rt.max_in_flight)
			break;
		wait_progress(rt, lk); // a free, clear or truncation drains the region, or the ring is full
	}
	if (!rt.claims)
		rt.claims.reset(new claim[rt.max_in_flight]());
	const bool alone = !rt.outstanding();
	if (alone) {
		// Nothing in flight: the claim position and the last timestamp are the visible ones
		// (which a truncation or a transaction may have moved).
		rt.claim_end = rt.tail.load(std::memory_order_relaxed);
		rt.claim_last_ts = rt.last_ts;
	}
	const uint64_t pos = rt.claim_end;
	const uint64_t left = rt.append_end() - pos;
	uint64_t take = bytes;
	if (take > left && exact != 0 && exact <= left)
		take = exact;
	if (take > left)
		return region_full(rt, left, exact ? exact : bytes);
	const uint64_t index = rt.claims_made++;
	claim &c = slot(rt, index);
	c = claim{};
	c.index = index;
	c.pos = pos;
	c.size = take;
	rt.claim_end = pos + take;
	w.index = index;
	w.pos = pos;
	w.size = take;
	w.epoch = rt.epoch.load(std::memory_order_relaxed);
	// An exclusive claim (nothing else in flight, not a reservation) writes whole lines with
	// a zero fill to the end of its last line; claims that start before that end wait for it.
	w.exclusive = alone && exact == 0;
	c.exclusive = w.exclusive;
	if (w.exclusive) {
		rt.exclusive_index = index;
		rt.exclusive_fill_end = format::align_up(pos + take, format::cache_line);
	} else if (rt.claims_done <= rt.exclusive_index && rt.exclusive_index < index && pos < rt.exclusive_fill_end) {
		w.fill_wait = rt.exclusive_index;
	}
	return index;
}

status region_writer::sequence(region_runtime &rt, lock_type &lk, work &w, bool pad)
{
	while (rt.claims_sequenced != w.index)
		wait_progress(rt, lk); // a reservation before it is not published yet
	claim &c = slot(rt, w.index);
	auto take = [&]() -> result<uint64_t> {
		const uint64_t ts = tracker_.acquire_unchecked();
		if (ts > format::max_timestamp) {
			// The format has no more: complete it so waiters are not stuck, and stop writing.
			tracker_.complete(ts, 0, 0, true);
			gate_.fail(errc::timestamps_exhausted);
			return gate_.refusal();
		}
		if (!rt.window)
			rt.window.reset(new uint64_t[rt.max_in_flight]());
		uint64_t &old = rt.window[rt.appended % rt.max_in_flight];
		w.oldest = std::max(w.oldest, old); // entry k waits for entry k - W (rule R3's premise)
		old = ts;
		++rt.appended;
		return ts;
	};
	status st;
	w.prev_ts = rt.claim_last_ts;
	if (!gate_.open()) {
		st = gate_.refusal();
	} else if (auto t = take(); !t) {
		st = std::move(t).err();
	} else {
		w.ts = c.ts = *t;
		rt.claim_last_ts = *t;
		if (pad) {
			if (auto t2 = take(); !t2) {
				st = std::move(t2).err();
			} else {
				w.ts2 = c.ts2 = *t2;
				rt.claim_last_ts = *t2;
			}
		}
	}
	++rt.claims_sequenced;
	bump_progress(rt);
	// A claim that got no timestamp is abandoned (the caller finishes it as failed: the
	// stream writes no more); the tail never moves over its bytes.
	c.state = st ? claim::sequenced : claim::failed;
	return st;
}

status region_writer::prepare_fill(region_runtime &rt, work &w)
{
	tracker_.wait_slot(w.ts2 ? w.ts2 : w.ts);
	if (w.oldest > tracker_.persisted() && !tracker_.ensure_persisted(w.oldest))
		return error(errc::media_failed, "the medium failed while persisting earlier entries of region " + hex(rt.offset));
	if (w.fill_wait != ~uint64_t{0}) {
		lock_type lk(rt.lock);
		while (rt.claims_done <= w.fill_wait)
			wait_progress(rt, lk);
	}
	return {};
}

status region_writer::finish_claim(region_runtime &rt, const work &w, bool ok, bool durable, bool &checkpoint)
{
	if (!ok)
		gate_.fail(errc::media_failed);
	{
		lock_type lk(rt.lock);
		claim &c = slot(rt, w.index);
		c.state = ok ? claim::filled : claim::failed;
		// The visible tail moves over the contiguous run of filled claims. A failed one
		// (the medium failed; the stream writes no more) stops it for good: the bytes
		// behind it are not known to be whole.
		uint64_t tail = rt.tail.load(std::memory_order_relaxed);
		const uint64_t before_tail = tail;
		uint64_t count = rt.count.load(std::memory_order_relaxed);
		const uint64_t before = rt.claims_done;
		bool last_exclusive = false;
		while (rt.claims_done < rt.claims_made) {
			claim &d = slot(rt, rt.claims_done);
			if (d.index != rt.claims_done || (d.state != claim::filled && d.state != claim::failed))
				break;
			if (d.state == claim::failed)
				rt.broken = true;
			if (!rt.broken) {
				if (d.entries) {
					count += d.shown;
					++rt.walked;
					rt.last_ts = d.ts;
					rt.last_entry = d.pos;
					if (d.ts2) {
						++rt.walked;
						rt.last_ts = d.ts2;
						rt.last_entry = d.pos2;
					}
				}
				// A claim cancelled to nothing keeps no place: a claim before it may have
				// shrunk since (it was the last then), so its position may lie past the end.
				if (d.size != 0) {
					tail = d.pos + d.size;
					last_exclusive = d.exclusive;
				}
			}
			++rt.claims_done;
		}
		if (rt.claims_done != before) {
			rt.count.store(count, std::memory_order_relaxed);
			rt.tail.store(tail, std::memory_order_release); // after the entries' bytes and count
			// The cached tail line is only as good as the last entry behind the tail: an
			// exclusive claim keeps it, one written in shared mode does not (the next
			// exclusive claim reads it again, outside the lock).
			if (tail != before_tail)
				rt.line_valid = last_exclusive;
			bump_progress(rt);
		}
		checkpoint = ok && checkpoint_due(rt);
	}
	// A sweep flushes the entry's lines; the zero fill of an exclusive claim gives the next
	// header position its clean end.
	auto done = [&](uint64_t ts, uint64_t pos, uint64_t end) {
		if (ts == 0)
			return;
		const uint64_t line_end = format::align_up(end, format::cache_line);
		tracker_.complete(ts, pos, line_end - pos, durable && ok);
	};
	done(w.ts, w.pos, w.ts2 ? w.pos2 : w.pos + w.size);
	done(w.ts2, w.pos2, w.pos + w.size);
	if (!ok)
		return error(errc::media_failed, "the medium failed while persisting an entry");
	return {};
}

status region_writer::end_fill(region_runtime &rt, const work &w, bool ok, bool durable, bool async)
{
	bool due = false;
	if (auto s = finish_claim(rt, w, ok, durable, due); !s)
		return s;
	if (auto s = finish(w.ts, async); !s)
		return s;
	if (due)
		checkpoint_hook_();
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

void region_writer::write_padding(uint64_t pos, uint64_t bytes, uint64_t ts, uint64_t epoch, bool flush)
{
	const uint64_t word = ts | format::flag_padding;
	const auto size = static_cast<uint32_t>(bytes - sizeof(format::entry_header));
	// The checksum covers the padding's payload, whatever it holds (the caller's unused bytes).
	std::byte *dst = m_.base() + pos;
	const format::entry_header h{word, size, entry_checksum(epoch, word, size, dst + sizeof(format::entry_header))};
	const media::piece header{&h, sizeof(h)};
	m_.store_lines(dst, &header, 1, 0);
	if (flush)
		m_.flush(dst, bytes);
}

result<appended> region_writer::append_claimed(region_runtime &rt, uint64_t id, std::span<const std::byte> data, bool async)
{
	const uint64_t need = format::entry_footprint(data.size());
	work w;
	uint64_t region_id;
	{
		lock_type lk(rt.lock);
		if (rt.reservations != 0 && find_reservation(rt, entry{}) != nullptr)
			return error(errc::busy, "region " + hex(rt.offset) +
							 " has an outstanding reservation of this thread; publish or cancel it first");
		auto c = take_claim(rt, lk, id, need, 0, w);
		if (!c)
			return c.err();
		region_id = rt.id.load(std::memory_order_relaxed);
		if (auto s = sequence(rt, lk, w, false); !s) {
			lk.unlock();
			bool unused;
			(void)finish_claim(rt, w, false, false, unused);
			return s.err();
		}
	}
	bool ok = true;
	const bool flushed = drains_itself(async, need);
	if (auto s = prepare_fill(rt, w); !s) {
		ok = false;
	} else {
		const uint64_t word = w.ts | settled_flag(w.prev_ts);
		const auto size = static_cast<uint32_t>(data.size());
		if (w.exclusive) {
			// Alone in the region: every byte before w.pos is final.
			if (!rt.line_valid) {
				const uint64_t line = w.pos & ~(format::cache_line - 1);
				std::memcpy(rt.line.bytes, m_.base() + line, w.pos - line);
			}
			write_entry_nodrain(m_, m_.base(), w.pos, w.epoch, word, data.data(), size, rt.line, !flushed);
		}
		else
			write_entry_shared_nodrain(m_, m_.base(), w.pos, w.epoch, word, data.data(), size, !flushed);
		if (flushed)
			m_.drain(); // the one fence of a synchronous append
		ok = m_.healthy();
	}
	if (auto s = end_fill(rt, w, ok, flushed, async); !s)
		return s.err();
	appended a;
	a.offset = w.pos;
	a.region_id = region_id;
	a.timestamp = w.ts;
	return a;
}

} // namespace pmemstream::detail
