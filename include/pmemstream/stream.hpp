// SPDX-License-Identifier: BSD-3-Clause
// The C++ API of pmemstream: a persistent, append-only log over one mapped file, divided into
// regions that hold entries of arbitrary size. The on-media format is in docs/format.md, the
// design (and what later versions add) in docs/design.md.
//
// Durability vocabulary used below:
//  - committed: visible to iterators and accessors of this process;
//  - persisted: survives a crash or power failure.
// Every entry gets a timestamp, unique and increasing across the whole stream (first 1, 0 is
// never valid). committed_timestamp() and persisted_timestamp() are watermarks: every entry
// whose timestamp is <= the watermark is committed / persisted. After a crash the visible
// entries are exactly the entries with timestamps 1..T for some T >= the last persisted
// watermark observed (minus entries of freed regions).
//
// Processes: one writer per file (an exclusive lock, released at close, never inherited by a
// child of fork()); a child of fork() may read through its parent's stream but every write is
// refused with wrong_process. See docs/files-and-processes.md.
//
// Thread safety: a stream may be used from many threads. Appends to different regions run in
// parallel; appends to one region are serialised by a per-region lock (held while the entry
// is written, not while it is persisted). Region allocation and
// free are serialised with each other. Freeing a region while another thread appends to it or
// iterates it is a caller error that the library reports (invalid_handle) rather than
// corrupting anything.
#ifndef PMEMSTREAM_STREAM_HPP
#define PMEMSTREAM_STREAM_HPP

#include <pmemstream/errors.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct pmem2_map;

namespace pmemstream {

// A region, named by the offset of its header in the stream and by its id: unique for the
// stream's life (never reused) and increasing in allocation order. A plain value; every
// function refuses it with invalid_handle once the region is freed, even when another region
// is later allocated at the same offset. A handle with id 0 (built from an offset alone, as
// the C API does) names whatever region lives at the offset.
struct region {
	uint64_t offset = 0;
	uint64_t id = 0;
	friend bool operator==(region, region) = default;
};

// An entry, named by the offset of its header and the id of its region (0: unchecked, as
// above). `ticket` tells a reservation from one that replaced it (reserve()); it is not part
// of the entry's identity.
struct entry {
	uint64_t offset = 0;
	uint64_t region_id = 0;
	uint64_t ticket = 0;
	friend bool operator==(const entry &a, const entry &b) noexcept
	{
		return a.offset == b.offset && a.region_id == b.region_id;
	}
};

// An appended entry and its timestamp (its sequence number in the whole stream). Converts to
// entry.
struct appended : entry {
	uint64_t timestamp = 0;
};

// Per-region volatile state (append position, lock). Obtained from
// stream::get_region_runtime(); passing it to append/reserve/publish skips a lookup. Owned by
// the stream; valid until the stream is destroyed. A runtime of another stream, or of a region
// freed since, is refused with invalid_handle.
class region_runtime;

// A space reserved by reserve(): write up to `size` bytes at `data`, then publish().
struct reservation {
	entry ent;
	void *data = nullptr;
	uint64_t size = 0;
};

// How to treat damage found by recovery at open.
enum class recovery_mode {
	// Any damage inside acknowledged data fails the open with errc::corrupt (default).
	strict,
	// Treat damage like a torn tail: show what precedes it and record it in
	// stream::recovery_report(). Only allowed with read_only (so nothing is discarded).
	salvage,
	// --- fast reopen and repair (issue 14) ---
	// Writable repair: cut each region at its first damage, and drop every entry whose
	// timestamp is above the first timestamp lost (so the visible set stays a prefix);
	// recovery_report() says exactly what was dropped, and the stream then takes appends.
	// With read_only a dry run: the stream shows what the repair would keep, nothing is
	// written.
	point_in_time,
	// --- skip-corrupt salvage (issue 14) ---
	// Like salvage (read_only only, and not with follow), but a region's walk does not end at
	// a damaged entry: it continues at the next valid entry behind it, newer than the last
	// one shown (docs/format.md 8.7). Every range stepped over is in
	// recovery_report::skipped (and problems); iterators, counts and the reader step over it.
	skip_corrupt,
};

// --- fast reopen and repair (issue 14) ---
// How much of the log an open reads and checksums (docs/format.md 8.5).
enum class verify_mode {
	// Start each region's walk at its checkpoint when the checkpoint can be trusted: a clean
	// reopen reads one entry per region, a reopen after a crash what follows the checkpoints.
	checkpoint,
	// Walk and checksum every entry of every region (pmemstream check).
	full,
};
// An append that finds its region this many bytes past its checkpoint writes the
// checkpoints of all regions whose entries are persisted (a span header update each) and
// raises the timestamp floor: a reopen after a crash then reads at most about this much per
// region.
inline constexpr uint64_t default_checkpoint_bytes = uint64_t{32} << 20;

// How a stream makes committed entries persistent in groups (docs/design.md 2.2).
struct commit_policy {
	enum class worker_mode {
		automatic, // a background worker on msync media (files), none on persistent memory
		on,
		off,
	};
	// A background worker persists committed entries of every thread: one msync (or fence)
	// for many entries. On persistent memory the submitting threads usually do better
	// themselves (wait_persisted() drains once for all they submitted).
	worker_mode worker = worker_mode::automatic;
	// The worker persists as soon as this many entries are committed and not persisted,
	// or this many bytes, or when the oldest of them has waited max_delay.
	uint64_t max_entries = 256;
	uint64_t max_bytes = 1 << 20;
	std::chrono::microseconds max_delay{100};
};

// Appends that may be in flight (committed, not yet persisted) per region, for regions
// allocated from now on (the format's max_in_flight, W). An asynchronous append to a region
// with W such entries first persists the oldest. W also bounds the appends and reservations
// of one region being written at once (more threads wait for a slot). Streams created by
// format-2 libraries before this one allow only 1 (they lack the format feature): there the
// appends of one region are written one after another.
inline constexpr uint32_t default_max_in_flight = 64;
inline constexpr uint32_t max_max_in_flight = 4096;

struct open_options {
	// Block size expected by the caller; 0 accepts the one in the header. A non-zero value that
	// differs from the header fails with parameter_mismatch.
	uint64_t block_size = 0;
	// Map the file read-only; nothing is ever written (no recovery writes either).
	bool read_only = false;
	recovery_mode recovery = recovery_mode::strict;
	// Populate the mapping's page tables at open (writable streams), so that appends never
	// take a first-touch page fault; costs time proportional to the stream's size.
	bool prefault = false;
	commit_policy commit{};
	// 1 .. max_max_in_flight; see default_max_in_flight.
	uint32_t max_in_flight = default_max_in_flight;
	// Live readers (issue 12). With read_only: follow the writer process that has the file
	// open, if any (see stream::writer_state); without it a read-only stream is a snapshot of
	// the moment it was opened. invalid_argument without read_only.
	bool follow = false;
	// Fast reopen and repair (issue 14): see verify_mode and default_checkpoint_bytes (0:
	// checkpoints only at a clean close).
	verify_mode verify = verify_mode::checkpoint;
	uint64_t checkpoint_bytes = default_checkpoint_bytes;
};

struct create_options {
	// Total file size in bytes (header included). Must hold the header and one block.
	uint64_t size = 0;
	// Power of two, multiple of 64. Regions start and end on block boundaries.
	uint64_t block_size = 4096;
	// As open_options::prefault, commit and max_in_flight.
	bool prefault = false;
	commit_policy commit{};
	uint32_t max_in_flight = default_max_in_flight;
	uint64_t checkpoint_bytes = default_checkpoint_bytes; // as open_options (issue 14)
};

// One problem found by recovery.
struct recovery_problem {
	uint64_t region_offset = 0; // 0 when not tied to one region
	uint64_t entry_offset = 0;  // 0 when not tied to one entry
	std::string what;
};

// --- fast reopen and repair (issue 14) ---
// What a point_in_time repair dropped from one region.
struct dropped_entries {
	uint64_t region_offset = 0;
	uint64_t offset = 0;	      // where the cut starts: the first dropped (or damaged) entry
	uint64_t entries = 0;	      // valid entries dropped (padding not counted)
	uint64_t first_timestamp = 0; // of the valid entries dropped (0: none)
	uint64_t last_timestamp = 0;
	bool damaged = false; // the region was cut at damage (else only above the repaired prefix)
	std::string why;
};

// --- skip-corrupt salvage (issue 14) ---
// A damaged range of a region that a skip_corrupt open stepped over: [offset, offset + bytes);
// the entry at offset + bytes is valid and shown.
struct skipped_range {
	uint64_t region_offset = 0;
	uint64_t offset = 0;
	uint64_t bytes = 0;
	std::string why;
};

// What recovery found and did at open.
struct recovery_report {
	uint64_t regions = 0;
	uint64_t entries = 0;		 // visible entries
	// Regions whose entries end at bytes that are neither zero nor a valid entry: a torn write,
	// or bytes left over from an earlier region in the same space. Either way nothing is lost.
	// A region whose entries end at damage (a problem below) is not counted here.
	uint64_t torn_tails = 0;
	uint64_t trimmed_entries = 0;	 // complete entries hidden to keep the timestamp prefix
	// Read-only opens: a writer had the stream open, or appended while the open read it. The
	// entries shown are still a timestamp prefix (with a torn tail or hidden entries where
	// the walk met appends in progress); if the stream kept changing, the checks that cannot
	// tell appends from loss were left out (docs/format.md 8.4).
	bool live_writer = false;
	std::vector<recovery_problem> problems; // corruption (only non-empty in salvage and skip_corrupt modes)
	// --- fast reopen and repair (issue 14) ---
	uint64_t checkpointed_regions = 0; // regions whose walk started at a trusted checkpoint
	// point_in_time: what the repair removed, one element per region that lost entries.
	std::vector<dropped_entries> dropped;
	uint64_t repair_cut = 0; // point_in_time: every entry kept has a timestamp <= this
	// --- skip-corrupt salvage (issue 14) ---
	std::vector<skipped_range> skipped; // skip_corrupt: the damaged ranges stepped over
};

// Facts about a stream, for tools.
struct stream_info {
	uint64_t format_version = 0;
	uint64_t size = 0;	    // bytes of the mapping
	uint64_t block_size = 0;
	uint64_t arena_offset = 0;  // first byte of the region space
	uint64_t arena_size = 0;
	uint64_t region_count = 0;
	uint64_t allocated_bytes = 0; // bytes of the arena held by regions (headers included)
	uint64_t free_bytes = 0;      // bytes of the arena in free spans
	uint64_t largest_free = 0;    // largest region size (usable bytes) that can be allocated now
	uint64_t committed_timestamp = 0;
	uint64_t persisted_timestamp = 0;
	bool read_only = false;
};

class stream;

// Walks the committed entries of one region in append order. Obtained from
// stream::entries(). Sees entries committed after it was created (tailing). Lock-free: it
// reads the region's tail and the committed watermark, never a lock. Becomes invalid for good
// when its region is freed.
class entry_iterator {
public:
	// Positions at the region's first entry.
	void seek_first();
	// Positions at `e`, which must be a committed entry of this region (invalid_handle
	// otherwise; the position is then unchanged).
	[[nodiscard]] status seek(const entry &e);
	// Positions at the first entry with a timestamp >= ts (at the end if there is none:
	// is_valid() then turns true when such an entry is committed). Walks the region from its
	// start: O(entries before it).
	void seek_timestamp(uint64_t ts);
	// True when get() names a committed entry.
	bool is_valid() const;
	// Moves to the next entry (after the last one is_valid() becomes false; a later append
	// makes it valid again at the new entry).
	void next();
	entry get() const;

	// Range-for support.
	struct sentinel {
	};
	class iter {
	public:
		entry operator*() const
		{
			return it_->get();
		}
		iter &operator++()
		{
			it_->next();
			return *this;
		}
		bool operator==(sentinel) const
		{
			return !it_->is_valid();
		}

	private:
		friend class entry_iterator;
		explicit iter(entry_iterator *it) : it_(it)
		{
		}
		entry_iterator *it_;
	};
	iter begin()
	{
		return iter(this);
	}
	sentinel end() const
	{
		return {};
	}

	// The region walked.
	region get_region() const;
	// ok, or errc::truncated when a clear or truncation of the region removed the position
	// since it was taken (is_valid() is then false; seek again). (issue 14: truncation)
	[[nodiscard]] status position_status() const;

	// ---- live readers (issue 12, docs/design.md 5.4) ----
	// Ok when get() names a committed entry; otherwise why not: invalid_handle (past the
	// last committed entry: a later append makes it valid), region_freed (the region was
	// freed: for good), writer_gone (a read-only stream whose writer closed, died or was
	// replaced: open the stream again).
	[[nodiscard]] status check() const;
	// Blocks until is_valid() (the region's next entry is committed and, in a read-only
	// stream following a writer process, taken in), at most `timeout`: spins briefly, then
	// sleeps in the kernel (FUTEX_WAIT on the committed watermark; the writer wakes sleepers
	// only when one is registered). Errors: timed_out (also when a signal interrupts the
	// sleep), region_freed, writer_gone (also at once in a read-only stream that follows no
	// writer), wrong_process (a child of fork()). A zero timeout only checks. One thread.
	[[nodiscard]] status wait_for(std::chrono::nanoseconds timeout);

private:
	friend class stream;
	friend class stream_reader;
	entry_iterator(const stream *s, const region_runtime *rt, uint64_t id);
	// The timestamp of the committed entry at the position (0 if none), skipping padding.
	uint64_t head_timestamp() const;
	bool cut() const noexcept; // truncation: the position was removed
	bool lap_gone() const noexcept; // its lap dropped, or before the first entry
	const stream *s_;
	const region_runtime *rt_;
	uint64_t id_;
	mutable uint64_t offset_ = 0;	  // current entry offset
	mutable uint64_t valid_size_ = 0; // footprint of the entry at offset_ once seen committed; 0: unknown
	mutable uint64_t valid_ts_ = 0;	  // and its timestamp
	uint64_t min_ts_ = 0;		  // seek_timestamp(): entries below it are stepped over
	// Truncation (issue 14): region_runtime::rewrites when the position was taken, and the
	// epoch of the position's lap (a wrapped region's two laps have their own).
	mutable uint64_t rewrites_ = 0;
	mutable uint64_t epoch_ = 0;
	// A cursor of a stream_reader: the reader polls a following stream's writer once per step
	// itself, so that the watermark holds still while it places its cursors (issue 12).
	bool in_reader_ = false;
};

// Walks live regions in allocation order.
class region_iterator {
public:
	void seek_first();
	bool is_valid() const;
	void next();
	region get() const;

	struct sentinel {
	};
	class iter {
	public:
		region operator*() const
		{
			return it_->get();
		}
		iter &operator++()
		{
			it_->next();
			return *this;
		}
		bool operator==(sentinel) const
		{
			return !it_->is_valid();
		}

	private:
		friend class region_iterator;
		explicit iter(region_iterator *it) : it_(it)
		{
		}
		region_iterator *it_;
	};
	iter begin()
	{
		return iter(this);
	}
	sentinel end() const
	{
		return {};
	}

private:
	friend class stream;
	explicit region_iterator(const stream *s);
	const stream *s_;
	region current_{}; // id 0 = none
};

// Reads the committed entries of every region merged into one timestamp order: what a replay
// of the whole stream needs. Obtained from stream::reader(). Follows the stream: entries
// committed later, and regions allocated later, appear in order; a freed region's entries stop
// appearing. Not thread-safe (one reader per thread); many readers may run at once.
class stream_reader {
public:
	stream_reader(stream_reader &&) noexcept;
	stream_reader &operator=(stream_reader &&) noexcept;
	~stream_reader();

	// Positions at the entry with the smallest timestamp.
	void seek_first();
	// Positions at the first entry with a timestamp >= ts (O(entries before it)).
	void seek_timestamp(uint64_t ts);
	// True when get() names a committed entry. A reader past the end turns valid when the
	// next entry in timestamp order is committed.
	bool is_valid();
	// Moves to the entry with the next larger timestamp.
	void next();
	entry get() const;
	uint64_t timestamp() const;
	region get_region() const;

	// ---- live readers (issue 12) ----
	// Ok when on a committed entry; else invalid_handle (past the end) or writer_gone, as
	// entry_iterator::check().
	[[nodiscard]] status check();
	// Blocks until is_valid(), as entry_iterator::wait_for() (no region_freed: a freed
	// region's entries just stop appearing).
	[[nodiscard]] status wait_for(std::chrono::nanoseconds timeout);

private:
	friend class stream;
	explicit stream_reader(const stream *s);
	struct state;
	std::unique_ptr<state> st_;
};

// ---- transactions (issue 13, docs/design.md 2.4) ----
// Members a transaction holds at most (appends, and region allocations and frees).
inline constexpr uint64_t max_tx_members = 4096;
namespace detail {
struct tx_state;
}
// What an entry's header says about transactions (stream::entry_tx): whether it is a member
// of one, and whether the last. The members of a transaction have consecutive timestamps, the
// last one ending the block.
struct tx_membership {
	bool member = false;
	bool last = false;
};

// A group of appends to any regions of one stream that becomes visible and durable all at
// once: after commit() returns, every member is persisted; after a crash at any moment, either
// every member is there or none is. Readers (iterators, stream_reader, reader processes) never
// see part of a committed transaction: its entries get one block of consecutive timestamps
// and the committed watermark passes the whole block in one step. The members are buffered
// (copied) in the transaction and written only by commit(), all of them with one fence.
// Obtained from stream::begin_transaction(). Movable, not copyable; not thread-safe (one thread
// at a time); must not outlive its stream. Destroying an uncommitted transaction aborts it.
class transaction {
public:
	transaction(transaction &&) noexcept;
	transaction &operator=(transaction &&) noexcept; // aborts the transaction it replaces
	~transaction();

	// Adds an entry to append to region r (entries of one region keep the order of these
	// calls). Checks what it can now: errors invalid_handle (r is not a live region of the
	// stream), entry_too_large, region_full (r has no room left for this entry after the
	// transaction's earlier entries for r), tx_too_large (max_tx_members), tx_finished,
	// read_only, wrong_process. A refused member leaves the transaction as it was.
	[[nodiscard]] status append(region r, std::span<const std::byte> data);
	[[nodiscard]] status append(region r, const void *data, uint64_t size)
	{
		return append(r, std::span<const std::byte>(static_cast<const std::byte *>(data), size));
	}
	// Adds a region allocation: the region (at least `size` usable bytes) is set aside now and
	// exists once the commit returns, or never. The handle returned names it for append() of
	// this transaction at once, and for everything else after the commit. Errors:
	// invalid_argument (0), out_of_space, tx_too_large, tx_finished, read_only, wrong_process.
	[[nodiscard]] result<region> region_allocate(uint64_t size);
	// Adds a region free: the region and its entries go when the commit returns, or stay.
	// Errors: invalid_handle, invalid_argument (the region holds entries of this transaction,
	// is freed by it already, or is allocated by it: abort instead), tx_too_large, tx_finished,
	// read_only, wrong_process. Appends to it by this transaction are refused afterwards.
	[[nodiscard]] status region_free(region r);
	// Writes every member and returns the timestamp of the last one once all are committed and
	// persisted (with one fence on persistent memory). The transaction is finished afterwards,
	// whatever the outcome. An empty transaction writes nothing and returns the committed
	// watermark once it is persisted. Errors: those of append() checked again (the room of a
	// region may have gone to other appends since: region_full), busy (a reservation is outstanding in a member's
	// region), media_failed, timestamps_exhausted, tx_finished; on an error nothing of the
	// transaction is visible, now or after a reopen.
	[[nodiscard]] result<uint64_t> commit();
	// A transaction with allocations or frees writes their span headers too (two fences each,
	// and their completion after the members are persisted). Without entries it appends a
	// 16-byte padding entry (shown to nobody) to an allocated region, or to a freed one, to
	// commit by: region_full if none has room.
	// commit() that returns once the members are committed (visible), without waiting for them
	// to be persisted: pass the timestamp to stream::wait_persisted() (or persist()). After a
	// crash before that, the transaction is there whole or not at all. A transaction with
	// allocations or frees waits for persistence anyway.
	[[nodiscard]] result<uint64_t> async_commit();
	// Drops every member; nothing was written. Idempotent; the transaction is finished.
	void abort() noexcept;
	// Members held; whether the transaction still takes members (neither committed nor aborted).
	uint64_t size() const noexcept;
	bool active() const noexcept;

private:
	friend class stream;
	using state = detail::tx_state;
	explicit transaction(std::unique_ptr<state> st);
	result<uint64_t> finish(bool async);
	std::unique_ptr<state> st_;
};

class stream {
public:
	// Creates the file `path` holding a stream of options.size bytes, preallocated (never
	// sparse), and opens it for writing. Exclusive: of two concurrent creates exactly one wins,
	// the other gets exists or busy. An existing file is adopted only if it holds nothing but
	// zeroes and is not larger than options.size (it is grown to it). A failed create removes
	// the file it made (or gives an adopted file its size back). Errors: invalid_argument (size,
	// block size, a larger all-zero file, a FIFO or device), exists (a stream or other data is
	// there), busy (another process is creating or writing it), io_error (e.g. no space).
	// Durability: on success the header is persisted. docs/files-and-processes.md has more.
	[[nodiscard]] static result<std::unique_ptr<stream>> create(const std::string &path, const create_options &options);

	// Opens an existing stream file. Errors: io_error (missing file, mapping failed),
	// not_a_stream, version_mismatch, parameter_mismatch, corrupt. Recovery (docs/format.md)
	// trims a torn tail; in writable mode it persists the trim so it is final.
	[[nodiscard]] static result<std::unique_ptr<stream>> open(const std::string &path, const open_options &options = {});

	// Creates (over an all-zero mapping) or opens a stream over a caller's libpmem2 mapping.
	// block_size must be a power of two and a multiple of 64 and, when opening, equal the
	// header's. The mapping must outlive the stream.
	[[nodiscard]] static result<std::unique_ptr<stream>> from_map(struct pmem2_map *map, uint64_t block_size, const open_options &options = {});

	// Destroying a writable stream records a clean shutdown (persists the watermark and
	// each region's tail) so the next open can tell corruption from a torn tail.
	~stream();
	stream(const stream &) = delete;
	stream &operator=(const stream &) = delete;

	// ---- regions ----
	// Allocates a region with at least `size` usable bytes (rounded up so the region, with its
	// 256-byte header, fills whole blocks). Errors: invalid_argument (0), out_of_space,
	// read_only, wrong_process. Durability: the region is persisted on return. Space just
	// freed is handed out last, so an offset-only handle of a freed region does not name a
	// new one at once (region ids never repeat).
	[[nodiscard]] result<region> region_allocate(uint64_t size);
	// Frees a region and all its entries. Waits for the appends in progress in the region;
	// appends that come later fail with invalid_handle. Errors: invalid_handle, read_only,
	// wrong_process, busy (a reservation is outstanding in the region: publish or cancel it
	// first). Durability: persisted on return.
	[[nodiscard]] status region_free(region r);
	// Usable bytes of the region (what entries can occupy in all).
	[[nodiscard]] result<uint64_t> region_size(region r) const;
	// Bytes still free for appends. An entry of n bytes needs 16 + n rounded up to 8. In a
	// stream with rings, the space before the first entry of a region that can wrap counts
	// too (an entry must fit in one of the two parts: after the tail, or before the first
	// entry's cache line).
	[[nodiscard]] result<uint64_t> region_usable_size(region r) const;
	// Number of committed entries in the region.
	[[nodiscard]] result<uint64_t> region_entry_count(region r) const;
	[[nodiscard]] result<region_runtime *> get_region_runtime(region r);
	region_iterator regions() const;

	// ---- truncation (issue 14: region clear, prefix and suffix truncation) ----
	// docs/format.md 5 ("Writes that change the layout") and docs/design.md 5.5. Each call waits
	// for an append in progress in the region, persists the region's entries, raises the
	// timestamp floor over them (so the dropped timestamps are legitimately absent and never
	// handed out again) and then makes the cut with one atomic span-header update or one
	// zeroed entry header. Durability: persisted on return; a crash at any point shows the
	// region either as before or as after the call. Entries of other regions are untouched.
	// Live iterators of this process positioned on a dropped entry stop (is_valid() false) and
	// entry_iterator::position_status() says errc::truncated; a stream_reader steps over the
	// dropped entries by itself. Entry handles of dropped entries are refused (invalid_handle),
	// except that after a clear or a suffix cut a later append may put a new entry at the
	// same offset, which an old handle then names (as after a free and a reallocation).
	// Errors of all four: invalid_handle, read_only, wrong_process, busy (a reservation is
	// outstanding in the region), media_failed, out_of_space (clear only: epochs exhausted).
	//
	// Removes every entry of the region in O(1) (no zeroing of its data): the region gets a
	// new checksum epoch and keeps its id, its size and its place in region order; its whole
	// space is free for appends again. Returns the number of entries dropped.
	[[nodiscard]] result<uint64_t> region_clear(region r);
	// Prefix truncation: removes every entry of the region before `e` (a committed entry of
	// the region) with one span-header update; `e` becomes the first. Returns the number of
	// entries dropped. The space before `e` is reused: once an append no longer fits after the
	// region's last entry, the region wraps and goes on at its start, before `e` (streams
	// created by this version; docs/design.md 5.5). invalid_handle when `e` is not a committed
	// entry of the region.
	[[nodiscard]] result<uint64_t> region_truncate_before(region r, const entry &e);
	// Prefix truncation by timestamp: removes every entry with a timestamp below `ts`; when
	// that is every entry, the region is cleared (its space reused). Walks the region's
	// entry headers up to the cut (O(entries dropped)); the cut itself is O(1).
	[[nodiscard]] result<uint64_t> region_truncate_before_timestamp(region r, uint64_t ts);
	// Suffix truncation: removes every entry of the region after `e` (a committed entry of the
	// region), as a raft follower whose log diverged needs; appends continue right after `e`
	// with new timestamps (above every timestamp handed out so far, also those of the dropped
	// entries). Returns the number of entries dropped.
	[[nodiscard]] result<uint64_t> region_truncate_after(region r, const entry &e);
	// ---- end of truncation ----

	// ---- entries ----
	// Any number of threads may append to one region at once (docs/design.md 2.3): appends
	// that meet queue up and whichever thread holds the region's lock writes them together,
	// with one fence per batch; entries of a region lie in timestamp order.
	//
	// Appends one entry; returns it with its timestamp once it is committed and persisted (and
	// every entry with a smaller timestamp is too). Errors: invalid_handle (also for a runtime
	// of another stream or region, or a region freed meanwhile), region_full, entry_too_large,
	// read_only, wrong_process (a child after fork()), busy (this thread has an outstanding
	// reservation in the region: publish or cancel it first), media_failed,
	// timestamps_exhausted. An append behind another thread's outstanding reservation in the
	// region waits until that one is published or cancelled.
	[[nodiscard]] result<appended> append(region r, std::span<const std::byte> data, region_runtime *rt = nullptr);
	[[nodiscard]] result<appended> append(region r, const void *data, uint64_t size, region_runtime *rt = nullptr)
	{
		return append(r, std::span<const std::byte>(static_cast<const std::byte *>(data), size), rt);
	}
	// Reserves `size` bytes at the end of the region for the caller to fill, then publish()
	// or cancel(). Several reservations may be outstanding in a region, one per thread: a
	// second reserve() by the same thread in the same region cancels its first, whose handle
	// publish() then refuses with invalid_handle (a C++ handle carries its ticket; an
	// offset-only handle cannot be told from a new one at the same offset). The entry takes
	// its timestamp when it is published, after every entry claimed before it in the region;
	// entries claimed after it become visible only once it is published or cancelled, so
	// publish promptly. A reservation that is never published leaves no trace after a reopen.
	[[nodiscard]] result<reservation> reserve(region r, uint64_t size, region_runtime *rt = nullptr);
	// Publishes a reserved entry with `size` (<= the reserved size) bytes. Returns its
	// timestamp once it is committed and persisted. The unused rest of the reservation is
	// given back when nothing was claimed after it, else it becomes a padding entry (never
	// shown). Waits for reservations claimed before it in the region to be published or
	// cancelled. Errors: invalid_handle (not an outstanding reservation), invalid_argument
	// (size above the reservation), and those of append().
	[[nodiscard]] result<uint64_t> publish(region r, const entry &e, uint64_t size, region_runtime *rt = nullptr);
	// Gives up a reservation: its space is given back, or becomes a padding entry when
	// something was claimed after it. Errors: invalid_handle (not an outstanding
	// reservation), read_only, wrong_process, media_failed.
	[[nodiscard]] status cancel(region r, const entry &e, region_runtime *rt = nullptr);

	// ---- asynchronous appends (docs/design.md 2.2) ----
	// Writes the entry and commits it (iterators and readers see it) without waiting for it
	// to be persisted; returns it with its timestamp. wait_persisted(timestamp) or persist()
	// make it durable, as does the commit worker (commit_policy). After a crash the visible
	// entries are still a timestamp prefix: a committed entry that was not persisted may be
	// gone, and then so is every entry with a larger timestamp that was not persisted either.
	// At most max_in_flight entries of one region wait for persistence at once; the one after
	// persists the oldest first (back-pressure, never an error). Errors: those of append().
	[[nodiscard]] result<appended> async_append(region r, std::span<const std::byte> data, region_runtime *rt = nullptr);
	[[nodiscard]] result<appended> async_append(region r, const void *data, uint64_t size, region_runtime *rt = nullptr)
	{
		return async_append(r, std::span<const std::byte>(static_cast<const std::byte *>(data), size), rt);
	}
	// publish() without waiting for persistence: returns the timestamp once committed.
	[[nodiscard]] result<uint64_t> async_publish(region r, const entry &e, uint64_t size, region_runtime *rt = nullptr);

	// Blocks until every entry with a timestamp <= ts is committed / persisted: spins briefly,
	// then sleeps in the kernel (a futex on the watermark). wait_persisted makes the entries
	// persistent itself if nobody else is doing it (on persistent memory a fence orders only
	// the flushes of its own thread, so it flushes other threads' entries again). Errors:
	// invalid_argument (ts was not handed out yet), timed_out, media_failed. A zero timeout
	// checks without spinning, sleeping or persisting anything (poll_persisted() persists).
	static constexpr std::chrono::nanoseconds forever = std::chrono::nanoseconds::max();
	[[nodiscard]] status wait_committed(uint64_t ts, std::chrono::nanoseconds timeout = forever) const;
	[[nodiscard]] status wait_persisted(uint64_t ts, std::chrono::nanoseconds timeout = forever);
	// Never blocks: true when every entry up to ts is persisted. Otherwise starts persisting
	// them when no other thread is (so polling alone completes the work) and returns false.
	[[nodiscard]] bool poll_persisted(uint64_t ts);
	// Persists every entry committed so far; returns the persisted watermark.
	[[nodiscard]] result<uint64_t> persist();

	// Accessors of a committed entry. invalid_handle for anything that is not one (also for an
	// entry of a region freed since). Lock-free. An entry handle is checked structurally (it
	// lies in a live region, on an 8-byte boundary below the committed tail, and its header
	// fits and is committed), not by its checksum: see docs/design.md "Limits".
	[[nodiscard]] result<std::span<const std::byte>> entry_data(const entry &e) const;
	[[nodiscard]] result<uint64_t> entry_size(const entry &e) const;
	[[nodiscard]] result<uint64_t> entry_timestamp(const entry &e) const;
	// Region holding the entry.
	[[nodiscard]] result<region> entry_region(const entry &e) const;
	// Iterator over the region's committed entries; invalid_handle for a bad region.
	[[nodiscard]] result<entry_iterator> entries(region r) const;
	// Reader over the committed entries of all regions in timestamp order.
	stream_reader reader() const;

	// ---- watermarks ----
	uint64_t committed_timestamp() const noexcept;
	uint64_t persisted_timestamp() const noexcept;
	// The last timestamp handed out (committed or not).
	uint64_t last_timestamp() const noexcept;
	// Waits until the writer's committed watermark reaches `ts` or `timeout_ns` nanoseconds
	// pass (or a signal arrives), and returns the watermark then (below ts when it did not get
	// there). Spins briefly, then sleeps in the kernel (FUTEX_WAIT); the writer pays for the
	// wake-up only while someone waits. In the writer's process this is committed_timestamp().
	// A read-only stream waits on the watermark that a writer in another process publishes in
	// its readers' sidecar (docs/design.md 5.4) and returns that one, which may be above this
	// stream's own committed_timestamp(): a snapshot (opened without follow) needs a new open
	// to see the entries above it, a following stream takes them in before it returns (but see
	// wait_for(), which also reports a writer that went). Without a live writer it sleeps
	// until the timeout and returns committed_timestamp().
	// Thread-safe.
	uint64_t wait_for_commit(uint64_t ts, uint64_t timeout_ns) const noexcept;

	// ---- transactions (issue 13) ----
	// Starts a transaction (see class transaction). Nothing is written until its commit.
	// Errors: read_only, wrong_process, media_failed (the stream refuses writes),
	// version_mismatch (a stream created by a library without transactions: its format lacks
	// the feature bit that keeps such libraries from misreading one).
	[[nodiscard]] result<transaction> begin_transaction();
	// Transaction membership of a committed entry. Errors: invalid_handle (as entry_data()).
	// Lock-free.
	[[nodiscard]] result<tx_membership> entry_tx(const entry &e) const;

	stream_info info() const;
	const recovery_report &recovery() const noexcept;
	bool read_only() const noexcept;

	// ---- live readers: one writer process, many reader processes (issue 12) ----
	// A stream opened with read_only and follow while a writer process has the file follows
	// that writer: its
	// iterators, readers and accessors see the entries the writer commits, in place (no
	// reopen), each checked as recovery checks entries and bounded by the committed
	// watermark the writer publishes in its readers' sidecar; regions the writer allocates
	// appear, regions it frees end their iterators with region_freed. A reader never writes to
	// the stream file. When the writer goes (closes, dies, or a new writer takes the file
	// over) every step of the stream reports writer_gone: open it again (entries shown before
	// are never taken back by the new writer's recovery, which keeps every committed entry a
	// killed process left).
	enum class writer_state {
		self,	   // this stream is the writer
		following, // read-only, following a writer that holds the file now
		gone,	   // read-only, its writer closed, died or was replaced: reopen to go on
		none,	   // read-only, a snapshot: opened without follow, or no writer was live at open
	};
	// Checks the writer's lock (a syscall) for a following stream. Thread-safe.
	writer_state writer() const noexcept;
	// wait_for(next_entry, ...): any entry above the watermark at the call.
	static constexpr uint64_t next_entry = 0;
	// Blocks until the entry with timestamp ts (and every one before it) is visible to this
	// stream's iterators, at most `timeout`; spins briefly, then FUTEX_WAIT (no CPU while
	// idle). Works in the writer's process and in read-only streams following a writer.
	// Errors: timed_out (also for a signal), writer_gone (the writer went, or a read-only
	// stream follows none), wrong_process (a child of fork()). Thread-safe.
	[[nodiscard]] status wait_for(uint64_t ts, std::chrono::nanoseconds timeout = forever) const;

	class impl;

private:
	friend class entry_iterator;
	friend class region_iterator;
	friend class stream_reader;
	friend class transaction;
	explicit stream(std::unique_ptr<impl> p);
	std::unique_ptr<impl> impl_;
};

// Format constants users may need for sizing.
inline constexpr uint64_t entry_header_size = 16;
inline constexpr uint64_t region_header_size = 256;
inline constexpr uint64_t max_entry_size = 0xFFFFFFFFull;

// Bytes of region space an entry of `size` payload bytes consumes.
constexpr uint64_t entry_footprint(uint64_t size) noexcept
{
	return (entry_header_size + size + 7) & ~uint64_t(7);
}

} // namespace pmemstream

#endif // PMEMSTREAM_STREAM_HPP
