// SPDX-License-Identifier: BSD-3-Clause
// Hostile stream images. fuzz_image() opens one image every way (read-only strict, read-only
// salvage, writable) and walks whatever opens with every iterator and accessor, then writes
// to it. It may only see the documented errors, and a stream that opens must be consistent
// (regions inside the arena without overlap, entries inside their regions, iterations that
// end). Anything else aborts, so libFuzzer and the mutation driver report it.
#ifndef PMEMSTREAM_TEST_FUZZ_TARGET_HPP
#define PMEMSTREAM_TEST_FUZZ_TARGET_HPP

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace pmemstream::test {

// Input: one flag byte, then the image (zero-padded to a multiple of 64 bytes).
// Flag bit 0: recompute the checksums of the header and of every dual-slot record first, so
// that the structural rules are exercised rather than the checksum; bit 1: also recompute
// the checksums of the entries the region walk reaches.
inline constexpr uint8_t fix_records = 1;
inline constexpr uint8_t fix_entries = 2;

struct fuzz_outcome {
	bool opened_read_only = false;
	bool opened_writable = false;
	std::string error;   // errc name of the first refusal, if any
	std::string failure; // what went wrong (fuzz_check only; fuzz_image aborts)
};

// Aborts on a failure (for fuzzers).
fuzz_outcome fuzz_image(const uint8_t *data, size_t size);
// Returns the failure instead (for tests of single images).
fuzz_outcome fuzz_check(const uint8_t *data, size_t size);

// Recomputes checksums in place (see the flags).
void fix_checksums(std::vector<std::byte> &img, uint8_t flags);

// One field of a structure that format.hpp defines, located in an image.
enum class field_kind { header, state, span, entry };
struct field_site {
	field_kind kind;
	uint64_t offset; // in the image
	unsigned width;	 // bytes: 8, 4, or 1 (the flag byte of an entry's timestamp word)
	uint64_t mirror; // the same field in the record's other slot (0: none)
	const char *name;
};

// Every field of the stream header, of both state slots, of both slots of every span header
// the span walk reaches, and of every entry header the region walks reach (slot in force).
std::vector<field_site> field_sites(const std::vector<std::byte> &img);

// The values at the limits of a field `width` bytes wide: 0, 1, max - 1, max and, where they
// fit, 2^31, 2^32, 2^56 - 1, 2^56, 2^62, 2^63 (and 2^62 +- 1, 2^56 + 1: the format's own
// limits, max_sequence, max_generation and max_timestamp, and their neighbours). For the flag
// byte: every combination of the three flags, and unknown bits.
std::vector<uint64_t> limit_values(unsigned width);

// The limit-class mutation: one field (a structure kind, then a field of it, uniformly) set to
// one limit value; a slot field in slot 0, slot 1 or both. The caller recomputes every
// checksum (fix_records | fix_entries), so only the validity rules stand in the way. Returns
// what it did ("span_slot.head@0x1100 both = 0x4000...") or "" when the image has no field.
std::string mutate_field(std::vector<std::byte> &img, std::mt19937_64 &rng);

// Valid images of several shapes (empty, entries, clean close, torn tail, many regions,
// freed regions), small enough to fuzz fast.
std::vector<std::vector<std::byte>> make_seed_images();

} // namespace pmemstream::test

#endif
