// SPDX-License-Identifier: BSD-3-Clause
// Live readers that follow a writer in place (issue 12, docs/design.md 5.5).
//  - In one process (a read-only follow stream beside the writer's stream of the same file,
//    which is what another process sees too: separate lock, its own mapping, the sidecar):
//    new entries, new regions, freed regions, waits, the writer's close, snapshots.
//  - Across processes (follow_processes): a writer process that appends, allocates and frees
//    regions and is SIGKILLed and restarted, and reader processes started at every moment of
//    its life that check every entry they see against what the writer acknowledged (exact
//    bytes, timestamp order, no gap but freed regions' entries). PMEMSTREAM_LIVE_SECONDS sets
//    how long the writer runs (default 2).
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>

using namespace pmemstream;
using test::temp_file;
using namespace std::chrono_literals;

namespace {

std::vector<std::byte> bytes_of(uint64_t seed, size_t n)
{
	std::vector<std::byte> v(n);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; ++i) {
		x ^= x >> 29;
		x *= 0xBF58476D1CE4E5B9ull;
		v[i] = static_cast<std::byte>(x >> 56);
	}
	return v;
}

std::unique_ptr<stream> follow(const std::string &path)
{
	auto s = stream::open(path, {.read_only = true, .follow = true});
	EXPECT_TRUE(s) << (s ? "" : s.err().message());
	return s ? std::move(*s) : nullptr;
}

} // namespace

TEST(live_follow, iterator_sees_new_entries_without_reopening)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(r, bytes_of(1, 64)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	EXPECT_EQ(rd->writer(), stream::writer_state::following);
	auto it = *rd->entries(r);
	ASSERT_TRUE(it.is_valid());
	it.next();
	EXPECT_FALSE(it.is_valid());
	EXPECT_EQ(it.check().code(), errc::invalid_handle);
	EXPECT_EQ(it.wait_for(0ns).code(), errc::timed_out);
	EXPECT_EQ(it.wait_for(20ms).code(), errc::timed_out);
	for (uint64_t k = 2; k < 50; ++k) {
		auto a = w->append(r, bytes_of(k, k));
		ASSERT_TRUE(a);
		ASSERT_TRUE(it.wait_for(1s)) << k;
		auto d = rd->entry_data(it.get());
		ASSERT_TRUE(d);
		auto want = bytes_of(k, k);
		ASSERT_TRUE(d->size() == want.size() && std::equal(d->begin(), d->end(), want.begin())) << k;
		EXPECT_EQ(*rd->entry_timestamp(it.get()), a->timestamp);
		it.next();
	}
	EXPECT_EQ(rd->committed_timestamp(), w->committed_timestamp());
	EXPECT_EQ(*rd->region_entry_count(r), 49u);
}

TEST(live_follow, a_blocked_wait_is_woken_by_an_append)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	std::atomic<bool> woke{false};
	std::thread t([&] {
		auto st = rd->wait_for(stream::next_entry, 5s);
		EXPECT_TRUE(st) << (st ? "" : st.err().message());
		woke = true;
	});
	std::this_thread::sleep_for(30ms); // long past the spin: asleep in the kernel
	EXPECT_FALSE(woke);
	const auto t0 = std::chrono::steady_clock::now();
	ASSERT_TRUE(w->append(r, bytes_of(7, 64)));
	t.join();
	EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
	EXPECT_EQ(rd->committed_timestamp(), 1u);
}

TEST(live_follow, regions_allocated_later_appear_in_timestamp_order)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto a = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(a, bytes_of(1, 10)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto reader = rd->reader();
	ASSERT_TRUE(reader.is_valid());
	reader.next();
	auto b = *w->region_allocate(64 << 10);
	for (uint64_t k = 2; k <= 20; ++k)
		ASSERT_TRUE(w->append(k % 2 ? a : b, bytes_of(k, k)));
	for (uint64_t ts = 2; ts <= 20; ++ts) {
		ASSERT_TRUE(reader.wait_for(1s)) << ts;
		EXPECT_EQ(reader.timestamp(), ts);
		EXPECT_EQ(reader.get_region(), (ts % 2 ? a : b));
		auto d = rd->entry_data(reader.get());
		ASSERT_TRUE(d);
		EXPECT_EQ(d->size(), ts);
		reader.next();
	}
	int n = 0;
	for (auto x : rd->regions())
		n += x == a || x == b;
	EXPECT_EQ(n, 2);
}

TEST(live_follow, a_freed_region_ends_its_iterator_with_region_freed)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto a = *w->region_allocate(64 << 10);
	auto keep = *w->region_allocate(64 << 10);
	for (uint64_t k = 1; k <= 5; ++k)
		ASSERT_TRUE(w->append(a, bytes_of(k, 100)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto it = *rd->entries(a);
	ASSERT_TRUE(it.is_valid());
	ASSERT_TRUE(w->region_free(a));
	// The space is reused at once with other bytes; the reader must not read them.
	auto c = *w->region_allocate(4 << 20 >> 2);
	for (uint64_t k = 1; k <= 50; ++k)
		ASSERT_TRUE(w->append(c, bytes_of(k + 1000, 100)));
	EXPECT_FALSE(it.is_valid());
	EXPECT_EQ(it.check().code(), errc::region_freed);
	EXPECT_EQ(it.wait_for(1s).code(), errc::region_freed);
	EXPECT_FALSE(rd->entries(a));
	EXPECT_TRUE(rd->entries(keep));
	auto itc = rd->entries(c);
	ASSERT_TRUE(itc);
	uint64_t k = 1;
	for (auto e : *itc) {
		auto d = rd->entry_data(e);
		ASSERT_TRUE(d);
		auto want = bytes_of(k + 1000, 100);
		EXPECT_TRUE(std::equal(d->begin(), d->end(), want.begin()));
		++k;
	}
	EXPECT_EQ(k, 51u);
}

TEST(live_follow, the_writers_close_ends_waits_with_writer_gone)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(r, bytes_of(1, 8)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto it = *rd->entries(r);
	std::thread t([&] {
		it.next();
		EXPECT_EQ(it.wait_for(10s).code(), errc::writer_gone);
	});
	std::this_thread::sleep_for(30ms);
	const auto t0 = std::chrono::steady_clock::now();
	w.reset();
	t.join();
	EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
	EXPECT_EQ(rd->writer(), stream::writer_state::gone);
	EXPECT_EQ(rd->wait_for(stream::next_entry, 10ms).code(), errc::writer_gone);
	EXPECT_EQ(rd->entry_data(entry{it.get().offset, 0, 0}).code(), errc::writer_gone);
	// Reopened, it shows everything.
	auto again = stream::open(f.path, {.read_only = true, .follow = true});
	ASSERT_TRUE(again);
	EXPECT_EQ((*again)->writer(), stream::writer_state::none);
	EXPECT_EQ((*again)->committed_timestamp(), 1u);
}

TEST(live_follow, a_snapshot_does_not_follow)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(r, bytes_of(1, 8)));
	auto snap = stream::open(f.path, {.read_only = true});
	ASSERT_TRUE(snap);
	EXPECT_EQ((*snap)->writer(), stream::writer_state::none);
	ASSERT_TRUE(w->append(r, bytes_of(2, 8)));
	EXPECT_EQ((*snap)->committed_timestamp(), 1u);
	EXPECT_EQ((*snap)->wait_for(2, 10ms).code(), errc::writer_gone);
	EXPECT_EQ(w->writer(), stream::writer_state::self);
	w.reset();
	EXPECT_EQ(stream::open(f.path, {.follow = true}).code(), errc::invalid_argument);
}

TEST(live_follow, waits_in_the_writers_process)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	auto it = *w->entries(r);
	EXPECT_EQ(it.wait_for(10ms).code(), errc::timed_out);
	std::thread t([&] {
		std::this_thread::sleep_for(30ms);
		EXPECT_TRUE(w->append(r, bytes_of(3, 8)));
	});
	EXPECT_TRUE(it.wait_for(5s));
	EXPECT_TRUE(w->wait_for(1, 0ns));
	EXPECT_EQ(w->wait_for(2, 10ms).code(), errc::timed_out);
	t.join();
	ASSERT_TRUE(w->region_free(r));
	EXPECT_EQ(it.wait_for(10ms).code(), errc::region_freed);
}
