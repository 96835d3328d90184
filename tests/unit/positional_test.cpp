// SPDX-License-Identifier: BSD-3-Clause
// Positional reads (seek to an entry, to a timestamp) and the stream-wide reader that merges
// every region's entries in timestamp order.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <map>
#include <thread>

using namespace pmemstream;
using test::temp_file;

namespace {

struct fixture {
	temp_file f;
	std::unique_ptr<stream> s = test::create(f.path, 4 << 20, 4096);
	// Appends `n` entries round-robin over `regions`; returns (timestamp -> (region, payload)).
	std::map<uint64_t, std::pair<region, std::string>> fill(const std::vector<region> &regions, int n)
	{
		std::map<uint64_t, std::pair<region, std::string>> m;
		for (int i = 0; i < n; ++i) {
			region r = regions[(i * 7 + i / 3) % regions.size()];
			std::string p = "entry " + std::to_string(i);
			auto a = s->append(r, p.data(), p.size());
			EXPECT_TRUE(a) << a.err().message();
			m[a->timestamp] = {r, p};
		}
		return m;
	}
	std::string text(entry e)
	{
		auto d = *s->entry_data(e);
		return std::string(reinterpret_cast<const char *>(d.data()), d.size());
	}
};

} // namespace

TEST(positional, append_returns_the_timestamp_the_entry_carries)
{
	fixture fx;
	auto r = *fx.s->region_allocate(4096);
	for (uint64_t i = 1; i <= 5; ++i) {
		auto a = *fx.s->append(r, "x", 1);
		EXPECT_EQ(a.timestamp, i);
		EXPECT_EQ(*fx.s->entry_timestamp(a), i);
	}
	auto res = *fx.s->reserve(r, 8);
	EXPECT_EQ(*fx.s->publish(r, res.ent, 8), 6u);
}

TEST(positional, seek_to_each_entry_and_to_timestamps)
{
	fixture fx;
	auto a = *fx.s->region_allocate(8192);
	auto b = *fx.s->region_allocate(8192);
	auto m = fx.fill({a, b}, 40);
	auto entries = test::entries_of(*fx.s, a);
	auto it = *fx.s->entries(a);
	for (auto e : entries) {
		ASSERT_TRUE(it.seek(e));
		ASSERT_TRUE(it.is_valid());
		EXPECT_EQ(it.get(), e);
	}
	// Entries of another region, inside a payload, or beyond the tail are refused and leave
	// the position where it was.
	ASSERT_TRUE(it.seek(entries[3]));
	EXPECT_EQ(it.seek(test::entries_of(*fx.s, b)[0]).code(), errc::invalid_handle);
	EXPECT_EQ(it.seek(entry{entries[3].offset + 8}).code(), errc::invalid_handle);
	EXPECT_EQ(it.seek(entry{entries.back().offset + 64}).code(), errc::invalid_handle);
	EXPECT_EQ(it.get(), entries[3]);

	// seek_timestamp: exact, between, before the first, past the last.
	std::vector<uint64_t> ts_a;
	for (auto e : entries)
		ts_a.push_back(*fx.s->entry_timestamp(e));
	for (size_t i = 0; i < ts_a.size(); ++i) {
		it.seek_timestamp(ts_a[i]);
		ASSERT_TRUE(it.is_valid());
		EXPECT_EQ(it.get(), entries[i]);
		if (i > 0 && ts_a[i] - ts_a[i - 1] > 1) {
			it.seek_timestamp(ts_a[i - 1] + 1);
			EXPECT_EQ(it.get(), entries[i]);
		}
	}
	it.seek_timestamp(0);
	EXPECT_EQ(it.get(), entries[0]);
	it.seek_timestamp(ts_a.back() + 1);
	EXPECT_FALSE(it.is_valid());
	auto late = *fx.s->append(a, "late", 4);
	ASSERT_TRUE(it.is_valid()); // tails: the next entry appears where it waited
	EXPECT_EQ(it.get(), late);
}

TEST(positional, reader_merges_every_region_in_timestamp_order)
{
	fixture fx;
	std::vector<region> regs;
	for (int i = 0; i < 3; ++i)
		regs.push_back(*fx.s->region_allocate(16384));
	auto m = fx.fill(regs, 200);
	auto rd = fx.s->reader();
	auto want = m.begin();
	for (; rd.is_valid(); rd.next(), ++want) {
		ASSERT_NE(want, m.end());
		EXPECT_EQ(rd.timestamp(), want->first);
		EXPECT_EQ(rd.get_region(), want->second.first);
		EXPECT_EQ(fx.text(rd.get()), want->second.second);
		EXPECT_EQ(*fx.s->entry_timestamp(rd.get()), want->first);
	}
	EXPECT_EQ(want, m.end());

	// Seek into the middle, and past the end (then it tails).
	auto mid = std::next(m.begin(), 77);
	rd.seek_timestamp(mid->first);
	ASSERT_TRUE(rd.is_valid());
	EXPECT_EQ(rd.timestamp(), mid->first);
	rd.seek_timestamp(m.rbegin()->first + 1);
	EXPECT_FALSE(rd.is_valid());
	auto a = *fx.s->append(regs[1], "after", 5);
	ASSERT_TRUE(rd.is_valid());
	EXPECT_EQ(rd.timestamp(), a.timestamp);
}

TEST(positional, reader_follows_new_and_freed_regions)
{
	fixture fx;
	auto a = *fx.s->region_allocate(4096);
	auto rd = fx.s->reader();
	EXPECT_FALSE(rd.is_valid());
	auto e1 = *fx.s->append(a, "a1", 2);
	auto b = *fx.s->region_allocate(4096); // after the reader was made
	auto e2 = *fx.s->append(b, "b1", 2);
	auto e3 = *fx.s->append(a, "a2", 2);
	std::vector<uint64_t> seen;
	for (; rd.is_valid(); rd.next())
		seen.push_back(rd.timestamp());
	EXPECT_EQ(seen, (std::vector<uint64_t>{e1.timestamp, e2.timestamp, e3.timestamp}));
	auto e4 = *fx.s->append(b, "b2", 2);
	auto e5 = *fx.s->append(a, "a3", 2);
	ASSERT_TRUE(fx.s->region_free(b)); // e4 goes with it
	seen.clear();
	for (; rd.is_valid(); rd.next())
		seen.push_back(rd.timestamp());
	EXPECT_EQ(seen, (std::vector<uint64_t>{e5.timestamp}));
	(void)e4;
}

TEST(positional, reader_sees_appends_of_other_threads_in_order)
{
	fixture fx;
	auto a = *fx.s->region_allocate(1 << 20);
	auto b = *fx.s->region_allocate(1 << 20);
	constexpr int per_thread = 3000;
	std::thread ta([&] {
		for (int i = 0; i < per_thread; ++i)
			ASSERT_TRUE(fx.s->append(a, &i, sizeof(i)));
	});
	std::thread tb([&] {
		for (int i = 0; i < per_thread; ++i)
			ASSERT_TRUE(fx.s->append(b, &i, sizeof(i)));
	});
	auto rd = fx.s->reader();
	uint64_t last = 0;
	int n = 0;
	while (n < 2 * per_thread) {
		if (!rd.is_valid())
			continue;
		ASSERT_GT(rd.timestamp(), last);
		ASSERT_LE(rd.timestamp(), fx.s->committed_timestamp());
		last = rd.timestamp();
		++n;
		rd.next();
	}
	ta.join();
	tb.join();
	// Every timestamp 1..n was yielded once (strictly increasing, n of them, none above n).
	EXPECT_EQ(last, uint64_t(2 * per_thread));
}
