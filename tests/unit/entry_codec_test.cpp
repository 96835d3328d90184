// SPDX-License-Identifier: BSD-3-Clause
// The whole-line entry writer: for every position within a cache line and sizes around the
// line boundaries, the bytes written must be exactly the previous bytes of the line, the
// header, the payload and zeroes to the end of the last line, and nothing else may change.
#include "entry_codec.hpp"
#include "media.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

using namespace pmemstream;

namespace {

class counting_media : public detail::media {
public:
	explicit counting_media(std::vector<std::byte> &b) : media(b.data(), b.size(), false)
	{
	}
	void flush(const void *, size_t) noexcept override
	{
	}
	void drain() noexcept override
	{
	}
	void copy_nodrain(void *dst, const void *src, size_t len) noexcept override
	{
		std::memcpy(dst, src, len);
	}
	void write_lines_nodrain(void *dst, const piece *pieces, size_t n, size_t unchanged) noexcept override
	{
		auto *d = static_cast<std::byte *>(dst);
		EXPECT_EQ(static_cast<uint64_t>(d - base()) % 64, 0u) << "whole lines only";
		for (size_t i = 0; i < n; ++i) {
			EXPECT_EQ(pieces[i].len % 64, 0u) << "whole lines only";
			if (i == 0) {
				EXPECT_EQ(std::memcmp(d, pieces[0].src, unchanged), 0) << "the unchanged bytes must be unchanged";
			}
			std::memcpy(d, pieces[i].src, pieces[i].len);
			d += pieces[i].len;
			lines += pieces[i].len / 64;
		}
		max_unchanged = std::max(max_unchanged, unchanged);
	}
	size_t max_unchanged = 0;
	void set_nodrain(void *dst, int c, size_t len) noexcept override
	{
		std::memset(dst, c, len);
	}
	uint64_t lines = 0;
};

} // namespace

TEST(entry_codec, whole_line_writer_at_every_offset_and_size)
{
	std::vector<std::byte> payload(3000);
	for (size_t i = 0; i < payload.size(); ++i)
		payload[i] = static_cast<std::byte>(i * 7 + 1);
	for (uint64_t in_line = 0; in_line < 64; in_line += 8) {
		for (uint64_t size : {0, 1, 7, 8, 40, 47, 48, 49, 55, 56, 57, 63, 64, 65, 100, 112, 120, 121, 128, 200, 1000, 2999}) {
			std::vector<std::byte> mem(8192, std::byte{0xAB});
			counting_media m(mem);
			const uint64_t pos = 1024 + in_line;
			// The bytes before pos in its line: what earlier entries wrote there.
			detail::tail_line line;
			for (uint64_t i = 0; i < in_line; ++i)
				line.bytes[i] = mem[1024 + i] = static_cast<std::byte>(0x30 + i);
			format::entry_header h{42, static_cast<uint32_t>(size),
					       detail::entry_checksum(7, 42, static_cast<uint32_t>(size), payload.data())};
			std::vector<std::byte> expect = mem;
			std::memcpy(expect.data() + pos, &h, 16);
			std::memcpy(expect.data() + pos + 16, payload.data(), size);
			const uint64_t end = pos + 16 + size;
			const uint64_t line_end = (end + 63) / 64 * 64;
			std::memset(expect.data() + end, 0, line_end - end);

			auto written = detail::write_entry_nodrain(m, mem.data(), pos, 7, 42, payload.data(), static_cast<uint32_t>(size), line);
			EXPECT_EQ(written.checksum, h.checksum);
			ASSERT_EQ(mem, expect) << "offset in line " << in_line << ", size " << size;
			EXPECT_EQ(m.lines, (line_end - 1024) / 64) << "each line written once";
			EXPECT_EQ(m.max_unchanged, in_line) << "the bytes before the entry are the unchanged prefix";
			// The shadow now holds the new tail's line.
			const uint64_t tail = pos + format::entry_footprint(size);
			const uint64_t tail_line_start = tail & ~uint64_t(63);
			EXPECT_EQ(std::memcmp(line.bytes, mem.data() + tail_line_start, tail - tail_line_start), 0);
		}
	}
}
