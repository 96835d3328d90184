// SPDX-License-Identifier: BSD-3-Clause
// Simulated power failure at every fence of each workload (and at sampled flushes and right
// after each acknowledgement), many images per moment; see docs/reliability.md.
#include "explorer.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

explore_figures total;

void report(const char *name, const explorer &x)
{
	const auto &f = x.figures();
	std::printf("crash[%s]: %llu crash points (%llu with several operations in flight), %llu images checked, %llu nested points, "
		    "%llu nested images, %llu violations\n",
		    name, static_cast<unsigned long long>(f.points), static_cast<unsigned long long>(f.crowded_points),
		    static_cast<unsigned long long>(f.images), static_cast<unsigned long long>(f.nested_points),
		    static_cast<unsigned long long>(f.nested_images), static_cast<unsigned long long>(f.violations));
	std::fflush(stdout);
	total += f;
}

region must_allocate(explorer &x, uint64_t size)
{
	auto r = x.allocate(size);
	EXPECT_TRUE(r.has_value()) << "allocate " << size << ": " << (r ? "" : r.err().message());
	return r ? *r : region{};
}

void must_append(explorer &x, region r, uint64_t size)
{
	auto e = x.append(r, size);
	EXPECT_TRUE(e.has_value()) << "append " << size << ": " << (e ? "" : e.err().message());
}

void must_free(explorer &x, region r)
{
	auto st = x.free(r);
	EXPECT_TRUE(st.has_value()) << "free: " << (st ? "" : st.err().message());
}

// Appends of every interesting size, an entry that fills a region exactly, and the append that
// then no longer fits.
void appends_workload(explorer &x, uint64_t *mark_begin = nullptr, uint64_t *mark_end = nullptr)
{
	x.create();
	region a = must_allocate(x, 8192);
	for (uint64_t n : {0, 1, 7, 8, 9, 63, 64}) // sizes around the 8-byte word and the cache line
		must_append(x, a, n);
	if (mark_begin)
		*mark_begin = x.drains();
	must_append(x, a, 65);
	if (mark_end)
		*mark_end = x.drains();
	must_append(x, a, 200);
	must_append(x, a, 4096);
	region b = must_allocate(x, 1000);
	auto usable = x.s().region_usable_size(b);
	ASSERT_TRUE(usable.has_value());
	must_append(x, b, *usable - entry_header_size); // entry_fills_region_exactly
	EXPECT_EQ(x.s().region_usable_size(b).value(), 0u);
	auto full = x.s().append(b, nullptr, 0);
	EXPECT_EQ(full.code(), errc::region_full);
	must_append(x, a, 3);
	x.check_live();
	x.reopen();
	x.check_live();
}

void reserve_workload(explorer &x)
{
	x.create();
	region a = must_allocate(x, 2048);
	must_append(x, a, 10);
	for (auto [res, pub] : {std::pair<uint64_t, uint64_t>{100, 100}, {64, 30}, {0, 0}, {1, 1}, {200, 199}})
		EXPECT_TRUE(x.reserve_publish(a, res, pub).has_value());
	// A second reservation replaces the first, which never becomes visible.
	ASSERT_TRUE(x.s().reserve(a, 300).has_value());
	EXPECT_TRUE(x.reserve_publish(a, 50, 50).has_value());
	must_append(x, a, 9);
	x.check_live();
	x.reopen();
	x.check_live();
}

// Allocation and free, with coalescing forced by a full arena (16 blocks of 1 KiB).
void regions_workload(explorer &x, uint64_t *alloc_begin = nullptr, uint64_t *alloc_end = nullptr)
{
	x.create();
	const uint64_t blk = 1024, hdr = region_header_size;
	if (alloc_begin)
		*alloc_begin = x.drains();
	region a = must_allocate(x, blk - hdr);
	if (alloc_end)
		*alloc_end = x.drains();
	region b = must_allocate(x, 2 * blk - hdr);
	region c = must_allocate(x, 2 * blk - hdr);
	region d = must_allocate(x, 11 * blk - hdr);
	must_append(x, a, 100);
	must_append(x, b, 300);
	must_append(x, c, 5);
	must_append(x, d, 1000);
	EXPECT_EQ(x.s().region_allocate(1).code(), errc::out_of_space);
	must_free(x, b);
	must_free(x, c); // coalesces with b
	region e = must_allocate(x, 4 * blk - hdr); // needs b + c
	must_append(x, e, 700);
	must_append(x, a, 7);
	must_free(x, a);
	must_free(x, e); // a + e
	region g = must_allocate(x, 5 * blk - hdr);
	must_append(x, g, 64);
	must_free(x, d);
	must_free(x, g);
	region h = must_allocate(x, 16 * blk - hdr); // the whole arena
	must_append(x, h, 4000);
	must_append(x, h, 0);
	x.check_live();
	x.reopen();
	x.check_live();
}

// Three "threads" appending to their own regions, interleaved one step at a time.
void interleaved_workload(explorer &x)
{
	x.create();
	region r[3];
	for (auto &reg : r)
		reg = must_allocate(x, 4096);
	std::mt19937_64 rng(x.data_rng()());
	for (int step = 0; step < 60; ++step)
		must_append(x, r[rng() % 3], rng() % 200);
	x.check_live();
	x.reopen();
	x.check_live();
}

// Real threads appending at once: three to their own regions, then two to one region (one of
// them submitted and waiting for the region's lock while the other fences). The crash points
// fall on whichever thread stores; the others wait at their next store, and the history says
// which of their appends are in flight. The schedule, hence the figures, vary from run to run.
void threads_workload(explorer &x)
{
	x.create();
	region own[3];
	for (auto &reg : own)
		reg = must_allocate(x, 4096);
	region shared = must_allocate(x, 4096);
	auto run = [&](int n, auto &&target) {
		std::vector<std::thread> pool;
		for (int t = 0; t < n; ++t)
			pool.emplace_back([&, t] {
				for (uint64_t i = 0; i < 8; ++i)
					must_append(x, target(t), (i * 37 + static_cast<uint64_t>(t) * 13) % 150);
			});
		for (auto &th : pool)
			th.join();
	};
	run(3, [&](int t) { return own[t]; });
	run(2, [&](int) { return shared; });
	x.check_live();
	x.reopen();
	x.check_live();
}

void reopen_workload(explorer &x)
{
	x.create();
	region a = must_allocate(x, 3000);
	for (uint64_t n : {5, 70, 0})
		must_append(x, a, n);
	x.reopen();
	for (uint64_t n : {9, 128})
		must_append(x, a, n);
	region b = must_allocate(x, 500);
	must_append(x, b, 33);
	x.reopen();
	must_free(x, a);
	must_append(x, b, 1);
	x.reopen();
	region c = must_allocate(x, 1000);
	must_append(x, c, 40);
	x.check_live();
	x.reopen();
	x.check_live();
}

// Random operations of every kind (seeded): the model, not the workload, knows what to expect.
void mixed_workload(explorer &x)
{
	x.create();
	std::mt19937_64 rng(x.data_rng()() ^ 0x5eed);
	std::vector<region> live;
	for (int step = 0; step < 150; ++step) {
		const uint64_t dice = rng() % 100;
		if (live.empty() || (dice < 12 && live.size() < 6)) {
			auto r = x.allocate(64 + rng() % 4000);
			if (r)
				live.push_back(*r);
			else {
				EXPECT_EQ(r.code(), errc::out_of_space);
			}
		} else if (dice < 18) {
			const size_t i = rng() % live.size();
			must_free(x, live[i]);
			live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
		} else if (dice < 30) {
			const uint64_t n = rng() % 300;
			auto st = x.reserve_publish(live[rng() % live.size()], n + rng() % 40, n);
			if (!st) {
				EXPECT_EQ(st.code(), errc::region_full);
			}
		} else {
			auto e = x.append(live[rng() % live.size()], rng() % 2 ? rng() % 64 : rng() % 700);
			if (!e) {
				EXPECT_EQ(e.code(), errc::region_full);
			}
		}
		if (step == 75)
			x.reopen();
	}
	x.check_live();
	x.reopen();
	x.check_live();
}

explore_config cfg()
{
	return explore_config::from_env();
}

} // namespace

TEST(crash_points, appends)
{
	explorer x("appends", 4096 + 48 * 1024, 256, cfg());
	appends_workload(x);
	report("appends", x);
	EXPECT_GT(x.figures().images, 0u);
	EXPECT_EQ(x.figures().violations, 0u);
}

TEST(crash_points, reserve_publish)
{
	explorer x("reserve_publish", 4096 + 8 * 1024, 256, cfg());
	reserve_workload(x);
	report("reserve_publish", x);
	EXPECT_EQ(x.figures().violations, 0u);
}

TEST(crash_points, regions)
{
	explorer x("regions", 4096 + 16 * 1024, 1024, cfg());
	regions_workload(x);
	report("regions", x);
	EXPECT_EQ(x.figures().violations, 0u);
}

TEST(crash_points, interleaved)
{
	explorer x("interleaved", 4096 + 16 * 1024, 256, cfg());
	interleaved_workload(x);
	report("interleaved", x);
	EXPECT_EQ(x.figures().violations, 0u);
}

TEST(crash_points, threads)
{
	explorer x("threads", 4096 + 20 * 1024, 256, cfg());
	threads_workload(x);
	report("threads", x);
	EXPECT_GT(x.figures().images, 0u);
	EXPECT_GT(x.figures().crowded_points, 0u) << "no crash point had two appends in flight";
	EXPECT_EQ(x.figures().violations, 0u);
}

TEST(crash_points, reopen)
{
	explorer x("reopen", 4096 + 8 * 1024, 256, cfg());
	reopen_workload(x);
	report("reopen", x);
	EXPECT_EQ(x.figures().violations, 0u);
}

TEST(crash_points, mixed)
{
	explorer x("mixed", 4096 + 24 * 1024, 512, cfg());
	mixed_workload(x);
	report("mixed", x);
	EXPECT_EQ(x.figures().violations, 0u);
}

// The harness must be able to fail: a medium that loses one fence (with the flushes before
// it) of an acknowledged append, or of a region allocation, must be caught.
TEST(crash_points, harness_catches_a_dropped_fence_in_append)
{
	explore_config quiet = cfg();
	quiet.images_per_fence = 0;
	quiet.images_per_flush = 0;
	uint64_t before = 0, after = 0;
	{
		explorer dry("dry", 4096 + 48 * 1024, 256, quiet);
		appends_workload(dry, &before, &after);
	}
	ASSERT_GT(after, before);
	explore_config c = cfg();
	c.images_per_fence = 16;
	explorer x("dropped-append-fence", 4096 + 48 * 1024, 256, c);
	x.drop_drain(after); // the last fence of the 65-byte append
	appends_workload(x);
	report("dropped-append-fence (violations expected)", x);
	EXPECT_GT(x.figures().violations, 0u) << "a lost fence went unnoticed";
}

TEST(crash_points, harness_catches_a_dropped_fence_in_allocation)
{
	explore_config quiet = cfg();
	quiet.images_per_fence = 0;
	quiet.images_per_flush = 0;
	uint64_t before = 0, after = 0;
	{
		explorer dry("dry", 4096 + 16 * 1024, 1024, quiet);
		regions_workload(dry, &before, &after);
	}
	ASSERT_GT(after, before);
	explore_config c = cfg();
	c.images_per_fence = 16;
	explorer x("dropped-allocation-fence", 4096 + 16 * 1024, 1024, c);
	// The first fence: it makes the header of the free remainder durable. (Each of the two
	// later ones alone is covered by the other, as the mirrored slots intend.)
	x.drop_drain(before + 1);
	regions_workload(x);
	report("dropped-allocation-fence (violations expected)", x);
	EXPECT_GT(x.figures().violations, 0u) << "a lost fence went unnoticed";
}

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	const int rc = RUN_ALL_TESTS();
	std::printf("crash total: %llu crash points, %llu images checked, %llu nested points, %llu nested images\n",
		    static_cast<unsigned long long>(total.points), static_cast<unsigned long long>(total.images),
		    static_cast<unsigned long long>(total.nested_points), static_cast<unsigned long long>(total.nested_images));
	return rc;
}
