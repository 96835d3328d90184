// SPDX-License-Identifier: BSD-3-Clause
// The checker must fail when it should: images of a real stream checked against histories
// that do and do not allow them, with appends committed but not persisted (as asynchronous
// appends will be), several in flight in one region, watermarks observed.
#include "op_history.hpp"
#include "sim_media.hpp"
#include "stream_check.hpp"
#include "stream_factory.hpp"

#include <gtest/gtest.h>

#include <cstring>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

std::vector<std::byte> bytes(const char *s)
{
	std::vector<std::byte> v(std::strlen(s));
	std::memcpy(v.data(), s, v.size());
	return v;
}

bool mentions(const std::vector<std::string> &v, const char *what)
{
	for (const auto &s : v)
		if (s.find(what) != std::string::npos)
			return true;
	return false;
}

std::string all(const std::vector<std::string> &v)
{
	std::string out;
	for (const auto &s : v)
		out += s + "\n";
	return out;
}

// A region with entry `a` (ts 1), then `b` (ts 2) and `c` (ts 3) appended; the images of the
// moment before b's fence (b lost: the durable image) and of the end (everything durable).
struct fixture {
	region r;
	uint64_t region_size = 0;
	entry ea, eb, ec;
	std::vector<std::byte> a = bytes("acknowledged"), b = bytes("second entry"), c = bytes("third");
	std::vector<std::byte> without_b, with_all;

	fixture()
	{
		auto sm = std::make_unique<sim_media>(4096 + 8192);
		sim_media *m = sm.get();
		auto s = detail::open_on_media(std::move(sm), 256, {}).value();
		r = s->region_allocate(1000).value();
		region_size = s->region_size(r).value();
		ea = s->append(r, a).value();
		bool armed = true;
		m->set_hook([&](sim_media &mm, sim_event e) {
			if (armed && e == sim_event::drain) {
				without_b = mm.persisted_image();
				armed = false;
			}
		});
		eb = s->append(r, b).value();
		m->set_hook({});
		ec = s->append(r, c).value();
		with_all = m->persisted_image();
	}

	// The history up to a's acknowledgement.
	op_history history() const
	{
		stream_model m;
		m.allocated(r, region_size);
		m.appended(r, ea, 1, a);
		return op_history(m);
	}
};

std::vector<std::string> check(const std::vector<std::byte> &img, const expectation &x)
{
	auto s = detail::open_on_media(std::make_unique<sim_media>(img), 0, {});
	EXPECT_TRUE(s.has_value());
	if (!s)
		return {"does not open"};
	return check_stream(**s, x);
}

} // namespace

TEST(crash_model, committed_not_persisted_may_be_lost_or_kept)
{
	fixture f;
	op_history h = f.history();
	const uint64_t id = h.submit_append(f.r, f.b);
	h.committed(id, f.eb, 2); // an asynchronous append returned; not persisted
	const auto x = h.view();
	ASSERT_EQ(x.in_flight.size(), 1u);
	EXPECT_TRUE(check(f.without_b, x).empty()) << all(check(f.without_b, x));
	// c is in the image too: only if it was submitted.
	EXPECT_TRUE(mentions(check(f.with_all, x), "unacknowledged entries visible"));
	const uint64_t idc = h.submit_append(f.r, f.c);
	EXPECT_TRUE(check(f.with_all, h.view()).empty()) << all(check(f.with_all, h.view()));
	h.committed(idc, f.ec, 3);
	EXPECT_TRUE(check(f.with_all, h.view()).empty());
}

TEST(crash_model, an_entry_below_the_persisted_watermark_observed_must_survive)
{
	fixture f;
	op_history h = f.history();
	const uint64_t id = h.submit_append(f.r, f.b);
	h.committed(id, f.eb, 2);
	EXPECT_TRUE(h.observe(2, 1).empty());
	EXPECT_TRUE(check(f.without_b, h.view()).empty());
	EXPECT_TRUE(h.observe(2, 2).empty()); // a wait reported it persisted
	EXPECT_EQ(h.in_flight(), 0u) << "the watermark did not acknowledge the committed append";
	auto v = check(f.without_b, h.view());
	EXPECT_FALSE(v.empty());
	EXPECT_TRUE(mentions(v, "lost 1 acknowledged entries")) << all(v);
}

// The watermark covers an append whose commit no thread recorded yet: its timestamp must be
// visible, whatever entry carries it.
TEST(crash_model, the_watermark_covers_appends_not_yet_recorded_as_committed)
{
	fixture f;
	op_history h = f.history();
	h.submit_append(f.r, f.b);
	h.observe(2, 2);
	EXPECT_EQ(h.in_flight(), 1u);
	auto v = check(f.without_b, h.view());
	EXPECT_TRUE(mentions(v, "missing, but the persisted watermark 2")) << all(v);
}

TEST(crash_model, an_entry_never_submitted_is_reported)
{
	fixture f;
	op_history h = f.history();
	auto v = check(f.with_all, h.view());
	EXPECT_TRUE(mentions(v, "unacknowledged entries visible")) << all(v);
	// Submitted with other bytes: not the same operation.
	h.submit_append(f.r, f.c);
	h.submit_append(f.r, f.c);
	v = check(f.with_all, h.view());
	EXPECT_TRUE(mentions(v, "unacknowledged entries visible")) << all(v);
}

// An append submitted after b was committed cannot carry a timestamp at or below b's.
TEST(crash_model, an_in_flight_entry_at_or_below_its_floor_is_reported)
{
	fixture f;
	op_history h = f.history();
	h.observe(3, 1); // timestamps up to 3 committed before the next submission
	h.submit_append(f.r, f.b);
	h.submit_append(f.r, f.c);
	auto v = check(f.with_all, h.view());
	EXPECT_TRUE(mentions(v, "unacknowledged entries visible")) << all(v);
}

TEST(crash_model, several_appends_in_flight_in_one_region)
{
	fixture f;
	op_history h = f.history();
	h.submit_append(f.r, f.c); // submission order need not be region order
	h.submit_append(f.r, f.b);
	const auto x = h.view();
	EXPECT_TRUE(check(f.with_all, x).empty()) << all(check(f.with_all, x));
	EXPECT_TRUE(check(f.without_b, x).empty());
}

TEST(crash_model, a_committed_watermark_below_the_persisted_one_is_reported)
{
	op_history h;
	EXPECT_TRUE(h.observe(5, 5).empty());
	EXPECT_TRUE(h.observe(7, 5).empty());
	EXPECT_FALSE(h.observe(5, 6).empty());
	EXPECT_EQ(h.persisted_watermark(), 6u);
}
