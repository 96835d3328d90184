// SPDX-License-Identifier: BSD-3-Clause
// A read-only stream that follows a live writer in another process (docs/design.md 5.4): it
// walks in place, without reopening, up to the committed watermark the writer publishes in its
// readers' sidecar. Every entry it takes in is checked as recovery checks it (rules E1-E5, the
// region's checksum epoch: old bytes of reused space never validate) and must be at or below
// the watermark, which the writer moves only after the entry's bytes are written. A region
// allocation or free bumps the sidecar's layout generation; the follower then reads the span
// headers again (each state of the span chain is a consistent layout: allocation and free are
// crash-safe header updates) and makes regions live or dead in the stream's catalog. It never
// writes to the stream file.
//
// Once the writer is gone (closed, taken over by a new writer, or found dead by a wait) the
// follower stops for good and every step of the stream's iterators reports errc::writer_gone:
// a new writer's recovery and frees are not announced in this sidecar, so the view is no
// longer safe to extend; the caller opens the stream again.
//
// Truncation in the writer (clear, prefix and suffix cuts of a live region) is announced in the
// sidecar's cut table; the follower applies it to its view of the region before it trusts
// another byte of it, and its iterators check the region's slot after each read.
#ifndef PMEMSTREAM_ENGINE_FOLLOWER_HPP
#define PMEMSTREAM_ENGINE_FOLLOWER_HPP

#include "engine/sidecar.hpp"
#include "format/format.hpp"

#include <pmemstream/errors.hpp>
#include <pmemstream/stream.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace pmemstream::detail {

// now + timeout, saturating; stream::forever never expires.
std::chrono::steady_clock::time_point deadline_after(std::chrono::nanoseconds timeout) noexcept;

class follower {
public:
	explicit follower(stream::impl &s) noexcept;

	// Brings the stream's view up to the sidecar (watermark and layout) when either moved;
	// two loads when neither did. False once the writer is gone. Any thread.
	bool poll() noexcept
	{
		if (gone_.load(std::memory_order_acquire))
			return false;
		sidecar &sc = side();
		if (sc.closed_state() != 0) {
			set_gone();
			return false;
		}
		const uint64_t w = sc.vis().committed.load(std::memory_order_acquire);
		const uint64_t g = sc.vis().layout_generation.load(std::memory_order_acquire);
		if (w == seen_w_.load(std::memory_order_acquire) && g == seen_g_.load(std::memory_order_acquire))
			return true;
		return refresh();
	}
	bool gone() const noexcept
	{
		return gone_.load(std::memory_order_acquire);
	}
	// Checks the writer's lock (a syscall): marks the follower gone when no writer holds it.
	bool writer_alive() noexcept;

	// Waits until the watermark of the sidecar moves above `seen`, the writer is gone, or the
	// deadline passes; then polls. Spins briefly, then sleeps in FUTEX_WAIT (registered in
	// the sidecar's waiter count, so the writer wakes it), in slices of at most `liveness`
	// after which it checks that the writer still holds its lock (a dead writer wakes nobody).
	// Returns writer_gone or timed_out, or ok when the watermark moved.
	status wait_above(uint64_t seen, std::chrono::steady_clock::time_point deadline) noexcept;

	// How often a blocked wait checks that the writer lives.
	static constexpr std::chrono::milliseconds liveness{100};

	// ---- truncation (docs/design.md 5.4, "Truncation"; sidecar.hpp cut_table) ----
	// Whether bytes of rt's region read before the call are the writer's still: no cut of a
	// region of its sidecar slot began since the view rt reflects (the reader half of the
	// slot's seqlock: an acquire fence, then the loads). Any thread.
	bool cuts_settled_after_reads(const region_runtime *rt) const noexcept;
	// Brings rt up to the cuts the sidecar announced (prefix, suffix: first, tail, count and
	// survive_below move, `rewrites` is bumped, so iterators decide as in the writer's
	// process), waiting while a cut is in progress (checking every `cut_wait` that the writer
	// lives). `may_poll`: the layout may be read again (a clear re-activates the region).
	// True once settled; false when the writer is gone, or a clear or free of the region
	// needs the layout read again and `may_poll` is false.
	bool settle(const region_runtime *rt, bool may_poll) noexcept;
	static constexpr std::chrono::milliseconds cut_wait{100};

private:
	enum class cut_sync { settled, in_progress, needs_layout };
	// With mutex_ held: applies the cuts announced in rt's slot since rt->cut_seen.
	cut_sync sync_region(region_runtime *rt) noexcept;
	// sync_region of a region that is or was wrapped: its laps from the span header `v`, read
	// while its cut slot held `x`.
	cut_sync relayout(region_runtime *rt, const format::span_slot &v, uint64_t x) noexcept;
	// The laps, first, tail and counts of a region from its span header (see relayout).
	void take_laps(region_runtime *rt, const format::span_slot &v) noexcept;
	// With mutex_ held: every live region; false while one is not settled.
	bool sync_cuts() noexcept;
	cut_slot &slot_of(const region_runtime *rt) const noexcept;
	sidecar &side() const noexcept;
	bool refresh() noexcept;
	bool reload_catalog() noexcept;
	void walk_regions(uint64_t w) noexcept;
	void set_gone() noexcept;

	stream::impl &s_;
	std::mutex mutex_; // one refresh at a time
	std::atomic<uint64_t> seen_w_{0};
	std::atomic<uint64_t> seen_g_{~uint64_t{0}}; // the first poll reads the catalog again
	std::atomic<bool> gone_{false};
	bool cuts_changed_ = false; // sync_region moved a region (under mutex_): bump the layout
};

} // namespace pmemstream::detail

#endif
