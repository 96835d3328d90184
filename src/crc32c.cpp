// SPDX-License-Identifier: BSD-3-Clause
#include "crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace pmemstream::detail {
namespace {

constexpr uint32_t poly = 0x82F63B78u; // reflected Castagnoli polynomial

constexpr std::array<std::array<uint32_t, 256>, 8> make_tables()
{
	std::array<std::array<uint32_t, 256>, 8> t{};
	for (uint32_t i = 0; i < 256; ++i) {
		uint32_t c = i;
		for (int k = 0; k < 8; ++k)
			c = (c >> 1) ^ ((c & 1) ? poly : 0);
		t[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; ++i)
		for (int k = 1; k < 8; ++k)
			t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
	return t;
}

constexpr auto tables = make_tables();

uint32_t portable(uint32_t crc, const unsigned char *p, size_t n) noexcept
{
	crc = ~crc;
	while (n >= 8) {
		uint64_t w;
		std::memcpy(&w, p, 8);
		w ^= crc;
		crc = tables[7][w & 0xFF] ^ tables[6][(w >> 8) & 0xFF] ^ tables[5][(w >> 16) & 0xFF] ^
			tables[4][(w >> 24) & 0xFF] ^ tables[3][(w >> 32) & 0xFF] ^ tables[2][(w >> 40) & 0xFF] ^
			tables[1][(w >> 48) & 0xFF] ^ tables[0][w >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ tables[0][(crc ^ *p++) & 0xFF];
	return ~crc;
}

#if defined(__x86_64__)
// Three independent crc32 chains hide the instruction's 3-cycle latency; the partial CRCs are
// joined by shifting each over the bytes that follow it (a linear map, applied with tables
// built at start-up for the fixed lane length).
constexpr size_t lane = 512;

struct shift_table {
	uint32_t t[4][256];
};

// Raw (no pre/post inversion) CRC update of `c` over `n` zero bytes, bit by bit; used only to
// build the shift tables.
uint32_t zeros_raw(uint32_t c, size_t n) noexcept
{
	for (size_t i = 0; i < n * 8; ++i)
		c = (c >> 1) ^ ((c & 1) ? poly : 0);
	return c;
}

shift_table make_shift(size_t n) noexcept
{
	shift_table s{};
	uint32_t basis[32];
	for (int b = 0; b < 32; ++b)
		basis[b] = zeros_raw(1u << b, n);
	for (int byte = 0; byte < 4; ++byte)
		for (uint32_t v = 0; v < 256; ++v) {
			uint32_t r = 0;
			for (int b = 0; b < 8; ++b)
				if (v & (1u << b))
					r ^= basis[byte * 8 + b];
			s.t[byte][v] = r;
		}
	return s;
}

const shift_table &shift_lane()
{
	static const shift_table s = make_shift(lane);
	return s;
}

inline uint32_t apply(const shift_table &s, uint32_t c) noexcept
{
	return s.t[0][c & 0xFF] ^ s.t[1][(c >> 8) & 0xFF] ^ s.t[2][(c >> 16) & 0xFF] ^ s.t[3][c >> 24];
}

__attribute__((target("sse4.2"))) uint32_t hardware(uint32_t crc, const unsigned char *p, size_t n) noexcept
{
	uint64_t c0 = ~crc;
	if (n >= 3 * lane) {
		const shift_table &s = shift_lane();
		while (n >= 3 * lane) {
			uint64_t c1 = 0, c2 = 0;
			for (size_t i = 0; i < lane; i += 8) {
				uint64_t a, b, d;
				std::memcpy(&a, p + i, 8);
				std::memcpy(&b, p + lane + i, 8);
				std::memcpy(&d, p + 2 * lane + i, 8);
				c0 = _mm_crc32_u64(c0, a);
				c1 = _mm_crc32_u64(c1, b);
				c2 = _mm_crc32_u64(c2, d);
			}
			// Raw states combine linearly: state(A||B) = shift(state(A), |B|) ^ state(B) when
			// B's chain started from 0.
			uint32_t r = apply(s, static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1);
			r = apply(s, r) ^ static_cast<uint32_t>(c2);
			c0 = r;
			p += 3 * lane;
			n -= 3 * lane;
		}
	}
	while (n >= 8) {
		uint64_t w;
		std::memcpy(&w, p, 8);
		c0 = _mm_crc32_u64(c0, w);
		p += 8;
		n -= 8;
	}
	uint32_t c = static_cast<uint32_t>(c0);
	while (n--)
		c = _mm_crc32_u8(c, *p++);
	return ~c;
}

bool have_sse42() noexcept
{
	static const bool yes = __builtin_cpu_supports("sse4.2");
	return yes;
}
#endif

} // namespace

uint32_t crc32c_extend_portable(uint32_t crc, const void *data, size_t size) noexcept
{
	return portable(crc, static_cast<const unsigned char *>(data), size);
}

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t size) noexcept
{
#if defined(__x86_64__)
	if (have_sse42())
		return hardware(crc, static_cast<const unsigned char *>(data), size);
#endif
	return portable(crc, static_cast<const unsigned char *>(data), size);
}

} // namespace pmemstream::detail
