// SPDX-License-Identifier: BSD-3-Clause
// Every persistent structure and constant of the stream format. docs/format.md describes the
// same bytes in prose, with the validity rules and the recovery algorithm; keep both in step.
// All fields are little-endian fixed-width integers (x86-64 and aarch64 are little-endian;
// the static_assert below refuses to build elsewhere).
#ifndef PMEMSTREAM_FORMAT_HPP
#define PMEMSTREAM_FORMAT_HPP

#include <bit>
#include <cstddef>
#include <cstdint>

namespace pmemstream::format {

static_assert(std::endian::native == std::endian::little, "the format is little-endian");

inline constexpr uint64_t cache_line = 64;
inline constexpr uint64_t version = 2;

// "PMSTREAM" as a little-endian u64 for a complete header, "PMSINIT\0" while being created.
inline constexpr uint64_t magic_ready = 0x4D41455254534D50ull;	   // "PMSTREAM"
inline constexpr uint64_t magic_initialising = 0x0054494E49534D50ull; // "PMSINIT\0"

inline constexpr uint64_t min_block_size = 64;
// Larger blocks buy nothing (regions are at least one block) and keep every size computation
// far from overflow: header_area + 2 blocks fits in 2^31.
inline constexpr uint64_t max_block_size = uint64_t{1} << 30;
inline constexpr uint64_t header_area = 4096; // the arena starts at align_up(4096, block_size)

// Offset 0: written once at creation.
struct stream_header {
	uint64_t magic;
	uint64_t version;
	uint64_t block_size;
	uint64_t stream_size;  // bytes of the stream (the mapping may be larger)
	uint64_t arena_offset; // first span header
	uint64_t arena_size;
	// Features a reader must understand to read the stream (incompat_*): a
	// library that meets an unknown bit refuses the stream with version_mismatch, so later
	// additions (transactions) need no new format version.
	uint64_t incompat_features;
	uint64_t reserved[8];  // zero
	uint32_t reserved32;   // zero
	uint32_t checksum;     // crc32c of bytes [8, 124) (the magic is excluded, see open)
};
static_assert(sizeof(stream_header) == 128);
// Regions may have max_in_flight (W) above 1: entries committed but not persisted, several
// per region, so a torn entry may be followed by valid newer ones (rules R2, R3). Set at
// creation by libraries with asynchronous appends; without it every region has W = 1.
inline constexpr uint64_t incompat_windowed = 1;
// ---- transactions (issue 13) ----
// Span headers may carry a transaction marker (span_slot reserved[0..1], below), and a torn
// member of a transaction may be followed by other members of it in its region (rule R2's
// exception). Set at creation by libraries with transactions, which refuse transactions on
// streams without it.
inline constexpr uint64_t incompat_tx = 2;
// ---- rings (issue 14) ----
// Regions may be wrapped (span_slot reserved[span_wrap] != 0, below): their walk runs from
// head to the end of the head's lap, then from the data area's start (docs/format.md 5.2).
// Set at creation by libraries that wrap regions (docs/design.md 5.5); without it no region
// is wrapped, and a region that is full stays full until a clear.
inline constexpr uint64_t incompat_ring = 4;
inline constexpr uint64_t known_incompat_features = incompat_windowed | incompat_tx | incompat_ring;
inline constexpr uint32_t max_window = 4096; // largest W

// A record that must change atomically although it is larger than 8 bytes is stored twice
// (slot 0 and slot 1), each with a sequence number and a checksum. The valid slot with the
// larger sequence is in force. An update writes the new record (sequence + 1) over one slot,
// fences, then copies it into the other slot and fences: a torn first write leaves the old
// record in force, and outside an update both slots agree, so one damaged copy loses nothing.
// Sequences are 1 .. max_sequence - 1; a slot claiming more is damaged (its next update could
// not be read back).
inline constexpr uint64_t max_sequence = uint64_t{1} << 62;

// Offset 256 and 320: the stream's mutable state.
inline constexpr uint64_t state_slot_offset[2] = {256, 320};
struct state_slot {
	uint64_t sequence; // 0 = never written
	uint64_t ts_floor; // every timestamp <= ts_floor not found on media is legitimately gone
	// Timestamp lease: timestamps up to ts_lease may be in use by entries recovery cannot
	// reach (behind a torn entry of a region with several appends in flight); recovery hands
	// out timestamps above it. 0 while every region has max_in_flight 1.
	uint64_t ts_lease;
	// reserved[state_repair_cut]: 1 + the cut of a point-in-time repair in progress (0:
	// none; docs/format.md 8.6); reserved[1..3] zero.
	uint64_t reserved[4];
	uint32_t reserved32;
	uint32_t checksum; // crc32c of bytes [0, 60) and the slot's own offset
};
static_assert(sizeof(state_slot) == 64);
inline constexpr size_t state_repair_cut = 0;

// Region ids and epochs come from one counter: 1 .. max_generation - 1; 0 is never used.
inline constexpr uint64_t max_generation = uint64_t{1} << 62;

// At the start of every span (region or free space): two 128-byte slots, 256 bytes.
inline constexpr uint64_t span_slot_size = 128;
inline constexpr uint64_t span_header_size = 2 * span_slot_size;
inline constexpr uint32_t span_free = 1;
inline constexpr uint32_t span_region = 2;
struct span_slot {
	uint64_t sequence;  // 0 = never written
	uint64_t span_size; // bytes, header included; a multiple of the block size
	// Region: the checksum epoch its entries are written with (a clear gives it a new one);
	// free: the largest epoch or id ever used in the span, so no value is ever used twice.
	uint64_t epoch;
	// Region: its identity, unique for the stream's life and increasing in allocation order
	// (region iteration order); unchanged by a clear. Free: 0.
	uint64_t id;
	uint32_t state;		// span_free or span_region
	uint32_t max_in_flight; // region: appends that may be in flight at once (W), 1..; free: 0
	// Region: bytes of the data area before the first visible entry (prefix truncation); 0.
	uint64_t head;
	// Checkpoint of the sealed part of a region, written at clean close: the entries in the
	// first sealed_tail bytes of the data area are sealed_count entries, the last with
	// timestamp sealed_last_ts (0 when there are none).
	uint64_t sealed_tail;
	uint64_t sealed_count;
	uint64_t sealed_last_ts;
	// reserved[span_tx_end] and reserved[span_tx_kind] (0, 1): a transaction marker (streams with
	// incompat_tx; docs/format.md 5.1), else zero; reserved[4] and [5]: the checkpoint's
	// fast-reopen fields (span_sealed_shown, span_sealed_last below); reserved[2] and [3]: a
	// wrapped region's lap (span_wrap, span_head_epoch below), else zero.
	uint64_t reserved[6];
	uint32_t reserved32;
	uint32_t checksum; // crc32c of bytes [0, 124) and the slot's own offset
};
static_assert(sizeof(span_slot) == span_slot_size);
// Fast reopen (docs/format.md 8.5). span_slot::reserved[span_sealed_shown]: how many of the
// sealed_count entries are not padding. span_slot::reserved[span_sealed_last]: 1 + the data
// offset of the last sealed entry (0: not recorded, e.g. written by an older library; such a
// checkpoint is verified by a walk). Both are meaningful only while the entry there has
// timestamp sealed_last_ts and ends exactly at sealed_tail, which an open checks.
inline constexpr size_t span_sealed_shown = 4;
inline constexpr size_t span_sealed_last = 5;

// ---- rings (issue 14; streams with incompat_ring, docs/format.md 5.2) ----
// span_slot::reserved[span_wrap]: 0, or the data offset where the lap that holds `head` ends
// (head < wrap <= data size); that lap's entries carry span_slot::reserved[span_head_epoch]
// in their checksums, and the region's `epoch` is the lap that starts at data offset 0 and
// ends before `head`. In a wrapped region the checkpoint covers the whole head lap:
// sealed_tail is a position of the second lap (0 .. head), sealed_count counts from head.
inline constexpr size_t span_wrap = 2;
inline constexpr size_t span_head_epoch = 3;

// ---- transactions (issue 13) ----
// A region allocated or freed by a transaction whose last member has timestamp E carries
// reserved[span_tx_end] = E and reserved[span_tx_kind] = tx_allocating or tx_freeing until the
// transaction is resolved: it committed iff E <= ts_floor or E is inside recovery's visible
// prefix; then an allocation stands and a free completes, else they are undone.
inline constexpr size_t span_tx_end = 0;
inline constexpr size_t span_tx_kind = 1;
inline constexpr uint64_t tx_allocating = 1;
inline constexpr uint64_t tx_freeing = 2;

// Every entry: a 16-byte header, the payload, zero padding to 8 bytes. Entries start at the
// region's data area (span offset + 256) and follow each other without gaps.
inline constexpr uint64_t entry_alignment = 8;
// The timestamp word: bits 0-55 the timestamp, bits 56-63 flags.
inline constexpr uint64_t timestamp_mask = (uint64_t{1} << 56) - 1;
inline constexpr uint64_t max_timestamp = timestamp_mask;
// A member of a transaction: its timestamps form one contiguous block whose last member also
// carries flag_tx_end; recovery shows all of a block or none of it (rule R1).
inline constexpr uint64_t flag_tx = uint64_t{1} << 56;
inline constexpr uint64_t flag_tx_end = uint64_t{1} << 57;
// Space no entry uses (an abandoned or shortened reservation): walked over, never shown.
inline constexpr uint64_t flag_padding = uint64_t{1} << 58;
// Written once every earlier entry of its region (and so every smaller timestamp) was
// persisted: a torn entry before it is damage (rule R2), and the entry before it was
// acknowledged (rule R3). Written only in streams with incompat_windowed.
inline constexpr uint64_t flag_settled = uint64_t{1} << 59;
inline constexpr uint64_t known_flags = flag_tx | flag_tx_end | flag_padding | flag_settled;
struct entry_header {
	uint64_t timestamp; // bits 0-55: timestamp 1.. (0 = no entry); bits 56-63: flags
	uint32_t size;	    // payload bytes
	uint32_t checksum;  // crc32c over: region epoch (8 bytes), timestamp word, size, payload
};
static_assert(sizeof(entry_header) == 16);
inline constexpr uint64_t max_payload = UINT32_MAX;

constexpr uint64_t align_up(uint64_t v, uint64_t a) noexcept
{
	return (v + a - 1) & ~(a - 1);
}

constexpr uint64_t entry_footprint(uint64_t payload) noexcept
{
	return align_up(sizeof(entry_header) + payload, entry_alignment);
}

constexpr uint64_t arena_offset(uint64_t block_size) noexcept
{
	return align_up(header_area, block_size);
}

// Smallest span: a header rounded up to whole blocks.
constexpr uint64_t min_span(uint64_t block_size) noexcept
{
	return align_up(span_header_size, block_size);
}

constexpr bool valid_block_size(uint64_t b) noexcept
{
	return b >= min_block_size && b <= max_block_size && std::has_single_bit(b);
}

} // namespace pmemstream::format

#endif // PMEMSTREAM_FORMAT_HPP
