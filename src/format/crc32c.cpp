// SPDX-License-Identifier: BSD-3-Clause
#include "crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
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

// Carry-less multiplication folding (AVX-512 VPCLMULQDQ) for long inputs: 256 bytes per step
// in four 512-bit accumulators, far beyond the crc32 instruction's 8 bytes per cycle. Moving
// a 16-byte block forward by D bytes multiplies its first 8 bytes by x^(8D+31) and its last 8
// by x^(8D-33) (mod P, bit-reflected); the last 16 bytes go through the crc32 instruction.
// x^e mod P in the bit-reflected representation (bit 31 is x^0).
uint32_t xpow_reflected(uint64_t e) noexcept
{
	uint32_t c = 0x80000000u;
	for (uint64_t i = 0; i < e; ++i)
		c = (c >> 1) ^ ((c & 1) ? poly : 0);
	return c;
}

struct fold_constants {
	uint64_t lo, hi;
};

fold_constants fold_by(uint64_t bytes) noexcept
{
	return {xpow_reflected(8 * bytes + 31), xpow_reflected(8 * bytes - 33)};
}

struct fold_table {
	fold_constants k256, k192, k128, k64, k48, k32, k16;
};

const fold_table &folds()
{
	static const fold_table t{fold_by(256), fold_by(192), fold_by(128), fold_by(64), fold_by(48), fold_by(32), fold_by(16)};
	return t;
}

bool have_vpclmul() noexcept
{
	static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") &&
		__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul");
	return yes;
}

constexpr size_t fold_min = 256;

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2"))) inline __m512i fold512(__m512i x, __m512i k) noexcept
{
	return _mm512_xor_si512(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11));
}

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2"))) inline __m512i kv(fold_constants k) noexcept
{
	const auto lo = static_cast<long long>(k.lo), hi = static_cast<long long>(k.hi);
	return _mm512_set_epi64(hi, lo, hi, lo, hi, lo, hi, lo);
}

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2"))) inline __m128i fold128(__m128i x, fold_constants k) noexcept
{
	const __m128i kv = _mm_set_epi64x(static_cast<long long>(k.hi), static_cast<long long>(k.lo));
	return _mm_xor_si128(_mm_clmulepi64_si128(x, kv, 0x00), _mm_clmulepi64_si128(x, kv, 0x11));
}

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2"))) uint32_t folded(uint32_t crc, const unsigned char *p, size_t n) noexcept
{
	const fold_table &t = folds();
	uint32_t state = ~crc;
	// The state enters as data: the crc32 instruction XORs it into the next 4 bytes.
	__m512i x0 = _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128(static_cast<int>(state))));
	__m512i x1 = _mm512_loadu_si512(p + 64);
	__m512i x2 = _mm512_loadu_si512(p + 128);
	__m512i x3 = _mm512_loadu_si512(p + 192);
	p += 256;
	n -= 256;
	const __m512i k256 = kv(t.k256);
	while (n >= 256) {
		x0 = _mm512_xor_si512(fold512(x0, k256), _mm512_loadu_si512(p));
		x1 = _mm512_xor_si512(fold512(x1, k256), _mm512_loadu_si512(p + 64));
		x2 = _mm512_xor_si512(fold512(x2, k256), _mm512_loadu_si512(p + 128));
		x3 = _mm512_xor_si512(fold512(x3, k256), _mm512_loadu_si512(p + 192));
		p += 256;
		n -= 256;
	}
	__m512i x = _mm512_xor_si512(_mm512_xor_si512(fold512(x0, kv(t.k192)), fold512(x1, kv(t.k128))),
				     _mm512_xor_si512(fold512(x2, kv(t.k64)), x3));
	const __m512i k64 = kv(t.k64);
	while (n >= 64) {
		x = _mm512_xor_si512(fold512(x, k64), _mm512_loadu_si512(p));
		p += 64;
		n -= 64;
	}
	alignas(64) __m128i lanes[4];
	_mm512_store_si512(lanes, x);
	__m128i v = _mm_xor_si128(_mm_xor_si128(fold128(lanes[0], t.k48), fold128(lanes[1], t.k32)),
				  _mm_xor_si128(fold128(lanes[2], t.k16), lanes[3]));
	uint64_t c = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(v)));
	c = _mm_crc32_u64(c, static_cast<uint64_t>(_mm_extract_epi64(v, 1)));
	// The rest (under 64 bytes) on the crc32 instruction; hardware() inverts on entry and exit.
	return hardware(~static_cast<uint32_t>(c), p, n);
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
	if (size >= fold_min && have_vpclmul())
		return folded(crc, static_cast<const unsigned char *>(data), size);
	if (have_sse42())
		return hardware(crc, static_cast<const unsigned char *>(data), size);
#endif
	return portable(crc, static_cast<const unsigned char *>(data), size);
}

} // namespace pmemstream::detail
