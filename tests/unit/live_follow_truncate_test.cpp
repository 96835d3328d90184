// SPDX-License-Identifier: BSD-3-Clause
// Truncation seen by a reader that follows the writer (docs/design.md 5.4, "Truncation"): a
// read-only follow stream beside the writer's stream of the same file (its own mapping, its own
// catalog, the writer's state only through the sidecar: what another process sees). Suffix
// cuts with new, different entries appended over the cut space, prefix cuts, clears: the
// follower's iterators stop with errc::truncated at their next step when their position was
// cut, keep going when it survived, and never show an entry the writer did not have at that
// position; its stream reader continues with the entries it has not shown. The racing test
// runs PMEMSTREAM_FOLLOW_TRUNCATE_MS milliseconds (default 1500).
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace pmemstream;
using test::temp_file;
using namespace std::chrono_literals;

namespace {

// Entry n: u64 n, then bytes n % 251, 8 + (n * 37) % 120 + extra bytes in all.
std::vector<std::byte> payload(uint64_t n, size_t extra = 0)
{
	std::vector<std::byte> p(8 + (n * 37) % 120 + extra, std::byte(n % 251));
	std::memcpy(p.data(), &n, 8);
	return p;
}

// The n an entry's bytes name, or 0 when they are not one payload() made.
uint64_t number_of(std::span<const std::byte> d)
{
	if (d.size() < 8)
		return 0;
	uint64_t n = 0;
	std::memcpy(&n, d.data(), 8);
	for (size_t i = 8; i < d.size(); ++i)
		if (d[i] != std::byte(n % 251))
			return 0;
	return n;
}

std::unique_ptr<stream> follow(const std::string &path)
{
	auto s = stream::open(path, {.read_only = true, .follow = true});
	EXPECT_TRUE(s) << (s ? "" : s.err().message());
	return s ? std::move(*s) : nullptr;
}

entry as_entry(const appended &a)
{
	return entry{a.offset, a.region_id, 0};
}

// The number in the follower's entry at the iterator, 0 if it shows none.
uint64_t shown(stream &rd, entry_iterator &it)
{
	if (!it.is_valid())
		return 0;
	auto d = rd.entry_data(it.get());
	return d ? number_of(*d) : 0;
}

// The numbers of the region's entries as the stream `s` shows them, in order.
std::vector<uint64_t> numbers_in(stream &s, region r)
{
	std::vector<uint64_t> v;
	for (auto e : *s.entries(r))
		v.push_back(number_of(*s.entry_data(e)));
	return v;
}

// Appends make(1), make(2), ... to r until the region is full; what it appended.
template <typename Make>
std::vector<appended> fill_region(stream &w, region r, Make make)
{
	std::vector<appended> a;
	for (uint64_t n = 1;; ++n) {
		auto e = w.append(r, make(n));
		if (!e) {
			EXPECT_EQ(e.code(), errc::region_full) << e.err().message();
			return a;
		}
		a.push_back(*e);
	}
}

} // namespace

TEST(live_follow_truncate, suffix_cut_stops_positions_above_it_and_keeps_those_below)
{
	temp_file f("follow_trunc");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	std::vector<appended> a;
	for (uint64_t n = 1; n <= 10; ++n)
		a.push_back(*w->append(r, payload(n)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto below = *rd->entries(r), above = *rd->entries(r), end = *rd->entries(r);
	for (int k = 0; k < 2; ++k)
		below.next(); // on entry 3
	for (int k = 0; k < 7; ++k)
		above.next(); // on entry 8
	while (end.is_valid())
		end.next(); // past entry 10, where the writer's next append went
	ASSERT_EQ(shown(*rd, below), 3u);
	ASSERT_EQ(shown(*rd, above), 8u);

	// Keep 1..5; new entries, of other sizes, over the space of 6..10.
	ASSERT_EQ(*w->region_truncate_after(r, as_entry(a[4])), 5u);
	for (uint64_t n = 101; n <= 108; ++n)
		ASSERT_TRUE(w->append(r, payload(n, 40)));

	EXPECT_FALSE(above.is_valid());
	EXPECT_EQ(above.position_status().code(), errc::truncated);
	EXPECT_FALSE(end.is_valid());
	EXPECT_EQ(end.position_status().code(), errc::truncated);
	// Below the cut: the same entries, then the new ones.
	std::vector<uint64_t> seen;
	for (; below.is_valid(); below.next()) {
		EXPECT_TRUE(below.position_status());
		seen.push_back(shown(*rd, below));
	}
	EXPECT_EQ(seen, (std::vector<uint64_t>{3, 4, 5, 101, 102, 103, 104, 105, 106, 107, 108}));
	EXPECT_EQ(*rd->region_entry_count(r), 13u);
	// An iterator made now and the stream reader see the region as the writer has it.
	EXPECT_EQ(numbers_in(*rd, r), (std::vector<uint64_t>{1, 2, 3, 4, 5, 101, 102, 103, 104, 105, 106, 107, 108}));
	// A position at the cut is where the next append went: it survives.
	auto at_cut = *rd->entries(r);
	for (int k = 0; k < 5; ++k)
		at_cut.next();
	ASSERT_EQ(shown(*rd, at_cut), 101u);
	ASSERT_EQ(*w->region_truncate_after(r, as_entry(a[4])), 8u);
	EXPECT_FALSE(at_cut.is_valid());
	EXPECT_TRUE(at_cut.position_status()); // still a position: the end, where 201 goes
	ASSERT_TRUE(w->append(r, payload(201)));
	ASSERT_TRUE(at_cut.wait_for(1s));
	EXPECT_EQ(shown(*rd, at_cut), 201u);
}

TEST(live_follow_truncate, a_follower_process_sees_the_cut)
{
	// The same in a child process: the writer's state reaches it only through the sidecar.
	temp_file f("follow_trunc");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	std::vector<appended> a;
	for (uint64_t n = 1; n <= 10; ++n)
		a.push_back(*w->append(r, payload(n)));
	int ready[2], go[2];
	ASSERT_EQ(::pipe(ready), 0);
	ASSERT_EQ(::pipe(go), 0);
	const pid_t pid = ::fork();
	if (pid == 0) {
		// Exit codes: 0 all right, 10+ the check that failed.
		auto rd = stream::open(f.path, {.read_only = true, .follow = true});
		if (!rd || (*rd)->writer() != stream::writer_state::following)
			_exit(10);
		auto below = *(*rd)->entries(r), above = *(*rd)->entries(r);
		for (int k = 0; k < 2; ++k)
			below.next();
		for (int k = 0; k < 7; ++k)
			above.next();
		if (shown(**rd, below) != 3 || shown(**rd, above) != 8)
			_exit(11);
		char c = 1;
		if (::write(ready[1], &c, 1) != 1 || ::read(go[0], &c, 1) != 1)
			_exit(12);
		if (above.is_valid() || above.position_status().code() != errc::truncated)
			_exit(13);
		std::vector<uint64_t> seen;
		for (; below.is_valid(); below.next())
			seen.push_back(shown(**rd, below));
		if (seen != std::vector<uint64_t>{3, 4, 5, 101, 102, 103})
			_exit(14);
		if (*(*rd)->region_entry_count(r) != 8u)
			_exit(15);
		_exit(0);
	}
	ASSERT_GT(pid, 0);
	char c = 0;
	ASSERT_EQ(::read(ready[0], &c, 1), 1);
	ASSERT_EQ(*w->region_truncate_after(r, as_entry(a[4])), 5u);
	for (uint64_t n = 101; n <= 103; ++n)
		ASSERT_TRUE(w->append(r, payload(n, 40)));
	ASSERT_EQ(::write(go[1], &c, 1), 1);
	int st = 0;
	ASSERT_EQ(::waitpid(pid, &st, 0), pid);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
	for (int fd : {ready[0], ready[1], go[0], go[1]})
		::close(fd);
}

TEST(live_follow_truncate, writer_process_iterator_at_a_cut_does_not_show_the_dropped_entry)
{
	// The same at-the-cut case in the writer's own process: an iterator that had seen the
	// entry at its position must read the position again after a cut there.
	temp_file f("follow_trunc");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	std::vector<appended> a;
	for (uint64_t n = 1; n <= 6; ++n)
		a.push_back(*w->append(r, payload(n)));
	auto it = *w->entries(r);
	for (int k = 0; k < 3; ++k)
		it.next();
	ASSERT_EQ(shown(*w, it), 4u);
	ASSERT_EQ(*w->region_truncate_after(r, as_entry(a[2])), 3u);
	EXPECT_FALSE(it.is_valid());
	EXPECT_TRUE(it.position_status());
	ASSERT_TRUE(w->append(r, payload(40, 8)));
	EXPECT_EQ(shown(*w, it), 40u);
}

TEST(live_follow_truncate, prefix_cut_stops_positions_before_it)
{
	temp_file f("follow_trunc");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	std::vector<appended> a;
	for (uint64_t n = 1; n <= 10; ++n)
		a.push_back(*w->append(r, payload(n)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto before = *rd->entries(r), after = *rd->entries(r);
	before.next(); // on entry 2
	for (int k = 0; k < 5; ++k)
		after.next(); // on entry 6
	ASSERT_EQ(shown(*rd, before), 2u);
	ASSERT_EQ(shown(*rd, after), 6u);
	ASSERT_EQ(*w->region_truncate_before(r, as_entry(a[3])), 3u); // 4 becomes the first
	ASSERT_TRUE(w->append(r, payload(11)));
	EXPECT_FALSE(before.is_valid());
	EXPECT_EQ(before.position_status().code(), errc::truncated);
	EXPECT_EQ(shown(*rd, after), 6u);
	EXPECT_TRUE(after.position_status());
	EXPECT_EQ(*rd->region_entry_count(r), 8u);
	EXPECT_EQ(numbers_in(*rd, r), (std::vector<uint64_t>{4, 5, 6, 7, 8, 9, 10, 11}));
	EXPECT_FALSE(rd->entry_data(as_entry(a[1]))); // a dropped entry's handle is refused
	// By timestamp, with the follower seeking again where it was told to.
	ASSERT_EQ(*w->region_truncate_before_timestamp(r, a[7].timestamp), 4u); // 8 first
	EXPECT_FALSE(after.is_valid());
	EXPECT_EQ(after.position_status().code(), errc::truncated);
	after.seek_first();
	EXPECT_EQ(shown(*rd, after), 8u);
}

TEST(live_follow_truncate, a_follower_walks_on_into_a_wrapped_regions_second_lap)
{
	// The ring (docs/design.md 5.5): the writer's region wraps; a follower's iterator on the
	// head lap keeps its position and walks on into the second lap, one tailing at the old
	// tail sees the entry the wrap took, the count covers both laps, and a follower opened
	// after the wrap reads the same.
	temp_file f("follow_ring");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(4096);
	const std::vector<appended> a = fill_region(*w, r, [](uint64_t n) { return payload(n); });
	ASSERT_GT(a.size(), 30u);
	const uint64_t n_head = a.size();
	ASSERT_EQ(*w->region_truncate_before(r, as_entry(a[20])), 20u); // 21 becomes the first
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto mid = *rd->entries(r), tailing = *rd->entries(r);
	for (int k = 0; k < 3; ++k)
		mid.next(); // on entry 24
	while (tailing.is_valid())
		tailing.next();
	ASSERT_EQ(shown(*rd, mid), 24u);
	std::vector<appended> second;
	for (uint64_t n = 1001; n <= 1005; ++n) {
		auto e = w->append(r, payload(n));
		ASSERT_TRUE(e) << e.err().message();
		ASSERT_LT(e->offset, a[20].offset) << "the append did not wrap";
		second.push_back(*e);
	}
	ASSERT_TRUE(tailing.wait_for(1s));
	EXPECT_EQ(shown(*rd, tailing), 1001u);
	std::vector<uint64_t> from_mid;
	for (; mid.is_valid(); mid.next())
		from_mid.push_back(shown(*rd, mid));
	std::vector<uint64_t> want;
	for (uint64_t n = 24; n <= n_head; ++n)
		want.push_back(n);
	for (uint64_t n = 1001; n <= 1005; ++n)
		want.push_back(n);
	EXPECT_EQ(from_mid, want);
	EXPECT_EQ(*rd->region_entry_count(r), n_head - 20 + 5);
	auto late = follow(f.path);
	ASSERT_TRUE(late);
	want.insert(want.begin(), {21, 22, 23});
	EXPECT_EQ(numbers_in(*late, r), want);
	// A cut into the second lap unwraps the region: the head lap's positions are gone, the
	// second lap's entries stay, and the head lap's space is appended to again.
	auto on_head = *late->entries(r);
	ASSERT_EQ(shown(*late, on_head), 21u);
	ASSERT_EQ(*w->region_truncate_before(r, as_entry(second[2])), n_head - 20 + 2);
	for (uint64_t n = 2001; n <= 2030; ++n)
		ASSERT_TRUE(w->append(r, payload(n)));
	EXPECT_FALSE(on_head.is_valid());
	EXPECT_EQ(on_head.position_status().code(), errc::truncated);
	want = {1003, 1004, 1005};
	for (uint64_t n = 2001; n <= 2030; ++n)
		want.push_back(n);
	EXPECT_EQ(numbers_in(*late, r), want);
	EXPECT_EQ(*late->region_entry_count(r), want.size());
}

TEST(live_follow_truncate, a_second_lap_that_reaches_head_is_walked_once)
{
	// Entries of one cache line each: the writer's second lap fills up to head exactly, so the
	// follower's tail, at the end of the second lap, and the head lap's first entry are at one
	// offset. The follower must not take that tail for a position in the head lap and walk the
	// head lap again.
	auto line_entry = [](uint64_t n) {
		std::vector<std::byte> p(64 - 16, std::byte(n % 251));
		std::memcpy(p.data(), &n, 8);
		return p;
	};
	temp_file f("follow_ring_full");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(4096);
	const std::vector<appended> a = fill_region(*w, r, line_entry);
	const uint64_t n_head = a.size();
	ASSERT_EQ(*w->region_truncate_before(r, as_entry(a[10])), 10u);
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto tailing = *rd->entries(r);
	while (tailing.is_valid())
		tailing.next();
	std::vector<uint64_t> want;
	for (uint64_t n = 11; n <= n_head; ++n)
		want.push_back(n);
	// The second lap, one entry at a time, the follower looking after each.
	for (uint64_t n = 1001; n <= 1010; ++n) {
		auto e = w->append(r, line_entry(n));
		ASSERT_TRUE(e) << e.err().message();
		ASSERT_LT(e->offset, a[10].offset) << "the append did not wrap";
		want.push_back(n);
		ASSERT_TRUE(tailing.wait_for(1s)) << "entry " << n;
		EXPECT_EQ(shown(*rd, tailing), n);
		tailing.next();
		EXPECT_EQ(*rd->region_entry_count(r), want.size());
	}
	EXPECT_EQ(w->append(r, line_entry(2000)).code(), errc::region_full);
	// More looks at a full ring change nothing.
	for (int k = 0; k < 3; ++k) {
		EXPECT_FALSE(tailing.wait_for(10ms));
		EXPECT_EQ(*rd->region_entry_count(r), want.size());
		EXPECT_EQ(numbers_in(*rd, r), want);
	}
	// A follower opened now reads the same.
	auto late = follow(f.path);
	ASSERT_TRUE(late);
	EXPECT_EQ(numbers_in(*late, r), want);
	EXPECT_EQ(*late->region_entry_count(r), want.size());
}

TEST(live_follow_truncate, clear_stops_every_position)
{
	temp_file f("follow_trunc");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	for (uint64_t n = 1; n <= 10; ++n)
		ASSERT_TRUE(w->append(r, payload(n)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto it = *rd->entries(r);
	ASSERT_EQ(shown(*rd, it), 1u);
	ASSERT_EQ(*w->region_clear(r), 10u);
	for (uint64_t n = 21; n <= 25; ++n)
		ASSERT_TRUE(w->append(r, payload(n, 16)));
	EXPECT_FALSE(it.is_valid());
	EXPECT_EQ(it.position_status().code(), errc::truncated);
	it.seek_first();
	std::vector<uint64_t> all;
	for (; it.is_valid(); it.next())
		all.push_back(shown(*rd, it));
	EXPECT_EQ(all, (std::vector<uint64_t>{21, 22, 23, 24, 25}));
	EXPECT_EQ(*rd->region_entry_count(r), 5u);
}

TEST(live_follow_truncate, stream_reader_continues_past_cuts)
{
	temp_file f("follow_trunc");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	auto q = *w->region_allocate(64 << 10);
	std::vector<appended> a;
	for (uint64_t n = 1; n <= 10; ++n)
		a.push_back(*w->append(r, payload(n)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto reader = rd->reader();
	std::vector<uint64_t> got;
	for (int k = 0; k < 3; ++k, reader.next()) {
		ASSERT_TRUE(reader.is_valid());
		got.push_back(number_of(*rd->entry_data(reader.get())));
	}
	ASSERT_TRUE(w->region_truncate_after(r, as_entry(a[4]))); // 6..10 go unseen
	ASSERT_TRUE(w->append(q, payload(50)));
	ASSERT_TRUE(w->append(r, payload(51, 8)));
	ASSERT_TRUE(w->region_truncate_before(r, as_entry(a[4]))); // 4 goes unseen
	ASSERT_TRUE(w->append(r, payload(52, 8)));
	for (; reader.is_valid(); reader.next())
		got.push_back(number_of(*rd->entry_data(reader.get())));
	EXPECT_EQ(got, (std::vector<uint64_t>{1, 2, 3, 5, 50, 51, 52}));
}

TEST(live_follow_truncate, regions_sharing_a_cut_slot_keep_their_positions)
{
	// 64 cut slots, 80 regions: some share one. A cut of one region makes the follower look
	// at the others of its slot (their record is not theirs) and find them uncut.
	temp_file f("follow_trunc");
	auto w = test::create(f.path, 8 << 20);
	std::vector<region> regions;
	std::vector<std::vector<appended>> a(80);
	for (size_t i = 0; i < 80; ++i) {
		regions.push_back(*w->region_allocate(16 << 10));
		for (uint64_t n = 1; n <= 6; ++n)
			a[i].push_back(*w->append(regions[i], payload(i * 100 + n)));
	}
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	std::vector<entry_iterator> its;
	for (size_t i = 0; i < 80; ++i) {
		its.push_back(*rd->entries(regions[i]));
		for (int k = 0; k < 4; ++k)
			its.back().next(); // on entry 5
	}
	for (size_t i = 0; i < 80; i += 2) { // cut the even ones after entry 2, append over it
		ASSERT_TRUE(w->region_truncate_after(regions[i], as_entry(a[i][1])));
		ASSERT_TRUE(w->append(regions[i], payload(i * 100 + 50, 24)));
	}
	for (size_t i = 0; i < 80; ++i) {
		if (i % 2 == 0) {
			EXPECT_FALSE(its[i].is_valid()) << i;
			EXPECT_EQ(its[i].position_status().code(), errc::truncated) << i;
			EXPECT_EQ(*rd->region_entry_count(regions[i]), 3u) << i;
		} else {
			EXPECT_EQ(shown(*rd, its[i]), i * 100 + 5) << i;
			EXPECT_TRUE(its[i].position_status()) << i;
			EXPECT_EQ(*rd->region_entry_count(regions[i]), 6u) << i;
		}
	}
}

TEST(live_follow_truncate, follower_racing_cuts_never_shows_reused_bytes)
{
#if defined(__SANITIZE_THREAD__)
	GTEST_SKIP() << "seqlock reads of reused bytes are reported by ThreadSanitizer by design";
#endif
	const char *ms_env = std::getenv("PMEMSTREAM_FOLLOW_TRUNCATE_MS");
	const auto run_for = std::chrono::milliseconds(ms_env ? std::atoll(ms_env) : 1500);
	temp_file f("follow_trunc");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(32 << 10);
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);

	// What the writer appended: timestamp -> (offset, n). Timestamps are never reused, so an
	// entry the follower shows was the writer's at that offset iff this log says so.
	std::mutex log_mutex;
	std::map<uint64_t, std::pair<uint64_t, uint64_t>> log;
	std::atomic<bool> stop{false};
	struct seen_entry {
		uint64_t ts, offset, n;
	};
	std::vector<seen_entry> seen;
	std::atomic<uint64_t> truncated_seen{0}, reads{0}, last_shown{0};
	uint64_t bad = 0;
	std::string first_bad;
	std::thread reader([&] {
		auto it = *rd->entries(r);
		uint64_t last_ts = 0;
		while (!stop.load(std::memory_order_relaxed)) {
			if (!it.is_valid()) {
				if (it.position_status().code() == errc::truncated) {
					truncated_seen.fetch_add(1, std::memory_order_relaxed);
					it.seek_first();
					last_ts = 0;
					continue;
				}
				(void)it.wait_for(2ms);
				continue;
			}
			const entry e = it.get();
			auto ts = rd->entry_timestamp(e);
			auto d = rd->entry_data(e);
			if (!ts || !d)
				continue; // the entry went between the steps: the next one tells
			std::vector<std::byte> copy(d->begin(), d->end());
			// Kept only if the position still stands after the copy.
			if (!it.is_valid() || !it.position_status() || it.get().offset != e.offset)
				continue;
			const uint64_t n = number_of(copy);
			if (n == 0 || *ts <= last_ts) {
				if (bad++ == 0)
					first_bad = "torn or out of order at offset " + std::to_string(e.offset);
			}
			last_ts = *ts;
			seen.push_back({*ts, e.offset, n});
			reads.fetch_add(1, std::memory_order_relaxed);
			last_shown.store(n, std::memory_order_release);
			it.next();
		}
	});

	uint64_t n = 0;
	std::vector<appended> live;
	uint64_t suffix = 0, prefix = 0, clears = 0;
	const auto until = std::chrono::steady_clock::now() + run_for;
	for (int round = 0; std::chrono::steady_clock::now() < until || reads.load() < 500; ++round) {
		if (std::chrono::steady_clock::now() > until + 20s)
			break; // a machine too loaded to schedule the reader: the checks below say so
		for (int k = 0; k < 12; ++k) {
			++n;
			auto p = payload(n, (n % 3) * 24);
			auto res = w->append(r, p);
			if (!res) {
				ASSERT_EQ(res.code(), errc::region_full);
				ASSERT_TRUE(w->region_clear(r));
				++clears;
				live.clear();
				continue;
			}
			{
				std::lock_guard lk(log_mutex);
				log[res->timestamp] = {res->offset, n};
			}
			live.push_back(*res);
		}
		switch (round % 4) {
		case 0:
		case 2:
			if (live.size() > 6) { // drop a few of the newest: the reader is often on them
				const size_t keep = live.size() - 1 - round % 5;
				ASSERT_TRUE(w->region_truncate_after(r, as_entry(live[keep - 1])));
				live.resize(keep);
				++suffix;
			}
			break;
		case 1:
			if (live.size() > 6) {
				ASSERT_TRUE(w->region_truncate_before(r, as_entry(live[2])));
				live.erase(live.begin(), live.begin() + 2);
				++prefix;
			}
			break;
		default:
			if (round % 40 == 3) {
				ASSERT_TRUE(w->region_clear(r));
				live.clear();
				++clears;
			}
			break;
		}
		if (round % 8 == 0)
			std::this_thread::yield(); // let the reader catch up now and then
	}
	// The follower keeps up: it shows the writer's last entry (a follower that missed a cut
	// would walk on from a stale tail inside the new entries and stop there).
	const uint64_t final_n = ++n;
	auto last = w->append(r, payload(final_n));
	if (!last) {
		ASSERT_TRUE(w->region_clear(r));
		live.clear();
		last = w->append(r, payload(final_n));
	}
	ASSERT_TRUE(last);
	log[last->timestamp] = {last->offset, final_n};
	live.push_back(*last);
	const auto deadline = std::chrono::steady_clock::now() + 10s;
	while (last_shown.load(std::memory_order_acquire) != final_n && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(1ms);
	stop = true;
	reader.join();
	EXPECT_EQ(last_shown.load(), final_n) << "the follower fell behind the writer for good";
	std::vector<uint64_t> want;
	for (const auto &x : live)
		want.push_back(log[x.timestamp].second);
	EXPECT_EQ(numbers_in(*rd, r), want) << "the follower's view of the region is the writer's";
	EXPECT_EQ(*rd->region_entry_count(r), live.size());
	EXPECT_EQ(bad, 0u) << first_bad;
	uint64_t mismatched = 0;
	for (const auto &s : seen) {
		auto it = log.find(s.ts);
		if (it == log.end() || it->second.first != s.offset || it->second.second != s.n) {
			if (mismatched++ < 5)
				ADD_FAILURE() << "the follower showed n=" << s.n << " ts=" << s.ts << " at offset " << s.offset
					      << ", which the writer never had there";
		}
	}
	EXPECT_EQ(mismatched, 0u);
	EXPECT_GE(reads.load(), 500u);
	EXPECT_GT(truncated_seen.load(), 0u);
	EXPECT_GT(suffix + prefix + clears, 100u);
	std::printf("%llu reads, %llu truncated, %llu suffix cuts, %llu prefix cuts, %llu clears\n",
		    static_cast<unsigned long long>(reads.load()), static_cast<unsigned long long>(truncated_seen.load()),
		    static_cast<unsigned long long>(suffix), static_cast<unsigned long long>(prefix),
		    static_cast<unsigned long long>(clears));
}

TEST(live_follow_truncate, an_older_sidecar_layout_is_not_followed)
{
	// The cut table came with sidecar version 3. A reader must not take a version 2 object
	// (no table: cuts would go unannounced) for one: it opens a snapshot that follows nothing.
	temp_file f("follow_trunc");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(r, payload(1)));
	struct stat st;
	ASSERT_EQ(::stat(f.path.c_str(), &st), 0);
	char name[80];
	std::snprintf(name, sizeof(name), "/pmemstream-%llx-%llx.readers", static_cast<unsigned long long>(st.st_dev),
		      static_cast<unsigned long long>(st.st_ino));
	const int fd = ::shm_open(name, O_RDWR, 0);
	if (fd < 0)
		GTEST_SKIP() << "no shared memory here: the writer made no sidecar";
	void *p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	::close(fd);
	ASSERT_NE(p, MAP_FAILED);
	auto *version = reinterpret_cast<uint32_t *>(static_cast<char *>(p) + 8); // after the magic
	ASSERT_EQ(*version, 3u);
	{
		auto rd = follow(f.path);
		ASSERT_TRUE(rd);
		EXPECT_EQ(rd->writer(), stream::writer_state::following);
	}
	*version = 2;
	{
		auto rd = follow(f.path);
		ASSERT_TRUE(rd);
		EXPECT_EQ(rd->writer(), stream::writer_state::none);
		EXPECT_EQ(*rd->region_entry_count(r), 1u);
	}
	*version = 3;
	::munmap(p, 4096);
}
