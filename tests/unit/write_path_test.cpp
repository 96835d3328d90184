// SPDX-License-Identifier: BSD-3-Clause
// The write path's promises, checked on a medium that records every write and fence:
// a synchronous append costs exactly one fence, and writes nothing outside its own entry's
// cache lines (no tail word, no shared header line), in one region or spread over many.
#include "media.hpp"
#include "stream_factory.hpp"

#include <pmemstream/stream.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

using namespace pmemstream;

namespace {

class recording_media : public detail::media {
public:
	explicit recording_media(std::vector<std::byte> &b) : media(b.data(), b.size(), false)
	{
	}
	void flush(const void *addr, size_t len) noexcept override
	{
		record(addr, len);
	}
	void drain() noexcept override
	{
		++drains;
	}
	void copy_nodrain(void *dst, const void *src, size_t len) noexcept override
	{
		std::memcpy(dst, src, len);
		record(dst, len);
	}
	void set_nodrain(void *dst, int c, size_t len) noexcept override
	{
		std::memset(dst, c, len);
		record(dst, len);
	}
	void record(const void *addr, size_t len)
	{
		const auto off = static_cast<uint64_t>(static_cast<const std::byte *>(addr) - base());
		lines.emplace_back(off / 64, (off + len + 63) / 64);
	}
	bool healthy() const noexcept override
	{
		return !failed;
	}
	uint64_t drains = 0;
	std::vector<std::pair<uint64_t, uint64_t>> lines; // [first, end) cache lines written
	bool failed = false;
};

struct fixture {
	std::vector<std::byte> mem = std::vector<std::byte>(4 << 20);
	recording_media *m = nullptr;
	std::unique_ptr<stream> s;
	fixture()
	{
		auto media = std::make_unique<recording_media>(mem);
		m = media.get();
		s = std::move(*detail::open_on_media(std::move(media), 4096, {}));
	}
};

} // namespace

TEST(write_path, synchronous_append_costs_one_fence_and_touches_only_its_lines)
{
	fixture f;
	std::vector<region> rs;
	for (int i = 0; i < 4; ++i)
		rs.push_back(*f.s->region_allocate(256 << 10));
	std::vector<std::byte> payload(5000, std::byte{0x42});
	uint64_t appends = 0;
	for (size_t size : {0, 1, 8, 40, 48, 49, 63, 64, 100, 256, 1000, 4096, 5000}) {
		for (int rep = 0; rep < 9; ++rep) {
			const region r = rs[(appends++) % rs.size()];
			f.m->drains = 0;
			f.m->lines.clear();
			auto e = f.s->append(r, payload.data(), size);
			ASSERT_TRUE(e);
			EXPECT_EQ(f.m->drains, 1u) << "size " << size;
			const uint64_t first = e->offset / 64;
			const uint64_t end = (e->offset + entry_footprint(size) + 63) / 64;
			ASSERT_FALSE(f.m->lines.empty());
			for (auto [a, b] : f.m->lines) {
				EXPECT_GE(a, first) << "size " << size << ": a write before the entry's first line";
				EXPECT_LE(b, end) << "size " << size << ": a write after the entry's last line";
			}
		}
	}
}

TEST(write_path, publish_costs_one_fence_and_touches_only_its_lines)
{
	fixture f;
	auto r = *f.s->region_allocate(64 << 10);
	for (size_t size : {0, 10, 100, 3000}) {
		auto res = *f.s->reserve(r, size);
		std::memset(res.data, 0x17, size);
		f.m->drains = 0;
		f.m->lines.clear();
		ASSERT_TRUE(f.s->publish(r, res.ent, size));
		EXPECT_EQ(f.m->drains, 1u);
		for (auto [a, b] : f.m->lines) {
			EXPECT_GE(a, res.ent.offset / 64);
			EXPECT_LE(b, (res.ent.offset + entry_footprint(size) + 63) / 64);
		}
	}
}

TEST(write_path, media_failure_stops_all_writes_and_keeps_reads)
{
	fixture f;
	auto r = *f.s->region_allocate(64 << 10);
	auto before = *f.s->append(r, "kept", 4);
	f.m->failed = true; // the medium reports an error during the next persist
	auto e = f.s->append(r, "lost", 4);
	ASSERT_FALSE(e);
	EXPECT_EQ(e.code(), errc::media_failed);
	f.m->failed = false; // even if the medium looks fine again, the stream stays stopped
	EXPECT_EQ(f.s->append(r, "x", 1).code(), errc::media_failed);
	EXPECT_EQ(f.s->reserve(r, 1).code(), errc::media_failed);
	EXPECT_EQ(f.s->region_allocate(100).code(), errc::media_failed);
	EXPECT_EQ(f.s->region_free(r).code(), errc::media_failed);
	// What was acknowledged before stays readable; the failed entry is not visible.
	EXPECT_EQ(f.s->entry_size(before).value(), 4u);
	EXPECT_EQ(f.s->region_entry_count(r).value(), 1u);
}
