// SPDX-License-Identifier: BSD-3-Clause
// Threads appending to their own regions and to a shared one, with readers iterating and region
// allocation going on at the same time. Run under ThreadSanitizer by `make tsan`.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

using namespace pmemstream;
using test::temp_file;

namespace {

// Payload that names its writer and sequence number, so a reader can check an entry is whole.
std::vector<std::byte> stamped(uint32_t thread, uint32_t seq, size_t size)
{
	std::vector<std::byte> v(std::max<size_t>(size, 8));
	std::memcpy(v.data(), &thread, 4);
	std::memcpy(v.data() + 4, &seq, 4);
	for (size_t i = 8; i < v.size(); ++i)
		v[i] = static_cast<std::byte>((thread * 31 + seq * 7 + i) & 0xFF);
	return v;
}

bool whole(std::span<const std::byte> d)
{
	if (d.size() < 8)
		return false;
	uint32_t t, q;
	std::memcpy(&t, d.data(), 4);
	std::memcpy(&q, d.data() + 4, 4);
	return test::to_vec(d) == stamped(t, q, d.size());
}

constexpr int threads = 4;
constexpr int per_thread = 2000;

} // namespace

TEST(concurrency, threads_append_to_their_own_regions)
{
	temp_file f;
	auto s = test::create(f.path, 16 << 20);
	std::vector<region> rs;
	for (int t = 0; t < threads; ++t)
		rs.push_back(*s->region_allocate(1 << 20));

	std::atomic<bool> done{false};
	std::atomic<uint64_t> reader_checks{0};
	std::thread reader([&] {
		uint64_t last = 0;
		while (!done.load()) {
			const uint64_t w = s->committed_timestamp();
			EXPECT_GE(w, last) << "the watermark went backwards";
			last = w;
			for (auto r : rs) {
				auto it = *s->entries(r);
				uint64_t prev = 0;
				for (auto e : it) {
					auto ts = *s->entry_timestamp(e);
					EXPECT_GT(ts, prev);
					EXPECT_LE(ts, s->committed_timestamp());
					prev = ts;
					EXPECT_TRUE(whole(*s->entry_data(e)));
					reader_checks.fetch_add(1);
				}
			}
		}
	});
	std::vector<std::thread> ws;
	for (int t = 0; t < threads; ++t)
		ws.emplace_back([&, t] {
			auto rt = *s->get_region_runtime(rs[t]);
			for (int i = 0; i < per_thread; ++i) {
				auto e = s->append(rs[t], stamped(t, i, 8 + (i % 100)), rt);
				ASSERT_TRUE(e);
				// Acknowledged means persisted, and so is every smaller timestamp.
				EXPECT_GE(s->persisted_timestamp(), *s->entry_timestamp(*e));
			}
		});
	for (auto &w : ws)
		w.join();
	done = true;
	reader.join();
	EXPECT_GT(reader_checks.load(), 0u);

	std::set<uint64_t> all;
	for (int t = 0; t < threads; ++t) {
		auto es = test::entries_of(*s, rs[t]);
		ASSERT_EQ(es.size(), static_cast<size_t>(per_thread));
		for (int i = 0; i < per_thread; ++i) {
			EXPECT_EQ(test::to_vec(*s->entry_data(es[i])), stamped(t, i, 8 + (i % 100)));
			all.insert(*s->entry_timestamp(es[i]));
		}
	}
	ASSERT_EQ(all.size(), static_cast<size_t>(threads * per_thread));
	EXPECT_EQ(*all.begin(), 1u);
	EXPECT_EQ(*all.rbegin(), static_cast<uint64_t>(threads * per_thread));
	EXPECT_EQ(s->committed_timestamp(), static_cast<uint64_t>(threads * per_thread));

	s.reset();
	auto s2 = test::reopen(f.path);
	for (int t = 0; t < threads; ++t)
		EXPECT_EQ(test::entries_of(*s2, rs[t]).size(), static_cast<size_t>(per_thread));
}

TEST(concurrency, threads_appending_to_one_region_lose_nothing)
{
	temp_file f;
	auto s = test::create(f.path, 16 << 20);
	auto r = *s->region_allocate(4 << 20);
	std::vector<std::thread> ws;
	for (int t = 0; t < threads; ++t)
		ws.emplace_back([&, t] {
			for (int i = 0; i < per_thread; ++i)
				ASSERT_TRUE(s->append(r, stamped(t, i, 24)));
		});
	for (auto &w : ws)
		w.join();
	auto es = test::entries_of(*s, r);
	ASSERT_EQ(es.size(), static_cast<size_t>(threads * per_thread));
	std::vector<int> next(threads, 0);
	uint64_t prev = 0;
	for (auto e : es) {
		auto d = *s->entry_data(e);
		ASSERT_TRUE(whole(d));
		uint32_t t, q;
		std::memcpy(&t, d.data(), 4);
		std::memcpy(&q, d.data() + 4, 4);
		EXPECT_EQ(q, static_cast<uint32_t>(next[t]++)) << "each thread's entries stay in its order";
		EXPECT_GT(*s->entry_timestamp(e), prev) << "append order is timestamp order within a region";
		prev = *s->entry_timestamp(e);
	}
}

TEST(concurrency, region_allocation_and_free_alongside_appends)
{
	temp_file f;
	auto s = test::create(f.path, 32 << 20);
	auto steady = *s->region_allocate(1 << 20);
	std::atomic<bool> stop{false};
	std::thread churn([&] {
		int n = 0;
		while (!stop.load()) {
			auto r = s->region_allocate(4096 + (n++ % 5) * 1000);
			ASSERT_TRUE(r) << r.err().message();
			ASSERT_TRUE(s->append(*r, stamped(9, 0, 16)));
			ASSERT_TRUE(s->region_free(*r));
		}
	});
	std::thread lister([&] {
		while (!stop.load()) {
			for (auto r : s->regions())
				(void)s->region_size(r); // may race with a free: either a size or invalid_handle
			(void)s->info();
		}
	});
	for (int i = 0; i < per_thread; ++i)
		ASSERT_TRUE(s->append(steady, stamped(1, i, 40)));
	stop = true;
	churn.join();
	lister.join();
	EXPECT_EQ(test::entries_of(*s, steady).size(), static_cast<size_t>(per_thread));
	EXPECT_EQ(test::regions_of(*s).size(), 1u);
	s.reset();
	auto s2 = test::reopen(f.path);
	EXPECT_EQ(test::regions_of(*s2).size(), 1u);
	EXPECT_EQ(test::entries_of(*s2, steady).size(), static_cast<size_t>(per_thread));
}
