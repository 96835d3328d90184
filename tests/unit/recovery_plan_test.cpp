// SPDX-License-Identifier: BSD-3-Clause
// Recovery step 2 (the plan) on hand-built scans: rules R1-R4, S4 and the transaction
// extension of R1, with no medium and no image.
#include "recovery.hpp"

#include <gtest/gtest.h>

using namespace pmemstream;
using namespace pmemstream::detail;

namespace {

constexpr uint64_t data0 = 0x1000 + format::span_header_size;

// A scan builder: regions of 64 KiB at 0x1000, 0x11000, ... whose entries (timestamps and
// flags) are 32 bytes each.
struct scan_builder {
	stream_scan scan;

	explicit scan_builder(uint64_t floor = 0)
	{
		scan.state.value.ts_floor = floor;
	}

	region_scan &region(std::vector<std::pair<uint64_t, uint64_t>> entries, entry_state stop = entry_state::empty,
			    uint64_t id = 0)
	{
		const uint64_t off = 0x1000 + 0x10000 * scan.spans.size();
		span_record sp;
		sp.offset = off;
		sp.rec.value.span_size = 0x10000;
		sp.rec.value.state = format::span_region;
		sp.rec.value.id = id ? id : scan.spans.size() + 1;
		sp.rec.value.epoch = sp.rec.value.id;
		sp.rec.value.max_in_flight = 1;
		scan.spans.push_back(sp);
		region_scan sc;
		sc.span_index = scan.spans.size() - 1;
		sc.offset = off;
		sc.data_begin = off + format::span_header_size;
		sc.data_end = off + 0x10000;
		uint64_t pos = sc.data_begin;
		sc.reached_sealed = true;
		for (auto [ts, flags] : entries) {
			++sc.valid_entries;
			if (!(flags & format::flag_padding))
				++sc.visible_entries;
			if (ts > scan.state.value.ts_floor)
				sc.above_floor.push_back({pos, ts, flags});
			else
				sc.last_floor_ts = ts;
			sc.last_ts = ts;
			pos += 32;
		}
		sc.stop = pos;
		sc.stop_state = stop;
		if (stop == entry_state::invalid)
			sc.stop_why = "checksum mismatch";
		scan.regions.push_back(sc);
		return scan.regions.back();
	}
};

std::vector<std::pair<uint64_t, uint64_t>> plain(std::initializer_list<uint64_t> ts)
{
	std::vector<std::pair<uint64_t, uint64_t>> v;
	for (uint64_t t : ts)
		v.emplace_back(t, 0);
	return v;
}

} // namespace

TEST(recovery_plan, clean_stream_shows_everything)
{
	scan_builder b;
	b.region(plain({1, 3, 5}));
	b.region(plain({2, 4}));
	auto p = plan_recovery(b.scan, false, true);
	EXPECT_TRUE(p.problems.empty());
	EXPECT_EQ(p.prefix, 5u);
	EXPECT_EQ(p.entries, 5u);
	EXPECT_EQ(p.trimmed_entries, 0u);
	ASSERT_EQ(p.regions.size(), 2u);
	EXPECT_EQ(p.regions[0].tail, data0 + 3 * 32);
	EXPECT_FALSE(p.regions[0].zero_tail);
	EXPECT_EQ(p.last_issued, 5u);
}

TEST(recovery_plan, r1_gap_trims_what_follows_and_zeroes_the_tail)
{
	// Timestamp 3 was being appended to region 0 and is torn; 4 and 5 completed in regions 1
	// and 2 but were never acknowledged (3 was not persisted): they are trimmed.
	scan_builder b;
	b.region(plain({1}), entry_state::invalid);
	b.region(plain({2, 4}));
	b.region(plain({5}));
	auto p = plan_recovery(b.scan, false, true);
	EXPECT_TRUE(p.problems.empty()) << p.problems.front().what;
	EXPECT_EQ(p.prefix, 2u);
	EXPECT_EQ(p.trimmed_entries, 2u);
	EXPECT_EQ(p.torn_tails, 1u);
	EXPECT_EQ(p.regions[1].count, 1u);
	EXPECT_EQ(p.regions[2].count, 0u);
	EXPECT_EQ(p.regions[1].tail, 0x11000 + format::span_header_size + 32);
	EXPECT_EQ(p.regions[1].last_ts, 2u);
	EXPECT_TRUE(p.regions[1].zero_tail);
	EXPECT_TRUE(p.regions[0].zero_tail); // the torn entry's remains
	// Writable recovery burns every timestamp found; a read-only open shows the prefix.
	EXPECT_EQ(p.max_seen, 5u);
	EXPECT_EQ(p.last_issued, 5u);
	EXPECT_EQ(plan_recovery(b.scan, false, false).last_issued, 2u);
	EXPECT_FALSE(plan_recovery(b.scan, false, false).regions[1].zero_tail);
}

TEST(recovery_plan, r2_damage_followed_by_a_valid_entry_is_corruption)
{
	scan_builder b;
	auto &r = b.region(plain({1, 2}), entry_state::invalid);
	r.next_valid_ts = 4;
	b.region(plain({3}));
	auto p = plan_recovery(b.scan, false, true);
	ASSERT_FALSE(p.problems.empty());
	EXPECT_NE(p.problems.front().what.find("followed by valid entries"), std::string::npos);
	EXPECT_EQ(plan_recovery(b.scan, true, false).torn_tails, 0u); // damage, not a torn tail
	// A valid entry below the floor after the damage is stale space, not evidence.
	scan_builder c(10);
	auto &q = c.region(plain({11}), entry_state::invalid);
	q.next_valid_ts = 5;
	EXPECT_TRUE(plan_recovery(c.scan, false, true).problems.empty());
}

TEST(recovery_plan, r3_missing_acknowledged_timestamp_is_corruption)
{
	// Region 1 holds 3 followed by 6: 3 was acknowledged, so 1 and 2 were persisted. 2 is
	// missing (region 0 ends cleanly after 1): lost data, not a torn tail.
	scan_builder b;
	b.region(plain({1}));
	b.region(plain({3, 6}));
	auto p = plan_recovery(b.scan, false, true);
	ASSERT_EQ(p.problems.size(), 1u);
	EXPECT_NE(p.problems.front().what.find("timestamp 2 is missing"), std::string::npos);
	// Salvage records it and shows everything reachable.
	auto s = plan_recovery(b.scan, true, false);
	EXPECT_EQ(s.problems.size(), 1u);
	EXPECT_EQ(s.prefix, 6u);
	EXPECT_EQ(s.entries, 3u);
}

TEST(recovery_plan, r3_uses_the_regions_in_flight_bound)
{
	// With W = 2, an entry is known acknowledged only with two successors: 3 followed by 6
	// proves nothing, 2 followed by 3 and 6 does.
	scan_builder b;
	b.region(plain({1}));
	b.scan.spans.back().rec.value.max_in_flight = 2;
	b.region(plain({3, 6}));
	b.scan.spans.back().rec.value.max_in_flight = 2;
	EXPECT_TRUE(plan_recovery(b.scan, false, true).problems.empty());
	scan_builder c;
	c.region(plain({1}));
	c.region(plain({3, 4, 7}));
	c.scan.spans.back().rec.value.max_in_flight = 2;
	EXPECT_EQ(plan_recovery(c.scan, false, true).problems.size(), 1u);
}

TEST(recovery_plan, r4_damage_inside_sealed_data_is_corruption)
{
	scan_builder b;
	auto &r = b.region(plain({1, 2}), entry_state::invalid);
	b.scan.spans[r.span_index].rec.value.sealed_tail = 3 * 32;
	r.reached_sealed = false;
	auto p = plan_recovery(b.scan, false, true);
	ASSERT_EQ(p.problems.size(), 1u);
	EXPECT_NE(p.problems.front().what.find("sealed"), std::string::npos);
}

TEST(recovery_plan, r4_checkpoint_must_match_the_walk)
{
	scan_builder b;
	auto &r = b.region(plain({1, 2, 3}));
	auto &v = b.scan.spans[r.span_index].rec.value;
	v.sealed_tail = 2 * 32;
	v.sealed_count = 2;
	v.sealed_last_ts = 2;
	r.count_at_sealed = 2;
	r.last_ts_at_sealed = 2;
	EXPECT_TRUE(plan_recovery(b.scan, false, true).problems.empty());
	r.last_ts_at_sealed = 1; // the entries before the checkpoint are not the ones it recorded
	auto p = plan_recovery(b.scan, false, true);
	ASSERT_EQ(p.problems.size(), 1u);
	EXPECT_NE(p.problems.front().what.find("checkpoint"), std::string::npos);
}

TEST(recovery_plan, live_writer_leaves_out_r2_to_r4_but_keeps_the_prefix)
{
	// A walk that met a writer's appends: region 0 was walked before the writer appended 2
	// to it, region 1 after 3 and 4 (R3 would call 2 lost); region 2 stopped at an append
	// being written whose successor came meanwhile (R2 would call it damage); region 3 got
	// its checkpoint from a close after its span header was read (R4).
	scan_builder b;
	b.region(plain({1}));
	b.region(plain({3, 4}));
	auto &torn = b.region(plain({5}), entry_state::invalid);
	torn.next_valid_ts = 7;
	auto &sealed = b.region(plain({6}));
	b.scan.spans[sealed.span_index].rec.value.sealed_tail = 2 * 32;
	sealed.reached_sealed = false;
	EXPECT_EQ(plan_recovery(b.scan, false, false).problems.size(), 3u);
	auto p = plan_recovery(b.scan, false, false, true);
	EXPECT_TRUE(p.problems.empty());
	EXPECT_EQ(p.prefix, 1u); // what the walk found without a gap
	EXPECT_EQ(p.last_issued, 1u);
	EXPECT_EQ(p.entries, 1u);
	// Duplicates are never a race: timestamps are not reused.
	scan_builder d;
	d.region(plain({1, 2}));
	d.region(plain({2}));
	EXPECT_EQ(plan_recovery(d.scan, false, false, true).problems.size(), 1u);
	// Writable recovery always applies every rule (no writer can be live: it holds the lock).
	EXPECT_EQ(plan_recovery(b.scan, false, true, true).problems.size(), 3u);
}

TEST(recovery_plan, s4_repeated_region_id_or_epoch_is_corruption)
{
	scan_builder b;
	b.region(plain({1}), entry_state::empty, 7);
	b.region(plain({2}), entry_state::empty, 7);
	auto p = plan_recovery(b.scan, true, false);
	ASSERT_EQ(p.problems.size(), 1u);
	EXPECT_EQ(p.regions.size(), 1u); // salvage shows the first only
}

TEST(recovery_plan, duplicate_timestamp_is_corruption)
{
	scan_builder b;
	b.region(plain({1, 2}));
	b.region(plain({2}));
	EXPECT_FALSE(plan_recovery(b.scan, false, true).problems.empty());
}

TEST(recovery_plan, r1_never_ends_inside_a_transaction)
{
	using format::flag_tx;
	using format::flag_tx_end;
	// A transaction holds 3, 4, 5 (5 ends it) across two regions; 5 is torn: the prefix
	// drops to 2 and 3 and 4 are trimmed although they are complete.
	scan_builder b;
	b.region({{1, 0}, {3, flag_tx}}, entry_state::invalid);
	b.region({{2, 0}, {4, flag_tx}});
	auto p = plan_recovery(b.scan, false, true);
	EXPECT_TRUE(p.problems.empty());
	EXPECT_EQ(p.prefix, 2u);
	EXPECT_EQ(p.trimmed_entries, 2u);
	// Complete, the block is shown whole, and what follows it too.
	scan_builder c;
	c.region({{1, 0}, {3, flag_tx}, {5, flag_tx | flag_tx_end}});
	c.region({{2, 0}, {4, flag_tx}, {6, 0}});
	auto q = plan_recovery(c.scan, false, true);
	EXPECT_EQ(q.prefix, 6u);
	EXPECT_EQ(q.trimmed_entries, 0u);
	// A block that starts right above the floor and is unfinished drops to the floor.
	scan_builder d(8);
	d.region({{9, flag_tx}, {10, flag_tx}});
	auto r = plan_recovery(d.scan, false, true);
	EXPECT_EQ(r.prefix, 8u);
	EXPECT_EQ(r.trimmed_entries, 2u);
}

TEST(recovery_plan, padding_takes_a_timestamp_but_is_never_counted)
{
	scan_builder b;
	b.region({{1, 0}, {2, format::flag_padding}, {3, 0}});
	auto p = plan_recovery(b.scan, false, true);
	EXPECT_EQ(p.prefix, 3u);
	EXPECT_EQ(p.entries, 2u);
	EXPECT_EQ(p.regions[0].walked, 3u);
}

TEST(recovery_plan, lease_is_burnt_by_writable_recovery)
{
	scan_builder b;
	b.region(plain({1, 2}));
	b.scan.state.value.ts_lease = 100;
	EXPECT_EQ(plan_recovery(b.scan, false, true).last_issued, 100u);
	EXPECT_EQ(plan_recovery(b.scan, false, false).last_issued, 2u);
}
