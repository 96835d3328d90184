// SPDX-License-Identifier: BSD-3-Clause
// Several threads in one region (issue 11, docs/design.md 2.3): reservations of several
// threads outstanding at once and published in any order, shortened publishes and cancels
// that leave padding behind them, appends waiting behind another thread's reservation, and
// what a thread may not do with its own outstanding reservation.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using namespace pmemstream;
using test::bytes;
using test::temp_file;

namespace {

using namespace std::chrono_literals;

std::vector<std::vector<std::byte>> payloads_of(const stream &s, region r)
{
	std::vector<std::vector<std::byte>> out;
	for (auto e : test::entries_of(s, r))
		out.push_back(test::to_vec(*s.entry_data(e)));
	return out;
}

// Runs f on another thread and returns its future (the thread is joined by get()).
template <typename F>
auto on_thread(F f)
{
	return std::async(std::launch::async, std::move(f));
}

} // namespace

TEST(shared_region, reservations_of_two_threads_publish_in_any_order)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(4000);
	auto first = *s->reserve(r, 10);
	std::memcpy(first.data, "first-----", 10);
	// Another thread reserves after it and publishes first: it waits for the first one,
	// whose timestamp must be the smaller (entries of a region lie in timestamp order).
	std::promise<reservation> second_made;
	auto second = on_thread([&] {
		auto res = *s->reserve(r, 12);
		std::memcpy(res.data, "second------", 12);
		second_made.set_value(res);
		return *s->publish(r, res.ent, 12);
	});
	const reservation two = second_made.get_future().get();
	EXPECT_GT(two.ent.offset, first.ent.offset);
	EXPECT_EQ(second.wait_for(50ms), std::future_status::timeout) << "published before the reservation ahead of it";
	EXPECT_EQ(test::entries_of(*s, r).size(), 0u);
	const uint64_t ts1 = *s->publish(r, first.ent, 10);
	const uint64_t ts2 = second.get();
	EXPECT_LT(ts1, ts2);
	auto got = payloads_of(*s, r);
	ASSERT_EQ(got.size(), 2u);
	EXPECT_EQ(got[0], bytes("first-----"));
	EXPECT_EQ(got[1], bytes("second------"));
	s.reset();
	auto s2 = test::reopen(f.path);
	EXPECT_EQ(payloads_of(*s2, r), got);
}

TEST(shared_region, shortened_publish_with_a_claim_after_it_leaves_padding)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(4000);
	const uint64_t usable = *s->region_usable_size(r);
	auto a = *s->reserve(r, 200);
	std::memset(a.data, 'a', 200);
	auto later = on_thread([&] { return *s->append(r, bytes("after")); });
	// The append claims after the reservation and waits for it.
	std::this_thread::sleep_for(30ms);
	EXPECT_EQ(later.wait_for(0ms), std::future_status::timeout) << "an append overtook a reservation ahead of it";
	ASSERT_TRUE(s->publish(r, a.ent, 3));
	const appended b = later.get();
	EXPECT_EQ(b.offset, a.ent.offset + entry_footprint(200) + 16) << "the append's claim did not follow the reservation's";
	auto got = payloads_of(*s, r);
	ASSERT_EQ(got.size(), 2u) << "the padding entry is never shown";
	EXPECT_EQ(got[0], bytes("aaa"));
	EXPECT_EQ(got[1], bytes("after"));
	EXPECT_EQ(*s->region_entry_count(r), 2u);
	EXPECT_EQ(*s->region_usable_size(r), usable - (entry_footprint(200) + 16) - entry_footprint(5));
	s.reset();
	auto s2 = test::reopen(f.path);
	EXPECT_EQ(payloads_of(*s2, r), got);
	EXPECT_EQ(*s2->region_entry_count(r), 2u);
	ASSERT_TRUE(s2->append(r, bytes("reopened")));
	EXPECT_EQ(payloads_of(*s2, r).back(), bytes("reopened"));
}

TEST(shared_region, shortened_publish_of_the_last_claim_gives_the_rest_back)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(4000);
	const uint64_t usable = *s->region_usable_size(r);
	auto a = *s->reserve(r, 200);
	std::memcpy(a.data, "xyz", 3);
	ASSERT_TRUE(s->publish(r, a.ent, 3));
	EXPECT_EQ(*s->region_usable_size(r), usable - entry_footprint(3));
	auto e = *s->append(r, bytes("next"));
	EXPECT_EQ(e.offset, a.ent.offset + entry_footprint(3));
}

TEST(shared_region, cancel_gives_space_back_or_leaves_padding)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(4000);
	const uint64_t usable = *s->region_usable_size(r);
	// Nothing after it: the space comes back, no entry, no timestamp.
	auto a = *s->reserve(r, 100);
	ASSERT_TRUE(s->cancel(r, a.ent));
	EXPECT_EQ(s->cancel(r, a.ent).code(), errc::invalid_handle) << "cancelled twice";
	EXPECT_EQ(s->publish(r, a.ent, 1).code(), errc::invalid_handle);
	EXPECT_EQ(*s->region_usable_size(r), usable);
	EXPECT_EQ(s->last_timestamp(), 0u);
	// A claim after it: the reservation becomes a padding entry.
	auto b = *s->reserve(r, 100);
	std::memset(b.data, 0x5a, 100);
	auto later = on_thread([&] { return *s->append(r, bytes("behind")); });
	std::this_thread::sleep_for(20ms);
	EXPECT_EQ(later.wait_for(0ms), std::future_status::timeout) << "an append overtook a reservation ahead of it";
	ASSERT_TRUE(s->cancel(r, b.ent));
	const appended c = later.get();
	EXPECT_GT(c.offset, b.ent.offset);
	EXPECT_EQ(payloads_of(*s, r), std::vector<std::vector<std::byte>>{bytes("behind")});
	s.reset();
	auto s2 = test::reopen(f.path);
	EXPECT_EQ(payloads_of(*s2, r), std::vector<std::vector<std::byte>>{bytes("behind")});
}

TEST(shared_region, a_thread_with_its_own_reservation_gets_busy_and_others_wait)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(4000);
	auto a = *s->reserve(r, 8);
	EXPECT_EQ(s->append(r, bytes("mine")).code(), errc::busy) << "would wait for its own reservation";
	EXPECT_EQ(s->region_free(r).code(), errc::busy);
	EXPECT_EQ(s->region_clear(r).code(), errc::busy);
	std::atomic<bool> appended_other{false};
	auto other = on_thread([&] {
		auto e = s->append(r, bytes("other"));
		appended_other = true;
		return e;
	});
	std::this_thread::sleep_for(30ms);
	EXPECT_FALSE(appended_other.load());
	std::memcpy(a.data, "reserved", 8);
	const uint64_t ts = *s->publish(r, a.ent, 8);
	auto o = other.get();
	ASSERT_TRUE(o);
	EXPECT_GT(o->timestamp, ts);
	EXPECT_EQ(payloads_of(*s, r), (std::vector<std::vector<std::byte>>{bytes("reserved"), bytes("other")}));
}

TEST(shared_region, a_second_reserve_of_a_thread_replaces_its_first_only)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(4000);
	auto mine = *s->reserve(r, 16);
	auto theirs = on_thread([&] {
		auto res = *s->reserve(r, 16);
		std::memcpy(res.data, "theirs----------", 16);
		return res;
	}).get();
	auto again = *s->reserve(r, 16); // cancels `mine`, not theirs
	EXPECT_EQ(s->publish(r, mine.ent, 16).code(), errc::invalid_handle);
	std::memcpy(again.data, "again-----------", 16);
	// theirs is ahead of again; publish both from here (any thread may publish a handle).
	ASSERT_TRUE(s->publish(r, theirs.ent, 16));
	ASSERT_TRUE(s->publish(r, again.ent, 16));
	EXPECT_EQ(payloads_of(*s, r), (std::vector<std::vector<std::byte>>{bytes("theirs----------"), bytes("again-----------")}));
}

TEST(shared_region, reservation_near_the_end_uses_the_last_bytes)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(4000);
	const uint64_t usable = *s->region_usable_size(r);
	// Exactly the space left: the 16 extra bytes a reservation keeps do not fit, the entry does.
	auto a = s->reserve(r, usable - 16);
	ASSERT_TRUE(a) << a.err().message();
	EXPECT_EQ(on_thread([&] { return s->append(r, bytes("")).code(); }).get(), errc::region_full);
	std::memset(a->data, 1, usable - 16);
	ASSERT_TRUE(s->publish(r, a->ent, usable - 16));
	EXPECT_EQ(*s->region_usable_size(r), 0u);
	EXPECT_EQ(s->append(r, bytes("")).code(), errc::region_full);
}

TEST(shared_region, two_threads_fill_one_region_with_reservations_and_appends)
{
	temp_file f;
	auto s = test::create(f.path, 8 << 20);
	auto r = *s->region_allocate(1 << 20);
	auto other = *s->region_allocate(64 << 10);
	std::atomic<uint64_t> full{0};
	std::mutex m;
	std::vector<std::pair<appended, std::vector<std::byte>>> acked;
	auto worker = [&](unsigned t) {
		for (uint32_t i = 0; full.load() == 0; ++i) {
			const uint64_t size = (i * 97 + t * 13) % 700;
			std::vector<std::byte> d = test::pattern(size, t * 100000 + i);
			if (i % 3 == 0) {
				auto res = s->reserve(r, size + 40);
				if (!res) {
					ASSERT_EQ(res.code(), errc::region_full) << res.err().message();
					full = 1;
					break;
				}
				if (!d.empty())
					std::memcpy(res->data, d.data(), d.size());
				if (i % 9 == 0) {
					ASSERT_TRUE(s->cancel(r, res->ent));
					continue;
				}
				auto ts = s->publish(r, res->ent, size);
				ASSERT_TRUE(ts) << ts.err().message();
				appended a;
				static_cast<entry &>(a) = res->ent;
				a.timestamp = *ts;
				std::lock_guard lk(m);
				acked.emplace_back(a, std::move(d));
			} else {
				auto a = (i % 2) ? s->append(r, d) : s->async_append(r, d);
				if (!a) {
					ASSERT_EQ(a.code(), errc::region_full) << a.err().message();
					full = 1;
					break;
				}
				std::lock_guard lk(m);
				acked.emplace_back(*a, std::move(d));
			}
		}
	};
	std::thread t1(worker, 1), t2(worker, 2);
	std::vector<std::byte> fill(100, std::byte{0x42});
	for (int i = 0; i < 200; ++i)
		ASSERT_TRUE(s->append(other, fill));
	t1.join();
	t2.join();
	ASSERT_TRUE(s->persist());
	auto check = [&](const stream &st) {
		auto es = test::entries_of(st, r);
		std::sort(acked.begin(), acked.end(), [](const auto &a, const auto &b) { return a.first.timestamp < b.first.timestamp; });
		if (es.size() != acked.size()) {
			size_t i = 0;
			while (i < es.size() && es[i].offset == acked[i].first.offset)
				++i;
			ADD_FAILURE() << "entries stop at " << i << " of " << acked.size() << "; acked there: offset " << acked[i].first.offset
				      << " ts " << acked[i].first.timestamp << " size " << acked[i].second.size() << "; entry_data: "
				      << (st.entry_data(acked[i].first) ? "ok" : st.entry_data(acked[i].first).err().message())
				      << "; previous acked offset " << (i ? acked[i - 1].first.offset : 0) << " size "
				      << (i ? acked[i - 1].second.size() : 0) << "; committed " << st.committed_timestamp() << " last "
				      << st.last_timestamp();
			if (i) {
				uint64_t pos = acked[i - 1].first.offset + entry_footprint(acked[i - 1].second.size());
				while (pos < acked[i].first.offset) {
					auto h = test::peek(f.path, pos, 16);
					uint64_t word;
					uint32_t sz;
					std::memcpy(&word, h.data(), 8);
					std::memcpy(&sz, h.data() + 8, 4);
					ADD_FAILURE() << "at " << pos << ": ts " << (word & ((1ull << 56) - 1)) << " flags " << (word >> 56) << " size " << sz;
					if (word == 0)
						break;
					pos += entry_footprint(sz);
				}
			}
			return;
		}
		for (size_t i = 0; i < es.size(); ++i) {
			EXPECT_EQ(es[i].offset, acked[i].first.offset) << i;
			EXPECT_EQ(*st.entry_timestamp(es[i]), acked[i].first.timestamp) << i;
			EXPECT_EQ(test::to_vec(*st.entry_data(es[i])), acked[i].second) << i;
		}
		auto os = test::entries_of(st, other);
		ASSERT_EQ(os.size(), 200u);
		for (auto e : os)
			EXPECT_EQ(test::to_vec(*st.entry_data(e)), fill);
	};
	check(*s);
	s.reset();
	auto s2 = test::reopen(f.path);
	check(*s2);
}

// Clear, suffix truncation and transactions wait for the appends in flight in their region
// (quiesce) rather than cutting under them: whatever interleaving, every append returns its
// entry or region_full, the region stays walkable, and a reopen shows exactly what was visible.
TEST(shared_region, clear_truncate_and_transactions_race_appends_to_the_region)
{
	test::temp_file f;
	auto s = test::create(f.path, 8 << 20);
	auto r = *s->region_allocate(256 << 10);
	std::atomic<bool> stop{false};
	std::atomic<uint64_t> appended{0};
	// A payload that tells whether it is whole: its first byte is its size modulo 251 and
	// the rest a pattern seeded by it.
	auto payload = [](uint64_t size) {
		std::vector<std::byte> d(size);
		for (uint64_t i = 0; i < size; ++i)
			d[i] = static_cast<std::byte>((size * 31 + i * 7) & 0xFF);
		return d;
	};
	auto whole = [&](std::span<const std::byte> d) { return test::to_vec(d) == payload(d.size()); };
	auto worker = [&](unsigned t) {
		for (uint64_t i = 0; !stop.load(); ++i) {
			const auto d = payload(8 + (i * 13 + t * 5) % 300);
			auto a = (i + t) % 3 ? s->append(r, d) : s->async_append(r, d);
			ASSERT_TRUE(a || a.code() == errc::region_full) << a.err().message();
			++appended; // an attempt: a full region waits for the next clear
		}
	};
	std::thread t1(worker, 1), t2(worker, 2);
	uint64_t cleared_below = 0;
	for (int round = 0; round < 300; ++round) {
		while (appended.load() < static_cast<uint64_t>(round + 1) * 20)
			std::this_thread::yield();
		auto es = test::entries_of(*s, r);
		// What is visible after a clear was appended after it, also once the appends that
		// were in flight at the clear have finished: nothing older may show.
		for (auto e : es)
			ASSERT_GT(*s->entry_timestamp(e), cleared_below) << "an entry from before the clear at " << e.offset;
		switch (round % 3) {
		case 0: {
			uint64_t seen = 0;
			for (auto e : es)
				seen = std::max(seen, *s->entry_timestamp(e));
			ASSERT_TRUE(s->region_clear(r));
			cleared_below = seen;
			break;
		}
		case 1:
			if (es.size() > 2) {
				ASSERT_TRUE(s->region_truncate_after(r, es[es.size() / 2]));
			}
			break;
		case 2: {
			auto tx = s->begin_transaction();
			ASSERT_TRUE(tx);
			auto m1 = tx->append(r, payload(40));
			auto m2 = tx->append(r, payload(41));
			ASSERT_TRUE((m1 || m1.code() == errc::region_full) && (m2 || m2.code() == errc::region_full));
			auto c = tx->commit();
			ASSERT_TRUE(c || c.code() == errc::region_full) << c.err().message();
			break;
		}
		}
	}
	stop = true;
	t1.join();
	t2.join();
	ASSERT_TRUE(s->persist());
	std::vector<std::vector<std::byte>> before;
	uint64_t prev_ts = 0;
	for (auto e : test::entries_of(*s, r)) {
		auto d = *s->entry_data(e);
		EXPECT_TRUE(whole(d)) << "entry at " << e.offset;
		const uint64_t ts = *s->entry_timestamp(e);
		EXPECT_GT(ts, prev_ts);
		prev_ts = ts;
		before.push_back(test::to_vec(d));
	}
	s.reset();
	auto s2 = test::reopen(f.path);
	std::vector<std::vector<std::byte>> after;
	for (auto e : test::entries_of(*s2, r))
		after.push_back(test::to_vec(*s2->entry_data(e)));
	EXPECT_EQ(after, before);
	ASSERT_TRUE(s2->append(r, payload(9)));
}
