// SPDX-License-Identifier: BSD-3-Clause
// What a reader needs to know to decide what it may show, as plain words: the committed and
// persisted watermarks and the region-layout generation. It is a struct of atomics rather
// than an object with virtual calls so that the same words can live in the writer's memory
// (today) or in a shared-memory sidecar that reader processes map (docs/design.md 5.4).
#ifndef PMEMSTREAM_ENGINE_VISIBILITY_HPP
#define PMEMSTREAM_ENGINE_VISIBILITY_HPP

#include "util/futex.hpp"

#include <atomic>
#include <cstdint>

namespace pmemstream::detail {

struct visibility_state {
	// Every entry with a timestamp <= committed is visible. Written by commit_tracker with
	// release after the entry's region tail was published; read by readers with acquire.
	alignas(64) std::atomic<uint64_t> committed{0};
	// Every entry with a timestamp <= persisted survives a crash; persisted <= committed.
	// Written by commit_tracker (release), read by readers and waiters (acquire).
	alignas(64) std::atomic<uint64_t> persisted{0};
	// Bumped (release) by region_catalog after every region allocation and free; a reader
	// that saw a value re-reads the catalog when it changes.
	alignas(64) std::atomic<uint64_t> layout_generation{0};
	// Threads blocked in a wait on committed or persisted; writers wake only when non-zero.
	alignas(64) std::atomic<uint32_t> waiters{0};
	// Registrations of threads of any process about to block in FUTEX_WAIT on committed's
	// low word (wait_committed_for, sidecar.hpp; follower::wait_above): each adds 1 (seq_cst)
	// before every look at the word that may put it to sleep; the tracker, after it moved the
	// word, takes them all (exchange to 0, seq_cst) and wakes once. So a writer pays one
	// FUTEX_WAKE per sleep of a reader, not one per commit while a woken reader has not run
	// yet, and a waiter that was killed leaves at most one needless wake behind.
	std::atomic<uint32_t> shared_waiters{0};

	bool visible(uint64_t ts) const noexcept
	{
		return ts <= committed.load(std::memory_order_acquire);
	}
};

// What a writer calls after it moved the committed watermark: wakes the waiters of
// wait_committed_for (other processes' and this one's), if there are any.
inline void wake_shared_waiters(visibility_state &v) noexcept
{
	if (v.shared_waiters.load(std::memory_order_seq_cst) != 0 && v.shared_waiters.exchange(0, std::memory_order_seq_cst) != 0)
		futex_wake_all(v.committed, true); // shared: the word may be in a sidecar other processes map
}

} // namespace pmemstream::detail

#endif
