// SPDX-License-Identifier: BSD-3-Clause
// Real threads appending to their own regions on the simulated medium. While they run, the
// main thread repeatedly takes the durable image (what a power failure at that instant
// leaves if nothing in flight made it) and recovers it: every append acknowledged before the
// snapshot must be there, exact, the visible timestamps must form a prefix 1..T across all
// regions (an entry may only survive if every smaller timestamp does), and T must reach the
// persisted watermark read before the snapshot. After the threads
// finish, random crash images of the final state are checked against the full model.
#include "sim_media.hpp"
#include "stream_check.hpp"
#include "stream_factory.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

constexpr int threads = 3;
constexpr uint64_t per_thread = 2000;
constexpr uint64_t region_bytes = 160 * 1024;

uint64_t size_of(int t, uint64_t i)
{
	return (i * 37 + static_cast<uint64_t>(t) * 11) % 90;
}

std::vector<std::byte> data_of(int t, uint64_t i)
{
	std::vector<std::byte> d(size_of(t, i));
	uint64_t x = static_cast<uint64_t>(t) * 1000003 + i;
	for (auto &b : d) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		b = static_cast<std::byte>(x >> 56);
	}
	return d;
}

struct worker_log {
	std::atomic<uint64_t> acked{0};
	std::vector<uint64_t> ts = std::vector<uint64_t>(per_thread);
	std::vector<uint64_t> off = std::vector<uint64_t>(per_thread);
};

// Checks a recovered snapshot; `acked[t]` appends of thread t were acknowledged before it, and
// the live stream's persisted watermark was `persisted`.
std::vector<std::string> check_snapshot(const stream &s, const std::vector<region> &regs, const worker_log *logs,
					const uint64_t *acked, uint64_t persisted)
{
	std::vector<std::string> v;
	stream_model seen = read_stream(s, v);
	if (seen.regions.size() != regs.size())
		v.push_back("regions: " + std::to_string(seen.regions.size()));
	std::vector<uint64_t> ts;
	for (int t = 0; t < threads && seen.regions.size() == regs.size(); ++t) {
		const auto *mr = seen.find(regs[static_cast<size_t>(t)].offset);
		if (mr == nullptr) {
			v.push_back("region of thread " + std::to_string(t) + " missing");
			continue;
		}
		if (mr->entries.size() < acked[t])
			v.push_back("thread " + std::to_string(t) + ": " + std::to_string(mr->entries.size()) + " entries but " +
				    std::to_string(acked[t]) + " acknowledged");
		for (uint64_t i = 0; i < mr->entries.size(); ++i) {
			const auto &e = mr->entries[i];
			if (e.data != data_of(t, i)) {
				v.push_back("thread " + std::to_string(t) + " entry " + std::to_string(i) + ": wrong bytes");
				break;
			}
			if (i < acked[t] && (e.timestamp != logs[t].ts[i] || e.offset != logs[t].off[i])) {
				v.push_back("thread " + std::to_string(t) + " entry " + std::to_string(i) + ": wrong timestamp/offset");
				break;
			}
			ts.push_back(e.timestamp);
		}
	}
	std::sort(ts.begin(), ts.end());
	if (ts.size() < persisted)
		v.push_back("persisted_timestamp() was " + std::to_string(persisted) + " but only " + std::to_string(ts.size()) +
			    " entries survive");
	for (size_t i = 0; i < ts.size(); ++i)
		if (ts[i] != i + 1) {
			v.push_back("visible timestamps are not a prefix: position " + std::to_string(i) + " holds " +
				    std::to_string(ts[i]));
			break;
		}
	return v;
}

} // namespace

TEST(crash_threads, snapshots_while_threads_append)
{
	auto sm = std::make_unique<sim_media>(4096 + threads * (region_bytes + 4096));
	sim_media *media = sm.get();
	auto opened = detail::open_on_media(std::move(sm), 4096, {});
	ASSERT_TRUE(opened.has_value());
	auto s = std::move(*opened);
	std::vector<region> regs;
	for (int t = 0; t < threads; ++t)
		regs.push_back(s->region_allocate(region_bytes).value());

	worker_log logs[threads];
	std::atomic<bool> failed{false};
	std::vector<std::thread> pool;
	for (int t = 0; t < threads; ++t)
		pool.emplace_back([&, t] {
			for (uint64_t i = 0; i < per_thread; ++i) {
				auto e = s->append(regs[static_cast<size_t>(t)], data_of(t, i));
				if (!e) {
					failed = true;
					return;
				}
				logs[t].ts[i] = s->entry_timestamp(*e).value();
				logs[t].off[i] = e->offset;
				logs[t].acked.store(i + 1, std::memory_order_release);
				if (i % 2 == 0) // let many snapshots fall between appends
					std::this_thread::sleep_for(std::chrono::microseconds(300));
			}
		});

	uint64_t snapshots = 0, violations = 0;
	auto snapshot = [&] {
		uint64_t acked[threads];
		for (int t = 0; t < threads; ++t)
			acked[t] = logs[t].acked.load(std::memory_order_acquire);
		const uint64_t persisted = s->persisted_timestamp();
		auto img = media->persisted_image();
		auto r = detail::open_on_media(std::make_unique<sim_media>(img), 0, {});
		++snapshots;
		if (!r) {
			++violations;
			ADD_FAILURE() << "snapshot does not open: " << r.err().message();
			return;
		}
		for (auto &x : check_snapshot(**r, regs, logs, acked, persisted)) {
			++violations;
			ADD_FAILURE() << "snapshot " << snapshots << ": " << x;
		}
	};
	for (bool running = true; running;) {
		running = false;
		for (int t = 0; t < threads; ++t)
			running |= logs[t].acked.load() < per_thread && !failed;
		snapshot();
	}
	for (auto &th : pool)
		th.join();
	ASSERT_FALSE(failed.load());

	// Every append is acknowledged now: any crash image of this moment holds them all.
	stream_model model;
	for (int t = 0; t < threads; ++t) {
		model.allocated(regs[static_cast<size_t>(t)], s->region_size(regs[static_cast<size_t>(t)]).value());
		for (uint64_t i = 0; i < per_thread; ++i)
			model.appended(regs[static_cast<size_t>(t)], entry{logs[t].off[i]}, logs[t].ts[i], data_of(t, i));
	}
	std::mt19937_64 rng(7);
	std::vector<std::byte> img;
	for (int k = 0; k < 200; ++k) {
		media->crash_image(rng, img);
		auto r = detail::open_on_media(std::make_unique<sim_media>(img), 0, {});
		ASSERT_TRUE(r.has_value()) << r.err().message();
		for (auto &x : check_stream(**r, model, {})) {
			++violations;
			ADD_FAILURE() << "final image " << k << ": " << x;
		}
	}
	std::printf("crash_threads: %llu snapshots during %d x %llu appends, 200 final images, %llu violations\n",
		    static_cast<unsigned long long>(snapshots), threads, static_cast<unsigned long long>(per_thread),
		    static_cast<unsigned long long>(violations));
	EXPECT_GT(snapshots, 1u);
}
