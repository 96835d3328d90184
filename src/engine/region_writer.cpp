// SPDX-License-Identifier: BSD-3-Clause
#include "engine/region_writer.hpp"
#include "util/futex.hpp"
#include "util/hex.hpp"

#include <chrono>
#include <cstring>
#include <vector>

namespace pmemstream::detail {

namespace {

error too_large(uint64_t size)
{
	return error(errc::entry_too_large,
		     "entry of " + std::to_string(size) + " bytes; the limit is " + std::to_string(format::max_payload));
}

// Tells threads apart for "one reservation per thread per region" (unique among live threads).
uint64_t thread_token() noexcept
{
	thread_local char token;
	return reinterpret_cast<uintptr_t>(&token);
}

void pause() noexcept
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#endif
}

} // namespace

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
		pause();
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
	const uint64_t left = rt.data_end.load(std::memory_order_relaxed) - pos;
	uint64_t take = bytes;
	if (take > left && exact != 0 && exact <= left)
		take = exact;
	if (take > left)
		return error(errc::region_full, "region " + hex(rt.offset) + " has " + std::to_string(left) +
							" bytes left; the entry needs " + std::to_string(exact ? exact : bytes));
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

// ==================================================================== appends

result<appended> region_writer::append(region_runtime &rt, uint64_t id, std::span<const std::byte> data, bool async)
{
	if (data.size() > format::max_payload)
		return too_large(data.size());
	request req;
	req.data = data.data();
	req.size = static_cast<uint32_t>(data.size());
	req.async = async;
	req.id = id;
	request *head = rt.requests.load(std::memory_order_relaxed);
	do
		req.next = head;
	while (!rt.requests.compare_exchange_weak(head, &req, std::memory_order_release, std::memory_order_relaxed));
	// Until someone has written it: take the lock whenever it is free and combine (a pending
	// request of ours is still queued then: only the lock's holder takes the queue); spin
	// while another thread holds it, as that one is likely writing ours; block after a while.
	uint32_t state;
	for (int spins = 0; (state = req.state.load(std::memory_order_acquire)) == request::pending;) {
		// The lock's line is the one the holder writes most: look at it only now and then.
		bool locked = spins % 16 == 0 && !rt.lock.held() && rt.lock.try_lock();
		if (!locked && ++spins > 2048) {
			rt.lock.lock();
			locked = true;
			spins = 0;
		}
		if (!locked) {
			pause();
			continue;
		}
		bool due;
		{
			lock_type lk(rt.lock, std::adopt_lock);
			due = combine(rt);
		}
		if (due)
			checkpoint_hook_();
	}
	if (state == request::by_claim)
		return append_claimed(rt, id, data, async);
	if (req.code != errc::ok)
		return error(req.code, std::move(req.why));
	if (auto s = finish(req.timestamp, async); !s)
		return s.err();
	appended a;
	a.offset = req.offset;
	a.region_id = req.region_id;
	a.timestamp = req.timestamp;
	return a;
}

bool region_writer::combine(region_runtime &rt)
{
	// Threads that append to the region together are served together: when the last batch
	// saw others queue behind it, wait a moment (about what a served thread takes to come
	// back with its next append) for as many requests as then, so that they share a fence.
	if (rt.combine_expect > 1 && rt.requests.load(std::memory_order_relaxed) != nullptr) {
		auto depth = [&rt] {
			uint32_t d = 0;
			for (request *q = rt.requests.load(std::memory_order_acquire); q; q = q->next)
				++d;
			return d;
		};
		const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(combine_wait_ns);
		for (int i = 1; depth() < rt.combine_expect; ++i) {
			pause();
			if (i % 16 == 0 && std::chrono::steady_clock::now() >= until)
				break;
		}
	}
	request *list = rt.requests.exchange(nullptr, std::memory_order_acquire);
	if (!list)
		return false;
	if (rt.outstanding() || rt.draining != 0) {
		// Reservations in flight, or a free, clear, truncation or transaction waiting for
		// them: each append claims on its own thread (and waits there as claims do).
		while (list) {
			request *next = list->next;
			list->state.store(request::by_claim, std::memory_order_release);
			list = next;
		}
		return false;
	}
	// Batches of at most W entries: entry k is written only once entry k - W is persisted, so
	// no entry of a batch waits for another of the same batch. The stack is newest first;
	// each batch takes the oldest `batch` requests left, in queue order.
	constexpr size_t cap = 64;
	const size_t batch = std::min<size_t>(cap, std::max<uint32_t>(rt.max_in_flight, 1));
	size_t total = 1;
	request **order = &list; // one request (a single appender): nothing to order
	request *small[cap];
	std::vector<request *> big; // (more than 64 threads queued at once)
	if (list->next) {
		for (request *q = list->next; q; q = q->next)
			++total;
		if (total > cap)
			big.resize(total);
		order = total > cap ? big.data() : small;
		for (size_t k = total; k-- > 0; list = list->next)
			order[k] = list;
	}
	uint32_t served = 0;
	for (size_t at = 0; at < total; at += batch) {
		const size_t n = std::min(batch, total - at);
		served += static_cast<uint32_t>(n);
		write_batch(rt, order + at, n);
	}
	// Others queued meanwhile: the next batch expects them and whoever was served here.
	const bool more = rt.requests.load(std::memory_order_relaxed) != nullptr;
	rt.combine_expect = std::min<uint32_t>(more ? served + 1 : served, cap);
	return checkpoint_due(rt);
}

void region_writer::write_batch(region_runtime &rt, request *const *reqs, size_t n)
{
	// What each request gets; stored into it last (its thread may return at once).
	struct placed {
		request *r;
		uint64_t pos, need;
	};
	placed ok[64];
	size_t k = 0;
	auto fail = [](request *r, errc code, std::string why) {
		r->code = code;
		r->why = std::move(why);
		r->state.store(request::done, std::memory_order_release);
	};
	uint64_t end = rt.tail.load(std::memory_order_relaxed);
	const uint64_t limit = rt.data_end.load(std::memory_order_relaxed);
	for (size_t i = 0; i < n; ++i) {
		request *r = reqs[i];
		if (auto s = check_region(rt, r->id); !s) {
			fail(r, s.code(), s.err().message());
			continue;
		}
		if (!gate_.open()) {
			status refused = gate_.refusal();
			fail(r, refused.code(), refused.err().message());
			continue;
		}
		const uint64_t need = format::entry_footprint(r->size);
		if (need > limit - end) {
			fail(r, errc::region_full, "region " + hex(rt.offset) + " has " + std::to_string(limit - end) +
							   " bytes left; the entry needs " + std::to_string(need));
			continue;
		}
		ok[k++] = {r, end, need};
		end += need;
	}
	if (k == 0)
		return;
	// Space and timestamps together, under the lock: offsets and timestamps agree (rule E4).
	const uint64_t first = tracker_.acquire_block(k);
	if (first + k - 1 > format::max_timestamp) {
		// The format has no more: complete them so that waiters are not stuck; write no more.
		uint64_t zeros[64] = {};
		tracker_.complete_block(first, k, zeros, zeros, true);
		gate_.fail(errc::timestamps_exhausted);
		status refused = gate_.refusal();
		for (size_t i = 0; i < k; ++i)
			fail(ok[i].r, refused.code(), refused.err().message());
		return;
	}
	if (!rt.window)
		rt.window.reset(new uint64_t[rt.max_in_flight]());
	uint64_t oldest = 0;
	for (size_t i = 0; i < k; ++i) {
		uint64_t &old = rt.window[rt.appended % rt.max_in_flight];
		oldest = std::max(oldest, old);
		old = first + i;
		++rt.appended;
	}
	bool good = true;
	if (oldest > tracker_.persisted() && !tracker_.ensure_persisted(oldest))
		good = false;
	const uint64_t epoch = rt.epoch.load(std::memory_order_relaxed);
	bool any_drain = false, all_drain = true;
	uint64_t off[64], len[64];
	if (good) {
		if (!rt.line_valid)
			rt.refresh_line(m_.base());
		uint64_t prev = rt.last_ts;
		for (size_t i = 0; i < k; ++i) {
			const request *r = ok[i].r;
			const uint64_t ts = first + i;
			const bool drains = drains_itself(r->async, ok[i].need);
			any_drain |= drains;
			all_drain &= drains;
			const uint64_t word = ts | (windowed_ && prev <= tracker_.persisted() ? format::flag_settled : 0);
			write_entry_nodrain(m_, m_.base(), ok[i].pos, epoch, word, r->data, r->size, rt.line, !drains);
			prev = ts;
		}
		if (any_drain)
			m_.drain(); // the one fence of the batch
		good = m_.healthy();
	}
	for (size_t i = 0; i < k; ++i) {
		off[i] = ok[i].pos;
		len[i] = format::align_up(ok[i].pos + ok[i].need, format::cache_line) - ok[i].pos;
	}
	if (good) {
		rt.count.store(rt.count.load(std::memory_order_relaxed) + k, std::memory_order_relaxed);
		rt.walked += k;
		rt.last_ts = first + k - 1;
		rt.last_entry = ok[k - 1].pos;
		rt.tail.store(end, std::memory_order_release); // after the entries' bytes and count
		// The claim path's books: these appends were claimed and finished at once.
		rt.claims_made += k;
		rt.claims_sequenced += k;
		rt.claims_done += k;
		bump_progress(rt);
	} else {
		// The medium failed: the stream writes no more and the tail stays before these
		// entries (their bytes are not known to be whole).
		gate_.fail(errc::media_failed);
		rt.broken = true;
	}
	if (k == 1)
		tracker_.complete(first, off[0], len[0], good && all_drain); // (its fast path)
	else
		tracker_.complete_block(first, k, off, len, good && all_drain);
	const uint64_t region_id = rt.id.load(std::memory_order_relaxed);
	for (size_t i = 0; i < k; ++i) {
		request *r = ok[i].r;
		if (!good) {
			fail(r, errc::media_failed, "the medium failed while persisting an entry");
			continue;
		}
		r->offset = ok[i].pos;
		r->region_id = region_id;
		r->timestamp = first + i;
		r->state.store(request::done, std::memory_order_release);
	}
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
		const uint64_t word = w.ts | settled_flag(w);
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
	bool due = false;
	if (auto s = finish_claim(rt, w, ok, flushed, due); !s)
		return s.err();
	if (auto s = finish(w.ts, async); !s)
		return s.err();
	if (due)
		checkpoint_hook_();
	appended a;
	a.offset = w.pos;
	a.region_id = region_id;
	a.timestamp = w.ts;
	return a;
}

// ==================================================================== reservations

region_writer::claim *region_writer::find_reservation(region_runtime &rt, const entry &e) const noexcept
{
	// e.offset 0: this thread's reservation, if any.
	if (!rt.claims)
		return nullptr;
	for (uint64_t i = rt.claims_done; i < rt.claims_made; ++i) {
		claim &c = slot(rt, i);
		if (c.owner == 0 || c.state != claim::claimed)
			continue;
		if (e.offset == 0 ? c.owner == thread_token() : c.pos == e.offset && (e.ticket == 0 || e.ticket == c.ticket))
			return &c;
	}
	return nullptr;
}

result<region_writer::claim *> region_writer::named_reservation(region_runtime &rt, uint64_t id, const entry &e) const
{
	const uint64_t cur = rt.id.load(std::memory_order_relaxed);
	claim *c = cur != 0 && (id == 0 || id == cur) && (e.region_id == 0 || e.region_id == cur) && e.offset != 0
			   ? find_reservation(rt, e)
			   : nullptr;
	if (!c)
		return error(errc::invalid_handle, "entry " + hex(e.offset) + " is not an outstanding reservation of region " + hex(rt.offset));
	return c;
}

status region_writer::cancel_locked(region_runtime &rt, lock_type &lk, claim &c)
{
	c.owner = 0;
	--rt.reservations;
	work w;
	w.index = c.index;
	w.pos = c.pos;
	w.epoch = rt.epoch.load(std::memory_order_relaxed);
	// Decided now, as in publish().
	const bool last = rt.claim_end == c.pos + c.size;
	if (last) {
		rt.claim_end = c.pos; // nothing claimed after it: give the space back, no entry
		c.size = 0;
		c.entries = false;
	}
	claim &d = c;
	if (last) {
		while (rt.claims_sequenced != w.index)
			wait_progress(rt, lk);
		++rt.claims_sequenced;
		bump_progress(rt);
		d.state = claim::sequenced;
	} else if (auto s = sequence(rt, lk, w, false); !s) {
		lk.unlock();
		bool unused;
		(void)finish_claim(rt, w, false, false, unused);
		lk.lock();
		return s;
	} else {
		d.shown = false;
	}
	w.size = d.size;
	lk.unlock();
	bool ok = true;
	if (w.ts) {
		// Later claims exist: the whole claim becomes a padding entry.
		if (auto s = prepare_fill(rt, w); !s) {
			ok = false;
		} else {
			write_padding(w.pos, w.size, w.ts, w.epoch, !m_.flush_syncs());
			if (!m_.flush_syncs())
				m_.drain();
			ok = m_.healthy();
		}
	}
	bool unused;
	auto s = finish_claim(rt, w, ok, !m_.flush_syncs(), unused);
	lk.lock();
	return s;
}

result<reservation> region_writer::reserve(region_runtime &rt, uint64_t id, uint64_t size)
{
	if (size > format::max_payload)
		return too_large(size);
	const uint64_t exact = format::entry_footprint(size);
	work w;
	reservation r;
	{
		lock_type lk(rt.lock);
		if (auto s = check_region(rt, id); !s)
			return s.err();
		// One reservation per thread and region: a second replaces the first.
		if (claim *old = rt.reservations != 0 ? find_reservation(rt, entry{}) : nullptr)
			if (auto s = cancel_locked(rt, lk, *old); !s)
				return s.err();
		// The claim keeps 16 bytes more, so that a shorter publish or a cancel with claims
		// after it leaves room for a padding entry (one that nothing follows shrinks instead).
		auto c = take_claim(rt, lk, id, exact + sizeof(format::entry_header), exact, w);
		if (!c)
			return c.err();
		claim &cl = slot(rt, w.index);
		cl.owner = thread_token();
		cl.ticket = tickets_.fetch_add(1, std::memory_order_relaxed) + 1;
		cl.capacity = size;
		++rt.reservations;
		r.ent.offset = w.pos;
		r.ent.region_id = rt.id.load(std::memory_order_relaxed);
		r.ent.ticket = cl.ticket;
		// The caller writes at once: an exclusive claim's zero fill must be done.
		while (w.fill_wait != ~uint64_t{0} && rt.claims_done <= w.fill_wait)
			wait_progress(rt, lk);
	}
	r.data = m_.base() + w.pos + sizeof(format::entry_header);
	r.size = size;
	return r;
}

status region_writer::cancel(region_runtime &rt, uint64_t id, const entry &e)
{
	lock_type lk(rt.lock);
	auto c = named_reservation(rt, id, e);
	if (!c)
		return c.err();
	return cancel_locked(rt, lk, **c);
}

result<uint64_t> region_writer::publish(region_runtime &rt, uint64_t id, const entry &e, uint64_t size, bool async)
{
	work w;
	bool pad = false;
	{
		lock_type lk(rt.lock);
		auto found = named_reservation(rt, id, e);
		if (!found)
			return found.err();
		claim *c = *found;
		if (size > c->capacity)
			return error(errc::invalid_argument, "publishing " + std::to_string(size) + " bytes of a " +
								     std::to_string(c->capacity) + "-byte reservation");
		c->owner = 0;
		--rt.reservations;
		w.index = c->index;
		w.pos = c->pos;
		w.epoch = rt.epoch.load(std::memory_order_relaxed);
		// Decided now, not when its turn comes: what a claim made meanwhile finds does not
		// depend on timing.
		const uint64_t fp = format::entry_footprint(size);
		if (c->size > fp) {
			if (rt.claim_end == c->pos + c->size) {
				rt.claim_end = c->pos + fp; // nothing after it: give the rest back
				c->size = fp;
			} else {
				pad = true; // the rest (16 bytes or more) becomes a padding entry
				c->pos2 = w.pos2 = c->pos + fp;
			}
		}
		w.size = c->size;
		if (auto s = sequence(rt, lk, w, pad); !s) { // waits for its turn
			lk.unlock();
			bool unused;
			(void)finish_claim(rt, w, false, false, unused);
			return s.err();
		}
	}
	const uint64_t fp = format::entry_footprint(size);
	const bool flushed = drains_itself(async, fp);
	bool ok = true;
	if (auto s = prepare_fill(rt, w); !s) {
		ok = false;
	} else {
		const auto sz = static_cast<uint32_t>(size);
		std::byte *dst = m_.base() + w.pos;
		const uint64_t word = w.ts | settled_flag(w);
		const format::entry_header h{word, sz, entry_checksum(w.epoch, word, sz, dst + sizeof(format::entry_header))};
		const media::piece header{&h, sizeof(h)};
		m_.store_lines(dst, &header, 1, 0);
		if (flushed)
			m_.flush(dst, sizeof(h) + size);
		if (pad)
			write_padding(w.pos2, w.size - fp, w.ts2, w.epoch, flushed);
		if (flushed)
			m_.drain();
		ok = m_.healthy();
	}
	bool due = false;
	if (auto s = finish_claim(rt, w, ok, flushed, due); !s)
		return s.err();
	if (auto s = finish(w.ts, async); !s)
		return s.err();
	if (due)
		checkpoint_hook_();
	return w.ts;
}

} // namespace pmemstream::detail
