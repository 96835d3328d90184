// SPDX-License-Identifier: BSD-3-Clause
// Misuse the library must report with a specific error rather than crash, hang or corrupt:
// hardening items of the second release.
#include "dual_slot.hpp"
#include "format.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <sys/wait.h>
#include <unistd.h>

using namespace pmemstream;
using test::temp_file;

TEST(misuse, runtime_of_another_stream_is_invalid_handle)
{
	temp_file fa, fb;
	auto a = test::create(fa.path);
	auto b = test::create(fb.path);
	auto ra = *a->region_allocate(100);
	auto rb = *b->region_allocate(100);
	ASSERT_EQ(ra.offset, rb.offset);
	auto rt_a = *a->get_region_runtime(ra);
	EXPECT_EQ(b->append(rb, "x", 1, rt_a).code(), errc::invalid_handle);
	EXPECT_EQ(b->reserve(rb, 1, rt_a).code(), errc::invalid_handle);
	EXPECT_EQ(*a->region_entry_count(ra), 0u);
	EXPECT_EQ(*b->region_entry_count(rb), 0u);
	// A runtime of another region of the same stream too.
	auto rb2 = *b->region_allocate(100);
	auto rt_b2 = *b->get_region_runtime(rb2);
	EXPECT_EQ(b->append(rb, "x", 1, rt_b2).code(), errc::invalid_handle);
}

TEST(misuse, replaced_reservation_handle_is_invalid_handle)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(4096);
	auto first = *s->reserve(r, 16);
	auto second = *s->reserve(r, 16); // replaces the first, at the same offset
	ASSERT_EQ(first.ent.offset, second.ent.offset);
	std::memcpy(second.data, "second-reserved!", 16);
	EXPECT_EQ(s->publish(r, first.ent, 16).code(), errc::invalid_handle);
	EXPECT_EQ(*s->region_entry_count(r), 0u);
	EXPECT_TRUE(s->publish(r, second.ent, 16));
	EXPECT_EQ(*s->region_entry_count(r), 1u);
	EXPECT_EQ(s->publish(r, second.ent, 16).code(), errc::invalid_handle); // published already
}

TEST(misuse, block_sizes_beyond_the_limit_are_invalid_argument)
{
	temp_file f;
	for (uint64_t bs : {uint64_t{1} << 63, uint64_t{1} << 31, uint64_t{1} << 40, ~uint64_t{0}, uint64_t{96}}) {
		auto s = stream::create(f.path, {.size = 4 << 20, .block_size = bs});
		ASSERT_FALSE(s) << bs;
		EXPECT_EQ(s.code(), errc::invalid_argument);
		EXPECT_NE(s.err().message().find("block size"), std::string::npos);
	}
	// Nothing was left that a later open would trip over.
	auto s = stream::create(f.path, {.size = 4 << 20, .block_size = 4096});
	ASSERT_TRUE(s) << s.err().message();
	s->reset();
	auto o = stream::open(f.path, {.block_size = uint64_t{1} << 63});
	ASSERT_FALSE(o);
	EXPECT_EQ(o.code(), errc::invalid_argument);
}

TEST(misuse, forked_child_cannot_write_through_the_parents_stream)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(4096);
	ASSERT_TRUE(s->append(r, "parent", 6));
	const pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		// Exit codes tell the parent what the child saw; _exit skips destructors, and the
		// explicit reset checks that a child's close does not write either.
		int code = 0;
		if (s->append(r, "child", 5).code() != errc::wrong_process)
			code = 1;
		else if (s->region_allocate(100).code() != errc::wrong_process)
			code = 2;
		else if (s->region_free(r).code() != errc::wrong_process)
			code = 3;
		else if (s->reserve(r, 4).code() != errc::wrong_process)
			code = 4;
		else if (!s->entry_data(test::entries_of(*s, r)[0]))
			code = 5; // reading stays allowed
		s.reset();
		_exit(code);
	}
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	// The parent goes on writing; the stream holds exactly its entries.
	ASSERT_TRUE(s->append(r, "parent2", 7));
	s.reset();
	auto s2 = test::reopen(f.path);
	EXPECT_EQ(test::entries_of(*s2, test::regions_of(*s2)[0]).size(), 2u);
	EXPECT_EQ(s2->recovery().torn_tails, 0u);
}

TEST(misuse, exhausted_timestamps_have_their_own_code)
{
	// Covered end to end by the fuzz target on images at the limit; here the message.
	EXPECT_STREQ(errc_name(errc::timestamps_exhausted), "timestamps exhausted");
	EXPECT_STREQ(errc_name(errc::wrong_process), "stream belongs to another process");
	for (int c = 1; c < static_cast<int>(errc::last_); ++c) {
		EXPECT_STRNE(errc_name(static_cast<errc>(c)), "unknown error") << c;
	}
}

TEST(misuse, record_sequence_at_the_last_value_is_renumbered_not_wrapped)
{
	// A span header whose slots claim the largest sequence reads accept (a hostile or very old
	// stream). Its next update must renumber both slots, not wrap to a value reads refuse.
	temp_file f;
	uint64_t off = 0;
	{
		auto s = test::create(f.path);
		auto r = *s->region_allocate(100);
		ASSERT_TRUE(s->append(r, "kept", 4));
		off = r.offset;
	}
	for (uint64_t i = 0; i < 2; ++i) {
		const uint64_t slot = off + i * format::span_slot_size;
		format::span_slot sl;
		auto raw = test::peek(f.path, slot, sizeof(sl));
		std::memcpy(&sl, raw.data(), sizeof(sl));
		sl.sequence = format::max_sequence - 1;
		sl.checksum = detail::slot_checksum(sl, slot);
		test::poke(f.path, slot, &sl, sizeof(sl));
	}
	{
		auto s = test::reopen(f.path);
		auto regs = test::regions_of(*s);
		ASSERT_EQ(regs.size(), 1u);
		ASSERT_TRUE(s->append(regs[0], "more", 4)); // close writes the checkpoint: an update
	}
	auto s = test::reopen(f.path);
	auto regs = test::regions_of(*s);
	ASSERT_EQ(regs.size(), 1u);
	EXPECT_EQ(test::entries_of(*s, regs[0]).size(), 2u);
	format::span_slot sl;
	auto raw = test::peek(f.path, off, sizeof(sl));
	std::memcpy(&sl, raw.data(), sizeof(sl));
	EXPECT_LT(sl.sequence, format::max_sequence);
	ASSERT_TRUE(s->region_free(regs[0]));
}

TEST(misuse, accessors_do_not_answer_from_a_freed_region_or_a_closed_stream)
{
	// The accessors keep the last entry a thread found committed; neither a free nor another
	// stream (possibly at the same address) may be answered from it.
	temp_file f, g;
	auto s = test::create(f.path);
	auto a = *s->region_allocate(100);
	auto keep = *s->region_allocate(100);
	(void)keep;
	auto e = *s->append(a, "cached", 6);
	ASSERT_EQ(*s->entry_size(entry{e.offset}), 6u); // now the thread's last entry
	ASSERT_TRUE(s->region_free(a));
	EXPECT_EQ(s->entry_size(entry{e.offset}).code(), errc::invalid_handle);
	EXPECT_EQ(s->entry_data(e).code(), errc::invalid_handle);
	s.reset();

	// The same layout generation as the cached entry's (two allocations), and the same offset.
	auto t = test::create(g.path);
	auto b = *t->region_allocate(100);
	(void)*t->region_allocate(100);
	auto e2 = *t->append(b, "other stream", 12);
	ASSERT_EQ(e2.offset, e.offset);
	EXPECT_EQ(*t->entry_size(entry{e.offset}), 12u);
	EXPECT_EQ(*t->entry_timestamp(entry{e.offset}), e2.timestamp);
}
