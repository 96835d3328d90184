// SPDX-License-Identifier: BSD-3-Clause
#include "crc32c.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using pmemstream::detail::crc32c;
using pmemstream::detail::crc32c_extend;
using pmemstream::detail::crc32c_extend_portable;

TEST(crc32c, known_vectors)
{
	// The standard check value of CRC-32C and the iSCSI test vectors (RFC 3720, B.4).
	EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
	std::vector<unsigned char> zeros(32, 0), ones(32, 0xFF), inc(32);
	for (int i = 0; i < 32; ++i)
		inc[i] = static_cast<unsigned char>(i);
	EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
	EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
	EXPECT_EQ(crc32c(inc.data(), 32), 0x46DD794Eu);
	EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(crc32c, hardware_matches_portable_at_every_length_and_alignment)
{
	std::mt19937 rng(42);
	std::vector<unsigned char> buf(8192 + 64);
	for (auto &b : buf)
		b = static_cast<unsigned char>(rng());
	for (size_t len : {0, 1, 7, 8, 9, 63, 64, 65, 255, 256, 257, 300, 319, 320, 511, 512, 513, 1000, 1024, 1535, 1536, 1537, 3072, 4096, 4097, 8191}) {
		for (size_t align = 0; align < 8; ++align) {
			const unsigned char *p = buf.data() + align;
			EXPECT_EQ(crc32c_extend(0, p, len), crc32c_extend_portable(0, p, len)) << len << " @" << align;
			EXPECT_EQ(crc32c_extend(0xDEADBEEF, p, len), crc32c_extend_portable(0xDEADBEEF, p, len));
		}
	}
}

TEST(crc32c, extend_equals_whole)
{
	std::vector<unsigned char> buf(5000);
	for (size_t i = 0; i < buf.size(); ++i)
		buf[i] = static_cast<unsigned char>(i * 7);
	for (size_t cut : {0, 1, 20, 1600, 4999, 5000})
		EXPECT_EQ(crc32c_extend(crc32c(buf.data(), cut), buf.data() + cut, buf.size() - cut), crc32c(buf.data(), buf.size()));
}

TEST(crc32c, detects_every_single_bit_flip)
{
	std::vector<unsigned char> buf(2000, 0x33);
	const uint32_t good = crc32c(buf.data(), buf.size());
	for (size_t bit = 0; bit < buf.size() * 8; bit += 13) {
		buf[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
		EXPECT_NE(crc32c(buf.data(), buf.size()), good);
		buf[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
	}
}
