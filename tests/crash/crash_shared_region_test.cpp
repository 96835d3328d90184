// SPDX-License-Identifier: BSD-3-Clause
// Crash exploration of 2-4 threads appending to ONE region (issue 11), on the per-thread-fence
// medium (a fence makes durable only the calling thread's flushes). The threads fill the
// region to its end with entries of 0-300 bytes, many sized to what the region has left, then
// append to a second shared region that stays open; a neighbour region takes appends from
// another thread meanwhile. The explorer (explorer.hpp) draws crash images before every fence
// of every thread, at flushes and after every acknowledgement, with lines lost, kept or torn
// at 8 bytes, and recovers each: every acknowledged append is there with its exact bytes, the
// visible timestamps are a prefix reaching the persisted watermark observed, nothing torn or
// never submitted is visible, the neighbour is exact. Some recoveries are crashed again at
// each of their own fences, then appended to (which must work), crashed during the close, and
// the closed image opened again (the same entries).
//
// Today one region's appends are serialised by its lock, so at a crash point the other
// threads' appends are submitted but not written; with appends that write in parallel they
// are partly written, which is what this test is for.
//
// PMEMSTREAM_CRASH_IMAGES=N draws N/12 images per fence (default 300/12) and a tenth of that per
// sampled flush; PMEMSTREAM_CRASH_SHARED_FILLS=K fills the shared region K times (default 1:
// after each fill the stream is reopened and the region freed and allocated again).
#include "explorer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = std::getenv(name);
	if (v == nullptr || *v == '\0')
		return dflt;
	return std::strtoull(v, nullptr, 0);
}

constexpr uint64_t block = 256;
constexpr uint64_t shared_bytes = 2304;	 // usable bytes of the region filled to its end
constexpr uint64_t open_bytes = 3840;	 // of the shared region that stays open
constexpr uint64_t neighbour_bytes = 768;
constexpr uint64_t stream_bytes = 4096 + 8 * 1024;

explore_config cfg()
{
	explore_config c = explore_config::from_env();
	c.images_per_fence = std::max<uint64_t>(1, c.images_per_fence / 12);
	c.images_per_flush = std::max<uint64_t>(1, c.images_per_fence / 10);
	c.flush_stride = 2;
	c.nested_every = 70;
	c.nested_images = 3;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	// ~10x slower checks (the short TSan pass runs this): the schedules matter more there.
	c.flush_stride = 8;
	c.nested_every = 150;
#endif
	c.open.max_in_flight = 3;
	c.open.commit.worker = commit_policy::worker_mode::off;
	return c;
}

struct fill_result {
	uint64_t appended = 0;
	uint64_t refused_need = 0; // footprint of the append refused with region_full (0: none)
};

// One thread's appends to `r` until its first region_full: mixed sizes, and near the end most
// of them aimed at the bytes the region has left, so that the threads race for its end.
fill_result fill(explorer &x, region r, int thread, uint64_t limit)
{
	fill_result out;
	std::mt19937_64 rng(static_cast<uint64_t>(thread) * 7919 + 3);
	for (uint64_t i = 0; i < limit; ++i) {
		uint64_t size = rng() % 3 == 0 ? rng() % 300 : rng() % 48;
		if (rng() % 3 != 0) {
			auto left = x.s().region_usable_size(r);
			if (left && *left < 400) {
				// A footprint of what is left, 8 bytes less, or 8 or 16 bytes more (region_full).
				const uint64_t plus8 = *left + rng() % 4 * 8;
				size = plus8 >= 8 + 16 ? plus8 - 8 - 16 : rng() % 8;
			}
		}
		auto e = x.append(r, size);
		if (!e) {
			EXPECT_EQ(e.code(), errc::region_full) << "thread " << thread << ": " << e.err().message();
			out.refused_need = entry_footprint(size);
			// Then one entry 8 bytes larger than what is left: region_full too (space only
			// shrinks); if it is taken, the checks of the model find it past the region's end.
			if (auto left = x.s().region_usable_size(r); left && *left <= shared_bytes)
				(void)x.append(r, *left + 8 >= 16 ? *left + 8 - 16 : 0);
			break;
		}
		++out.appended;
	}
	return out;
}

void shared_region_workload(explorer &x, int threads, uint64_t fills)
{
	x.create();
	if (!x.live())
		return;
	auto shared = x.allocate(shared_bytes);
	auto neighbour = x.allocate(neighbour_bytes);
	auto open_region = x.allocate(open_bytes);
	ASSERT_TRUE(shared && neighbour && open_region);
	for (uint64_t round = 0; round < fills; ++round) {
		// Fill the region to its end from every thread, the neighbour from one more.
		std::vector<fill_result> res(static_cast<size_t>(threads));
		{
			std::vector<std::thread> pool;
			pool.emplace_back([&] {
				for (uint64_t i = 0; i < 6; ++i) {
					// (It fills up after a few rounds of PMEMSTREAM_CRASH_SHARED_FILLS.)
					auto e = x.append(*neighbour, (i * 41) % 100);
					if (!e) {
						EXPECT_TRUE(e.code() == errc::region_full && round > 0) << e.err().message();
					}
				}
			});
			for (int t = 0; t < threads; ++t)
				pool.emplace_back([&, t] { res[static_cast<size_t>(t)] = fill(x, *shared, t + static_cast<int>(round) * 10, 1000); });
			for (auto &th : pool)
				th.join();
		}
		auto left = x.s().region_usable_size(*shared);
		ASSERT_TRUE(left.has_value());
		for (int t = 0; t < threads; ++t) {
			EXPECT_GT(res[static_cast<size_t>(t)].refused_need, *left)
				<< "thread " << t << " got region_full with room for its entry";
		}
		// The last bytes take an entry, to the byte.
		if (*left >= 16 && *left <= shared_bytes) {
			EXPECT_TRUE(x.append(*shared, *left - 16).has_value());
			EXPECT_EQ(x.s().region_usable_size(*shared).value(), 0u);
		}
		// Then a region that stays open: a fixed number of appends from every thread, half of
		// them asynchronous (up to max_in_flight of the region in flight), each thread waiting
		// for its own now and then.
		{
			std::vector<std::thread> pool;
			for (int t = 0; t < threads; ++t)
				pool.emplace_back([&, t] {
					uint64_t last_async = 0;
					for (uint64_t i = 0; i < 6; ++i) {
						const uint64_t size = (i * 53 + static_cast<uint64_t>(t) * 29) % 90;
						if ((i + static_cast<uint64_t>(t)) % 2 == 0) {
							auto e = x.async_append(*open_region, size);
							EXPECT_TRUE(e.has_value()) << (e ? "" : e.err().message());
							if (e)
								last_async = e->timestamp;
						} else {
							auto e = x.append(*open_region, size);
							EXPECT_TRUE(e.has_value()) << (e ? "" : e.err().message());
						}
						if (last_async != 0 && i % 3 == 2) {
							EXPECT_TRUE(x.wait_persisted(last_async).has_value());
							last_async = 0;
						}
					}
					if (last_async != 0) {
						EXPECT_TRUE(x.wait_persisted(last_async).has_value());
					}
				});
			for (auto &th : pool)
				th.join();
		}
		x.check_live();
		x.reopen();
		if (!x.live())
			return; // the open failed: a violation already
		x.check_live();
		// After a reopen: the same threads once more (recovered runtime state), then the region
		// freed and allocated again for the next fill.
		{
			std::vector<std::thread> pool;
			for (int t = 0; t < threads; ++t)
				pool.emplace_back([&, t] {
					for (uint64_t i = 0; i < 3; ++i) {
						auto e = x.append(*open_region, (i * 17 + static_cast<uint64_t>(t) * 5) % 40);
						if (!e) {
							EXPECT_EQ(e.code(), errc::region_full);
						}
					}
				});
			for (auto &th : pool)
				th.join();
		}
		if (round + 1 < fills) {
			EXPECT_TRUE(x.free(*shared).has_value());
			EXPECT_TRUE(x.free(*open_region).has_value());
			// The same sizes again, in the first round's order: steering away from just
			// freed space must leave room for both (region_catalog::choose_free).
			shared = x.allocate(shared_bytes);
			open_region = x.allocate(open_bytes);
			ASSERT_TRUE(shared && open_region) << "round " << round << ": " << (shared ? "" : shared.err().message()) << " / "
							   << (open_region ? "" : open_region.err().message());
		}
	}
	x.check_live();
	x.reopen();
	x.check_live();
}

void run(int threads)
{
	const auto t0 = std::chrono::steady_clock::now();
	const uint64_t fills = std::max<uint64_t>(1, env_u64("PMEMSTREAM_CRASH_SHARED_FILLS", 1));
	const std::string name = "shared_region x" + std::to_string(threads);
	explorer x(name, stream_bytes, block, cfg());
	shared_region_workload(x, threads, fills);
	const auto &f = x.figures();
	std::printf("crash[%s]: %llu crash points (%llu with several operations in flight, %llu with committed appends not "
		    "persisted, fences of %llu threads), %llu images, "
		    "%llu nested points, %llu nested images, %llu reopened after recovery and appends, %llu violations, %.1f s\n",
		    name.c_str(), static_cast<unsigned long long>(f.points), static_cast<unsigned long long>(f.crowded_points),
		    static_cast<unsigned long long>(f.unpersisted_points), static_cast<unsigned long long>(f.fence_threads),
		    static_cast<unsigned long long>(f.images),
		    static_cast<unsigned long long>(f.nested_points), static_cast<unsigned long long>(f.nested_images),
		    static_cast<unsigned long long>(f.reopened), static_cast<unsigned long long>(f.violations),
		    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
	for (auto &r : x.reports())
		std::printf("  %s\n", r.c_str());
	EXPECT_EQ(f.violations, 0u);
	EXPECT_GT(f.images, 0u);
	EXPECT_GT(f.crowded_points, 0u) << "no crash point had two appends in flight";
	EXPECT_GT(f.unpersisted_points, 0u) << "no crash point had an asynchronous append committed and not persisted";
	// Fences of the main thread and of every appender were crash points.
	EXPECT_GE(f.fence_threads, static_cast<uint64_t>(threads) + 1);
	EXPECT_GT(f.nested_images, 0u);
	EXPECT_GT(f.reopened, 0u);
}

} // namespace

TEST(crash_shared_region, two_threads)
{
	run(2);
}

TEST(crash_shared_region, three_threads)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	GTEST_SKIP() << "two and four threads are enough under a sanitizer";
#endif
	run(3);
}

TEST(crash_shared_region, four_threads)
{
	run(4);
}
