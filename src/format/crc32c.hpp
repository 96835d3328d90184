// SPDX-License-Identifier: BSD-3-Clause
// CRC-32C (Castagnoli), the checksum of every persistent record. Uses the SSE4.2 crc32
// instruction when the CPU has it, a table otherwise; both give the same values.
#ifndef PMEMSTREAM_CRC32C_HPP
#define PMEMSTREAM_CRC32C_HPP

#include <cstddef>
#include <cstdint>

namespace pmemstream::detail {

// Continues a CRC-32C: crc32c_extend(crc32c_extend(0, a), b) == crc32c of a followed by b.
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t size) noexcept;

inline uint32_t crc32c(const void *data, size_t size) noexcept
{
	return crc32c_extend(0, data, size);
}

// The portable implementation, for tests that compare both.
uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t size) noexcept;

} // namespace pmemstream::detail

#endif
