// SPDX-License-Identifier: BSD-3-Clause
// A raft log, term and vote, and snapshot kept in one pmemstream file, over the public API
// only (include/pmemstream/stream.hpp). Nothing here depends on libraft: raft_io.cpp adapts
// it to struct raft_io. docs/replication.md describes the layout; in short:
//
//  region 0, 1  "meta":  (term, vote) records of 24 bytes; the record with the largest stream
//               timestamp over both regions wins. When the active region is full the other
//               is cleared and written, so a crash between the clear and the append still
//               leaves the previous record in the full one.
//  region 2, 3  "snap":  one snapshot record each (index, term, configuration, data); the one
//               with the larger raft index wins. snapshot_put clears and writes the older.
//  region 4...  "log":   raft entries, in raft index order across regions in allocation
//               order. Each stream entry is one raft entry: a 24-byte frame (index, term,
//               type, magic) and then the raft payload. New regions ("segments") are
//               allocated when the last is full. truncate(i) frees whole segments from the
//               back and cuts the last one with region_truncate_after; compaction frees whole
//               segments from the front and cuts with region_truncate_before.
//
// Durability: every mutating call returns once its effect is persisted; a crash at any point
// leaves a state that load() accepts: a prefix of an append batch, a truncation done or not,
// a snapshot written or not (and when written, compaction done or not).
//
// Not thread-safe: one thread (the raft loop) uses a store.
#ifndef PMEMSTREAM_REPLICATION_RAFT_STORE_HPP
#define PMEMSTREAM_REPLICATION_RAFT_STORE_HPP

#include <pmemstream/stream.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pmemstream::replication {

inline constexpr uint32_t log_frame_magic = 0x4c544652; // "RFTL"
inline constexpr uint64_t log_frame_size = 24;

// A raft entry as handed to append(); data is copied into the stream.
struct log_record {
	uint64_t index = 0;
	uint64_t term = 0;
	uint16_t type = 0; // raft's RAFT_COMMAND / RAFT_BARRIER / RAFT_CHANGE
	std::span<const std::byte> data;
};

// A member of a configuration, as kept in a snapshot record.
struct member {
	uint64_t id = 0;
	uint32_t role = 0;
	std::string address;
	friend bool operator==(const member &, const member &) = default;
};

struct snapshot_record {
	uint64_t index = 0;
	uint64_t term = 0;
	uint64_t conf_index = 0;
	std::vector<member> conf;
	std::vector<std::byte> data;
};

struct store_options {
	uint64_t size = 64ull << 20;	  // file size for create()
	uint64_t segment_size = 4ull << 20; // usable bytes of a log segment
	uint64_t meta_size = 16ull << 10;   // usable bytes of each meta region
	uint64_t snapshot_size = 1ull << 20; // usable bytes of each snapshot region
	// Compaction inside a segment with region_truncate_before (true: the entries before the
	// snapshot's trailing window go at once), or only by freeing whole segments, keeping the
	// entries of the segment that holds the cut (false).
	bool prefix_cut = true;
};

class raft_store {
public:
	// Creates a new store file (a stream holding the four fixed regions, made under a
	// temporary name and renamed into place, so a crash never leaves a half-made store).
	// Errors: those of stream::create and region_allocate.
	[[nodiscard]] static result<std::unique_ptr<raft_store>> create(const std::string &path, const store_options &o = {});
	// Opens and loads a store: finds the newest (term, vote) and snapshot, walks the log
	// segments and checks that the raft indexes are contiguous (errc::corrupt otherwise).
	// Finishes an interrupted snapshot install (log entries that contradict the snapshot
	// are dropped). Errors: those of stream::open, corrupt, invalid_argument (not a store).
	[[nodiscard]] static result<std::unique_ptr<raft_store>> open(const std::string &path, const store_options &o = {});

	uint64_t term() const noexcept
	{
		return term_;
	}
	uint64_t vote() const noexcept
	{
		return vote_;
	}
	// Persists (term, vote). Errors: those of stream::append.
	[[nodiscard]] status set_term_vote(uint64_t term, uint64_t vote);

	// Index of the first entry in the log (when empty: last_index() + 1).
	uint64_t first_index() const noexcept
	{
		return first_index_;
	}
	uint64_t last_index() const noexcept
	{
		return first_index_ + entries_.size() - 1;
	}
	uint64_t entry_count() const noexcept
	{
		return entries_.size();
	}
	// The entry with raft index i (first_index() <= i <= last_index()). Its data points into
	// the mapped stream and stays valid until a truncation or compaction removes the entry.
	result<log_record> entry(uint64_t i) const;

	// Appends records with indexes last_index()+1, +2, ...; returns once all are persisted.
	// invalid_argument when an index does not follow. A crash persists a prefix of them.
	[[nodiscard]] status append(std::span<const log_record> records);
	// append() without the wait: the records are committed (entry() sees them) and the
	// returned stream timestamp (0 for no records) is what persist_through() waits for.
	// A crash before that loses a suffix of them (a timestamp prefix survives).
	[[nodiscard]] result<uint64_t> append_nowait(std::span<const log_record> records);
	[[nodiscard]] status persist_through(uint64_t ts);
	// Removes the entries with index >= i.
	[[nodiscard]] status truncate(uint64_t i);
	// Stores the snapshot, then keeps only entries with index > snapshot.index - trailing
	// (trailing 0: the snapshot replaces the whole log, as an install from the leader).
	[[nodiscard]] status put_snapshot(const snapshot_record &s, uint64_t trailing);
	const std::optional<snapshot_record> &snapshot() const noexcept
	{
		return snapshot_;
	}

	// Number of log segments (regions) in use: for tests and status.
	uint64_t segment_count() const noexcept
	{
		return segs_.size();
	}
	pmemstream::stream &stream() noexcept
	{
		return *s_;
	}

private:
	struct segment {
		pmemstream::region r;
		pmemstream::region_runtime *rt = nullptr;
		uint64_t first = 0; // raft index of its first entry
		uint64_t count = 0;
	};
	raft_store() = default;
	status load();
	status drop_prefix(uint64_t keep_from);
	status write_snapshot(const snapshot_record &s);
	result<segment> new_segment(uint64_t min_bytes);

	std::unique_ptr<pmemstream::stream> s_;
	store_options o_;
	pmemstream::region meta_[2]{};
	pmemstream::region snap_[2]{};
	unsigned meta_active_ = 0;
	unsigned snap_newest_ = 0; // region of snapshot_ (valid when snapshot_)
	uint64_t term_ = 0, vote_ = 0;
	std::optional<snapshot_record> snapshot_;
	std::deque<segment> segs_;
	std::deque<pmemstream::entry> entries_; // entries_[k] has index first_index_ + k
	uint64_t first_index_ = 1;
};

// Frame a record (without its data) / parse a stream entry's bytes; parse gives nullopt for
// bytes that are not a framed raft entry.
void encode_frame(const log_record &r, std::byte out[log_frame_size]) noexcept;
std::optional<log_record> decode_frame(std::span<const std::byte> bytes) noexcept;

} // namespace pmemstream::replication

#endif
