// SPDX-License-Identifier: BSD-3-Clause
// Combining (issue 11, docs/design.md 2.3): appends queued on a region while another thread
// holds its lock are written by the next holder as one batch, with one fence per W entries,
// in the order they queued; each still gets its own outcome (region_full for one that does
// not fit, while a later smaller one uses the last bytes). White box: the test holds the
// region's lock to make the queue, and counts the fences of the simulated medium.
#include "engine/region_runtime.hpp"
#include "sim_media.hpp"
#include "stream_factory.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

using namespace pmemstream;
using pmemstream::test::sim_media;

namespace {

using namespace std::chrono_literals;
constexpr uint64_t medium_size = 4u << 20;

struct fixture {
	sim_media *m = nullptr;
	std::unique_ptr<stream> s;
	region r;
	region_runtime *rt = nullptr;
};

fixture make(uint32_t max_in_flight, uint64_t region_size = 64 * 1024)
{
	fixture x;
	auto sm = std::make_unique<sim_media>(medium_size);
	x.m = sm.get();
	x.m->set_serialized(true);
	open_options o;
	o.max_in_flight = max_in_flight;
	auto s = detail::open_on_media(std::move(sm), 4096, o);
	EXPECT_TRUE(s.has_value()) << (s ? "" : s.err().message());
	if (!s)
		return x;
	x.s = std::move(*s);
	x.r = x.s->region_allocate(region_size).value();
	x.rt = x.s->get_region_runtime(x.r).value();
	return x;
}

size_t queued(region_runtime &rt)
{
	size_t n = 0;
	for (auto *q = rt.requests.load(std::memory_order_acquire); q; q = q->next)
		++n;
	return n;
}

// Starts one append per payload on its own thread while the test holds the region's lock,
// each queued before the next starts (so the queue order is the start order); returns their
// futures with the lock still held.
std::vector<std::future<result<appended>>> queue_appends(fixture &x, const std::vector<std::vector<std::byte>> &payloads,
							  const std::vector<bool> &async = {})
{
	std::vector<std::future<result<appended>>> out;
	for (size_t i = 0; i < payloads.size(); ++i) {
		const bool a = i < async.size() && async[i];
		out.push_back(std::async(std::launch::async, [&x, &p = payloads[i], a] {
			return a ? x.s->async_append(x.r, p) : x.s->append(x.r, p);
		}));
		const auto deadline = std::chrono::steady_clock::now() + 10s;
		while (queued(*x.rt) != i + 1) {
			EXPECT_LT(std::chrono::steady_clock::now(), deadline) << "append " << i << " never queued";
			if (std::chrono::steady_clock::now() >= deadline)
				break;
			std::this_thread::yield();
		}
	}
	return out;
}

// The region's payloads in the medium's durable image (what survives a power failure now).
std::vector<std::vector<std::byte>> durable_payloads(const fixture &x)
{
	open_options o;
	o.read_only = true;
	auto s = detail::open_on_media(std::make_unique<sim_media>(x.m->persisted_image(), true), 0, o);
	EXPECT_TRUE(s.has_value()) << (s ? "" : s.err().message());
	std::vector<std::vector<std::byte>> out;
	if (!s)
		return out;
	for (auto e : ::test::entries_of(**s, x.r))
		out.push_back(::test::to_vec(*(*s)->entry_data(e)));
	return out;
}

} // namespace

TEST(combining, queued_appends_are_one_batch_with_one_fence_in_queue_order)
{
	auto x = make(default_max_in_flight);
	ASSERT_TRUE(x.s);
	const std::vector<std::vector<std::byte>> p = {::test::pattern(40, 1), ::test::pattern(100, 2), ::test::pattern(7, 3)};
	x.rt->lock.lock();
	auto f = queue_appends(x, p);
	const uint64_t drains = x.m->drains();
	x.rt->lock.unlock();
	std::vector<appended> a;
	for (auto &fu : f) {
		auto r = fu.get();
		ASSERT_TRUE(r.has_value()) << r.err().message();
		a.push_back(*r);
	}
	EXPECT_EQ(x.m->drains() - drains, 1u) << "three queued synchronous appends, one fence";
	for (size_t i = 1; i < a.size(); ++i) {
		EXPECT_EQ(a[i].timestamp, a[i - 1].timestamp + 1) << "one block of timestamps, in queue order";
		EXPECT_EQ(a[i].offset, a[i - 1].offset + format::entry_footprint(p[i - 1].size()));
	}
	EXPECT_EQ(durable_payloads(x), p) << "acknowledged, so durable";
	EXPECT_EQ(*x.s->region_entry_count(x.r), 3u);
}

TEST(combining, a_batch_longer_than_the_window_fences_every_w_entries)
{
	auto x = make(2);
	ASSERT_TRUE(x.s);
	std::vector<std::vector<std::byte>> p;
	for (unsigned i = 0; i < 5; ++i)
		p.push_back(::test::pattern(24, i));
	x.rt->lock.lock();
	auto f = queue_appends(x, p);
	const uint64_t drains = x.m->drains();
	x.rt->lock.unlock();
	for (auto &fu : f)
		ASSERT_TRUE(fu.get().has_value());
	EXPECT_EQ(x.m->drains() - drains, 3u) << "W = 2: batches of 2, 2 and 1";
	EXPECT_EQ(durable_payloads(x), p);
}

TEST(combining, an_entry_that_does_not_fit_fails_alone_and_a_smaller_one_takes_the_last_bytes)
{
	auto x = make(default_max_in_flight, 4096);
	ASSERT_TRUE(x.s);
	const uint64_t usable = *x.s->region_usable_size(x.r);
	// Fill all but 256 bytes, then queue: 100 bytes (fits), 400 (does not), 64 (fits).
	const uint64_t first = usable - 256 - sizeof(format::entry_header);
	ASSERT_TRUE(x.s->append(x.r, ::test::pattern(first, 9)).has_value());
	const std::vector<std::vector<std::byte>> p = {::test::pattern(100, 1), ::test::pattern(400, 2), ::test::pattern(64, 3)};
	x.rt->lock.lock();
	auto f = queue_appends(x, p);
	x.rt->lock.unlock();
	auto a0 = f[0].get(), a1 = f[1].get(), a2 = f[2].get();
	ASSERT_TRUE(a0.has_value());
	ASSERT_FALSE(a1.has_value());
	EXPECT_EQ(a1.code(), errc::region_full);
	ASSERT_TRUE(a2.has_value());
	EXPECT_EQ(a2->offset, a0->offset + format::entry_footprint(100));
	EXPECT_EQ(a2->timestamp, a0->timestamp + 1);
	const auto d = durable_payloads(x);
	ASSERT_EQ(d.size(), 3u);
	EXPECT_EQ(d[1], p[0]);
	EXPECT_EQ(d[2], p[2]);
}

TEST(combining, asynchronous_and_synchronous_appends_share_a_batch)
{
	auto x = make(default_max_in_flight);
	ASSERT_TRUE(x.s);
	const std::vector<std::vector<std::byte>> p = {::test::pattern(40, 1), ::test::pattern(40, 2), ::test::pattern(40, 3)};
	x.rt->lock.lock();
	auto f = queue_appends(x, p, {true, false, true});
	x.rt->lock.unlock();
	std::vector<appended> a;
	for (auto &fu : f)
		a.push_back(fu.get().value());
	// The synchronous one returned: it and every smaller timestamp are durable (prefix rule).
	EXPECT_GE(x.s->persisted_timestamp(), a[1].timestamp);
	auto d = durable_payloads(x);
	ASSERT_GE(d.size(), 2u);
	EXPECT_EQ(d[0], p[0]);
	EXPECT_EQ(d[1], p[1]);
	ASSERT_TRUE(x.s->wait_persisted(a[2].timestamp));
	EXPECT_EQ(durable_payloads(x), p);
}

TEST(combining, appends_queued_behind_a_reservation_wait_for_its_publish)
{
	auto x = make(default_max_in_flight);
	ASSERT_TRUE(x.s);
	auto res = x.s->reserve(x.r, 32).value();
	const std::vector<std::vector<std::byte>> p = {::test::pattern(40, 1), ::test::pattern(50, 2)};
	std::vector<std::future<result<appended>>> f;
	for (auto &q : p)
		f.push_back(std::async(std::launch::async, [&x, &q] { return x.s->append(x.r, q); }));
	EXPECT_EQ(f[0].wait_for(50ms), std::future_status::timeout) << "an append claimed after an unpublished reservation";
	std::memcpy(res.data, ::test::pattern(32, 7).data(), 32);
	const uint64_t ts = x.s->publish(x.r, res.ent, 32).value();
	for (auto &fu : f) {
		auto a = fu.get();
		ASSERT_TRUE(a.has_value()) << a.err().message();
		EXPECT_GT(a->timestamp, ts);
		EXPECT_GT(a->offset, res.ent.offset);
	}
	EXPECT_EQ(*x.s->region_entry_count(x.r), 3u);
}
