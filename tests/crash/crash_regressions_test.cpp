// SPDX-License-Identifier: BSD-3-Clause
// Hand-made crash images for problems the explorer found, each reduced to the exact bytes a
// power failure leaves (8-byte words of one cache line, see docs/reliability.md).
#include "sim_media.hpp"
#include "stream_check.hpp"
#include "stream_factory.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

constexpr uint64_t stream_bytes = 4096 + 8192;

// `img` with bytes [off, off + len) taken from `from`.
std::vector<std::byte> patched(std::vector<std::byte> img, const std::vector<std::byte> &from, uint64_t off, uint64_t len)
{
	std::memcpy(img.data() + off, from.data() + off, len);
	return img;
}

struct opened {
	std::unique_ptr<stream> s;
	sim_media *m = nullptr;
};

opened open_image(const std::vector<std::byte> &img, uint64_t block_size = 0)
{
	auto sm = img.empty() ? std::make_unique<sim_media>(stream_bytes) : std::make_unique<sim_media>(img);
	opened o;
	o.m = sm.get();
	auto r = detail::open_on_media(std::move(sm), block_size, {});
	EXPECT_TRUE(r.has_value()) << (r ? "" : r.err().message());
	if (r)
		o.s = std::move(*r);
	return o;
}

std::vector<std::byte> bytes(const char *s)
{
	std::vector<std::byte> v(std::strlen(s));
	std::memcpy(v.data(), s, v.size());
	return v;
}

// First drain at which one of the two lines at `off` is about to change: the durable image
// and the current one at that moment.
struct capture {
	uint64_t off = 0;
	bool armed = false, done = false;
	std::vector<std::byte> persisted, current;
	uint64_t line = 0;
	void operator()(sim_media &m, sim_event e)
	{
		if (!armed || done || e != sim_event::drain)
			return;
		auto p = m.persisted_image(), c = m.current_image();
		for (uint64_t l = off; l < off + 128; l += 64) {
			if (std::memcmp(p.data() + l, c.data() + l, 64) != 0) {
				persisted = std::move(p);
				current = std::move(c);
				line = l;
				done = true;
				return;
			}
		}
	}
};

} // namespace

// A crash while creation writes the 128-byte header (two cache lines) can persist either
// line alone. Such a file is not corrupt: opening it writable must finish the creation.
TEST(crash_regressions, torn_header_during_creation_opens)
{
	std::vector<std::byte> first_drain_current;
	{
		auto sm = std::make_unique<sim_media>(stream_bytes);
		sm->set_hook([&](sim_media &m, sim_event e) {
			if (e == sim_event::drain && m.drains() == 0)
				first_drain_current = m.current_image();
		});
		auto r = detail::open_on_media(std::move(sm), 256, {});
		ASSERT_TRUE(r.has_value());
	}
	ASSERT_FALSE(first_drain_current.empty());
	const std::vector<std::byte> zero(stream_bytes);
	for (uint64_t line : {0, 64}) {
		auto img = patched(zero, first_drain_current, line, 64);
		auto r = detail::open_on_media(std::make_unique<sim_media>(img), 256, {});
		EXPECT_TRUE(r.has_value()) << "only header line at " << line << " persisted: " << r.err().message();
	}
}

// The first crash tears an append: the second word of the entry header (size, checksum) and
// the payload persist, the timestamp word does not. Recovery rightly hides the entry, but
// leaves its bytes; the next append reuses the same position and timestamp, and a second
// crash that persists only its timestamp word revives the aborted entry.
TEST(crash_regressions, aborted_entry_stays_dead_after_a_second_crash)
{
	capture cap;
	opened a = open_image({}, 256);
	a.m->set_hook([&](sim_media &m, sim_event e) { cap(m, e); });
	auto r = a.s->region_allocate(1000).value();
	auto first = bytes("AAAAAAAA");
	auto e1 = a.s->append(r, first).value();
	const uint64_t pos = e1.offset + entry_footprint(first.size());
	cap.off = pos & ~uint64_t(63);
	cap.armed = true;
	ASSERT_TRUE(a.s->append(r, bytes("ZZZZZZZZ")).has_value());
	ASSERT_TRUE(cap.done);
	a.m->set_hook({});
	// Word 1 of the header and the payload persisted, word 0 (timestamp) did not.
	auto img1 = patched(cap.persisted, cap.current, pos + 8, 16);

	stream_model m;
	m.allocated(r, a.s->region_size(r).value());
	m.appended(r, e1, 1, first);
	a.s.reset();

	capture cap2;
	opened b = open_image(img1);
	ASSERT_TRUE(b.s);
	EXPECT_TRUE(check_stream(*b.s, m, {}).empty());
	cap2.off = pos & ~uint64_t(63);
	cap2.armed = true;
	b.m->set_hook([&](sim_media &mm, sim_event e) { cap2(mm, e); });
	auto second = bytes("BBBB");
	ASSERT_TRUE(b.s->append(r, second).has_value());
	ASSERT_TRUE(cap2.done);
	b.m->set_hook({});
	// Only the timestamp word of the new header persisted.
	auto img2 = patched(cap2.persisted, cap2.current, pos, 8);
	b.s.reset();

	opened c = open_image(img2);
	ASSERT_TRUE(c.s);
	pending_op op{op_kind::append, r.offset, 0, second};
	for (auto &v : check_stream(*c.s, m, op))
		ADD_FAILURE() << v;
}

// The same with a dual-slot record: a crash tears the free of a region (every word of the new
// slot but the sequence persisted), recovery keeps the region (the older slot is in force),
// and the clean close then writes that slot with the same sequence number; a crash that
// persists only its sequence word revives the aborted free, and the region and its
// acknowledged entries vanish.
TEST(crash_regressions, aborted_region_free_stays_dead_after_a_second_crash)
{
	capture cap;
	opened a = open_image({}, 256);
	a.m->set_hook([&](sim_media &m, sim_event e) { cap(m, e); });
	auto r = a.s->region_allocate(1000).value();
	auto data = bytes("acknowledged");
	auto e1 = a.s->append(r, data).value();
	stream_model m;
	m.allocated(r, a.s->region_size(r).value());
	m.appended(r, e1, 1, data);
	cap.off = r.offset;
	cap.armed = true;
	ASSERT_TRUE(a.s->region_free(r).has_value());
	ASSERT_TRUE(cap.done);
	a.m->set_hook({});
	a.s.reset();
	auto img1 = patched(cap.persisted, cap.current, cap.line + 8, 56);

	pending_op freeing{op_kind::free, r.offset, 0, {}};
	capture cap2;
	opened b = open_image(img1);
	ASSERT_TRUE(b.s);
	stream_model seen;
	EXPECT_TRUE(check_stream(*b.s, m, freeing, &seen).empty());
	ASSERT_EQ(seen.regions.size(), 1u) << "the torn free should leave the region in place";
	cap2.off = r.offset;
	cap2.armed = true;
	b.m->set_hook([&](sim_media &mm, sim_event e) { cap2(mm, e); });
	b.s.reset(); // clean close: records the region's sealed tail
	ASSERT_TRUE(cap2.done);
	auto img2 = patched(cap2.persisted, cap2.current, cap2.line, 8);

	opened c = open_image(img2);
	ASSERT_TRUE(c.s);
	for (auto &v : check_stream(*c.s, seen, {}))
		ADD_FAILURE() << v;
}

// A free that raced an append in the same region used to read the persisted watermark before
// it waited for the region's writer: the floor it wrote missed the append's timestamp, and a
// power failure after later appends left a stream recovery called corrupt ("timestamp 2 is
// missing although entries up to 3 were acknowledged").
TEST(crash_regressions, free_racing_an_append_in_its_region_raises_the_floor_past_it)
{
	auto owned = std::make_unique<test::sim_media>(64 * 1024);
	test::sim_media *m = owned.get();
	auto s = std::move(*detail::open_on_media(std::move(owned), 4096, {}));
	auto x = *s->region_allocate(1000);
	auto y = *s->region_allocate(1000);
	ASSERT_TRUE(s->append(x, "a", 1)); // timestamp 1
	static thread_local bool is_appender = false;
	std::atomic<bool> hold{true}, held{false}, release{false};
	m->set_hook([&](test::sim_media &, test::sim_event e) {
		if (e == test::sim_event::drain && is_appender && hold.exchange(false)) {
			held = true;
			while (!release)
				std::this_thread::yield();
		}
	});
	std::thread ta([&] {
		is_appender = true;
		EXPECT_TRUE(s->append(x, "b", 1)); // timestamp 2, stopped in its fence holding x
	});
	while (!held)
		std::this_thread::yield();
	std::thread tb([&] { EXPECT_TRUE(s->region_free(x)); });
	std::this_thread::sleep_for(std::chrono::milliseconds(50)); // let the free wait for x
	release = true;
	ta.join();
	tb.join();
	m->set_hook(nullptr);
	ASSERT_TRUE(s->append(y, "c", 1));
	ASSERT_TRUE(s->append(y, "d", 1));
	// A power failure now: every call above returned.
	auto crash = m->persisted_image();
	auto r = detail::open_on_media(std::make_unique<test::sim_media>(crash, true), 0, {.read_only = true});
	ASSERT_TRUE(r) << r.err().message();
	EXPECT_EQ((*r)->recovery().entries, 2u);
	EXPECT_EQ((*r)->recovery().regions, 1u);
}
