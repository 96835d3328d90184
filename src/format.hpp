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
inline constexpr uint64_t version = 1;

// "PMSTREAM" as a little-endian u64 for a complete header, "PMSINIT\0" while being created.
inline constexpr uint64_t magic_ready = 0x4D41455254534D50ull;	   // "PMSTREAM"
inline constexpr uint64_t magic_initialising = 0x0054494E49534D50ull; // "PMSINIT\0"

inline constexpr uint64_t min_block_size = 64;
inline constexpr uint64_t header_area = 4096; // the arena starts at align_up(4096, block_size)

// Offset 0: written once at creation.
struct stream_header {
	uint64_t magic;
	uint64_t version;
	uint64_t block_size;
	uint64_t stream_size;  // bytes of the stream (the mapping may be larger)
	uint64_t arena_offset; // first span header
	uint64_t arena_size;
	uint64_t reserved[9];  // zero
	uint32_t reserved32;   // zero
	uint32_t checksum;     // crc32c of bytes [0, 124)
};
static_assert(sizeof(stream_header) == 128);

// A record that must change atomically although it is larger than 8 bytes is stored twice
// (slot 0 and slot 1), each with a sequence number and a checksum. The valid slot with the
// larger sequence is in force. An update writes the new record (sequence + 1) over one slot,
// fences, then copies it into the other slot and fences: a torn first write leaves the old
// record in force, and outside an update both slots agree, so one damaged copy loses nothing.

// Offset 256 and 320: the stream's mutable state.
inline constexpr uint64_t state_slot_offset[2] = {256, 320};
struct state_slot {
	uint64_t sequence;  // 0 = never written
	uint64_t ts_floor;  // every timestamp <= ts_floor not found on media is legitimately gone
	uint64_t reserved[5];
	uint32_t reserved32;
	uint32_t checksum; // crc32c of bytes [0, 60) and the slot's own offset
};
static_assert(sizeof(state_slot) == 64);

// Region generations are 1 .. max_generation - 1; 0 is never a region's.
inline constexpr uint64_t max_generation = uint64_t{1} << 62;

// At the start of every span (region or free space): two 64-byte slots, 128 bytes.
inline constexpr uint64_t span_header_size = 128;
inline constexpr uint32_t span_free = 1;
inline constexpr uint32_t span_region = 2;
struct span_slot {
	uint64_t sequence;   // 0 = never written
	uint64_t span_size;  // bytes, header included; a multiple of the block size
	uint64_t generation; // region: unique id, also allocation order; free: max of absorbed ids
	uint32_t state;	     // span_free or span_region
	uint32_t reserved32;
	uint64_t sealed_tail; // region: bytes of entries at the last clean close (0 if none)
	uint64_t reserved[2];
	uint32_t reserved32b;
	uint32_t checksum; // crc32c of bytes [0, 60) and the slot's own offset
};
static_assert(sizeof(span_slot) == 64);

// Every entry: a 16-byte header, the payload, zero padding to 8 bytes. Entries start at the
// region's data area (span offset + 128) and follow each other without gaps.
inline constexpr uint64_t entry_alignment = 8;
// The timestamp word's top byte holds entry flags, all zero in version 1 (reserved for
// transactions, docs/design.md); timestamps therefore stay below 2^56.
inline constexpr uint64_t timestamp_mask = (uint64_t{1} << 56) - 1;
inline constexpr uint64_t max_timestamp = timestamp_mask;
struct entry_header {
	uint64_t timestamp; // bits 0-55: timestamp 1.. (0 = no entry); bits 56-63: flags (0)
	uint32_t size;	    // payload bytes
	uint32_t checksum;  // crc32c over: region generation (8 bytes), timestamp, size, payload
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
	return b >= min_block_size && std::has_single_bit(b);
}

} // namespace pmemstream::format

#endif // PMEMSTREAM_FORMAT_HPP
