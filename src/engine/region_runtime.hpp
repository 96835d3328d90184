// SPDX-License-Identifier: BSD-3-Clause
// Volatile state of one region. Owned by the stream's catalog for the stream's whole life and
// reused when a region is allocated again at the same offset, so pointers handed out never
// dangle; the region's id tells one use of the offset from the next.
#ifndef PMEMSTREAM_ENGINE_REGION_RUNTIME_HPP
#define PMEMSTREAM_ENGINE_REGION_RUNTIME_HPP

#include "format/entry_codec.hpp"

#include <pmemstream/errors.hpp>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pmemstream {

namespace detail {
// The lock of a region: held by a combining append through one batch (a few hundred
// nanoseconds: the writes and one fence), for a few dozen nanoseconds by the claim path
// (claim, finish), and for longer by free, truncation and transactions. A glibc mutex sleeps in the kernel at the first
// contention, which for sections this short costs more than the section (two threads in one
// region ran at 0.4x of one); this one spins first and sleeps on a futex only after that, and
// an unlock calls the kernel only when someone sleeps (a count of sleepers beside the word,
// seq_cst on both sides: an unlocker that sees none is seen by the sleeper's next try).
class region_mutex {
public:
	void lock() noexcept
	{
		if (try_lock())
			return;
		for (int i = 0; i < 1024; ++i) {
#if defined(__x86_64__)
			__builtin_ia32_pause();
#endif
			if (word_.load(std::memory_order_relaxed) == 0 && try_lock())
				return;
		}
		sleepers_.fetch_add(1, std::memory_order_seq_cst);
		while (!try_lock_seq_cst())
			sleep();
		sleepers_.fetch_sub(1, std::memory_order_relaxed);
	}
	// Whether some thread holds it (a hint: it may be released the next instant).
	bool held() const noexcept
	{
		return word_.load(std::memory_order_relaxed) != 0;
	}
	bool try_lock() noexcept
	{
		uint32_t c = 0;
		return word_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed);
	}
	void unlock() noexcept
	{
		word_.store(0, std::memory_order_seq_cst);
		if (sleepers_.load(std::memory_order_seq_cst) != 0)
			wake();
	}

private:
	bool try_lock_seq_cst() noexcept
	{
		uint32_t c = 0;
		return word_.compare_exchange_strong(c, 1, std::memory_order_seq_cst, std::memory_order_seq_cst);
	}
	void sleep() noexcept; // while the word is 1
	void wake() noexcept;
	std::atomic<uint32_t> word_{0};
	std::atomic<uint32_t> sleepers_{0};
};

// An append waiting to be written by whichever thread holds its region's lock (combining,
// region_writer::append): lives on the appending thread's stack until `state` leaves pending.
struct alignas(64) append_request {
	enum : uint32_t { pending, done, by_claim };
	// The request: written by its thread, only read by the combiner (which keeps its own
	// order of the queue rather than relinking `next`).
	const std::byte *data = nullptr;
	append_request *next = nullptr;
	uint64_t id = 0; // the caller's region id (0: whatever region lives here)
	uint32_t size = 0;
	bool async = false;
	// The outcome: written by the combiner, results first and `state` last (release); the
	// appending thread spins on this line alone, so the combiner's reads of the request
	// above do not bounce it.
	alignas(64) std::atomic<uint32_t> state{pending};
	errc code = errc::ok;
	uint64_t offset = 0, region_id = 0, timestamp = 0;
	std::string why; // only when the append fails
};
} // namespace detail

class region_runtime {
public:
	region_runtime(const void *owner_stream, uint64_t off) : owner(owner_stream), offset(off)
	{
	}

	// The stream::impl this runtime belongs to: a runtime passed to another stream is refused.
	const void *const owner;
	const uint64_t offset;

	// The live region's id, 0 while no region lives here. Doubles as the version of the
	// fields below for lock-free readers: the catalog stores 0 (release) before it changes
	// them and the new id (release) after, and ids are never reused, so a reader that loads
	// the same non-zero id before and after reading them (acquire, then a fence) read one
	// region's values.
	std::atomic<uint64_t> id{0};
	std::atomic<uint64_t> epoch{0}; // checksum epoch of the region's entries
	std::atomic<uint64_t> data_begin{0};
	std::atomic<uint64_t> data_end{0};
	std::atomic<uint64_t> first{0}; // first entry: data_begin + the span's head
	// A wrapped region (issue 14's ring, docs/design.md 5.5): the end of the head's lap
	// (absolute; 0: not wrapped) and that lap's epoch. Entries [first, wrap) carry head_epoch;
	// the second lap [data_begin, tail) carries `epoch` and ends before `first`. Stored under
	// `lock` with release, head_epoch and wrap before `epoch`; a change that drops a lap
	// (unwrap) bumps `rewrites` first.
	std::atomic<uint64_t> wrap{0};
	std::atomic<uint64_t> head_epoch{0};
	// End of the last committed entry (absolute offset). Stored with release by the region's
	// writer after the entry's bytes, so a reader that loads it with acquire sees whole entries.
	std::atomic<uint64_t> tail{0};
	std::atomic<uint64_t> count{0}; // committed entries; written by the region's writer only
	// Truncation (issue 14, src/engine/region_truncate.cpp). `rewrites` is bumped (release,
	// under `lock`) by a clear (before anything changes) and by a suffix cut (after it lowered
	// `tail` and `survive_below`, before any byte changes), so bytes an iterator read may be
	// rewritten by later appends. An iterator takes it (acquire) with its position and `epoch`
	// and loads both again after reading a header (the seqlock of `id`). On a change the
	// position survives if the epoch is the same (no clear) and it is at or below
	// `survive_below`, the lowest suffix cut since the last clear (only falls until a clear
	// resets it, after the new epoch is stored); otherwise it is gone (errc::truncated). A
	// prefix cut only moves `first` (release): positions below it are refused, no byte changes.
	std::atomic<uint64_t> rewrites{0};
	std::atomic<uint64_t> survive_below{~uint64_t{0}};
	// A read-only stream following a writer process (docs/design.md 5.4, "Truncation"): the
	// value of the region's sidecar cut slot (sidecar.hpp cut_slot::seq, always even) that the
	// fields above reflect. Stored (release) by the follower after it applied the cuts and
	// bumped `rewrites`; an iterator trusts bytes it read only while the slot still holds it.
	std::atomic<uint64_t> cut_seen{0};
	uint64_t rewrites_after_reads() const noexcept
	{
#if defined(__SANITIZE_THREAD__)
		return rewrites.load(std::memory_order_seq_cst);
#else
		std::atomic_thread_fence(std::memory_order_acquire);
		return rewrites.load(std::memory_order_relaxed);
#endif
	}

	// Skip-corrupt salvage (docs/format.md 8.7): the damaged ranges [first, second) between
	// visible entries, in offset order; null in every other mode. Set once when the stream
	// opens (before readers exist) and never changed: such a stream is read-only and follows
	// no writer.
	std::unique_ptr<const std::vector<std::pair<uint64_t, uint64_t>>> gaps;
	// The position a walk that reached `off` continues at: the end of the gap that starts there.
	uint64_t past_gap(uint64_t off) const noexcept
	{
		auto it = std::lower_bound(gaps->begin(), gaps->end(), off, [](const auto &g, uint64_t o) { return g.first < o; });
		return it != gaps->end() && it->first == off ? it->second : off;
	}
	bool in_gap(uint64_t off) const noexcept
	{
		auto it = std::upper_bound(gaps->begin(), gaps->end(), off, [](uint64_t o, const auto &g) { return o < g.first; });
		return it != gaps->begin() && off < std::prev(it)->second;
	}

	// Where appends must end (lock held): the data area's end, or in a wrapped region the
	// start of the cache line that holds the head lap's first entry (whole-line writes with
	// their zero fill never touch it).
	uint64_t append_end() const noexcept
	{
		if (wrap.load(std::memory_order_relaxed) == 0)
			return data_end.load(std::memory_order_relaxed);
		return first.load(std::memory_order_relaxed) & ~(format::cache_line - 1);
	}
	// The end of the run of committed entries that holds `off` (0: none does): [first, tail),
	// or in a wrapped region [first, wrap) and [data_begin, tail). For lock-free readers a
	// hint that the caller confirms with id and rewrites, as for every position.
	uint64_t entries_end(uint64_t off) const noexcept
	{
		const uint64_t t = tail.load(std::memory_order_acquire);
		const uint64_t f = first.load(std::memory_order_acquire);
		const uint64_t w = wrap.load(std::memory_order_acquire);
		if (w == 0)
			return off >= f && off < t ? t : 0;
		if (off >= f && off < w)
			return w;
		return off >= data_begin.load(std::memory_order_relaxed) && off < t && t <= f ? t : 0;
	}

	bool live() const noexcept
	{
		return id.load(std::memory_order_acquire) != 0;
	}
	// The second read of `id` by a lock-free reader: the reads of the fields before it must
	// not move below it (the reader half of a seqlock: an acquire fence, then the load).
	uint64_t id_after_reads() const noexcept
	{
#if defined(__SANITIZE_THREAD__)
		return id.load(std::memory_order_seq_cst); // ThreadSanitizer does not model fences
#else
		std::atomic_thread_fence(std::memory_order_acquire);
		return id.load(std::memory_order_relaxed);
#endif
	}

	// Guards everything below. Held by a combining append through its batch, briefly by the
	// claim path (to claim space and a timestamp, and to complete), and through their work
	// by the operations that change a region's layout (free, clear, truncation, a
	// transaction's commit), which first wait for the claims in flight (quiesce()).
	detail::region_mutex lock;
	// Appends waiting for the holder of `lock` to write them (a stack, newest first).
	std::atomic<detail::append_request *> requests{nullptr};
	// Requests the next combiner waits for briefly (under `lock`): what the last batch served,
	// plus one when others queued during it. 1: a single appender, no wait. Written under
	// `lock`; read without it (relaxed) by an append deciding whether to skip the queue.
	std::atomic<uint32_t> combine_expect{1};

	// ---- claims (issue 11: concurrent appends to one region, docs/design.md 2.3) ----
	// Every append and reservation claims the region's space in order; claims are
	// *sequenced* (given their timestamps) in the same order, so offsets and timestamps
	// agree (rule E4); their writers fill them in parallel; the visible tail advances over
	// the contiguous run of finished claims. At most max_in_flight claims are outstanding
	// (the ring below has that many slots).
	struct claim {
		enum : uint8_t { claimed, sequenced, filled, failed };
		uint64_t index = 0;  // claims_made when it was made: tells this use of the slot from the next
		uint64_t pos = 0;    // first byte
		uint64_t size = 0;   // bytes claimed (a reservation's may shrink at publish)
		uint64_t ts = 0;     // its entry's timestamp (0 until sequenced)
		uint64_t ts2 = 0;    // a padding entry's after it (a shortened publish), else 0
		uint64_t pos2 = 0;   // where that padding entry starts
		uint64_t owner = 0;  // a reservation: the reserving thread's token; 0: an append
		uint64_t ticket = 0; // a reservation's ticket
		uint64_t capacity = 0; // a reservation's payload bytes
		uint8_t state = claimed;
		bool exclusive = false; // written as whole lines with a zero fill (nothing else in flight)
		bool shown = true;	// its entry is not padding (a cancelled reservation's is)
		bool entries = true;	// it leaves an entry (false: a cancelled last reservation, shrunk to nothing)
	};
	std::unique_ptr<claim[]> claims; // max_in_flight slots, made on first use
	uint64_t claims_made = 0;	 // since the region became live here
	uint64_t claims_sequenced = 0;	 // claims [0, claims_sequenced) have their timestamps
	uint64_t claims_done = 0;	 // claims [0, claims_done) are finished and inside `tail`
	uint64_t claim_end = 0;		 // end of the last claim; `tail` while no claim is outstanding
	uint64_t claim_last_ts = 0;	 // timestamp of the last sequenced claim; `last_ts` while none is outstanding
	uint32_t reservations = 0;	 // reserved and neither published nor cancelled
	uint32_t draining = 0;		 // quiesce() in progress: new claims wait
	// The last exclusive claim in flight and the end of its zero fill: a claim starting
	// before that end waits until it is done (the fill would overwrite it).
	uint64_t exclusive_index = 0, exclusive_fill_end = 0;
	// Bumped (release) whenever claims_sequenced or claims_done move or a quiesce ends;
	// claimers waiting for their turn or for a free slot sleep on it (progress_waiters > 0).
	std::atomic<uint64_t> progress{0};
	std::atomic<uint32_t> progress_waiters{0}; // changed under the lock only
	std::atomic<uint32_t> progress_sleepers{0}; // of those, in FUTEX_WAIT
	bool broken = false; // a claim failed (the medium did): the tail moves no more
	bool outstanding() const noexcept
	{
		return claims_made != claims_done;
	}
	// Forgets the claims (a region becomes live here; nothing is in flight).
	void reset_claims() noexcept
	{
		claims.reset();
		claims_made = claims_sequenced = claims_done = 0;
		reservations = 0;
		exclusive_index = exclusive_fill_end = 0;
		broken = false;
	}

	uint64_t last_ts = 0;	     // timestamp of the last visible entry (0: none)
	// The region's in-flight bound W (span header max_in_flight) and the timestamps of its
	// last W sequenced entries (a ring indexed by `appended`, made on first use): entry k is
	// written only once entry k - W is persisted (docs/format.md rule R3).
	uint32_t max_in_flight = 1;
	std::unique_ptr<uint64_t[]> window;
	uint64_t appended = 0; // entries sequenced since the region became live here
	uint64_t walked = 0;	     // entries in the region, padding included (the checkpoint's count)
	uint64_t last_entry = 0;     // offset of the last entry (0: none); the checkpoint's span_sealed_last
	// The checkpoint persisted in the span header (format.hpp span_slot::sealed_*).
	uint64_t sealed_tail = 0;
	uint64_t sealed_count = 0;
	uint64_t sealed_last_ts = 0;
	detail::tail_line line; // bytes of the tail's cache line before the tail, when line_valid
	// false once an entry written in shared mode (region_writer) is the last behind the tail:
	// whoever next writes from `line` (an exclusive claim, a transaction) reads it again first.
	bool line_valid = true;
	void refresh_line(const std::byte *base) noexcept
	{
		const uint64_t t = tail.load(std::memory_order_relaxed);
		const uint64_t l = t & ~(format::cache_line - 1);
		std::memcpy(line.bytes, base + l, t - l);
		line_valid = true;
	}
};

} // namespace pmemstream

#endif
