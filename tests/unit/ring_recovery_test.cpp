// SPDX-License-Identifier: BSD-3-Clause
// Recovery of wrapped regions (issue 14's ring, docs/format.md 5.2), on images written by
// hand rather than by the writer (ring_test and crash_truncate cover the writer's): its head lap is what a prefix cut left of the region, a second lap
// starts at the data area's start with a new epoch and ends before head. The scan, the plan,
// fast reopen and point-in-time repair must read such a region in lap order (a repair of damage
// in the head lap ends that lap at the damage), and refuse what the format does not allow.
#include "heap_media.hpp"
#include "sim_media.hpp"
#include "stream_factory.hpp"

#include "format/crc32c.hpp"
#include "format/dual_slot.hpp"
#include "format/entry_codec.hpp"
#include "format/format.hpp"
#include "recovery/recovery.hpp"

#include <pmemstream/stream.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <random>

using namespace pmemstream;
using namespace pmemstream::detail;
using namespace pmemstream::test;

namespace {

using image_media = heap_media; // for write_dual on an image

struct wrapped_image {
	std::vector<std::byte> bytes;
	uint64_t region = 0;	  // span offset
	uint64_t data = 0;	  // data area start
	uint64_t head = 0;	  // data offset of the first visible entry
	uint64_t wrap = 0;	  // data offset where the head lap ends
	uint64_t head_lap_entries = 0;
	uint64_t second_lap_entries = 0;
	uint64_t second_end = 0;	       // absolute end of the second lap's last entry
	std::vector<uint64_t> head_lap_offsets; // absolute
	std::vector<uint64_t> second_lap_offsets;
	uint64_t last_ts = 0;

	format::stream_header header() const
	{
		format::stream_header h;
		std::memcpy(&h, bytes.data(), sizeof(h));
		return h;
	}
	format::span_slot span() const
	{
		return read_dual<format::span_slot>(bytes.data(), region, region + format::span_slot_size)->value;
	}
	void set_span(const format::span_slot &v)
	{
		image_media m(bytes);
		auto cur = *read_dual<format::span_slot>(bytes.data(), region, region + format::span_slot_size);
		write_dual(m, region, region + format::span_slot_size, v, cur);
	}
	void set_incompat(uint64_t features)
	{
		format::stream_header h = header();
		h.incompat_features = features;
		h.checksum = crc32c(reinterpret_cast<const std::byte *>(&h) + 8, offsetof(format::stream_header, checksum) - 8);
		std::memcpy(bytes.data(), &h, sizeof(h));
	}
};

constexpr uint64_t payload = 40; // footprint 56

// 40 entries in a region of 4 KiB (a cleanly closed stream), a prefix cut before entry
// `cut_at`, then a second lap of `second` entries written by hand at the data area's start
// with a new epoch, timestamps going on from the last one, and the span header updated as a
// wrap writes it: head_epoch = the old epoch, epoch = the new one, wrap = the old tail, the
// checkpoint covering the head lap whole.
wrapped_image make_wrapped(uint64_t cut_at = 30, uint64_t second = 10, bool cleared_first = false)
{
	wrapped_image w;
	auto sink = std::make_shared<std::vector<std::byte>>();
	{
		auto sm = std::make_unique<sim_media>(4096 + 16 * 4096);
		sm->keep_on_destroy(sink);
		auto s = open_on_media(std::move(sm), 4096, open_options{});
		EXPECT_TRUE(s) << s.err().message();
		auto r = (*s)->region_allocate(4096 - format::span_header_size);
		EXPECT_TRUE(r);
		w.region = r->offset;
		if (cleared_first) { // the head lap's epoch is then above the region's id
			auto c = (*s)->region_clear(*r);
			EXPECT_TRUE(c) << c.err().message();
		}
		std::vector<entry> es;
		for (uint64_t i = 0; i < 40; ++i) {
			std::vector<std::byte> d(payload, std::byte(i + 1));
			auto e = (*s)->append(*r, d.data(), d.size());
			EXPECT_TRUE(e) << e.err().message();
			es.push_back(*e);
		}
		auto t = (*s)->region_truncate_before(*r, es[cut_at]);
		EXPECT_TRUE(t) << t.err().message();
		for (uint64_t i = cut_at; i < es.size(); ++i)
			w.head_lap_offsets.push_back(es[i].offset);
	}
	w.bytes = *sink;
	w.data = w.region + format::span_header_size;
	format::span_slot v = w.span();
	w.head = v.head;
	w.head_lap_entries = 40 - cut_at;
	w.wrap = w.head_lap_offsets.back() + format::entry_footprint(payload) - w.data;
	auto st = read_dual<format::state_slot>(w.bytes.data(), format::state_slot_offset[0], format::state_slot_offset[1]);
	const uint64_t floor = st->value.ts_floor;
	EXPECT_GE(floor, 40u); // a clean close: every timestamp found is at or below the floor

	const uint64_t new_epoch = v.epoch + 100;
	uint64_t pos = w.data, ts = floor;
	for (uint64_t i = 0; i < second; ++i) {
		std::vector<std::byte> d(payload, std::byte(0x80 + i));
		// Settled (written once the entry before was persisted), as sequential appends are.
		format::entry_header h{++ts | format::flag_settled, uint32_t(payload), 0};
		h.checksum = entry_checksum(new_epoch, h.timestamp, h.size, d.data());
		std::memcpy(w.bytes.data() + pos, &h, sizeof(h));
		std::memcpy(w.bytes.data() + pos + sizeof(h), d.data(), d.size());
		w.second_lap_offsets.push_back(pos);
		pos += format::entry_footprint(payload);
	}
	EXPECT_LE(pos, w.data + w.head) << "the second lap must end before head";
	if (pos + sizeof(format::entry_header) <= w.data + w.head)
		std::memset(w.bytes.data() + pos, 0, sizeof(format::entry_header)); // a clean end
	w.second_end = pos;
	w.second_lap_entries = second;
	w.last_ts = ts;

	// The checkpoint of the head lap, as a wrap writes it (the fast-reopen fields included).
	v.reserved[format::span_head_epoch] = v.epoch;
	v.epoch = new_epoch;
	v.reserved[format::span_wrap] = w.wrap;
	v.sealed_tail = 0;
	v.sealed_count = w.head_lap_entries;
	v.sealed_last_ts = 40;
	v.reserved[format::span_sealed_shown] = w.head_lap_entries;
	v.reserved[format::span_sealed_last] = w.head_lap_offsets.back() - w.data + 1;
	w.set_span(v);
	w.set_incompat(w.header().incompat_features | format::incompat_ring);
	return w;
}

struct scanned {
	bool ok = false;
	std::string problem;
	stream_scan scan;
	recovery_plan plan;
};

scanned scan_and_plan(const wrapped_image &w, scan_depth depth = scan_depth::full, bool writable = true)
{
	scanned r;
	const format::stream_header h = w.header();
	r.ok = scan_stream(w.bytes.data(), h, r.scan, r.problem, depth);
	if (r.ok)
		r.plan = plan_recovery(r.scan, false, writable);
	return r;
}

// A writable point-in-time repair of `img`; the image it leaves goes to `sink`.
result<std::unique_ptr<stream>> repair_open(const std::vector<std::byte> &img, std::shared_ptr<std::vector<std::byte>> sink)
{
	open_options rep;
	rep.recovery = recovery_mode::point_in_time;
	auto sm = std::make_unique<sim_media>(img);
	if (sink)
		sm->keep_on_destroy(std::move(sink));
	return open_on_media(std::move(sm), 0, rep);
}

std::string problems(const scanned &r)
{
	std::string s;
	for (const auto &p : r.scan.problems)
		s += p.what + "; ";
	for (const auto &p : r.plan.problems)
		s += p.what + "; ";
	return s;
}

} // namespace

TEST(ring_recovery, the_walk_reads_the_head_lap_then_the_second_lap)
{
	const wrapped_image w = make_wrapped();
	const scanned r = scan_and_plan(w);
	ASSERT_TRUE(r.ok) << r.problem;
	ASSERT_TRUE(r.scan.problems.empty() && r.plan.problems.empty()) << problems(r);
	ASSERT_EQ(r.scan.regions.size(), 1u);
	const region_scan &sc = r.scan.regions[0];
	EXPECT_EQ(sc.wrap, w.data + w.wrap);
	EXPECT_FALSE(sc.stop_in_head_lap);
	EXPECT_EQ(sc.stop, w.second_end);
	EXPECT_EQ(sc.stop_state, entry_state::empty);
	EXPECT_EQ(sc.valid_entries, w.head_lap_entries + w.second_lap_entries);
	EXPECT_EQ(sc.last_ts, w.last_ts);
	// Every entry above the floor is the second lap's, in walk order.
	ASSERT_EQ(sc.above_floor.size(), w.second_lap_entries);
	for (size_t i = 0; i < sc.above_floor.size(); ++i)
		EXPECT_EQ(sc.above_floor[i].offset, w.second_lap_offsets[i]);
	ASSERT_EQ(r.plan.regions.size(), 1u);
	const region_outcome &o = r.plan.regions[0];
	EXPECT_EQ(o.tail, w.second_end);
	EXPECT_EQ(o.count, w.head_lap_entries + w.second_lap_entries);
	EXPECT_EQ(o.last_ts, w.last_ts);
	EXPECT_EQ(o.last_entry, w.second_lap_offsets.back());
	EXPECT_FALSE(o.torn);
	EXPECT_FALSE(o.zero_tail);
	EXPECT_EQ(r.plan.prefix, w.last_ts);
}

TEST(ring_recovery, the_old_epochs_bytes_after_the_second_laps_tail_are_a_clean_stop)
{
	// No zeroed header after the second lap's last entry: what follows is a dropped entry of
	// the head lap's epoch (the bytes before head), which fails the second lap's checksums.
	wrapped_image w = make_wrapped(30, 3);
	std::memcpy(w.bytes.data() + w.second_end, w.bytes.data() + w.second_end + 8, sizeof(format::entry_header)); // not zero
	const scanned r = scan_and_plan(w);
	ASSERT_TRUE(r.ok) << r.problem;
	EXPECT_TRUE(r.plan.problems.empty()) << problems(r);
	ASSERT_EQ(r.plan.regions.size(), 1u);
	EXPECT_EQ(r.plan.regions[0].tail, w.second_end);
	EXPECT_EQ(r.plan.regions[0].count, w.head_lap_entries + 3);
}

TEST(ring_recovery, a_second_lap_full_up_to_head_ends_there)
{
	// Fill the second lap until the next entry would pass head: the walk stops at the lap's
	// end, never reading the head lap's first entry as the second lap's next.
	const uint64_t fp = format::entry_footprint(payload);
	const wrapped_image probe = make_wrapped(30, 1);
	const uint64_t fit = probe.head / fp;
	wrapped_image w = make_wrapped(30, fit);
	const scanned r = scan_and_plan(w);
	ASSERT_TRUE(r.ok) << r.problem;
	EXPECT_TRUE(r.plan.problems.empty()) << problems(r);
	EXPECT_EQ(r.plan.regions[0].count, w.head_lap_entries + fit);
	EXPECT_EQ(r.plan.regions[0].tail, w.data + fit * fp);
	EXPECT_LE(r.plan.regions[0].tail, w.data + w.head);
}

TEST(ring_recovery, fast_reopen_starts_in_the_second_lap_and_finds_what_the_full_walk_finds)
{
	for (uint64_t second : {0, 1, 7}) {
		wrapped_image w = make_wrapped(30, second);
		if (second != 0) { // a checkpoint inside the second lap, as a clean close writes it
			format::span_slot v = w.span();
			v.sealed_tail = w.second_lap_offsets[second - 1] + format::entry_footprint(payload) - w.data;
			v.sealed_count = w.head_lap_entries + second;
			v.sealed_last_ts = w.last_ts;
			v.reserved[format::span_sealed_shown] = v.sealed_count;
			v.reserved[format::span_sealed_last] = w.second_lap_offsets[second - 1] - w.data + 1;
			w.set_span(v);
			// The floor covers the sealed entries (fast reopen trusts only those at or below it).
			auto st = *read_dual<format::state_slot>(w.bytes.data(), format::state_slot_offset[0], format::state_slot_offset[1]);
			format::state_slot s = st.value;
			s.ts_floor = w.last_ts;
			image_media m(w.bytes);
			write_dual(m, format::state_slot_offset[0], format::state_slot_offset[1], s, st);
		}
		const scanned full = scan_and_plan(w, scan_depth::full);
		const scanned fast = scan_and_plan(w, scan_depth::checkpoint);
		ASSERT_TRUE(full.ok && fast.ok);
		EXPECT_TRUE(full.plan.problems.empty() && fast.plan.problems.empty()) << problems(full) << problems(fast);
		EXPECT_TRUE(fast.scan.regions[0].from_checkpoint) << "second lap entries: " << second;
		EXPECT_FALSE(full.scan.regions[0].from_checkpoint);
		EXPECT_EQ(fast.plan.regions[0].tail, full.plan.regions[0].tail);
		EXPECT_EQ(fast.plan.regions[0].count, full.plan.regions[0].count);
		EXPECT_EQ(fast.plan.regions[0].walked, full.plan.regions[0].walked);
		EXPECT_EQ(fast.plan.regions[0].last_ts, full.plan.regions[0].last_ts);
		EXPECT_EQ(fast.plan.regions[0].last_entry, full.plan.regions[0].last_entry);
		EXPECT_EQ(full.plan.regions[0].count, w.head_lap_entries + second);
	}
}

TEST(ring_recovery, a_checkpoint_whose_last_entry_is_elsewhere_is_not_trusted)
{
	wrapped_image w = make_wrapped(30, 4);
	format::span_slot v = w.span();
	v.reserved[format::span_sealed_last] = w.head_lap_offsets[2] - w.data + 1; // not the head lap's last
	w.set_span(v);
	const scanned fast = scan_and_plan(w, scan_depth::checkpoint);
	ASSERT_TRUE(fast.ok);
	EXPECT_FALSE(fast.scan.regions[0].from_checkpoint);
	EXPECT_EQ(fast.plan.regions[0].count, w.head_lap_entries + 4);
}

TEST(ring_recovery, damage_in_the_head_lap_is_damage_inside_sealed_data)
{
	wrapped_image w = make_wrapped();
	w.bytes[w.head_lap_offsets[3] + 20] ^= std::byte{0x5a};
	const scanned r = scan_and_plan(w);
	ASSERT_TRUE(r.ok) << r.problem;
	EXPECT_TRUE(r.scan.regions[0].stop_in_head_lap);
	EXPECT_EQ(r.scan.regions[0].stop, w.head_lap_offsets[3]);
	ASSERT_FALSE(r.plan.problems.empty());
	EXPECT_NE(problems(r).find("inside data sealed"), std::string::npos) << problems(r);

	// Point-in-time repair ends the head lap at the damage and drops the second lap whole
	// (every entry of it is newer): planned...
	recovery_plan plan = r.plan;
	repair_plan rp;
	std::string why;
	ASSERT_TRUE(plan_point_in_time(w.bytes.data(), r.scan, plan, rp, why)) << why;
	EXPECT_EQ(plan.regions[0].lap_end, w.head_lap_offsets[3]);
	EXPECT_EQ(plan.regions[0].tail, w.data);
	EXPECT_EQ(plan.regions[0].count, 3u);
	ASSERT_EQ(rp.dropped.size(), 1u);
	EXPECT_EQ(rp.dropped[0].offset, w.head_lap_offsets[3]);
	EXPECT_TRUE(rp.dropped[0].damaged);
	// the head lap's entries behind the damaged one, and the second lap's
	EXPECT_EQ(rp.dropped[0].entries, w.head_lap_entries - 4 + w.second_lap_entries);

	// ...shown by a dry run, and written by a writable repair: the stream then opens strict,
	// shows the three entries before the damage, and appends in the second lap again.
	const region reg{w.region, w.span().id};
	auto offsets = [&](stream &s) {
		std::vector<uint64_t> v;
		for (auto it = s.entries(reg); it->is_valid(); it->next())
			v.push_back(it->get().offset);
		return v;
	};
	const std::vector<uint64_t> kept(w.head_lap_offsets.begin(), w.head_lap_offsets.begin() + 3);
	open_options dry;
	dry.read_only = true;
	dry.recovery = recovery_mode::point_in_time;
	auto d = open_on_media(std::make_unique<sim_media>(w.bytes, true), 0, dry);
	ASSERT_TRUE(d) << d.err().message();
	EXPECT_EQ(offsets(**d), kept);
	auto sink = std::make_shared<std::vector<std::byte>>();
	{
		auto s = repair_open(w.bytes, sink);
		ASSERT_TRUE(s) << s.err().message();
		EXPECT_EQ(offsets(**s), kept);
		const std::byte x[8] = {};
		auto e = (*s)->append(reg, x, sizeof(x));
		ASSERT_TRUE(e) << e.err().message();
		EXPECT_EQ(e->offset, w.data);
		EXPECT_GT(e->timestamp, w.last_ts); // every timestamp found stays burnt
	}
	open_options strict;
	strict.verify = verify_mode::full;
	auto s = open_on_media(std::make_unique<sim_media>(*sink), 0, strict);
	ASSERT_TRUE(s) << s.err().message();
	std::vector<uint64_t> want = kept;
	want.push_back(w.data);
	EXPECT_EQ(offsets(**s), want);
}

TEST(ring_recovery, a_crash_at_any_fence_of_that_repair_is_finished_by_the_next_one)
{
	wrapped_image w = make_wrapped();
	w.bytes[w.head_lap_offsets[3] + 20] ^= std::byte{0x5a};
	const region reg{w.region, w.span().id};
	std::mt19937_64 rng(7);
	std::vector<std::vector<std::byte>> images;
	{
		auto sm = std::make_unique<sim_media>(w.bytes);
		sm->set_hook([&](sim_media &m, sim_event) {
			for (int i = 0; i < 8; ++i) {
				std::vector<std::byte> img;
				m.crash_image(rng, img);
				images.push_back(std::move(img));
			}
		});
		open_options rep;
		rep.recovery = recovery_mode::point_in_time;
		auto s = open_on_media(std::move(sm), 0, rep);
		ASSERT_TRUE(s) << s.err().message();
	}
	ASSERT_GT(images.size(), 16u);
	for (const auto &img : images) {
		auto s = repair_open(img, nullptr);
		ASSERT_TRUE(s) << s.err().message();
		std::vector<uint64_t> v;
		for (auto it = (*s)->entries(reg); it->is_valid(); it->next())
			v.push_back(it->get().offset);
		EXPECT_EQ(v, std::vector<uint64_t>(w.head_lap_offsets.begin(), w.head_lap_offsets.begin() + 3));
	}
}

TEST(ring_recovery, repair_of_damage_at_the_head_laps_first_entry_empties_the_region)
{
	wrapped_image w = make_wrapped();
	w.bytes[w.head_lap_offsets[0] + 20] ^= std::byte{0x5a};
	auto sink = std::make_shared<std::vector<std::byte>>();
	const region reg{w.region, w.span().id};
	{
		auto s = repair_open(w.bytes, sink);
		ASSERT_TRUE(s) << s.err().message();
		EXPECT_FALSE((*s)->entries(reg)->is_valid());
		EXPECT_EQ(*(*s)->region_entry_count(reg), 0u);
		const std::byte x[8] = {};
		auto e = (*s)->append(reg, x, sizeof(x));
		ASSERT_TRUE(e) << e.err().message();
		EXPECT_EQ(e->offset, w.data);
	}
	open_options strict;
	strict.verify = verify_mode::full;
	auto s = open_on_media(std::make_unique<sim_media>(*sink), 0, strict);
	ASSERT_TRUE(s) << s.err().message();
	EXPECT_EQ(*(*s)->region_entry_count(reg), 1u);
}

TEST(ring_recovery, a_torn_second_lap_tail_is_a_torn_tail_and_repair_cuts_there)
{
	wrapped_image w = make_wrapped(30, 5);
	w.bytes[w.second_lap_offsets[4] + 20] ^= std::byte{0x5a};
	const scanned r = scan_and_plan(w);
	ASSERT_TRUE(r.ok) << r.problem;
	EXPECT_FALSE(r.scan.regions[0].stop_in_head_lap);
	EXPECT_TRUE(r.plan.problems.empty()) << problems(r);
	EXPECT_EQ(r.plan.regions[0].tail, w.second_lap_offsets[4]);
	EXPECT_TRUE(r.plan.regions[0].torn);
	EXPECT_TRUE(r.plan.regions[0].zero_tail);
	EXPECT_EQ(r.plan.regions[0].count, w.head_lap_entries + 4);

	// Damage in the middle of the second lap: repair cuts the second lap before it and
	// keeps the head lap whole.
	wrapped_image d = make_wrapped(30, 5);
	d.bytes[d.second_lap_offsets[2] + 20] ^= std::byte{0x5a};
	const scanned rd = scan_and_plan(d);
	ASSERT_TRUE(rd.ok);
	ASSERT_FALSE(rd.plan.problems.empty()) << "valid entries behind a damaged one";
	recovery_plan plan = rd.plan;
	repair_plan rp;
	std::string why;
	ASSERT_TRUE(plan_point_in_time(d.bytes.data(), rd.scan, plan, rp, why)) << why;
	EXPECT_EQ(plan.regions[0].tail, d.second_lap_offsets[2]);
	EXPECT_EQ(plan.regions[0].count, d.head_lap_entries + 2);
	ASSERT_EQ(rp.dropped.size(), 1u);
	EXPECT_EQ(rp.dropped[0].offset, d.second_lap_offsets[2]);
	EXPECT_EQ(rp.dropped[0].entries, 2u); // the two behind the damaged one
}

TEST(ring_recovery, span_rules_for_wrapped_regions)
{
	struct bad_case {
		const char *what;
		void (*change)(format::span_slot &, const wrapped_image &);
	};
	const bad_case cases[] = {
		{"lap end out of range", [](format::span_slot &v, const wrapped_image &w) { v.reserved[format::span_wrap] = w.head; }},
		{"lap end out of range", [](format::span_slot &v, const wrapped_image &) { v.reserved[format::span_wrap] = 1 << 20; }},
		{"lap end out of range", [](format::span_slot &v, const wrapped_image &w) { v.reserved[format::span_wrap] = w.wrap - 4; }},
		{"id or epoch out of range", [](format::span_slot &v, const wrapped_image &) { v.reserved[format::span_head_epoch] = v.epoch; }},
		{"id or epoch out of range", [](format::span_slot &v, const wrapped_image &) { v.reserved[format::span_head_epoch] = 0; }},
		{"sealed tail beyond the region", [](format::span_slot &v, const wrapped_image &w) { v.sealed_tail = w.head + 8; }},
		{"checkpoint out of range", [](format::span_slot &v, const wrapped_image &) { v.sealed_count = 0; }},
	};
	for (const auto &c : cases) {
		wrapped_image w = make_wrapped();
		format::span_slot v = w.span();
		c.change(v, w);
		w.set_span(v);
		const scanned r = scan_and_plan(w);
		ASSERT_TRUE(r.ok);
		ASSERT_FALSE(r.scan.problems.empty()) << c.what;
		EXPECT_NE(r.scan.problems[0].what.find(c.what), std::string::npos) << r.scan.problems[0].what;
	}
	// Without the stream's ring feature a wrapped region is refused.
	wrapped_image w = make_wrapped();
	w.set_incompat(w.header().incompat_features & ~format::incompat_ring);
	const scanned r = scan_and_plan(w);
	ASSERT_FALSE(r.scan.problems.empty());
	EXPECT_NE(r.scan.problems[0].what.find("without rings"), std::string::npos) << r.scan.problems[0].what;
}

TEST(ring_recovery, the_head_laps_epoch_names_one_region_only)
{
	// Rule S4 counts a wrapped region's two epochs: another region may have neither.
	wrapped_image w = make_wrapped(30, 10, true);
	format::span_slot v = w.span();
	const uint64_t head_epoch = v.reserved[format::span_head_epoch];
	ASSERT_GT(head_epoch, v.id);
	// A second region in the free span after the first, carrying the head lap's epoch.
	const uint64_t next = w.region + v.span_size;
	auto f = read_dual<format::span_slot>(w.bytes.data(), next, next + format::span_slot_size);
	ASSERT_TRUE(f && f->value.state == format::span_free);
	format::span_slot g = f->value;
	const uint64_t rest = g.span_size;
	g.span_size = 4096;
	g.state = format::span_region;
	g.id = v.id + 1; // not used by any region (the clear took the counter's next value)
	g.epoch = head_epoch;
	g.max_in_flight = 1;
	// Only the span's size changes for what follows: keep the rest walkable as a free span.
	image_media m(w.bytes);
	write_dual(m, next, next + format::span_slot_size, g, *f);
	format::span_slot tail{};
	tail.span_size = rest - 4096;
	tail.state = format::span_free;
	tail.epoch = head_epoch + 200;
	write_dual(m, next + 4096, next + 4096 + format::span_slot_size, tail,
		   slot_read<format::span_slot>{tail, 1, true});
	std::memset(w.bytes.data() + next + format::span_header_size, 0, sizeof(format::entry_header));
	const scanned r = scan_and_plan(w);
	ASSERT_TRUE(r.ok);
	ASSERT_TRUE(r.scan.problems.empty()) << problems(r);
	EXPECT_NE(problems(r).find("repeats the id or epoch"), std::string::npos) << problems(r);
}

TEST(ring_recovery, the_stream_opens_a_hand_wrapped_region_and_reads_it_in_lap_order)
{
	// What recovery planned is what the stream shows: the head lap's entries, then the
	// second lap's, through iterators, entry handles and the count.
	const wrapped_image w = make_wrapped();
	for (bool read_only : {true, false}) {
		open_options o;
		o.read_only = read_only;
		auto s = open_on_media(std::make_unique<sim_media>(w.bytes, read_only), 0, o);
		ASSERT_TRUE(s) << s.err().message();
		const region r{w.region, w.span().id};
		std::vector<uint64_t> offs;
		for (auto it = (*s)->entries(r); it->is_valid(); it->next())
			offs.push_back(it->get().offset);
		std::vector<uint64_t> want = w.head_lap_offsets;
		want.insert(want.end(), w.second_lap_offsets.begin(), w.second_lap_offsets.end());
		EXPECT_EQ(offs, want);
		EXPECT_EQ(*(*s)->region_entry_count(r), want.size());
		auto d = (*s)->entry_data(entry{w.second_lap_offsets[3], r.id, 0});
		ASSERT_TRUE(d);
		EXPECT_EQ((*d)[0], std::byte(0x83));
	}
}
