// SPDX-License-Identifier: BSD-3-Clause
// Hands out timestamps and advances the two watermarks of visibility_state: committed (every
// operation with a timestamp <= it is visible) and persisted (every one is durable).
// Operations complete out of order (threads append to different regions); each marks its slot
// in a ring and whoever completes advances the watermarks over the contiguous run of completed
// slots. No lock; a thread whose timestamp is a whole ring ahead of the watermark waits
// (back-pressure, not a limit on callers).
//
// Today every operation is persisted before it completes (a synchronous append drains first),
// so one completion advances both watermarks and they are equal. They are separate words with
// separate waits so that asynchronous appends (committed first, persisted at a later drain)
// only add a second completion stage.
#ifndef PMEMSTREAM_ENGINE_COMMIT_TRACKER_HPP
#define PMEMSTREAM_ENGINE_COMMIT_TRACKER_HPP

#include "engine/visibility.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

namespace pmemstream::detail {

class commit_tracker {
public:
	static constexpr uint64_t ring_size = 1u << 16;

	// `last` is the last timestamp handed out before (from recovery); the next is last + 1.
	commit_tracker(visibility_state &vis, uint64_t last) : vis_(vis), next_(last + 1), slots_(new std::atomic<uint64_t>[ring_size])
	{
		for (uint64_t i = 0; i < ring_size; ++i)
			slots_[i].store(0, std::memory_order_relaxed);
		vis_.committed.store(last, std::memory_order_release);
		vis_.persisted.store(last, std::memory_order_release);
	}

	// Takes the next timestamp.
	uint64_t acquire() noexcept
	{
		const uint64_t ts = next_.fetch_add(1, std::memory_order_seq_cst);
		// The slot is reused from ts - ring_size, which must be behind the watermark.
		while (ts > committed() + ring_size)
			std::this_thread::yield();
		return ts;
	}

	// Marks `ts` complete: written, persisted and visible. Advances the watermarks as far as
	// completed slots allow.
	void complete_persisted(uint64_t ts) noexcept
	{
		// Fast path, the common case with one appender: every earlier timestamp is done, so
		// move the watermark straight to ts without touching the ring. A later timestamp
		// that completed meanwhile stored its slot and saw the old watermark (seq_cst), so
		// the scan below finds it.
		std::atomic<uint64_t> &word = vis_.committed;
		uint64_t w = ts - 1;
		if (word.compare_exchange_strong(w, ts, std::memory_order_seq_cst)) {
			publish_persisted(ts);
			w = ts;
		} else {
			slots_[ts & (ring_size - 1)].store(ts, std::memory_order_seq_cst);
			w = word.load(std::memory_order_seq_cst);
		}
		for (;;) {
			uint64_t x = w;
			while (slots_[(x + 1) & (ring_size - 1)].load(std::memory_order_seq_cst) == x + 1)
				++x;
			if (x == w)
				return;
			if (word.compare_exchange_weak(w, x, std::memory_order_seq_cst)) {
				publish_persisted(x);
				w = x; // look again: a slot may have completed while we scanned
			}
		}
	}

	// Block until the committed / persisted watermark reaches ts.
	void wait_committed(uint64_t ts) const noexcept
	{
		wait(vis_.committed, ts);
	}
	void wait_persisted(uint64_t ts) const noexcept
	{
		wait(vis_.persisted, ts);
	}

	uint64_t committed() const noexcept
	{
		return vis_.committed.load(std::memory_order_acquire);
	}
	uint64_t persisted() const noexcept
	{
		return vis_.persisted.load(std::memory_order_acquire);
	}

private:
	// Every completion today is durable, so the persisted watermark follows the committed one.
	// Monotonic even when two completers race: only ever raised.
	void publish_persisted(uint64_t x) noexcept
	{
		uint64_t p = vis_.persisted.load(std::memory_order_relaxed);
		while (p < x && !vis_.persisted.compare_exchange_weak(p, x, std::memory_order_seq_cst))
			;
		// notify_all is a locked instruction even with nobody waiting; waiters register
		// first (seq_cst on both sides: one of us sees the other).
		if (vis_.waiters.load(std::memory_order_seq_cst) != 0) {
			vis_.committed.notify_all();
			vis_.persisted.notify_all();
		}
		wake_shared_waiters(vis_); // waiters of other processes (sidecar.hpp)
	}

	void wait(std::atomic<uint64_t> &word, uint64_t ts) const noexcept
	{
		for (int spin = 0; spin < 1024; ++spin) {
			if (word.load(std::memory_order_acquire) >= ts)
				return;
#if defined(__x86_64__)
			__builtin_ia32_pause();
#endif
		}
		vis_.waiters.fetch_add(1, std::memory_order_seq_cst);
		for (uint64_t w = word.load(std::memory_order_seq_cst); w < ts; w = word.load(std::memory_order_seq_cst))
			word.wait(w, std::memory_order_seq_cst);
		vis_.waiters.fetch_sub(1, std::memory_order_seq_cst);
	}

	visibility_state &vis_;
	alignas(64) std::atomic<uint64_t> next_;
	std::unique_ptr<std::atomic<uint64_t>[]> slots_;
};

} // namespace pmemstream::detail

#endif
