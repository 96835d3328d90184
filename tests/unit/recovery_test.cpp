// SPDX-License-Identifier: BSD-3-Clause
// Recovery at open: torn tails are trimmed silently, the timestamp prefix rule holds, damage
// inside acknowledged data is reported with its place. A "crash" here is a child process that
// writes and then dies without closing the stream (no clean-shutdown record); the parent then
// edits bytes the way a torn write would leave them. tests/crash/ explores real crash images.
#include "test_util.hpp"

#include "format.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <sys/wait.h>

using namespace pmemstream;
using test::bytes;
using test::temp_file;

namespace {

// Runs `work` in a child that exits without destroying its stream.
void in_crashing_child(const std::function<void()> &work)
{
	pid_t pid = ::fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		work();
		::_exit(0);
	}
	int status = 0;
	ASSERT_EQ(::waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

struct layout {
	region a, b;
	std::vector<entry> ea, eb; // entries in order
};

// Two regions, appends alternate: a gets odd timestamps, b even ones.
layout alternate(const std::string &path, int per_region)
{
	auto s = *stream::create(path, {1 << 20, 4096});
	layout l;
	l.a = *s->region_allocate(4000);
	l.b = *s->region_allocate(4000);
	for (int i = 0; i < per_region; ++i) {
		l.ea.push_back(*s->append(l.a, test::pattern(40, static_cast<unsigned>(2 * i))));
		l.eb.push_back(*s->append(l.b, test::pattern(40, static_cast<unsigned>(2 * i + 1))));
	}
	return l;
}

// Builds the layout in a crashing child; returns the layout computed the same way (offsets are
// deterministic).
layout crashed_alternate(const std::string &path, int per_region)
{
	in_crashing_child([&] {
		auto s = *stream::create(path, {1 << 20, 4096});
		auto a = *s->region_allocate(4000);
		auto b = *s->region_allocate(4000);
		for (int i = 0; i < per_region; ++i) {
			if (!s->append(a, test::pattern(40, static_cast<unsigned>(2 * i))) ||
			    !s->append(b, test::pattern(40, static_cast<unsigned>(2 * i + 1))))
				::_exit(1);
		}
		s.release(); // no destructor: no clean-shutdown record
	});
	temp_file scratch("layout");
	return alternate(scratch.path, per_region);
}

void damage_payload(const std::string &path, entry e)
{
	test::flip_byte(path, e.offset + entry_header_size + 3);
}

} // namespace

TEST(recovery, crash_without_damage_loses_nothing)
{
	temp_file f;
	auto l = crashed_alternate(f.path, 5);
	EXPECT_EQ((*stream::open(f.path, {.read_only = true}))->committed_timestamp(), 10u); // the visible prefix
	auto s = test::reopen(f.path);
	EXPECT_EQ(test::entries_of(*s, l.a).size(), 5u);
	EXPECT_EQ(test::entries_of(*s, l.b).size(), 5u);
	// Writable recovery starts above the timestamp lease (docs/format.md 8.3).
	EXPECT_GE(s->committed_timestamp(), 10u);
	EXPECT_EQ(s->recovery().torn_tails, 0u);
}

TEST(recovery, torn_last_entry_is_trimmed_silently)
{
	temp_file f;
	auto l = crashed_alternate(f.path, 5);
	damage_payload(f.path, l.eb.back()); // timestamp 10, the last append
	auto s = test::reopen(f.path);
	ASSERT_TRUE(s);
	EXPECT_EQ(test::entries_of(*s, l.b).size(), 4u);
	EXPECT_EQ(test::entries_of(*s, l.a).size(), 5u);
	EXPECT_GE(s->committed_timestamp(), 9u); // above the lease
	EXPECT_EQ(s->recovery().torn_tails, 1u);
	// Appends go on after the trim, and the trim is final.
	ASSERT_TRUE(s->append(l.b, bytes("new")));
	s.reset();
	auto s2 = test::reopen(f.path);
	auto eb = test::entries_of(*s2, l.b);
	ASSERT_EQ(eb.size(), 5u);
	EXPECT_EQ(test::to_vec(*s2->entry_data(eb.back())), bytes("new"));
}

TEST(recovery, entry_after_a_torn_one_in_another_region_is_trimmed_to_keep_the_prefix)
{
	temp_file f;
	// a: 1 3 5 7 9, b: 2 4 6 8 10. Tear a's last (9): 10 may not have been acknowledged (its
	// append waits for 9), so it must go too, or the visible set would have a hole.
	auto l = crashed_alternate(f.path, 5);
	damage_payload(f.path, l.ea.back());
	auto s = test::reopen(f.path);
	ASSERT_TRUE(s);
	// Writable recovery burns the trimmed timestamps (9, 10) and the leased ones: the
	// watermark starts past them.
	EXPECT_GE(s->committed_timestamp(), 10u);
	EXPECT_EQ(test::entries_of(*s, l.a).size(), 4u);
	EXPECT_EQ(test::entries_of(*s, l.b).size(), 4u);
	EXPECT_EQ(s->recovery().trimmed_entries, 1u);
	// Timestamps are never reused: the trimmed 10 stays burnt.
	auto e = *s->append(l.a, bytes("next"));
	EXPECT_GT(*s->entry_timestamp(e), 10u);
	s.reset();
	auto s2 = test::reopen(f.path);
	EXPECT_EQ(test::entries_of(*s2, l.b).size(), 4u) << "the trimmed entry must not come back";
	EXPECT_EQ(test::entries_of(*s2, l.a).size(), 5u);
}

TEST(recovery, damage_followed_by_valid_entries_is_corruption_with_its_place)
{
	temp_file f;
	auto l = crashed_alternate(f.path, 5);
	damage_payload(f.path, l.ea[2]);
	auto s = stream::open(f.path);
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::corrupt);
	char where[32];
	std::snprintf(where, sizeof(where), "0x%llx", static_cast<unsigned long long>(l.ea[2].offset));
	EXPECT_NE(s.err().message().find(where), std::string::npos) << s.err().message();
}

TEST(recovery, lost_acknowledged_entry_is_corruption)
{
	temp_file f;
	// a: 1 3 5, b: 2 4 6 (+8 via one more append to b). b's 6 is followed by 8, so 6 was
	// acknowledged and with it 5. Damaging 5, a's last entry, is then lost data.
	in_crashing_child([&] {
		auto s = *stream::create(f.path, {1 << 20, 4096});
		auto a = *s->region_allocate(4000);
		auto b = *s->region_allocate(4000);
		for (int i = 0; i < 3; ++i) {
			(void)s->append(a, test::pattern(40, 1));
			(void)s->append(b, test::pattern(40, 2));
		}
		(void)s->append(b, test::pattern(40, 3));
		s.release();
	});
	temp_file scratch;
	auto l = alternate(scratch.path, 3);
	damage_payload(f.path, l.ea.back());
	auto s = stream::open(f.path);
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::corrupt);
	EXPECT_NE(s.err().message().find("timestamp 5"), std::string::npos) << s.err().message();
}

TEST(recovery, damage_inside_data_sealed_by_clean_close_is_corruption)
{
	temp_file f;
	auto l = alternate(f.path, 3); // clean close seals every region
	damage_payload(f.path, l.eb.back());
	auto s = stream::open(f.path);
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::corrupt);
	EXPECT_NE(s.err().message().find("sealed"), std::string::npos) << s.err().message();
}

TEST(recovery, salvage_mode_reports_instead_of_failing)
{
	temp_file f;
	auto l = alternate(f.path, 3);
	damage_payload(f.path, l.eb[1]);
	auto s = stream::open(f.path, {.read_only = true, .recovery = recovery_mode::salvage});
	ASSERT_TRUE(s) << s.err().message();
	const auto &rep = (*s)->recovery();
	ASSERT_FALSE(rep.problems.empty());
	EXPECT_EQ(rep.problems[0].region_offset, l.b.offset);
	EXPECT_EQ(rep.problems[0].entry_offset, l.eb[1].offset);
	EXPECT_EQ(test::entries_of(**s, l.b).size(), 1u);
	EXPECT_EQ(test::entries_of(**s, l.a).size(), 3u);
}

TEST(recovery, freed_region_leaves_no_hole_that_hides_later_entries)
{
	temp_file f;
	region keep;
	in_crashing_child([&] {
		auto s = *stream::create(f.path, {1 << 20, 4096});
		auto gone = *s->region_allocate(100);
		auto k = *s->region_allocate(100);
		(void)s->append(gone, bytes("1"));
		(void)s->append(k, bytes("2"));
		(void)s->append(gone, bytes("3"));
		if (!s->region_free(gone))
			::_exit(1);
		(void)s->append(k, bytes("4"));
		(void)s->append(k, bytes("5"));
		s.release();
	});
	auto s = test::reopen(f.path);
	auto regs = test::regions_of(*s);
	ASSERT_EQ(regs.size(), 1u);
	auto es = test::entries_of(*s, regs[0]);
	ASSERT_EQ(es.size(), 3u);
	EXPECT_EQ(*s->entry_timestamp(es[2]), 5u);
}

TEST(recovery, interrupted_creation_is_finished_on_open)
{
	temp_file f;
	test::create(f.path).reset();
	// Leave only what the first step of creation writes: the header with the "initialising"
	// magic; the rest of the file back to zeroes.
	const uint64_t magic = format::magic_initialising;
	test::poke(f.path, 0, &magic, 8);
	std::vector<unsigned char> zeros((1 << 20) - 128, 0);
	test::poke(f.path, 128, zeros.data(), zeros.size());
	auto ro = stream::open(f.path, {.read_only = true});
	ASSERT_FALSE(ro);
	EXPECT_EQ(ro.code(), errc::not_a_stream);
	auto s = test::reopen(f.path);
	ASSERT_TRUE(s);
	EXPECT_TRUE(s->region_allocate(100));
}

TEST(recovery, read_only_open_trims_in_memory_only)
{
	temp_file f;
	auto l = crashed_alternate(f.path, 3);
	damage_payload(f.path, l.ea.back()); // ts 5; 6 trimmed for the prefix
	auto before = test::peek(f.path, 0, 1 << 20);
	{
		auto s = test::reopen(f.path, {.read_only = true});
		EXPECT_EQ(s->committed_timestamp(), 4u);
		EXPECT_EQ(test::entries_of(*s, l.b).size(), 2u);
	}
	EXPECT_EQ(test::peek(f.path, 0, 1 << 20), before);
}
