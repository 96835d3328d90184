// SPDX-License-Identifier: BSD-3-Clause
// Point-in-time repair (docs/format.md 8.6) on damaged images: exactly what is dropped, the
// repaired stream opens strict (full walk) and takes appends, and a crash at any fence or
// flush of the repair (torn lines included) leaves a stream the next repair finishes the same.
#include "two_region_image.hpp"

#include "format/format.hpp"
#include "media/media.hpp"

#include "c_api/c_api.hpp" // libpmemstream.h with the C handle renamed, and the C++ API

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <unistd.h>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

void damage_payload(std::vector<std::byte> &img, const entry &e)
{
	img[e.offset + 20] ^= std::byte{0x5a};
}

result<std::unique_ptr<stream>> open_img(const std::vector<std::byte> &img, recovery_mode mode, std::shared_ptr<std::vector<std::byte>> sink = {},
					 bool read_only = false)
{
	auto sm = std::make_unique<sim_media>(img, read_only);
	if (sink)
		sm->keep_on_destroy(sink);
	open_options o;
	o.recovery = mode;
	o.read_only = read_only;
	o.verify = verify_mode::full;
	return detail::open_on_media(std::move(sm), 0, o);
}

} // namespace

TEST(repair, point_in_time_cuts_at_the_last_timestamp_before_the_damage)
{
	auto img = alternate(6); // a: 1 3 5 7 9 11, b: 2 4 6 8 10 12
	damage_payload(img.bytes, img.ea[2]); // timestamp 5
	ASSERT_EQ(open_img(img.bytes, recovery_mode::strict).code(), errc::corrupt);

	auto sink = std::make_shared<std::vector<std::byte>>();
	auto r = open_img(img.bytes, recovery_mode::point_in_time, sink);
	ASSERT_TRUE(r) << r.err().message();
	auto &s = **r;
	const auto &rep = s.recovery();
	// The damaged entry's own timestamp cannot be trusted: it is above 3 (the entry before
	// it) and is not 4 (found in b), so the cut is 4.
	EXPECT_EQ(rep.repair_cut, 4u);
	EXPECT_EQ(timestamps(s), (seen{{img.a.offset, {1, 3}}, {img.b.offset, {2, 4}}}));
	EXPECT_EQ(rep.entries, 4u);
	ASSERT_EQ(rep.dropped.size(), 2u);
	const auto &da = rep.dropped[0], &db = rep.dropped[1];
	EXPECT_EQ(da.region_offset, img.a.offset);
	EXPECT_EQ(da.offset, img.ea[2].offset);
	EXPECT_TRUE(da.damaged);
	EXPECT_FALSE(da.why.empty());
	EXPECT_EQ(da.entries, 3u); // 7 9 11, found behind the damaged entry
	EXPECT_EQ(da.first_timestamp, 7u);
	EXPECT_EQ(da.last_timestamp, 11u);
	EXPECT_EQ(db.region_offset, img.b.offset);
	EXPECT_EQ(db.offset, img.eb[2].offset);
	EXPECT_FALSE(db.damaged);
	EXPECT_EQ(db.entries, 4u); // 6 8 10 12: above the cut
	EXPECT_EQ(db.first_timestamp, 6u);
	EXPECT_EQ(db.last_timestamp, 12u);
	EXPECT_FALSE(rep.problems.empty()); // what was found stays listed

	// Writable now; new timestamps start above every one found (12), dropped ones included.
	const std::byte d[8] = {};
	auto x = s.append(img.a, d, sizeof(d));
	ASSERT_TRUE(x) << x.err().message();
	EXPECT_EQ(x->timestamp, 13u);
	EXPECT_EQ(x->offset, img.ea[2].offset);
	r->reset();

	// The repaired stream opens strict, with the full walk and with the fast path.
	for (auto v : {verify_mode::full, verify_mode::checkpoint}) {
		open_options o;
		o.verify = v;
		auto t = detail::open_on_media(std::make_unique<sim_media>(*sink), 0, o);
		ASSERT_TRUE(t) << t.err().message();
		EXPECT_EQ(timestamps(**t), (seen{{img.a.offset, {1, 3, 13}}, {img.b.offset, {2, 4}}}));
		EXPECT_TRUE((*t)->recovery().problems.empty());
		EXPECT_TRUE((*t)->append(img.b, d, sizeof(d)));
	}
}

TEST(repair, point_in_time_on_a_healthy_stream_changes_nothing)
{
	auto img = alternate(3);
	auto r = open_img(img.bytes, recovery_mode::point_in_time);
	ASSERT_TRUE(r) << r.err().message();
	EXPECT_TRUE((*r)->recovery().dropped.empty());
	EXPECT_EQ((*r)->recovery().repair_cut, 0u);
	EXPECT_EQ((*r)->recovery().entries, 6u);
}

TEST(repair, read_only_point_in_time_is_a_dry_run)
{
	auto img = alternate(6);
	damage_payload(img.bytes, img.ea[2]);
	const auto before = img.bytes;
	auto sink = std::make_shared<std::vector<std::byte>>();
	auto r = open_img(img.bytes, recovery_mode::point_in_time, sink, true);
	ASSERT_TRUE(r) << r.err().message();
	EXPECT_EQ((*r)->recovery().repair_cut, 4u);
	EXPECT_EQ((*r)->recovery().dropped.size(), 2u);
	EXPECT_EQ(timestamps(**r), (seen{{img.a.offset, {1, 3}}, {img.b.offset, {2, 4}}}));
	EXPECT_EQ((*r)->committed_timestamp(), 4u);
	r->reset();
	EXPECT_TRUE(*sink == before); // nothing written
}

TEST(repair, point_in_time_refuses_structural_damage)
{
	auto img = alternate(3);
	// Both copies of b's span header damaged: the spans after it are unknown.
	img.bytes[img.b.offset + 20] ^= std::byte{1};
	img.bytes[img.b.offset + format::span_slot_size + 20] ^= std::byte{1};
	auto r = open_img(img.bytes, recovery_mode::point_in_time);
	ASSERT_FALSE(r);
	EXPECT_EQ(r.code(), errc::corrupt);
	EXPECT_NE(r.err().message().find("cannot be repaired"), std::string::npos) << r.err().message();
}

TEST(repair, damage_to_the_last_entry_of_a_region_is_cut_there)
{
	auto img = alternate(4); // a: 1 3 5 7, b: 2 4 6 8
	damage_payload(img.bytes, img.eb[3]); // 8: the last entry, inside b's checkpoint
	auto r = open_img(img.bytes, recovery_mode::point_in_time);
	ASSERT_TRUE(r) << r.err().message();
	EXPECT_EQ((*r)->recovery().repair_cut, 7u); // 8 is the only timestamp above 6 not found
	EXPECT_EQ(timestamps(**r), (seen{{img.a.offset, {1, 3, 5, 7}}, {img.b.offset, {2, 4, 6}}}));
	ASSERT_EQ((*r)->recovery().dropped.size(), 1u);
	EXPECT_EQ((*r)->recovery().dropped[0].region_offset, img.b.offset);
	EXPECT_EQ((*r)->recovery().dropped[0].entries, 0u); // the damaged 8 only
	EXPECT_TRUE((*r)->recovery().dropped[0].damaged);
}

// A power failure at any fence or flush of the repair (images drawn with torn lines): the
// image opens strict only once the repair is complete (else it says the repair was
// interrupted), and a point-in-time open of it finishes with the same result.
TEST(repair, crash_during_the_repair_finishes_the_same)
{
	auto img = alternate(6);
	damage_payload(img.bytes, img.ea[2]);
	const seen expected{{img.a.offset, {1, 3}}, {img.b.offset, {2, 4}}};
	std::vector<std::vector<std::byte>> crashes;
	std::mt19937_64 rng(7);
	{
		auto sm = std::make_unique<sim_media>(img.bytes);
		sim_media *raw = sm.get();
		sm->set_hook([&](sim_media &m, sim_event) {
			for (int k = 0; k < 12; ++k) {
				std::vector<std::byte> out;
				m.crash_image(rng, out);
				crashes.push_back(std::move(out));
			}
		});
		open_options o;
		o.recovery = recovery_mode::point_in_time;
		auto r = detail::open_on_media(std::move(sm), 0, o);
		ASSERT_TRUE(r) << r.err().message();
		EXPECT_EQ(timestamps(**r), expected);
		raw->set_hook({}); // only the repair's crash points, not the close's
	}
	ASSERT_GT(crashes.size(), 24u);
	uint64_t pending = 0, nested = 0;
	for (size_t i = 0; i < crashes.size(); ++i) {
		const auto &c = crashes[i];
		auto strict = open_img(c, recovery_mode::strict);
		if (!strict) {
			EXPECT_EQ(strict.code(), errc::corrupt) << i;
			pending += strict.err().message().find("interrupted") != std::string::npos;
		} else {
			EXPECT_EQ(timestamps(**strict), expected) << "image " << i << " opens strict with other contents";
		}
		// A second crash during the second repair (every few images).
		if (i % 8 == 0) {
			auto sm = std::make_unique<sim_media>(c);
			sim_media *raw2 = sm.get();
			std::vector<std::vector<std::byte>> second;
			sm->set_hook([&](sim_media &m, sim_event) {
				std::vector<std::byte> out;
				m.crash_image(rng, out);
				second.push_back(std::move(out));
			});
			open_options o;
			o.recovery = recovery_mode::point_in_time;
			o.verify = verify_mode::full;
			auto r = detail::open_on_media(std::move(sm), 0, o);
			ASSERT_TRUE(r) << r.err().message();
			raw2->set_hook({});
			for (const auto &c2 : second) {
				auto f = open_img(c2, recovery_mode::point_in_time);
				ASSERT_TRUE(f) << f.err().message();
				EXPECT_EQ(timestamps(**f), expected) << "nested image of " << i;
				++nested;
			}
		}
		auto fin = open_img(c, recovery_mode::point_in_time);
		ASSERT_TRUE(fin) << i << ": " << fin.err().message();
		EXPECT_EQ(timestamps(**fin), expected) << "image " << i;
		const std::byte d[8] = {};
		EXPECT_TRUE((*fin)->append(img.a, d, sizeof(d)));
	}
	std::printf("repair: %zu crash images of the repair, %llu said the repair was interrupted, %llu nested images\n",
		    crashes.size(), static_cast<unsigned long long>(pending), static_cast<unsigned long long>(nested));
	EXPECT_GT(pending, 0u);
}

// The C API's open flags reach the same repair.
TEST(repair, c_open_flags)
{
	auto img = alternate(6);
	damage_payload(img.bytes, img.ea[2]);
	const std::string path = "/dev/shm/pmemstream_repair_c_" + std::to_string(::getpid());
	{
		FILE *f = std::fopen(path.c_str(), "wb");
		ASSERT_TRUE(f);
		ASSERT_EQ(std::fwrite(img.bytes.data(), 1, img.bytes.size(), f), img.bytes.size());
		std::fclose(f);
	}
	pmemstream_c_handle *s = nullptr;
	EXPECT_EQ(pmemstream_open_errc(&s, path.c_str(), 0, PMEMSTREAM_OPEN_VERIFY_FULL), PMEMSTREAM_E_CORRUPT);
	EXPECT_EQ(pmemstream_open_errc(&s, path.c_str(), 0, PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_SALVAGE | PMEMSTREAM_OPEN_POINT_IN_TIME),
		  PMEMSTREAM_E_INVALID_ARGUMENT);
	EXPECT_EQ(pmemstream_open_errc(&s, path.c_str(), 0, 1u << 20), PMEMSTREAM_E_INVALID_ARGUMENT);
	ASSERT_EQ(pmemstream_open_errc(&s, path.c_str(), 0, PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_POINT_IN_TIME), 0); // dry run
	EXPECT_EQ(pmemstream_committed_timestamp(s), 4u);
	pmemstream_delete(&s);
	EXPECT_EQ(pmemstream_open_errc(&s, path.c_str(), 0, PMEMSTREAM_OPEN_VERIFY_FULL), PMEMSTREAM_E_CORRUPT); // unchanged
	ASSERT_EQ(pmemstream_open_errc(&s, path.c_str(), 0, PMEMSTREAM_OPEN_POINT_IN_TIME), 0);
	EXPECT_EQ(pmemstream_committed_timestamp(s), 12u); // every timestamp found is burnt
	pmemstream_delete(&s);
	ASSERT_EQ(pmemstream_open_errc(&s, path.c_str(), 0, PMEMSTREAM_OPEN_VERIFY_FULL), 0);
	pmemstream_delete(&s);
	::unlink(path.c_str());
}
