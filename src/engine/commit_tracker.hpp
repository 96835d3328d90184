// SPDX-License-Identifier: BSD-3-Clause
// Hands out timestamps and advances the two watermarks of visibility_state: committed (every
// entry with a timestamp <= it is written and visible) and persisted (every one is durable).
//
// Entries complete out of order (threads append to different regions). Each timestamp has a
// slot in a ring: its committer marks it committed, and whoever completes advances the
// committed watermark over the contiguous run of committed slots. An entry is durable either
// by itself (a synchronous append on persistent memory drains its own flushes before it
// commits, and marks its slot durable) or by a sweep: a thread that needs the persisted
// watermark to pass entries that are only committed flushes their ranges (recorded in the
// slots) and drains once for all of them. A flush writes a line back from whichever cache
// holds it, so a sweep makes other threads' entries durable too; on msync media a flush is
// the msync itself. A sweep claims the run of timestamps committed since the last claim, so
// sweeps run at the same time without flushing anything twice (msyncs overlap), and each
// raises the watermark once the sweeps before it are done; threads whose entries a sweep in
// progress covers wait for it (group commit). No lock anywhere.
//
// A thread whose timestamp is a whole ring ahead of the persisted watermark sweeps first
// (back-pressure, not a limit on callers). Timestamps are leased (state record ts_lease)
// ahead of use, at open and then once per lease_step timestamps, so that recovery never hands
// out again a timestamp an unreachable entry may carry (docs/format.md 8.3); a crash therefore
// skips up to lease_step timestamps, a clean close none.
#ifndef PMEMSTREAM_ENGINE_COMMIT_TRACKER_HPP
#define PMEMSTREAM_ENGINE_COMMIT_TRACKER_HPP

#include "engine/state_record.hpp"
#include "engine/visibility.hpp"
#include "media/media.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

namespace pmemstream::detail {

class commit_tracker {
public:
	static constexpr uint64_t ring_size = 1u << 16;
	static constexpr uint64_t lease_step = 1u << 12;
	using clock = std::chrono::steady_clock;

	// `last` is the last timestamp handed out before (from recovery); the next is last + 1.
	// `state` is where leases go (null: no leases: read-only streams, and streams whose regions
	// all have W = 1, where no entry can hide behind a torn one).
	commit_tracker(visibility_state &vis, media &m, state_record *state, uint64_t last);

	// Takes the next timestamp (leased, and its slot free).
	uint64_t acquire() noexcept
	{
		const uint64_t ts = acquire_unchecked();
		wait_slot(ts);
		return ts;
	}
	// acquire() in two steps, for a caller that takes timestamps under a region's lock
	// (region_writer): the timestamp, leased; then, outside the lock and before the
	// timestamp completes, the wait until its ring slot is free (the back-pressure, which
	// may wait for entries whose writers need that lock).
	uint64_t acquire_unchecked() noexcept;
	void wait_slot(uint64_t ts) noexcept;

	// ---- transactions (issue 13) ----
	// Takes n consecutive timestamps (leased, their slots free); returns the first. n is at
	// most ring_size / 4.
	uint64_t acquire_block(uint64_t n) noexcept;
	// The entries of a block (first .. first + n - 1) are written: marks them all committed so
	// that the committed watermark passes the whole block at once, never part of it. Entry i is
	// [off[i], off[i] + len[i]), persisted by the caller when `durable`.
	void complete_block(uint64_t first, uint64_t n, const uint64_t *off, const uint64_t *len, bool durable) noexcept;
	// Starts leasing timestamps (a stream without incompat_windowed, at its first
	// transaction: a transaction's members may hide behind a torn one, like W > 1).
	void enable_leases(state_record *state) noexcept;

	// Marks ts committed: its entry [off, off + len) is written (and, if `durable`, already
	// persisted by the caller's own drain). Advances the watermarks as far as slots allow.
	void complete(uint64_t ts, uint64_t off, uint64_t len, bool durable) noexcept;

	// Makes every timestamp <= ts persisted, sweeping if needed. false on timeout (or on a
	// failed medium, which the caller tells by media::healthy()). ts must have been handed out.
	bool ensure_persisted(uint64_t ts, clock::time_point deadline = clock::time_point::max()) noexcept;
	// One sweep of everything committed and not yet claimed by another sweep (none when
	// try_only and another sweep is in progress). Returns the persisted watermark after it.
	uint64_t sweep(bool try_only = false) noexcept;

	// Blocks until the committed watermark reaches ts; false on timeout.
	bool wait_committed(uint64_t ts, clock::time_point deadline = clock::time_point::max()) const noexcept;

	uint64_t committed() const noexcept
	{
		return vis_.committed.load(std::memory_order_acquire);
	}
	uint64_t persisted() const noexcept
	{
		return vis_.persisted.load(std::memory_order_acquire);
	}
	// The last timestamp handed out.
	uint64_t last_issued() const noexcept
	{
		return next_.load(std::memory_order_acquire) - 1;
	}
	// Committed and not persisted: their bytes (approximate, for the commit worker; 0 unless
	// count_pending_bytes() was called).
	uint64_t pending_bytes() const noexcept
	{
		return pending_bytes_.load(std::memory_order_relaxed);
	}
	// Keeps pending_bytes(): for a stream with a commit worker, which reads it, called before
	// any append. Without one the count would be a read-modify-write of a stream-wide line in
	// every asynchronous append that nobody reads.
	void count_pending_bytes() noexcept
	{
		count_bytes_ = true;
	}

	// Blocks until `word` changes from `seen` or the deadline passes (spins briefly first).
	// Registers as a waiter so that completions wake it. For the commit worker.
	void wait_change(const std::atomic<uint64_t> &word, uint64_t seen, clock::time_point deadline) const noexcept;
	// Wakes every thread blocked on a watermark (the worker at shutdown).
	void wake_all() const noexcept;

private:
	struct slot {
		std::atomic<uint64_t> committed{0}; // the timestamp, once committed
		std::atomic<uint64_t> durable{0};   // the timestamp, once its entry is durable by itself
		std::atomic<uint64_t> off{0};
		std::atomic<uint64_t> len{0};
	};
	slot &at(uint64_t ts) const noexcept
	{
		return slots_[ts & (ring_size - 1)];
	}
	void extend_lease(uint64_t ts) noexcept;
	void advance_committed(uint64_t from) noexcept;
	void advance_persisted() noexcept;
	void raise_persisted(uint64_t to) noexcept;
	void notify() const noexcept;
	bool wait_word(const std::atomic<uint64_t> &word, uint64_t ts, clock::time_point deadline) const noexcept;

	visibility_state &vis_;
	media &m_;
	state_record *state_;
	alignas(64) std::atomic<uint64_t> next_;
	alignas(64) std::atomic<uint64_t> lease_;
	std::mutex lease_mutex_;
	bool count_bytes_ = false; // set before any append (count_pending_bytes)
	alignas(64) std::atomic<uint64_t> pending_bytes_{0};
	// Sweeps have claimed every timestamp up to swept_ (their flushes may be in progress).
	alignas(64) std::atomic<uint64_t> swept_;
	std::unique_ptr<slot[]> slots_;
};

} // namespace pmemstream::detail

#endif
