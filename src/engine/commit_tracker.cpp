// SPDX-License-Identifier: BSD-3-Clause
#include "engine/commit_tracker.hpp"
#include "util/futex.hpp"

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

namespace pmemstream::detail {

commit_tracker::commit_tracker(visibility_state &vis, media &m, state_record *state, uint64_t last)
    : vis_(vis),
      m_(m),
      state_(state),
      next_(last + 1),
      lease_(state ? state->lease() : format::max_timestamp),
      swept_(last),
      slots_(new slot[ring_size])
{
	vis_.committed.store(last, std::memory_order_release);
	vis_.persisted.store(last, std::memory_order_release);
	if (state_)
		extend_lease(last + 1); // now, rather than in the first append
}

uint64_t commit_tracker::acquire_unchecked() noexcept
{
	const uint64_t ts = next_.fetch_add(1, std::memory_order_seq_cst);
	if (ts > lease_.load(std::memory_order_acquire))
		extend_lease(ts);
	return ts;
}

void commit_tracker::wait_slot(uint64_t ts) noexcept
{
	// The slot is reused from ts - ring_size: a sweep may still read its range until that
	// timestamp is persisted. Persisting it is what the owner of ts would wait for anyway.
	while (ts > persisted() + ring_size)
		if (!ensure_persisted(ts - ring_size) && !m_.healthy())
			break; // nothing will become durable again; the caller's drain fails too
}

uint64_t commit_tracker::acquire_block(uint64_t n) noexcept
{
	const uint64_t first = next_.fetch_add(n, std::memory_order_seq_cst);
	const uint64_t last = first + n - 1;
	if (last > lease_.load(std::memory_order_acquire))
		extend_lease(last);
	while (last > persisted() + ring_size)
		if (!ensure_persisted(last - ring_size) && !m_.healthy())
			break;
	return first;
}

void commit_tracker::complete_block(uint64_t first, uint64_t n, const uint64_t *off, const uint64_t *len, bool durable) noexcept
{
	uint64_t bytes = 0;
	for (uint64_t i = 0; i < n; ++i) {
		slot &s = at(first + i);
		if (durable) {
			s.durable.store(first + i, std::memory_order_relaxed);
		} else {
			s.off.store(off[i], std::memory_order_relaxed);
			s.len.store(len[i], std::memory_order_relaxed);
			bytes += len[i];
		}
	}
	if (bytes && count_bytes_)
		pending_bytes_.fetch_add(bytes, std::memory_order_relaxed);
	// The first member last, and no fast path: a scan of advance_committed that finds the
	// first member committed (its seq_cst store releases the others, its seq_cst loads
	// acquire) finds every other one committed too, so the watermark moves from below the
	// block to its end or beyond in one step. The first member's store is the one that takes
	// part in complete()'s protocol with later timestamps.
	for (uint64_t i = n; i-- > 1;)
		at(first + i).committed.store(first + i, std::memory_order_release);
	at(first).committed.store(first, std::memory_order_seq_cst);
	advance_committed(vis_.committed.load(std::memory_order_seq_cst));
	advance_persisted();
	notify();
}

void commit_tracker::enable_leases(state_record *state) noexcept
{
	std::lock_guard lk(lease_mutex_);
	if (state_ || !state)
		return;
	state_ = state;
	// Timestamps handed out so far carry no transaction: nothing hides behind them.
	lease_.store(last_issued(), std::memory_order_release);
}

void commit_tracker::extend_lease(uint64_t ts) noexcept
{
	std::lock_guard lk(lease_mutex_);
	if (ts <= lease_.load(std::memory_order_relaxed))
		return;
	const uint64_t to = std::min(ts + lease_step, format::max_timestamp);
	if (state_)
		state_->raise_lease(to); // persisted before any entry carries a timestamp above the old lease
	lease_.store(to, std::memory_order_release);
}

void commit_tracker::complete(uint64_t ts, uint64_t off, uint64_t len, bool durable) noexcept
{
	slot &s = at(ts);
	// Published to sweeps by the release of the committed marker or watermark below.
	if (durable) {
		s.durable.store(ts, std::memory_order_relaxed);
	} else {
		s.off.store(off, std::memory_order_relaxed);
		s.len.store(len, std::memory_order_relaxed);
		if (count_bytes_)
			pending_bytes_.fetch_add(len, std::memory_order_relaxed);
	}
	// Fast path, the common case with one appender: every earlier timestamp is committed, so
	// move the watermark straight to ts. A later timestamp that completed meanwhile stored
	// its marker and saw the old watermark (seq_cst), so the scan in advance_committed finds it.
	uint64_t w = ts - 1;
	if (!vis_.committed.compare_exchange_strong(w, ts, std::memory_order_seq_cst))
		s.committed.store(ts, std::memory_order_seq_cst);
	advance_committed(vis_.committed.load(std::memory_order_seq_cst));
	advance_persisted();
	notify();
}

void commit_tracker::advance_committed(uint64_t w) noexcept
{
	std::atomic<uint64_t> &word = vis_.committed;
	for (;;) {
		uint64_t x = w;
		while (at(x + 1).committed.load(std::memory_order_seq_cst) == x + 1)
			++x;
		if (x == w)
			return;
		if (word.compare_exchange_weak(w, x, std::memory_order_seq_cst))
			w = x; // look again: a slot may have completed while we scanned
	}
}

void commit_tracker::advance_persisted() noexcept
{
	uint64_t p = vis_.persisted.load(std::memory_order_seq_cst);
	for (;;) {
		const uint64_t c = vis_.committed.load(std::memory_order_seq_cst);
		uint64_t x = p;
		while (x < c && at(x + 1).durable.load(std::memory_order_acquire) == x + 1)
			++x;
		if (x == p)
			return;
		if (vis_.persisted.compare_exchange_weak(p, x, std::memory_order_seq_cst))
			p = x;
	}
}

void commit_tracker::raise_persisted(uint64_t to) noexcept
{
	uint64_t p = vis_.persisted.load(std::memory_order_relaxed);
	while (p < to && !vis_.persisted.compare_exchange_weak(p, to, std::memory_order_seq_cst))
		;
}

void commit_tracker::notify() const noexcept
{
	// A wake is a system call: only when someone sleeps. Waiters register before they load
	// the word (seq_cst on both sides: one of us sees the other).
	if (vis_.waiters.load(std::memory_order_seq_cst) != 0)
		wake_all();
	wake_shared_waiters(vis_); // waiters of other processes (sidecar.hpp), if any
}

void commit_tracker::wake_all() const noexcept
{
	futex_wake_all(vis_.committed);
	futex_wake_all(vis_.persisted);
}

uint64_t commit_tracker::sweep(bool try_only) noexcept
{
	advance_persisted();
	const uint64_t c = committed();
	uint64_t from = swept_.load(std::memory_order_seq_cst);
	if (try_only && from > persisted())
		return persisted(); // a sweep is in progress; never wait for it
	// Claim (from, c]: the timestamps this sweep flushes. Sweeps claim disjoint runs in order,
	// so they flush at the same time (msyncs overlap) and nothing is flushed twice.
	do {
		if (from >= c)
			return persisted(); // nothing new, or claimed by a sweep in progress
	} while (!swept_.compare_exchange_weak(from, c, std::memory_order_seq_cst));

	// The ranges of entries committed and not durable by themselves, merged where they touch
	// (consecutive entries of one region share lines; msync works on pages).
	struct range {
		uint64_t begin, end;
	};
	thread_local std::vector<range> ranges;
	ranges.clear();
	uint64_t bytes = 0;
	for (uint64_t x = std::max(from, persisted()) + 1; x <= c; ++x) {
		const slot &s = at(x);
		if (s.durable.load(std::memory_order_acquire) == x)
			continue;
		const uint64_t off = s.off.load(std::memory_order_relaxed);
		const uint64_t len = s.len.load(std::memory_order_relaxed);
		bytes += len;
		if (len != 0)
			ranges.push_back({off, off + len});
	}
	auto by_offset = [](const range &a, const range &b) { return a.begin < b.begin; };
	if (!std::is_sorted(ranges.begin(), ranges.end(), by_offset)) // one region: in order already
		std::sort(ranges.begin(), ranges.end(), by_offset);
	const uint64_t gap = m_.flush_syncs() ? 4096 : format::cache_line;
	size_t n = 0;
	for (const range &r : ranges) {
		if (n != 0 && r.begin <= ranges[n - 1].end + gap)
			ranges[n - 1].end = std::max(ranges[n - 1].end, r.end);
		else
			ranges[n++] = r;
	}
	for (size_t i = 0; i < n; ++i)
		m_.flush(m_.base() + ranges[i].begin, ranges[i].end - ranges[i].begin);
	m_.drain();
	if (count_bytes_)
		pending_bytes_.fetch_sub(bytes, std::memory_order_relaxed);

	// (from, c] is durable; the watermark may pass it once the sweeps before are done. A
	// sweep always finishes (no deadline here): a later one waits for it.
	while (persisted() < from && m_.healthy()) {
		advance_persisted();
		if (persisted() < from)
			wait_word(vis_.persisted, from, clock::now() + std::chrono::milliseconds(1));
	}
	if (m_.healthy()) {
		raise_persisted(c);
		advance_persisted();
	}
	notify();
	return persisted();
}

bool commit_tracker::ensure_persisted(uint64_t ts, clock::time_point deadline) noexcept
{
	for (;;) {
		if (persisted() >= ts)
			return true;
		if (committed() < ts) {
			// An entry before ts is being written by another thread: it commits soon.
			if (!wait_word(vis_.committed, ts, deadline))
				return false;
			continue;
		}
		advance_persisted();
		if (persisted() >= ts)
			return true;
		if (!m_.healthy() || (deadline != clock::time_point::max() && clock::now() >= deadline))
			return false;
		if (swept_.load(std::memory_order_seq_cst) >= ts) {
			// A sweep in progress covers ts: wait for it (looking at the medium's health
			// now and then, since a failed sweep never raises the watermark).
			wait_word(vis_.persisted, ts, std::min(deadline, clock::now() + std::chrono::milliseconds(1)));
			continue;
		}
		sweep(false);
	}
}

bool commit_tracker::wait_committed(uint64_t ts, clock::time_point deadline) const noexcept
{
	return wait_word(vis_.committed, ts, deadline);
}

bool commit_tracker::wait_word(const std::atomic<uint64_t> &word, uint64_t ts, clock::time_point deadline) const noexcept
{
	if (word.load(std::memory_order_acquire) >= ts)
		return true;
	if (deadline != clock::time_point::max() && clock::now() >= deadline)
		return false; // a zero timeout is a poll: no spinning
	for (int spin = 0; spin < 1024; ++spin) {
		if (word.load(std::memory_order_acquire) >= ts)
			return true;
#if defined(__x86_64__)
		__builtin_ia32_pause();
#endif
	}
	vis_.waiters.fetch_add(1, std::memory_order_seq_cst);
	bool reached = true;
	for (uint64_t w = word.load(std::memory_order_seq_cst); w < ts; w = word.load(std::memory_order_seq_cst)) {
		if (deadline != clock::time_point::max() && clock::now() >= deadline) {
			reached = false;
			break;
		}
		futex_wait(word, w, deadline);
	}
	vis_.waiters.fetch_sub(1, std::memory_order_seq_cst);
	return reached;
}

void commit_tracker::wait_change(const std::atomic<uint64_t> &word, uint64_t seen, clock::time_point deadline) const noexcept
{
	vis_.waiters.fetch_add(1, std::memory_order_seq_cst);
	if (word.load(std::memory_order_seq_cst) == seen && clock::now() < deadline)
		futex_wait(word, seen, deadline);
	vis_.waiters.fetch_sub(1, std::memory_order_seq_cst);
}

} // namespace pmemstream::detail
