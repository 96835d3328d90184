// SPDX-License-Identifier: BSD-3-Clause
// Hands out timestamps and maintains the watermark: the largest t such that every operation
// with a timestamp <= t has completed. Operations complete out of order (threads append to
// different regions); each marks its slot in a ring and whoever completes advances the
// watermark over the contiguous run of completed slots. No lock; a thread whose timestamp
// is a whole ring ahead of the watermark waits (back-pressure, not a limit on callers).
#ifndef PMEMSTREAM_TIMESTAMP_TRACKER_HPP
#define PMEMSTREAM_TIMESTAMP_TRACKER_HPP

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

namespace pmemstream::detail {

class timestamp_tracker {
public:
	static constexpr uint64_t ring_size = 1u << 16;

	// `last` is the last timestamp handed out before (from recovery); the next is last + 1.
	explicit timestamp_tracker(uint64_t last) : next_(last + 1), watermark_(last), slots_(new std::atomic<uint64_t>[ring_size])
	{
		for (uint64_t i = 0; i < ring_size; ++i)
			slots_[i].store(0, std::memory_order_relaxed);
	}

	// Takes the next timestamp.
	uint64_t acquire() noexcept
	{
		const uint64_t ts = next_.fetch_add(1, std::memory_order_seq_cst);
		// The slot is reused from ts - ring_size, which must be behind the watermark.
		while (ts > watermark_.load(std::memory_order_acquire) + ring_size)
			std::this_thread::yield();
		return ts;
	}

	// Marks `ts` complete and advances the watermark as far as completed slots allow.
	void complete(uint64_t ts) noexcept
	{
		// Fast path, the common case with one appender: every earlier timestamp is done, so
		// move the watermark straight to ts without touching the ring. A later timestamp
		// that completed meanwhile stored its slot and saw the old watermark (seq_cst), so
		// the scan below finds it.
		uint64_t w = ts - 1;
		if (watermark_.compare_exchange_strong(w, ts, std::memory_order_seq_cst)) {
			if (waiters_.load(std::memory_order_seq_cst) != 0)
				watermark_.notify_all();
			w = ts;
		} else {
			slots_[ts & (ring_size - 1)].store(ts, std::memory_order_seq_cst);
			w = watermark_.load(std::memory_order_seq_cst);
		}
		for (;;) {
			uint64_t x = w;
			while (slots_[(x + 1) & (ring_size - 1)].load(std::memory_order_seq_cst) == x + 1)
				++x;
			if (x == w)
				return;
			if (watermark_.compare_exchange_weak(w, x, std::memory_order_seq_cst)) {
				// notify_all is a locked instruction even with nobody waiting; waiters
				// register first (seq_cst on both sides: one of us sees the other).
				if (waiters_.load(std::memory_order_seq_cst) != 0)
					watermark_.notify_all();
				w = x; // look again: a slot may have completed while we scanned
			}
		}
	}

	// Blocks until watermark() >= ts.
	void wait(uint64_t ts) const noexcept
	{
		for (int spin = 0; spin < 1024; ++spin) {
			if (watermark_.load(std::memory_order_acquire) >= ts)
				return;
#if defined(__x86_64__)
			__builtin_ia32_pause();
#endif
		}
		waiters_.fetch_add(1, std::memory_order_seq_cst);
		for (uint64_t w = watermark_.load(std::memory_order_seq_cst); w < ts; w = watermark_.load(std::memory_order_seq_cst))
			watermark_.wait(w, std::memory_order_seq_cst);
		waiters_.fetch_sub(1, std::memory_order_seq_cst);
	}

	uint64_t watermark() const noexcept
	{
		return watermark_.load(std::memory_order_acquire);
	}
	// The last timestamp handed out (complete or not).
	uint64_t last_issued() const noexcept
	{
		return next_.load(std::memory_order_acquire) - 1;
	}

private:
	alignas(64) std::atomic<uint64_t> next_;
	alignas(64) std::atomic<uint64_t> watermark_;
	mutable std::atomic<uint32_t> waiters_{0};
	std::unique_ptr<std::atomic<uint64_t>[]> slots_;
};

} // namespace pmemstream::detail

#endif
