// SPDX-License-Identifier: BSD-3-Clause
// The ring (issue 14, docs/design.md 5.5): a full region whose oldest entries were cut wraps
// and appends in the space the cut freed; iterators walk the head lap and then the second
// lap; cuts of a wrapped region; reopen; several threads appending while another cuts.
// Crashes during all of it: crash_truncate (the wrap_* cases).
#include "sim_media.hpp"
#include "stream_factory.hpp"

#include "format/crc32c.hpp"
#include "format/format.hpp"

#include <pmemstream/stream.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

std::vector<std::byte> payload(uint64_t tag, uint64_t size)
{
	std::vector<std::byte> d(size);
	for (uint64_t i = 0; i < size; ++i)
		d[i] = std::byte((tag * 131 + i * 7) & 0xff);
	return d;
}

struct item {
	uint64_t offset, ts;
	std::vector<std::byte> data;
	bool operator==(const item &) const = default;
};

std::vector<item> read_region(const stream &s, region r)
{
	std::vector<item> v;
	auto it = s.entries(r);
	EXPECT_TRUE(it) << it.err().message();
	for (; it && it->is_valid(); it->next()) {
		const entry e = it->get();
		auto d = s.entry_data(e);
		auto t = s.entry_timestamp(e);
		EXPECT_TRUE(d && t);
		v.push_back({e.offset, t ? *t : 0, d ? std::vector<std::byte>(d->begin(), d->end()) : std::vector<std::byte>{}});
	}
	auto n = s.region_entry_count(r);
	EXPECT_EQ(n ? *n : ~0ull, v.size()) << "region_entry_count disagrees with iteration";
	return v;
}

class ring : public ::testing::Test {
protected:
	void open(const std::vector<std::byte> *img = nullptr, open_options o = {})
	{
		s_.reset();
		auto sm = img ? std::make_unique<sim_media>(*img) : std::make_unique<sim_media>(4096 + 64 * 1024);
		sink_ = std::make_shared<std::vector<std::byte>>();
		sm->keep_on_destroy(sink_);
		auto r = detail::open_on_media(std::move(sm), 4096, o);
		ASSERT_TRUE(r) << r.err().message();
		s_ = std::move(*r);
	}
	void reopen(open_options o = {})
	{
		s_.reset();
		const auto img = *sink_;
		open(&img, o);
	}
	stream &s()
	{
		return *s_;
	}
	// Appends `size`-byte entries until the region is full; returns what it appended.
	std::vector<item> fill(region r, uint64_t size, uint64_t tag0)
	{
		std::vector<item> v;
		for (uint64_t i = 0;; ++i) {
			const auto d = payload(tag0 + i, size);
			auto e = s().append(r, d);
			if (!e) {
				EXPECT_EQ(e.code(), errc::region_full) << e.err().message();
				return v;
			}
			v.push_back({e->offset, e->timestamp, d});
		}
	}
	item add(region r, uint64_t tag, uint64_t size)
	{
		const auto d = payload(tag, size);
		auto e = s().append(r, d);
		EXPECT_TRUE(e) << e.err().message();
		return e ? item{e->offset, e->timestamp, d} : item{};
	}
	static entry at(region r, const item &i)
	{
		return entry{i.offset, r.id, 0};
	}
	// Fills the region with `size`-byte entries and cuts the first `k`: what is left, the
	// head lap of the wrap to come.
	std::vector<item> fill_and_cut(region r, uint64_t size, size_t k)
	{
		auto v = fill(r, size, 0);
		EXPECT_GT(v.size(), k);
		auto c = s().region_truncate_before(r, at(r, v[k]));
		EXPECT_TRUE(c && *c == k);
		v.erase(v.begin(), v.begin() + static_cast<long>(k));
		return v;
	}

	std::unique_ptr<stream> s_;
	std::shared_ptr<std::vector<std::byte>> sink_;
};

} // namespace

TEST_F(ring, a_full_region_wraps_into_the_space_a_prefix_cut_freed)
{
	open();
	auto r = *s().region_allocate(4096);
	auto head_lap = fill(r, 64, 0);
	ASSERT_GT(head_lap.size(), 40u);
	// Nothing before head yet: full means full.
	EXPECT_EQ(s().append(r, payload(1, 64)).code(), errc::region_full);
	ASSERT_EQ(*s().region_truncate_before(r, at(r, head_lap[20])), 20u);
	head_lap.erase(head_lap.begin(), head_lap.begin() + 20);
	// The space before head counts as usable now.
	EXPECT_GE(*s().region_usable_size(r), 20 * 80 - 64u);

	std::vector<item> want = head_lap;
	for (uint64_t i = 0; i < 10; ++i) {
		const item x = add(r, 1000 + i, 64);
		EXPECT_LT(x.offset, head_lap.front().offset) << "entry " << i << " did not go to the second lap";
		EXPECT_GT(x.ts, want.back().ts);
		want.push_back(x);
	}
	EXPECT_EQ(read_region(s(), r), want);
	// Every region, in timestamp order, through the stream-wide reader.
	std::vector<uint64_t> seen;
	auto rd = s().reader();
	for (; rd.is_valid(); rd.next())
		seen.push_back(*s().entry_timestamp(rd.get()));
	ASSERT_EQ(seen.size(), want.size());
	for (size_t i = 0; i < want.size(); ++i)
		EXPECT_EQ(seen[i], want[i].ts);

	// A clean reopen (the checkpoint: fast reopen), and a full walk, find the same.
	reopen();
	EXPECT_EQ(read_region(s(), r), want);
	EXPECT_EQ(s().recovery().checkpointed_regions, 1u);
	EXPECT_EQ(s().recovery().torn_tails, 0u);
	open_options full;
	full.verify = verify_mode::full;
	reopen(full);
	EXPECT_EQ(read_region(s(), r), want);
	EXPECT_TRUE(s().recovery().problems.empty());
	// And it goes on appending in the second lap.
	want.push_back(add(r, 2000, 64));
	EXPECT_LT(want.back().offset, head_lap.front().offset);
	EXPECT_EQ(read_region(s(), r), want);
}

TEST_F(ring, the_second_lap_ends_before_the_head_laps_line_and_then_the_region_is_full)
{
	open();
	auto r = *s().region_allocate(4096);
	auto head_lap = fill_and_cut(r, 40, 30);
	auto second = fill(r, 40, 500);
	ASSERT_FALSE(second.empty());
	const uint64_t head_line = head_lap.front().offset & ~uint64_t{63};
	EXPECT_LE(second.back().offset + format::entry_footprint(40), head_line);
	EXPECT_GT(second.back().offset + 2 * format::entry_footprint(40), head_line) << "room was left unused";
	// The head lap is untouched, byte for byte, and a smaller entry still fits if room is left.
	std::vector<item> want = head_lap;
	want.insert(want.end(), second.begin(), second.end());
	EXPECT_EQ(read_region(s(), r), want);
	reopen();
	EXPECT_EQ(read_region(s(), r), want);
	EXPECT_EQ(s().append(r, payload(9, 40)).code(), errc::region_full);
}

// Entries of one line each (48-byte payloads): the second lap fills up to head exactly, so
// the head lap's first entry and the tail are at one offset. A prefix cut by a timestamp below
// every entry once took that for "past every entry" and cleared the region (found by
// property_truncate's ring model).
TEST_F(ring, a_second_lap_that_reaches_head_keeps_its_entries_through_cuts_by_timestamp)
{
	open();
	auto r = *s().region_allocate(4096);
	const uint64_t line_payload = 64 - sizeof(format::entry_header);
	auto head_lap = fill_and_cut(r, line_payload, 10);
	auto second = fill(r, line_payload, 500);
	ASSERT_EQ(second.size(), 10u);
	ASSERT_EQ(second.back().offset + 64, head_lap.front().offset) << "the second lap does not reach head";
	std::vector<item> want = head_lap;
	want.insert(want.end(), second.begin(), second.end());

	// Below every entry, and at the oldest: nothing goes.
	EXPECT_EQ(*s().region_truncate_before_timestamp(r, 1), 0u);
	EXPECT_EQ(read_region(s(), r), want);
	EXPECT_EQ(*s().region_truncate_before_timestamp(r, head_lap.front().ts), 0u);
	EXPECT_EQ(read_region(s(), r), want);
	EXPECT_EQ(*s().region_usable_size(r), 0u);
	reopen();
	EXPECT_EQ(read_region(s(), r), want);

	// Inside the head lap, then at the second lap's first entry (the region unwraps).
	EXPECT_EQ(*s().region_truncate_before_timestamp(r, head_lap[3].ts), 3u);
	want.erase(want.begin(), want.begin() + 3);
	EXPECT_EQ(read_region(s(), r), want);
	EXPECT_EQ(*s().region_truncate_before_timestamp(r, second.front().ts), head_lap.size() - 3);
	EXPECT_EQ(read_region(s(), r), second);
	reopen();
	EXPECT_EQ(read_region(s(), r), second);
	// Past the last: everything goes.
	EXPECT_EQ(*s().region_truncate_before_timestamp(r, second.back().ts + 1), second.size());
	EXPECT_TRUE(read_region(s(), r).empty());
}

TEST_F(ring, a_prefix_cut_into_the_second_lap_unwraps_and_the_old_laps_space_is_reused)
{
	open();
	auto r = *s().region_allocate(4096);
	auto head_lap = fill(r, 64, 0);
	ASSERT_EQ(*s().region_truncate_before(r, at(r, head_lap[30])), 30u);
	auto it = s().entries(r); // at the head lap's first entry
	ASSERT_TRUE(it && it->is_valid());
	std::vector<item> second;
	for (uint64_t i = 0; i < 5; ++i)
		second.push_back(add(r, 100 + i, 64));
	// Drop the whole head lap and the second lap's first entry: the region is linear again.
	ASSERT_EQ(*s().region_truncate_before(r, at(r, second[1])), head_lap.size() - 30 + 1);
	EXPECT_FALSE(it->is_valid());
	EXPECT_EQ(it->position_status().code(), errc::truncated);
	std::vector<item> want(second.begin() + 1, second.end());
	// Appends go on after the tail, over the old head lap, up to the data area's end.
	auto more = fill(r, 64, 700);
	EXPECT_GT(more.back().offset, head_lap.back().offset - 64);
	want.insert(want.end(), more.begin(), more.end());
	EXPECT_EQ(read_region(s(), r), want);
	reopen();
	EXPECT_EQ(read_region(s(), r), want);
	// And it wraps again once a cut frees its start.
	ASSERT_EQ(*s().region_truncate_before(r, at(r, want[10])), 10u);
	want.erase(want.begin(), want.begin() + 10);
	want.push_back(add(r, 900, 64));
	EXPECT_LT(want.back().offset, want.front().offset);
	EXPECT_EQ(read_region(s(), r), want);
}

TEST_F(ring, iterators_walk_on_from_the_head_lap_into_the_second_lap)
{
	open();
	auto r = *s().region_allocate(4096);
	auto head_lap = fill_and_cut(r, 64, 40);
	// One iterator in the middle of the head lap, one tailing at its end.
	auto mid = s().entries(r);
	ASSERT_TRUE(mid);
	mid->next();
	auto tailing = s().entries(r);
	ASSERT_TRUE(tailing);
	while (tailing->is_valid())
		tailing->next();
	const item x = add(r, 77, 64); // wraps
	ASSERT_LT(x.offset, head_lap.front().offset);
	ASSERT_TRUE(tailing->is_valid()) << tailing->position_status().err().message();
	EXPECT_EQ(tailing->get().offset, x.offset);
	std::vector<uint64_t> offs;
	for (; mid->is_valid(); mid->next())
		offs.push_back(mid->get().offset);
	ASSERT_EQ(offs.size(), head_lap.size());
	EXPECT_EQ(offs.back(), x.offset);
	// seek to an entry of either lap, and seek by timestamp across the wrap.
	auto sk = s().entries(r);
	ASSERT_TRUE(sk->seek(at(r, head_lap[3])));
	ASSERT_TRUE(sk->is_valid());
	EXPECT_EQ(sk->get().offset, head_lap[3].offset);
	ASSERT_TRUE(sk->seek(at(r, x)));
	EXPECT_EQ(sk->get().offset, x.offset);
	sk->seek_timestamp(head_lap.back().ts + 1);
	ASSERT_TRUE(sk->is_valid());
	EXPECT_EQ(sk->get().offset, x.offset);
	// A handle of a cut entry, before head, is refused; one of the second lap beyond the tail too.
	EXPECT_FALSE(s().entry_data(entry{head_lap.front().offset - 64, r.id, 0}));
	EXPECT_FALSE(s().entry_data(entry{x.offset + format::entry_footprint(64), r.id, 0}));
}

TEST_F(ring, suffix_cuts_of_a_wrapped_region)
{
	open();
	auto r = *s().region_allocate(4096);
	auto head_lap = fill_and_cut(r, 64, 30);
	std::vector<item> second;
	for (uint64_t i = 0; i < 6; ++i)
		second.push_back(add(r, 100 + i, 64));

	// In the second lap: as in a linear region.
	ASSERT_EQ(*s().region_truncate_after(r, at(r, second[3])), 2u);
	second.resize(4);
	std::vector<item> want = head_lap;
	want.insert(want.end(), second.begin(), second.end());
	EXPECT_EQ(read_region(s(), r), want);
	second.push_back(add(r, 200, 64));
	EXPECT_EQ(second.back().offset, second[3].offset + format::entry_footprint(64));

	// In the head lap: the head lap ends at the cut and the second lap is dropped whole; an
	// iterator on a kept entry stays valid, one on a dropped entry does not.
	auto kept = s().entries(r);
	ASSERT_TRUE(kept->seek(at(r, head_lap[2])));
	auto gone = s().entries(r);
	ASSERT_TRUE(gone->seek(at(r, second[1])));
	ASSERT_EQ(*s().region_truncate_after(r, at(r, head_lap[4])), head_lap.size() - 5 + second.size());
	head_lap.resize(5);
	EXPECT_EQ(read_region(s(), r), head_lap);
	EXPECT_TRUE(kept->is_valid());
	EXPECT_EQ(kept->get().offset, head_lap[2].offset);
	EXPECT_FALSE(gone->is_valid());
	EXPECT_EQ(gone->position_status().code(), errc::truncated);
	// Appends go to the second lap again.
	want = head_lap;
	const item y = add(r, 300, 64);
	EXPECT_EQ(y.offset, r.offset + format::span_header_size);
	want.push_back(y);
	EXPECT_EQ(read_region(s(), r), want);
	reopen();
	EXPECT_EQ(read_region(s(), r), want);
	EXPECT_TRUE(s().recovery().problems.empty());
	// A cut past everything clears it.
	ASSERT_EQ(*s().region_truncate_before_timestamp(r, y.ts + 1), want.size());
	EXPECT_TRUE(read_region(s(), r).empty());
	const item z = add(r, 400, 64);
	EXPECT_EQ(z.offset, r.offset + format::span_header_size);
	reopen();
	EXPECT_EQ(read_region(s(), r), std::vector<item>{z});
}

TEST_F(ring, reservations_wrap_and_transactions_stay_inside_the_lap)
{
	open();
	auto r = *s().region_allocate(4096);
	auto head_lap = fill_and_cut(r, 64, 20);
	// A reservation that does not fit after the tail wraps the region.
	auto res = s().reserve(r, 64);
	ASSERT_TRUE(res) << res.err().message();
	EXPECT_LT(res->ent.offset, head_lap.front().offset);
	const auto d = payload(5, 64);
	std::memcpy(res->data, d.data(), d.size());
	ASSERT_TRUE(s().publish(r, res->ent, 64));
	std::vector<item> want = head_lap;
	want.push_back({res->ent.offset, *s().entry_timestamp(res->ent), d});
	// A transaction appends in the second lap, and is refused when the lap has no room.
	auto tx = s().begin_transaction();
	ASSERT_TRUE(tx);
	const auto t1 = payload(6, 100);
	ASSERT_TRUE(tx->append(r, t1));
	ASSERT_TRUE(tx->commit());
	auto got = read_region(s(), r);
	ASSERT_EQ(got.size(), want.size() + 1);
	EXPECT_EQ(got.back().data, t1);
	EXPECT_LT(got.back().offset, head_lap.front().offset);
	auto big = s().begin_transaction();
	const auto huge = payload(7, 1500);
	auto a = big->append(r, huge);
	if (a) {
		auto c = big->commit();
		EXPECT_FALSE(c);
		EXPECT_EQ(c.code(), errc::region_full);
	} else {
		EXPECT_EQ(a.code(), errc::region_full);
	}
	reopen();
	EXPECT_EQ(read_region(s(), r).size(), want.size() + 1);
}

TEST_F(ring, a_region_with_a_reservation_outstanding_does_not_wrap)
{
	// The reservation may still be published after the tail: the wrap is refused, and the
	// append that needed it gets region_full (not busy, not a wrap around the reservation).
	open();
	auto r = *s().region_allocate(4096);
	auto head_lap = fill_and_cut(r, 64, 20);
	const uint64_t left = *s().region_usable_size(r) - (head_lap.front().offset & ~uint64_t{63}) +
			      (r.offset + format::span_header_size);
	ASSERT_GE(left, 16u) << "the setup needs room for a reservation of 0 bytes after the tail";
	ASSERT_LT(left, format::entry_footprint(64));
	auto res = s().reserve(r, 0);
	ASSERT_TRUE(res) << res.err().message();
	std::thread other([&] { EXPECT_EQ(s().append(r, payload(1, 64)).code(), errc::region_full); });
	other.join();
	ASSERT_TRUE(s().publish(r, res->ent, 0));
	// Published: the next append wraps.
	const item x = add(r, 2, 64);
	EXPECT_LT(x.offset, head_lap.front().offset);
}

TEST_F(ring, a_stream_without_the_ring_feature_does_not_wrap)
{
	// Streams created before rings: full stays full until a clear (their readers could not
	// walk a wrapped region).
	open();
	auto r = *s().region_allocate(4096);
	auto head_lap = fill(r, 64, 0);
	s_.reset();
	std::vector<std::byte> img = *sink_;
	format::stream_header h;
	std::memcpy(&h, img.data(), sizeof(h));
	h.incompat_features &= ~format::incompat_ring;
	h.checksum = detail::crc32c(reinterpret_cast<const std::byte *>(&h) + 8, offsetof(format::stream_header, checksum) - 8);
	std::memcpy(img.data(), &h, sizeof(h));
	open(&img);
	ASSERT_EQ(*s().region_truncate_before(r, at(r, head_lap[20])), 20u);
	EXPECT_EQ(s().append(r, payload(1, 64)).code(), errc::region_full);
	EXPECT_LT(*s().region_usable_size(r), 80u);
}

TEST_F(ring, threads_append_while_another_cuts_the_oldest)
{
	// Retention on one region: two threads append, the main thread keeps cutting everything
	// but the newest entries; the region wraps again and again. Every entry read back is
	// whole (its payload names its thread and sequence number, and its size), each thread's
	// entries appear in its order, and nothing acknowledged after the last cut is missing.
	open();
	auto r = *s().region_allocate(8192);
	constexpr uint64_t per_thread = 3000;
	std::atomic<uint64_t> done{0};
	std::atomic<uint64_t> full{0};
	auto writer = [&](uint64_t t) {
		for (uint64_t i = 0; i < per_thread;) {
			const uint64_t size = 16 + (i * 37 + t * 11) % 120;
			std::vector<std::byte> d = payload(t * 1000003 + i, size);
			std::memcpy(d.data(), &t, 8);
			std::memcpy(d.data() + 8, &i, 8);
			auto e = s().append(r, d);
			if (!e) {
				ASSERT_EQ(e.code(), errc::region_full) << e.err().message();
				full.fetch_add(1);
				std::this_thread::yield(); // the cutter makes room
				continue;
			}
			++i;
		}
		done.fetch_add(1);
	};
	std::thread a(writer, 1), b(writer, 2);
	uint64_t cuts = 0;
	while (done.load() < 2) {
		auto n = s().region_entry_count(r);
		if (n && *n > 40) {
			auto it = s().entries(r);
			for (uint64_t k = 0; k < *n - 20 && it->is_valid(); ++k)
				it->next();
			if (it->is_valid()) {
				auto c = s().region_truncate_before(r, it->get());
				ASSERT_TRUE(c || c.code() == errc::invalid_handle) << c.err().message();
				cuts += c.has_value();
			}
		}
		std::this_thread::yield();
	}
	a.join();
	b.join();
	EXPECT_GT(cuts, 10u);
	auto check = [&] {
		std::map<uint64_t, uint64_t> next_of;
		uint64_t prev_ts = 0, n = 0;
		for (auto it = s().entries(r); it->is_valid(); it->next()) {
			auto d = *s().entry_data(it->get());
			ASSERT_GE(d.size(), 16u);
			uint64_t t, i;
			std::memcpy(&t, d.data(), 8);
			std::memcpy(&i, d.data() + 8, 8);
			std::vector<std::byte> want = payload(t * 1000003 + i, 16 + (i * 37 + t * 11) % 120);
			std::memcpy(want.data(), &t, 8);
			std::memcpy(want.data() + 8, &i, 8);
			ASSERT_TRUE(std::equal(d.begin(), d.end(), want.begin(), want.end())) << "thread " << t << " entry " << i;
			if (next_of.count(t)) {
				EXPECT_EQ(i, next_of[t]) << "thread " << t << " has a gap";
			}
			next_of[t] = i + 1;
			const uint64_t ts = *s().entry_timestamp(it->get());
			EXPECT_GT(ts, prev_ts);
			prev_ts = ts;
			++n;
		}
		EXPECT_GE(n, 20u);
		// The newest entries of both threads are the last they appended.
		for (auto [t, nx] : next_of)
			EXPECT_EQ(nx, per_thread) << "thread " << t;
	};
	check();
	reopen();
	check();
}
