// SPDX-License-Identifier: BSD-3-Clause
// Combining (region_writer.hpp, docs/design.md 2.3): the appends of a region queue up and the
// holder of its lock writes them in batches, one block of timestamps and one fence each.
#include "engine/region_writer.hpp"
#include "util/cpu_relax.hpp"

#include <chrono>
#include <vector>

namespace pmemstream::detail {

// ==================================================================== appends

result<appended> region_writer::append(region_runtime &rt, uint64_t id, std::span<const std::byte> data, bool async)
{
	if (data.size() > format::max_payload)
		return too_large(data.size());
	// A full region may wrap (the ring, issue 14) and take the append in its second lap; a
	// few tries, as other threads may fill the room a wrap made first.
	for (int tries = 0;; ++tries) {
		auto r = append_once(rt, id, data, async);
		if (r || r.code() != errc::region_full || tries == 3 ||
		    !wrapped_for(rt, id, format::entry_footprint(data.size())))
			return r;
	}
}

result<appended> region_writer::append_once(region_runtime &rt, uint64_t id, std::span<const std::byte> data, bool async)
{
	request req;
	req.data = data.data();
	req.size = static_cast<uint32_t>(data.size());
	req.async = async;
	req.id = id;
	// A lone appender (nothing queued, the lock free, and the last batch served one) writes
	// its own request without queueing it: two locked instructions fewer than the queue's
	// push and take, which a single thread pays after every fence (docs/design.md 2.3).
	if (rt.requests.load(std::memory_order_relaxed) == nullptr &&
	    rt.combine_expect.load(std::memory_order_relaxed) <= 1 && !rt.lock.held() && rt.lock.try_lock()) {
		bool due = false, written = false;
		{
			lock_type lk(rt.lock, std::adopt_lock);
			if (rt.combine_expect.load(std::memory_order_relaxed) <= 1 && !rt.outstanding() && rt.draining == 0 &&
			    rt.requests.load(std::memory_order_relaxed) == nullptr) {
				request *one = &req;
				write_batch(rt, &one, 1);
				// Another thread queued meanwhile: the next combiner waits for this one's
				// next append too, so that the two go on sharing batches (combine()).
				if (rt.requests.load(std::memory_order_relaxed) != nullptr)
					rt.combine_expect.store(2, std::memory_order_relaxed);
				due = checkpoint_due(rt);
				written = true;
			}
		}
		if (due)
			checkpoint_hook_();
		if (written)
			return served(req, async);
	}
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
			cpu_relax();
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
	return served(req, async);
}

result<appended> region_writer::served(request &req, bool async)
{
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
	const uint32_t expect = rt.combine_expect.load(std::memory_order_relaxed);
	if (expect > 1 && rt.requests.load(std::memory_order_relaxed) != nullptr) {
		auto depth = [&rt] {
			uint32_t d = 0;
			for (request *q = rt.requests.load(std::memory_order_acquire); q; q = q->next)
				++d;
			return d;
		};
		const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(combine_wait_ns);
		for (int i = 1; depth() < expect; ++i) {
			cpu_relax();
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
	rt.combine_expect.store(std::min<uint32_t>(more ? served + 1 : served, cap), std::memory_order_relaxed);
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
	const uint64_t limit = rt.append_end();
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
			const error full = region_full(rt, limit - end, need);
			fail(r, full.code(), full.message());
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
			const uint64_t word = ts | settled_flag(prev);
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

} // namespace pmemstream::detail
