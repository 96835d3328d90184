// SPDX-License-Identifier: BSD-3-Clause
// The public C++ API: streams, regions, entries, timestamps, iterators, and their errors.
#include "test_util.hpp"

#include <pmemstream/stream.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

using namespace pmemstream;
using test::bytes;
using test::temp_file;

namespace {

std::vector<unsigned char> whole_file(const std::string &path)
{
	struct stat st;
	EXPECT_EQ(::stat(path.c_str(), &st), 0);
	return test::peek(path, 0, static_cast<size_t>(st.st_size));
}

} // namespace

TEST(stream, create_append_reopen_reads_everything_back)
{
	temp_file f;
	region r1, r2;
	{
		auto s = test::create(f.path);
		r1 = *s->region_allocate(1000);
		r2 = *s->region_allocate(5000);
		ASSERT_TRUE(s->append(r1, bytes("hello")));
		ASSERT_TRUE(s->append(r2, bytes("world!")));
		ASSERT_TRUE(s->append(r1, bytes("")));
	}
	auto s = test::reopen(f.path);
	auto regs = test::regions_of(*s);
	ASSERT_EQ(regs.size(), 2u);
	EXPECT_EQ(regs[0], r1);
	EXPECT_EQ(regs[1], r2);
	auto e1 = test::entries_of(*s, r1);
	ASSERT_EQ(e1.size(), 2u);
	EXPECT_EQ(test::to_vec(*s->entry_data(e1[0])), bytes("hello"));
	EXPECT_EQ(*s->entry_timestamp(e1[0]), 1u);
	EXPECT_EQ(*s->entry_size(e1[1]), 0u);
	EXPECT_EQ(*s->entry_timestamp(e1[1]), 3u);
	auto e2 = test::entries_of(*s, r2);
	ASSERT_EQ(e2.size(), 1u);
	EXPECT_EQ(test::to_vec(*s->entry_data(e2[0])), bytes("world!"));
	EXPECT_EQ(*s->entry_timestamp(e2[0]), 2u);
	EXPECT_EQ(s->committed_timestamp(), 3u);
	EXPECT_EQ(s->persisted_timestamp(), 3u);
	EXPECT_EQ(s->recovery().entries, 3u);
	EXPECT_EQ(s->recovery().torn_tails, 0u);
}

TEST(stream, create_rejects_bad_block_sizes)
{
	temp_file f;
	for (uint64_t b : std::initializer_list<uint64_t>{0, 32, 100, 4095, 4097}) {
		auto s = stream::create(f.path, {1 << 20, b});
		ASSERT_FALSE(s);
		EXPECT_EQ(s.code(), errc::invalid_argument) << b;
	}
	struct stat st;
	EXPECT_NE(::stat(f.path.c_str(), &st), 0) << "a rejected create must not leave a file";
}

TEST(stream, create_rejects_size_below_minimum)
{
	temp_file f;
	auto s = stream::create(f.path, {4096, 4096});
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::invalid_argument);
	auto ok = stream::create(f.path, {8192, 4096});
	EXPECT_TRUE(ok) << "header block plus one region block is the minimum";
}

TEST(stream, create_refuses_a_file_with_data_and_leaves_it_untouched)
{
	temp_file f;
	{
		auto s = test::create(f.path);
		ASSERT_TRUE(s->append(*s->region_allocate(100), bytes("keep me")));
	}
	auto before = whole_file(f.path);
	auto s = stream::create(f.path, {2 << 20, 4096});
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::exists);
	EXPECT_EQ(whole_file(f.path), before);
}

TEST(stream, create_initialises_an_existing_all_zero_file)
{
	temp_file f;
	int fd = ::open(f.path.c_str(), O_CREAT | O_RDWR, 0644);
	ASSERT_EQ(::ftruncate(fd, 1 << 16), 0);
	::close(fd);
	auto s = stream::create(f.path, {1 << 16, 4096});
	ASSERT_TRUE(s) << s.err().message();
	EXPECT_EQ((*s)->info().size, uint64_t{1 << 16});
}

TEST(stream, open_missing_file_is_io_error)
{
	auto s = stream::open("/nonexistent-dir/pmemstream-missing");
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::io_error);
	EXPECT_NE(s.err().message().find("nonexistent"), std::string::npos);
}

TEST(stream, open_zero_length_file_is_not_a_stream)
{
	temp_file f;
	::close(::open(f.path.c_str(), O_CREAT | O_RDWR, 0644));
	auto s = stream::open(f.path);
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::not_a_stream);
}

TEST(stream, open_foreign_file_is_not_a_stream_and_untouched)
{
	temp_file f;
	std::vector<unsigned char> junk(1 << 16);
	for (size_t i = 0; i < junk.size(); ++i)
		junk[i] = static_cast<unsigned char>(i * 37 + 1);
	int fd = ::open(f.path.c_str(), O_CREAT | O_RDWR, 0644);
	ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
	::close(fd);
	auto s = stream::open(f.path);
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::not_a_stream);
	EXPECT_EQ(whole_file(f.path), junk);
}

TEST(stream, file_with_zero_header_but_data_later_is_not_reinitialised)
{
	temp_file f;
	{
		auto s = test::create(f.path);
		ASSERT_TRUE(s->append(*s->region_allocate(100), bytes("precious")));
	}
	std::vector<unsigned char> zeros(128, 0);
	test::poke(f.path, 0, zeros.data(), zeros.size());
	auto before = whole_file(f.path);
	auto s = stream::open(f.path);
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::not_a_stream);
	EXPECT_EQ(whole_file(f.path), before);
}

TEST(stream, reopen_with_other_block_size_is_parameter_mismatch)
{
	temp_file f;
	test::create(f.path, 1 << 20, 4096).reset();
	auto before = whole_file(f.path);
	auto s = stream::open(f.path, {.block_size = 8192});
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::parameter_mismatch);
	EXPECT_EQ(whole_file(f.path), before);
	EXPECT_TRUE(stream::open(f.path, {.block_size = 4096}));
	EXPECT_TRUE(stream::open(f.path, {.block_size = 0}));
}

TEST(stream, read_only_open_never_writes)
{
	temp_file f;
	region r;
	{
		auto s = test::create(f.path);
		r = *s->region_allocate(100);
		ASSERT_TRUE(s->append(r, bytes("x")));
	}
	auto before = whole_file(f.path);
	{
		auto s = test::reopen(f.path, {.read_only = true});
		ASSERT_TRUE(s);
		EXPECT_TRUE(s->read_only());
		EXPECT_EQ(test::entries_of(*s, r).size(), 1u);
		EXPECT_EQ(s->append(r, bytes("y")).code(), errc::read_only);
		EXPECT_EQ(s->region_allocate(100).code(), errc::read_only);
		EXPECT_EQ(s->region_free(r).code(), errc::read_only);
		EXPECT_EQ(s->reserve(r, 10).code(), errc::read_only);
	}
	EXPECT_EQ(whole_file(f.path), before);
}

TEST(stream, second_writer_is_refused_while_readers_are_welcome)
{
	temp_file f;
	auto w = test::create(f.path);
	auto again = stream::open(f.path);
	ASSERT_FALSE(again);
	EXPECT_EQ(again.code(), errc::busy);
	EXPECT_EQ(stream::create(f.path, {1 << 20, 4096}).code(), errc::exists);
	EXPECT_TRUE(stream::open(f.path, {.read_only = true}));
	w.reset();
	EXPECT_TRUE(stream::open(f.path));
}

TEST(stream, prefault_option_at_create_and_open)
{
	temp_file f;
	region r;
	{
		auto s = stream::create(f.path, {.size = 4 << 20, .block_size = 4096, .prefault = true});
		ASSERT_TRUE(s) << s.err().message();
		r = *(*s)->region_allocate(100);
		ASSERT_TRUE((*s)->append(r, bytes("a")));
	}
	auto s = test::reopen(f.path, {.prefault = true});
	ASSERT_TRUE(s->append(r, bytes("b")));
	EXPECT_EQ(test::entries_of(*s, r).size(), 2u);
}

TEST(stream, read_only_open_of_all_zero_file_is_not_a_stream)
{
	temp_file f;
	int fd = ::open(f.path.c_str(), O_CREAT | O_RDWR, 0644);
	ASSERT_EQ(::ftruncate(fd, 1 << 16), 0);
	::close(fd);
	auto s = stream::open(f.path, {.read_only = true});
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::not_a_stream);
}

TEST(stream, salvage_requires_read_only)
{
	temp_file f;
	test::create(f.path).reset();
	auto s = stream::open(f.path, {.recovery = recovery_mode::salvage});
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::invalid_argument);
}

TEST(region, allocate_zero_is_invalid_argument)
{
	temp_file f;
	auto s = test::create(f.path);
	EXPECT_EQ(s->region_allocate(0).code(), errc::invalid_argument);
}

TEST(region, each_region_has_its_own_size_rounded_to_blocks)
{
	temp_file f;
	auto s = test::create(f.path, 1 << 20, 4096);
	for (uint64_t want : std::initializer_list<uint64_t>{1, 100, 3968, 3969, 10000}) {
		auto r = s->region_allocate(want);
		ASSERT_TRUE(r);
		auto size = *s->region_size(*r);
		EXPECT_GE(size, want);
		EXPECT_EQ((size + region_header_size) % 4096, 0u);
		EXPECT_LT(size, want + 4096);
		EXPECT_EQ(r->offset % 4096, 0u);
		EXPECT_EQ(*s->region_usable_size(*r), size);
	}
}

TEST(region, iterate_in_allocation_order_after_reuse)
{
	temp_file f;
	auto s = test::create(f.path, 1 << 20, 4096);
	auto a = *s->region_allocate(100);
	auto b = *s->region_allocate(100);
	auto c = *s->region_allocate(100);
	auto rest = *s->region_allocate(s->info().largest_free);
	ASSERT_TRUE(s->region_free(a));
	auto d = *s->region_allocate(100); // only a's space is free: lower offset than b
	EXPECT_EQ(d.offset, a.offset);
	EXPECT_GT(d.id, rest.id);
	auto regs = test::regions_of(*s);
	EXPECT_EQ(regs, (std::vector<region>{b, c, rest, d}));
	s.reset();
	auto s2 = test::reopen(f.path);
	EXPECT_EQ(test::regions_of(*s2), (std::vector<region>{b, c, rest, d}));
}

TEST(region, just_freed_space_is_not_handed_out_first)
{
	temp_file f;
	auto s = test::create(f.path, 1 << 20, 4096);
	auto a = *s->region_allocate(100);
	auto b = *s->region_allocate(100);
	ASSERT_TRUE(s->region_free(a));
	auto c = *s->region_allocate(100);
	EXPECT_NE(c.offset, a.offset);
	EXPECT_GT(c.offset, b.offset);
	// Freed at the end of the used space, it merges with the free tail; the next region is
	// carved from the other end of that span, not at the freed offset.
	ASSERT_TRUE(s->region_free(c));
	auto d = *s->region_allocate(100);
	EXPECT_NE(d.offset, c.offset);
}

// Steering away from freed space must not cost space a caller needs back: a region's usable
// size for exactly `blocks` blocks of 4 KiB (the span header takes 256 bytes of the first).
constexpr uint64_t blocks(uint64_t n)
{
	return n * 4096 - 256;
}

region must_allocate(stream &s, uint64_t size)
{
	auto r = s.region_allocate(size);
	EXPECT_TRUE(r) << "allocating " << size << " bytes: " << (r ? "" : r.err().message());
	return r ? *r : region{};
}

TEST(region, freed_sizes_allocated_again_smaller_first_fit)
{
	temp_file f;
	auto s = test::create(f.path, 4096 + 64 * 4096, 4096);
	const region a = must_allocate(*s, blocks(10));
	must_allocate(*s, blocks(6));
	const region b = must_allocate(*s, blocks(16));
	must_allocate(*s, s->info().largest_free);
	ASSERT_EQ(s->info().largest_free, 0u);
	ASSERT_TRUE(s->region_free(a));
	ASSERT_TRUE(s->region_free(b));
	// The smaller size must not be carved out of the larger one's space (it used to be,
	// and the larger size then failed with out_of_space): it takes its own old offset.
	EXPECT_EQ(must_allocate(*s, blocks(10)).offset, a.offset);
	const region d = must_allocate(*s, blocks(16));
	EXPECT_EQ(d.offset, b.offset);
	EXPECT_EQ(*s->region_size(d), blocks(16));
}

TEST(region, a_freed_exact_fit_is_taken_before_space_another_size_needs)
{
	temp_file f;
	auto s = test::create(f.path, 4096 + 32 * 4096, 4096);
	const region a = must_allocate(*s, blocks(10));
	must_allocate(*s, blocks(6));
	ASSERT_EQ(s->info().largest_free, blocks(16)); // the never used tail
	ASSERT_TRUE(s->region_free(a));
	// Taking the tail for this one would leave 6 blocks there and 10 here: no room for 16.
	EXPECT_EQ(must_allocate(*s, blocks(10)).offset, a.offset);
	EXPECT_EQ(*s->region_size(must_allocate(*s, blocks(16))), blocks(16));
}

TEST(region, freed_space_is_still_passed_over_while_there_is_room_to_spare)
{
	temp_file f;
	auto s = test::create(f.path, 4096 + 64 * 4096, 4096);
	const region a = must_allocate(*s, blocks(4));
	const region b = must_allocate(*s, blocks(8));
	const region n = must_allocate(*s, blocks(4));
	ASSERT_TRUE(s->region_free(a));
	ASSERT_TRUE(s->region_free(b)); // merges with a: 12 blocks, and 48 never used at the end
	EXPECT_GT(must_allocate(*s, blocks(4)).offset, n.offset);
	EXPECT_GT(must_allocate(*s, blocks(8)).offset, n.offset);
	// The freed 12 blocks were left whole: once the rest is taken, they hold one region.
	must_allocate(*s, s->info().largest_free);
	EXPECT_EQ(must_allocate(*s, blocks(12)).offset, a.offset);
}

TEST(region, stale_handles_after_reuse_of_the_offset_are_invalid)
{
	temp_file f;
	auto s = test::create(f.path, 1 << 20, 4096);
	auto a = *s->region_allocate(100);
	auto e = *s->append(a, "old", 3);
	auto rest = *s->region_allocate(s->info().largest_free);
	(void)rest;
	auto rt = *s->get_region_runtime(a);
	ASSERT_TRUE(s->region_free(a));
	auto d = *s->region_allocate(100);
	ASSERT_EQ(d.offset, a.offset); // the only free space
	auto e2 = *s->append(d, "new", 3);
	ASSERT_EQ(e2.offset, e.offset);
	EXPECT_EQ(s->append(a, "x", 1).code(), errc::invalid_handle);
	EXPECT_EQ(s->append(a, "x", 1, rt).code(), errc::invalid_handle);
	EXPECT_EQ(s->reserve(a, 1).code(), errc::invalid_handle);
	EXPECT_EQ(s->region_size(a).code(), errc::invalid_handle);
	EXPECT_EQ(s->region_free(a).code(), errc::invalid_handle);
	EXPECT_EQ(s->entries(a).code(), errc::invalid_handle);
	EXPECT_EQ(s->entry_data(e).code(), errc::invalid_handle);
	EXPECT_EQ(s->entry_timestamp(e).code(), errc::invalid_handle);
	EXPECT_TRUE(s->entry_data(e2));
	// An offset-only handle (what the C API has) names whatever lives there.
	EXPECT_TRUE(s->entry_data(entry{e.offset}));
	EXPECT_EQ(*s->region_entry_count(region{a.offset}), 1u);
}

TEST(region, freed_region_handle_is_invalid_everywhere)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(100);
	auto e = *s->append(r, bytes("data"));
	auto rt = *s->get_region_runtime(r);
	ASSERT_TRUE(s->region_free(r));
	EXPECT_EQ(s->append(r, bytes("x")).code(), errc::invalid_handle);
	EXPECT_EQ(s->append(r, bytes("x"), rt).code(), errc::invalid_handle);
	EXPECT_EQ(s->reserve(r, 1).code(), errc::invalid_handle);
	EXPECT_EQ(s->region_size(r).code(), errc::invalid_handle);
	EXPECT_EQ(s->region_usable_size(r).code(), errc::invalid_handle);
	EXPECT_EQ(s->region_free(r).code(), errc::invalid_handle);
	EXPECT_EQ(s->entries(r).code(), errc::invalid_handle);
	EXPECT_EQ(s->entry_data(e).code(), errc::invalid_handle);
	EXPECT_TRUE(test::regions_of(*s).empty());
}

TEST(region, made_up_handles_are_invalid)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(100);
	for (uint64_t off : std::initializer_list<uint64_t>{0, 1, r.offset + 1, r.offset + 4096, 1ull << 40, ~0ull}) {
		EXPECT_EQ(s->append(region{off}, bytes("x")).code(), errc::invalid_handle) << off;
		EXPECT_EQ(s->region_size(region{off}).code(), errc::invalid_handle) << off;
		EXPECT_EQ(s->region_free(region{off}).code(), errc::invalid_handle) << off;
	}
}

TEST(region, out_of_space_then_free_coalesces_back_to_one_span)
{
	temp_file f;
	auto s = test::create(f.path, 64 * 1024, 4096);
	const uint64_t whole = s->info().largest_free;
	std::vector<region> rs;
	for (;;) {
		auto r = s->region_allocate(1000);
		if (!r) {
			EXPECT_EQ(r.code(), errc::out_of_space);
			break;
		}
		rs.push_back(*r);
	}
	EXPECT_EQ(rs.size(), (64 * 1024 - 4096) / 4096);
	// Free in an order that exercises coalescing with the next and the previous span.
	for (size_t i = 1; i < rs.size(); i += 2)
		ASSERT_TRUE(s->region_free(rs[i]));
	for (size_t i = 0; i < rs.size(); i += 2)
		ASSERT_TRUE(s->region_free(rs[i]));
	EXPECT_EQ(s->info().largest_free, whole);
	auto big = s->region_allocate(whole);
	ASSERT_TRUE(big) << big.err().message();
	EXPECT_EQ(s->region_allocate(1).code(), errc::out_of_space);
	s.reset();
	auto s2 = test::reopen(f.path);
	EXPECT_EQ(test::regions_of(*s2).size(), 1u);
}

TEST(entry, zero_size_entry_is_legal)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(100);
	auto e = s->append(r, nullptr, 0);
	ASSERT_TRUE(e);
	EXPECT_EQ(*s->entry_size(*e), 0u);
	EXPECT_EQ(s->entry_data(*e)->size(), 0u);
	EXPECT_EQ(*s->region_usable_size(r), *s->region_size(r) - entry_header_size);
}

TEST(entry, entry_fills_region_exactly_and_neighbour_is_untouched)
{
	temp_file f;
	auto s = test::create(f.path, 1 << 20, 4096);
	auto r = *s->region_allocate(4096 - region_header_size);
	auto n = *s->region_allocate(100);
	ASSERT_TRUE(s->append(n, bytes("neighbour")));
	const uint64_t room = *s->region_usable_size(r);
	ASSERT_EQ(room, 4096 - region_header_size);
	auto payload = test::pattern(room - entry_header_size, 3);
	auto e = s->append(r, payload);
	ASSERT_TRUE(e) << e.err().message();
	EXPECT_EQ(*s->region_usable_size(r), 0u);
	EXPECT_EQ(s->append(r, nullptr, 0).code(), errc::region_full);
	s.reset();
	auto s2 = test::reopen(f.path);
	auto es = test::entries_of(*s2, r);
	ASSERT_EQ(es.size(), 1u);
	EXPECT_EQ(test::to_vec(*s2->entry_data(es[0])), payload);
	auto ns = test::entries_of(*s2, n);
	ASSERT_EQ(ns.size(), 1u);
	EXPECT_EQ(test::to_vec(*s2->entry_data(ns[0])), bytes("neighbour"));
}

TEST(entry, region_full_is_specific_and_changes_nothing)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(100);
	const uint64_t left = *s->region_usable_size(r);
	auto big = test::pattern(left, 1);
	auto e = s->append(r, big);
	ASSERT_FALSE(e);
	EXPECT_EQ(e.code(), errc::region_full);
	EXPECT_NE(e.err().message().find("bytes left"), std::string::npos);
	EXPECT_EQ(*s->region_usable_size(r), left);
	EXPECT_EQ(s->committed_timestamp(), 0u) << "a failed append consumes no timestamp";
	EXPECT_TRUE(s->append(r, bytes("fits")));
	EXPECT_EQ(s->committed_timestamp(), 1u);
}

TEST(entry, entry_above_format_limit_is_entry_too_large)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(100);
	EXPECT_EQ(s->reserve(r, max_entry_size + 1).code(), errc::entry_too_large);
}

TEST(entry, reserve_then_publish_with_smaller_size)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(1000);
	auto res = s->reserve(r, 100);
	ASSERT_TRUE(res);
	EXPECT_EQ(res->size, 100u);
	std::memcpy(res->data, "custom", 6);
	EXPECT_EQ(s->append(r, bytes("no")).code(), errc::busy);
	EXPECT_EQ(s->publish(r, res->ent, 101).code(), errc::invalid_argument);
	EXPECT_EQ(s->publish(r, entry{res->ent.offset + 8}, 6).code(), errc::invalid_handle);
	ASSERT_TRUE(s->publish(r, res->ent, 6));
	EXPECT_EQ(s->publish(r, res->ent, 6).code(), errc::invalid_handle) << "published twice";
	EXPECT_EQ(test::to_vec(*s->entry_data(res->ent)), bytes("custom"));
	EXPECT_EQ(*s->region_usable_size(r), *s->region_size(r) - entry_footprint(6));
	ASSERT_TRUE(s->append(r, bytes("after")));
	s.reset();
	auto s2 = test::reopen(f.path);
	auto es = test::entries_of(*s2, r);
	ASSERT_EQ(es.size(), 2u);
	EXPECT_EQ(test::to_vec(*s2->entry_data(es[0])), bytes("custom"));
	EXPECT_EQ(test::to_vec(*s2->entry_data(es[1])), bytes("after"));
}

TEST(entry, second_reserve_replaces_the_first)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(1000);
	auto a = *s->reserve(r, 10);
	auto b = *s->reserve(r, 20);
	EXPECT_EQ(a.ent, b.ent);
	std::memset(b.data, 'z', 20);
	ASSERT_TRUE(s->publish(r, b.ent, 20));
	EXPECT_EQ(*s->entry_size(b.ent), 20u);
}

TEST(entry, unpublished_reservation_is_invisible_after_reopen)
{
	temp_file f;
	region r;
	{
		auto s = test::create(f.path);
		r = *s->region_allocate(1000);
		ASSERT_TRUE(s->append(r, bytes("one")));
		auto res = *s->reserve(r, 50);
		std::memset(res.data, 0x77, 50);
	}
	auto s = test::reopen(f.path);
	EXPECT_EQ(test::entries_of(*s, r).size(), 1u);
	ASSERT_TRUE(s->append(r, bytes("two")));
	EXPECT_EQ(*s->entry_timestamp(test::entries_of(*s, r)[1]), 2u);
}

TEST(entry, made_up_entry_handles_are_invalid)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(1000);
	auto e = *s->append(r, bytes("0123456789abcdef0123"));
	for (uint64_t off : std::initializer_list<uint64_t>{0, 8, r.offset, e.offset + 1, e.offset + 8, e.offset + entry_footprint(20), r.offset + 4000,
			     1ull << 40, ~0ull}) {
		EXPECT_EQ(s->entry_data(entry{off}).code(), errc::invalid_handle) << off;
		EXPECT_EQ(s->entry_size(entry{off}).code(), errc::invalid_handle) << off;
		EXPECT_EQ(s->entry_timestamp(entry{off}).code(), errc::invalid_handle) << off;
	}
	EXPECT_EQ(*s->entry_region(e), r);
}

TEST(timestamp, unique_increasing_across_regions_and_continued_after_reopen)
{
	temp_file f;
	std::vector<region> rs;
	{
		auto s = test::create(f.path);
		EXPECT_EQ(s->committed_timestamp(), 0u);
		for (int i = 0; i < 3; ++i)
			rs.push_back(*s->region_allocate(1000));
		uint64_t expect = 1;
		for (int round = 0; round < 5; ++round)
			for (auto r : rs) {
				auto e = *s->append(r, bytes("e"));
				EXPECT_EQ(*s->entry_timestamp(e), expect);
				EXPECT_EQ(s->committed_timestamp(), expect);
				EXPECT_EQ(s->persisted_timestamp(), expect);
				++expect;
			}
	}
	auto s = test::reopen(f.path);
	EXPECT_EQ(s->committed_timestamp(), 15u);
	auto e = *s->append(rs[1], bytes("after reopen"));
	EXPECT_EQ(*s->entry_timestamp(e), 16u);
}

TEST(iterator, tails_new_entries)
{
	temp_file f;
	auto s = test::create(f.path);
	auto r = *s->region_allocate(1000);
	auto it = *s->entries(r);
	EXPECT_FALSE(it.is_valid());
	auto e1 = *s->append(r, bytes("a"));
	ASSERT_TRUE(it.is_valid());
	EXPECT_EQ(it.get(), e1);
	it.next();
	EXPECT_FALSE(it.is_valid());
	it.next(); // stays put at the end
	auto e2 = *s->append(r, bytes("b"));
	ASSERT_TRUE(it.is_valid());
	EXPECT_EQ(it.get(), e2);
	it.seek_first();
	EXPECT_EQ(it.get(), e1);
}

TEST(iterator, region_iterator_skips_freed_regions)
{
	temp_file f;
	auto s = test::create(f.path);
	auto a = *s->region_allocate(100);
	auto b = *s->region_allocate(100);
	auto c = *s->region_allocate(100);
	auto it = s->regions();
	ASSERT_TRUE(it.is_valid());
	EXPECT_EQ(it.get(), a);
	ASSERT_TRUE(s->region_free(b));
	it.next();
	ASSERT_TRUE(it.is_valid());
	EXPECT_EQ(it.get(), c);
	it.next();
	EXPECT_FALSE(it.is_valid());
}

TEST(info, reports_sizes_and_space)
{
	temp_file f;
	auto s = test::create(f.path, 1 << 20, 4096);
	auto i0 = s->info();
	EXPECT_EQ(i0.format_version, 2u);
	EXPECT_EQ(i0.size, uint64_t{1 << 20});
	EXPECT_EQ(i0.block_size, 4096u);
	EXPECT_EQ(i0.arena_offset, 4096u);
	EXPECT_EQ(i0.free_bytes, (1u << 20) - 4096);
	auto r = *s->region_allocate(5000);
	ASSERT_TRUE(s->append(r, bytes("x")));
	auto i1 = s->info();
	EXPECT_EQ(i1.region_count, 1u);
	EXPECT_EQ(i1.allocated_bytes, 8192u);
	EXPECT_EQ(i1.free_bytes + i1.allocated_bytes, i0.free_bytes);
	EXPECT_EQ(i1.committed_timestamp, 1u);
	EXPECT_EQ(*s->region_entry_count(r), 1u);
}

TEST(errors, codes_have_names_and_category)
{
	std::error_code ec = errc::region_full;
	EXPECT_EQ(ec.category().name(), std::string("pmemstream"));
	EXPECT_EQ(ec.message(), "region full");
	EXPECT_STREQ(errc_name(errc::corrupt), "stream corrupt");
}
