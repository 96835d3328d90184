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

// Valid images of several shapes (empty, entries, clean close, torn tail, many regions,
// freed regions), small enough to fuzz fast.
std::vector<std::vector<std::byte>> make_seed_images();

} // namespace pmemstream::test

#endif
