// SPDX-License-Identifier: BSD-3-Clause
// The quiesce promise (docs/design.md 2.3): free, clear and truncation of a region wait for
// the appends in flight there (claimed, not finished) before they change anything, so that an
// append never writes into a region that has been freed, cleared or cut under it. The test
// stops an append of the claim path inside its fill (claimed and sequenced, nothing written
// yet) with a gate in the medium, starts the operation on another thread, checks that it
// does not return while the append is held, then releases the append.
#include "gate_media.hpp"
#include "engine/region_runtime.hpp"
#include "stream_factory.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <thread>

using namespace pmemstream;
using pmemstream::test::gate_media;
using pmemstream::test::sim_media;

namespace {

using namespace std::chrono_literals;

struct held_append {
	gate_media *gate = nullptr;
	std::unique_ptr<stream> s;
	region r;
	region_runtime *rt = nullptr;
	std::vector<std::byte> data = ::test::pattern(48, 5);
	std::future<result<appended>> append; // held in its fill until gate->release()
};

// An append of the claim path, held after its claim and sequencing: another thread's
// reservation makes the append claim (combining is not used while claims are outstanding),
// then the reservation is published, so that nothing but the held append is outstanding.
void hold_an_append(held_append &h)
{
	auto g = std::make_unique<gate_media>(std::make_unique<sim_media>(1 << 20));
	h.gate = g.get();
	auto s = detail::open_on_media(std::move(g), 4096, open_options{});
	ASSERT_TRUE(s.has_value()) << s.err().message();
	h.s = std::move(*s);
	h.r = h.s->region_allocate(16 * 1024).value();
	h.rt = h.s->get_region_runtime(h.r).value();
	ASSERT_TRUE(h.s->append(h.r, ::test::pattern(40, 1)).has_value());
	auto res = h.s->reserve(h.r, 32).value();
	std::promise<void> armed;
	h.append = std::async(std::launch::async, [&h, &armed] {
		h.gate->arm_for_this_thread();
		armed.set_value();
		return h.s->append(h.r, h.data);
	});
	armed.get_future().wait();
	// Its claim is made (behind the reservation) before the reservation is published.
	for (auto until = std::chrono::steady_clock::now() + 10s;;) {
		{
			std::lock_guard lk(h.rt->lock);
			if (h.rt->claims_made - h.rt->claims_done == 2)
				break;
		}
		ASSERT_LT(std::chrono::steady_clock::now(), until) << "the append never claimed";
		std::this_thread::yield();
	}
	std::memset(res.data, 7, 32);
	ASSERT_TRUE(h.s->publish(h.r, res.ent, 32).has_value());
	ASSERT_TRUE(h.gate->wait_blocked()) << "the append never reached its fill";
	std::lock_guard lk(h.rt->lock);
	ASSERT_EQ(h.rt->reservations, 0u);
	ASSERT_TRUE(h.rt->outstanding()) << "the held append's claim is in flight";
}

// Runs `op` on another thread while the append is held: it must not return until the append
// is released; then both succeed.
template <typename Op>
void expect_waits_for_the_append(held_append &h, Op op)
{
	auto done = std::async(std::launch::async, std::move(op));
	EXPECT_EQ(done.wait_for(200ms), std::future_status::timeout) << "returned while an append was being written";
	h.gate->release();
	auto a = h.append.get();
	ASSERT_TRUE(a.has_value()) << a.err().message();
	ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
	done.get();
}

} // namespace

TEST(quiesce, clear_waits_for_an_append_in_flight_and_then_drops_it)
{
	held_append h;
	ASSERT_NO_FATAL_FAILURE(hold_an_append(h));
	expect_waits_for_the_append(h, [&h] { EXPECT_TRUE(h.s->region_clear(h.r).has_value()); });
	EXPECT_EQ(*h.s->region_entry_count(h.r), 0u) << "the clear came after the append";
	auto again = h.s->append(h.r, ::test::pattern(10, 9));
	ASSERT_TRUE(again.has_value());
	EXPECT_EQ(::test::entries_of(*h.s, h.r).size(), 1u);
}

// An append made while the clear waits for the one in flight waits for the clear too (its
// claim is not made during the drain) and then lands in the cleared region.
TEST(quiesce, an_append_made_during_the_drain_waits_and_lands_after_the_clear)
{
	held_append h;
	ASSERT_NO_FATAL_FAILURE(hold_an_append(h));
	auto clear = std::async(std::launch::async, [&h] { return h.s->region_clear(h.r).has_value(); });
	for (auto until = std::chrono::steady_clock::now() + 10s;;) {
		{
			std::lock_guard lk(h.rt->lock);
			if (h.rt->draining != 0)
				break;
		}
		ASSERT_LT(std::chrono::steady_clock::now(), until) << "the clear never started to drain";
		std::this_thread::yield();
	}
	const auto late_data = ::test::pattern(20, 3);
	auto late = std::async(std::launch::async, [&h, &late_data] { return h.s->append(h.r, late_data); });
	EXPECT_EQ(late.wait_for(100ms), std::future_status::timeout) << "an append went ahead of a clear in progress";
	h.gate->release();
	ASSERT_TRUE(h.append.get().has_value());
	EXPECT_TRUE(clear.get());
	ASSERT_TRUE(late.get().has_value());
	const auto left = ::test::entries_of(*h.s, h.r);
	ASSERT_EQ(left.size(), 1u) << "the late append came after the clear";
	EXPECT_EQ(::test::to_vec(*h.s->entry_data(left[0])), late_data);
}

TEST(quiesce, free_waits_for_an_append_in_flight)
{
	held_append h;
	ASSERT_NO_FATAL_FAILURE(hold_an_append(h));
	expect_waits_for_the_append(h, [&h] { EXPECT_TRUE(h.s->region_free(h.r)); });
	auto late = h.s->append(h.r, ::test::pattern(10, 9));
	ASSERT_FALSE(late.has_value());
	EXPECT_EQ(late.code(), errc::invalid_handle);
}

TEST(quiesce, suffix_truncation_waits_for_an_append_in_flight_and_cuts_it)
{
	held_append h;
	ASSERT_NO_FATAL_FAILURE(hold_an_append(h));
	const entry first = ::test::entries_of(*h.s, h.r).front();
	expect_waits_for_the_append(h, [&h, first] { EXPECT_TRUE(h.s->region_truncate_after(h.r, first).has_value()); });
	// The append (after the published reservation) came before the cut: both are gone.
	EXPECT_EQ(*h.s->region_entry_count(h.r), 1u);
}
