// SPDX-License-Identifier: BSD-3-Clause
// Skip-corrupt salvage (docs/format.md 8.7): on damaged images, exactly which entries a
// recovery_mode::skip_corrupt open shows, which ranges it reports, and that iterators, seeks,
// counts, accessors and the stream reader step over the gaps; strict and salvage opens of the
// same images are unchanged.
#include "two_region_image.hpp"

#include "format/format.hpp"
#include "media/media.hpp"

#include "c_api/c_api.hpp" // libpmemstream.h with the C handle renamed, and the C++ API

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <map>
#include <unistd.h>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

void damage_payload(std::vector<std::byte> &img, const entry &e)
{
	img[e.offset + sizeof(format::entry_header) + 5] ^= std::byte{0x5a};
}

void damage_header(std::vector<std::byte> &img, const entry &e)
{
	img[e.offset + 1] ^= std::byte{0x81}; // the timestamp's low bytes
}

result<std::unique_ptr<stream>> open_img(const std::vector<std::byte> &img, recovery_mode mode, bool read_only = true, bool follow = false)
{
	auto sm = std::make_unique<sim_media>(img, read_only);
	open_options o;
	o.recovery = mode;
	o.read_only = read_only;
	o.follow = follow;
	o.verify = verify_mode::full; // a strict read-only open reads everything too
	return detail::open_on_media(std::move(sm), 0, o);
}

uint64_t gap(const image &img, const std::vector<entry> &e, size_t from, size_t to)
{
	(void)img;
	return e[to].offset - e[from].offset;
}

std::vector<uint64_t> odd(std::initializer_list<uint64_t> l)
{
	return std::vector<uint64_t>(l);
}

} // namespace

TEST(skip_corrupt, payload_damage_shows_every_entry_behind_it)
{
	auto img = alternate(6); // a: 1 3 5 7 9 11, b: 2 4 6 8 10 12
	damage_payload(img.bytes, img.ea[2]); // timestamp 5
	ASSERT_EQ(open_img(img.bytes, recovery_mode::strict).code(), errc::corrupt);
	{ // salvage is unchanged: a ends at the damage
		auto r = open_img(img.bytes, recovery_mode::salvage);
		ASSERT_TRUE(r) << r.err().message();
		EXPECT_EQ(timestamps(**r)[img.a.offset], odd({1, 3}));
		EXPECT_TRUE((*r)->recovery().skipped.empty());
	}
	auto r = open_img(img.bytes, recovery_mode::skip_corrupt);
	ASSERT_TRUE(r) << r.err().message();
	auto &s = **r;
	auto ts = timestamps(s);
	EXPECT_EQ(ts[img.a.offset], odd({1, 3, 7, 9, 11}));
	EXPECT_EQ(ts[img.b.offset], odd({2, 4, 6, 8, 10, 12}));
	const auto &rep = s.recovery();
	ASSERT_EQ(rep.skipped.size(), 1u);
	EXPECT_EQ(rep.skipped[0].region_offset, img.a.offset);
	EXPECT_EQ(rep.skipped[0].offset, img.ea[2].offset);
	EXPECT_EQ(rep.skipped[0].bytes, gap(img, img.ea, 2, 3));
	EXPECT_EQ(rep.skipped[0].why, "checksum mismatch");
	EXPECT_EQ(rep.entries, 11u);
	EXPECT_EQ(s.region_entry_count(img.a).value(), 5u);
	// The range is a problem too, with the region and the entry.
	bool listed = false;
	for (const auto &p : rep.problems)
		listed = listed || (p.region_offset == img.a.offset && p.entry_offset == img.ea[2].offset &&
				    p.what.find("skipped " + std::to_string(rep.skipped[0].bytes)) != std::string::npos);
	EXPECT_TRUE(listed);
	// Accessors: the entries behind the gap read, the damaged one does not.
	EXPECT_EQ(s.entry_timestamp(img.ea[3]).value(), 7u);
	EXPECT_EQ(s.entry_data(img.ea[3]).value()[0], std::byte{0x43});
	EXPECT_EQ(s.entry_data(img.ea[2]).code(), errc::invalid_handle);
	EXPECT_EQ(s.entry_timestamp(img.ea[2]).code(), errc::invalid_handle);
}

TEST(skip_corrupt, header_damage_is_stepped_over_the_same_way)
{
	auto img = alternate(5);
	damage_header(img.bytes, img.eb[1]); // timestamp 4
	ASSERT_EQ(open_img(img.bytes, recovery_mode::strict).code(), errc::corrupt);
	auto r = open_img(img.bytes, recovery_mode::skip_corrupt);
	ASSERT_TRUE(r) << r.err().message();
	auto ts = timestamps(**r);
	EXPECT_EQ(ts[img.a.offset], odd({1, 3, 5, 7, 9}));
	EXPECT_EQ(ts[img.b.offset], odd({2, 6, 8, 10}));
	const auto &rep = (*r)->recovery();
	ASSERT_EQ(rep.skipped.size(), 1u);
	EXPECT_EQ(rep.skipped[0].region_offset, img.b.offset);
	EXPECT_EQ(rep.skipped[0].offset, img.eb[1].offset);
	EXPECT_EQ(rep.skipped[0].bytes, gap(img, img.eb, 1, 2));
}

TEST(skip_corrupt, two_gaps_in_one_region_and_adjacent_damage_make_one_range)
{
	auto img = alternate(8); // a: 1 3 5 7 9 11 13 15
	damage_payload(img.bytes, img.ea[1]); // 3
	damage_header(img.bytes, img.ea[4]);  // 9
	damage_payload(img.bytes, img.ea[5]); // 11: next to 9, one range with it
	auto r = open_img(img.bytes, recovery_mode::skip_corrupt);
	ASSERT_TRUE(r) << r.err().message();
	auto &s = **r;
	EXPECT_EQ(timestamps(s)[img.a.offset], odd({1, 5, 7, 13, 15}));
	const auto &rep = s.recovery();
	ASSERT_EQ(rep.skipped.size(), 2u);
	EXPECT_EQ(rep.skipped[0].offset, img.ea[1].offset);
	EXPECT_EQ(rep.skipped[0].bytes, gap(img, img.ea, 1, 2));
	EXPECT_EQ(rep.skipped[1].offset, img.ea[4].offset);
	EXPECT_EQ(rep.skipped[1].bytes, gap(img, img.ea, 4, 6));
	EXPECT_EQ(s.region_entry_count(img.a).value(), 5u);
	EXPECT_EQ(rep.entries, 13u);
	// Handles inside either gap are refused, the ones around them read.
	for (size_t k : {1, 4, 5})
		EXPECT_EQ(s.entry_data(img.ea[k]).code(), errc::invalid_handle) << k;
	for (size_t k : {0, 2, 3, 6, 7})
		EXPECT_TRUE(s.entry_data(img.ea[k])) << k;
	EXPECT_EQ(s.entry_data(entry{img.ea[4].offset + 8}).code(), errc::invalid_handle);
	// Iteration steps over both gaps, also from a seek just before each.
	auto it = s.entries(img.a).value();
	ASSERT_TRUE(it.seek(img.ea[3]));
	it.next();
	ASSERT_TRUE(it.is_valid());
	EXPECT_EQ(it.get().offset, img.ea[6].offset);
}

TEST(skip_corrupt, damaged_first_and_last_entries)
{
	auto img = alternate(5);
	damage_payload(img.bytes, img.ea[0]); // the first entry of a
	damage_payload(img.bytes, img.ea[4]); // the last: nothing valid behind it, a torn-looking end
	auto r = open_img(img.bytes, recovery_mode::skip_corrupt);
	ASSERT_TRUE(r) << r.err().message();
	auto &s = **r;
	EXPECT_EQ(timestamps(s)[img.a.offset], odd({3, 5, 7}));
	const auto &rep = s.recovery();
	ASSERT_EQ(rep.skipped.size(), 1u); // a last entry is not a gap: nothing is behind it
	EXPECT_EQ(rep.skipped[0].offset, img.ea[0].offset);
	EXPECT_EQ(rep.skipped[0].bytes, gap(img, img.ea, 0, 1));
	// ... but damage inside data sealed at the last clean close (rule R4), reported there.
	EXPECT_EQ(rep.torn_tails, 0u);
	bool listed = false;
	for (const auto &p : rep.problems)
		listed = listed || (p.region_offset == img.a.offset && p.entry_offset == img.ea[4].offset);
	EXPECT_TRUE(listed);
	auto it = s.entries(img.a).value();
	ASSERT_TRUE(it.is_valid());
	EXPECT_EQ(it.get().offset, img.ea[1].offset);
}

TEST(skip_corrupt, an_older_entry_behind_damage_is_not_shown)
{
	// Rule E4 holds across a gap: the entry behind it must be newer than the last entry shown
	// before it. A copy of a's first entry (timestamp 1, valid checksum: the offset is not in
	// it) placed behind the damage is stepped over with the damage.
	auto img = alternate(6);
	damage_payload(img.bytes, img.ea[2]); // 5
	const uint64_t fp = img.ea[1].offset - img.ea[0].offset;
	std::memcpy(img.bytes.data() + img.ea[3].offset, img.bytes.data() + img.ea[0].offset, fp); // 7 becomes a copy of 1
	auto r = open_img(img.bytes, recovery_mode::skip_corrupt);
	ASSERT_TRUE(r) << r.err().message();
	EXPECT_EQ(timestamps(**r)[img.a.offset], odd({1, 3, 9, 11}));
	const auto &rep = (*r)->recovery();
	ASSERT_EQ(rep.skipped.size(), 1u);
	EXPECT_EQ(rep.skipped[0].offset, img.ea[2].offset);
	EXPECT_EQ(rep.skipped[0].bytes, gap(img, img.ea, 2, 4));
}

TEST(skip_corrupt, iteration_and_seek_across_a_gap)
{
	auto img = alternate(6);
	damage_payload(img.bytes, img.ea[2]); // 5
	auto r = open_img(img.bytes, recovery_mode::skip_corrupt);
	ASSERT_TRUE(r) << r.err().message();
	auto &s = **r;
	auto it = s.entries(img.a).value();
	ASSERT_TRUE(it.seek(img.ea[1]));
	ASSERT_TRUE(it.is_valid());
	it.next();
	ASSERT_TRUE(it.is_valid());
	EXPECT_EQ(it.get().offset, img.ea[3].offset);
	EXPECT_EQ(it.seek(img.ea[2]).code(), errc::invalid_handle); // inside the gap
	it.seek_timestamp(5); // the first entry >= 5 is 7, behind the gap
	ASSERT_TRUE(it.is_valid());
	EXPECT_EQ(it.get().offset, img.ea[3].offset);
	it.seek_timestamp(4);
	ASSERT_TRUE(it.is_valid());
	EXPECT_EQ(it.get().offset, img.ea[3].offset);
	it.seek_first();
	uint64_t n = 0;
	for (; it.is_valid(); it.next())
		++n;
	EXPECT_EQ(n, 5u);
}

TEST(skip_corrupt, stream_reader_reads_across_gaps_in_timestamp_order)
{
	auto img = alternate(6);
	damage_payload(img.bytes, img.ea[1]); // 3
	damage_header(img.bytes, img.eb[3]);  // 8
	damage_payload(img.bytes, img.ea[4]); // 9
	auto r = open_img(img.bytes, recovery_mode::skip_corrupt);
	ASSERT_TRUE(r) << r.err().message();
	auto &s = **r;
	auto rd = s.reader();
	std::vector<uint64_t> got;
	for (rd.seek_first(); rd.is_valid(); rd.next())
		got.push_back(rd.timestamp());
	EXPECT_EQ(got, odd({1, 2, 4, 5, 6, 7, 10, 11, 12}));
	rd.seek_timestamp(8);
	ASSERT_TRUE(rd.is_valid());
	EXPECT_EQ(rd.timestamp(), 10u);
	EXPECT_EQ(s.recovery().skipped.size(), 3u);
}

TEST(skip_corrupt, undamaged_stream_opens_as_strict_does)
{
	auto img = alternate(4);
	auto strict = open_img(img.bytes, recovery_mode::strict);
	auto skip = open_img(img.bytes, recovery_mode::skip_corrupt);
	ASSERT_TRUE(strict && skip);
	EXPECT_EQ(timestamps(**strict), timestamps(**skip));
	EXPECT_TRUE((*skip)->recovery().skipped.empty());
	EXPECT_TRUE((*skip)->recovery().problems.empty());
}

TEST(skip_corrupt, needs_a_read_only_stream_that_follows_no_writer)
{
	auto img = alternate(2);
	EXPECT_EQ(open_img(img.bytes, recovery_mode::skip_corrupt, false).code(), errc::invalid_argument);
	EXPECT_EQ(open_img(img.bytes, recovery_mode::skip_corrupt, true, true).code(), errc::invalid_argument);
}

TEST(skip_corrupt, c_api_flag)
{
	auto img = alternate(4);
	damage_payload(img.bytes, img.ea[1]);
	const std::string path = "/dev/shm/pmemstream_skip_corrupt_c_" + std::to_string(::getpid());
	{
		std::ofstream f(path, std::ios::binary);
		f.write(reinterpret_cast<const char *>(img.bytes.data()), static_cast<std::streamsize>(img.bytes.size()));
	}
	pmemstream_c_handle *h = nullptr;
	EXPECT_EQ(pmemstream_open_errc(&h, path.c_str(), 0, PMEMSTREAM_OPEN_SKIP_CORRUPT), PMEMSTREAM_E_INVALID_ARGUMENT);
	EXPECT_EQ(pmemstream_open_errc(&h, path.c_str(), 0, PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_SKIP_CORRUPT | PMEMSTREAM_OPEN_SALVAGE),
		  PMEMSTREAM_E_INVALID_ARGUMENT);
	EXPECT_EQ(pmemstream_open_errc(&h, path.c_str(), 0, PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_VERIFY_FULL), PMEMSTREAM_E_CORRUPT);
	EXPECT_EQ(pmemstream_open_errc(&h, path.c_str(), 0, PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_SALVAGE), 0);
	EXPECT_EQ(pmemstream_committed_timestamp(h), 8u); // salvage: a stops at 1, b shows 2 4 6 8
	pmemstream_delete(&h);
	ASSERT_EQ(pmemstream_open_errc(&h, path.c_str(), 0, PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_SKIP_CORRUPT), 0);
	EXPECT_EQ(pmemstream_committed_timestamp(h), 8u);
	pmemstream_delete(&h);
	::unlink(path.c_str());
}

// Model: damage any set of a's entries, each in its header or its payload. The open shows
// exactly a's undamaged entries and all of b's, and reports one range per maximal run of
// damaged entries that has an undamaged entry behind it, from the run's first entry to that
// entry; a run at the end is no range (the walk ends there). The reader yields every shown
// timestamp once, in order.
RC_GTEST_PROP(skip_corrupt, shows_exactly_the_undamaged_entries, ())
{
	const int n = *rc::gen::inRange(1, 12);
	auto img = alternate(n);
	const auto damaged = *rc::gen::container<std::vector<bool>>(static_cast<size_t>(n), rc::gen::arbitrary<bool>());
	const auto in_header = *rc::gen::container<std::vector<bool>>(static_cast<size_t>(n), rc::gen::arbitrary<bool>());
	std::vector<uint64_t> want_a, want_all;
	std::vector<std::pair<uint64_t, uint64_t>> want_ranges; // (offset, bytes)
	for (int k = 0; k < n; ++k) {
		if (damaged[size_t(k)])
			(in_header[size_t(k)] ? damage_header : damage_payload)(img.bytes, img.ea[size_t(k)]);
		else
			want_a.push_back(2 * uint64_t(k) + 1);
	}
	for (int k = 0; k < n;) {
		if (!damaged[size_t(k)]) {
			++k;
			continue;
		}
		int j = k;
		while (j < n && damaged[size_t(j)])
			++j;
		if (j < n)
			want_ranges.emplace_back(img.ea[size_t(k)].offset, img.ea[size_t(j)].offset - img.ea[size_t(k)].offset);
		k = j;
	}
	for (uint64_t t = 1; t <= 2 * uint64_t(n); ++t)
		if (t % 2 == 0 || std::find(want_a.begin(), want_a.end(), t) != want_a.end())
			want_all.push_back(t);
	auto r = open_img(img.bytes, recovery_mode::skip_corrupt);
	RC_ASSERT(bool(r));
	auto &s = **r;
	auto ts = timestamps(s);
	RC_ASSERT(ts[img.a.offset] == want_a);
	RC_ASSERT(ts[img.b.offset].size() == size_t(n));
	std::vector<std::pair<uint64_t, uint64_t>> got_ranges;
	for (const auto &g : s.recovery().skipped) {
		RC_ASSERT(g.region_offset == img.a.offset);
		got_ranges.emplace_back(g.offset, g.bytes);
	}
	RC_ASSERT(got_ranges == want_ranges);
	RC_ASSERT(s.region_entry_count(img.a).value() == want_a.size());
	std::vector<uint64_t> got;
	auto rd = s.reader();
	for (rd.seek_first(); rd.is_valid(); rd.next())
		got.push_back(rd.timestamp());
	RC_ASSERT(got == want_all);
	// Salvage of the same image is unchanged: a ends at its first damage.
	auto sv = open_img(img.bytes, recovery_mode::salvage);
	RC_ASSERT(bool(sv));
	const auto first_bad = std::find(damaged.begin(), damaged.end(), true) - damaged.begin();
	RC_ASSERT(timestamps(**sv)[img.a.offset].size() == size_t(first_bad));
}
