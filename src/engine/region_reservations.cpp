// SPDX-License-Identifier: BSD-3-Clause
// Reservations (region_writer.hpp): several outstanding per region, one per thread; publish
// and cancel sequence them, and what a claim followed by others does not use becomes padding.
#include "engine/region_writer.hpp"
#include "util/hex.hpp"

#include <cstdint>

namespace pmemstream::detail {

namespace {

// Tells threads apart for "one reservation per thread per region" (unique among live threads).
uint64_t thread_token() noexcept
{
	thread_local char token;
	return reinterpret_cast<uintptr_t>(&token);
}

} // namespace

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
	for (int tries = 0;; ++tries) { // a full region may wrap (append())
		auto r = reserve_once(rt, id, size);
		if (r || r.code() != errc::region_full || tries == 3 || !wrapped_for(rt, id, format::entry_footprint(size)))
			return r;
	}
}

result<reservation> region_writer::reserve_once(region_runtime &rt, uint64_t id, uint64_t size)
{
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
		const uint64_t word = w.ts | settled_flag(w.prev_ts);
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
	if (auto s = end_fill(rt, w, ok, flushed, async); !s)
		return s.err();
	return w.ts;
}

} // namespace pmemstream::detail
