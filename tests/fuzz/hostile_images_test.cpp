// SPDX-License-Identifier: BSD-3-Clause
// Hostile images the fuzzers found, rebuilt by hand: one field of a valid image set to an
// extreme value, every checksum recomputed so that only the validity rules stand between
// the value and the code. Each must be refused (corrupt, ...) or open as a consistent stream.
#include "format.hpp"
#include "fuzz_target.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

const std::vector<std::vector<std::byte>> &seeds()
{
	static const auto s = make_seed_images();
	return s;
}

void put64(std::vector<std::byte> &img, uint64_t off, uint64_t v)
{
	std::memcpy(img.data() + off, &v, 8);
}

uint64_t get64(const std::vector<std::byte> &img, uint64_t off)
{
	uint64_t v;
	std::memcpy(&v, img.data() + off, 8);
	return v;
}

// Offsets of the span headers, walking slot 0.
std::vector<uint64_t> spans(const std::vector<std::byte> &img)
{
	std::vector<uint64_t> out;
	const uint64_t arena = get64(img, 32), size = get64(img, 40);
	for (uint64_t off = arena; off < arena + size;) {
		out.push_back(off);
		off += get64(img, off + 8);
	}
	return out;
}

std::string check(std::vector<std::byte> img)
{
	std::vector<uint8_t> input(img.size() + 1);
	input[0] = fix_records | fix_entries;
	std::memcpy(input.data() + 1, img.data(), img.size());
	return fuzz_check(input.data(), input.size()).failure;
}

// The span slot field at `field` (byte offset in the slot) of both slots.
void set_span_field(std::vector<std::byte> &img, uint64_t span, uint64_t field, uint64_t v)
{
	put64(img, span + field, v);
	put64(img, span + format::span_slot_size + field, v);
}

constexpr uint64_t slot_epoch = offsetof(format::span_slot, epoch);
constexpr uint64_t slot_id = offsetof(format::span_slot, id);
constexpr uint64_t slot_state = offsetof(format::span_slot, state);
constexpr uint64_t header_arena_size = 40;
constexpr uint64_t state_floor = 8;

} // namespace

TEST(hostile_images, seeds_are_consistent)
{
	for (const auto &img : seeds())
		EXPECT_EQ(check(img), "");
}

TEST(hostile_images, header_arena_size_that_wraps_around)
{
	auto img = seeds()[1];
	put64(img, header_arena_size, ~uint64_t{0} - 63);
	EXPECT_EQ(check(img), "");
}

TEST(hostile_images, region_with_generation_zero)
{
	auto img = seeds()[1];
	const auto sp = spans(img);
	ASSERT_GE(sp.size(), 1u);
	set_span_field(img, sp[0], slot_epoch, 0);
	EXPECT_EQ(check(img), "");
	img = seeds()[1];
	set_span_field(img, sp[0], slot_id, 0);
	EXPECT_EQ(check(img), "");
}

TEST(hostile_images, free_span_with_the_largest_generation)
{
	auto img = seeds()[1];
	const auto sp = spans(img);
	ASSERT_GE(sp.size(), 2u);
	set_span_field(img, sp.back(), slot_epoch, ~uint64_t{0});
	EXPECT_EQ(check(img), "");
}

TEST(hostile_images, timestamp_floor_beyond_the_format_limit)
{
	auto img = seeds()[1];
	for (uint64_t off : format::state_slot_offset)
		put64(img, off + state_floor, ~uint64_t{0});
	EXPECT_EQ(check(img), "");
}

TEST(hostile_images, two_regions_with_one_generation)
{
	auto img = seeds()[3];
	const auto sp = spans(img);
	std::vector<uint64_t> regions;
	for (uint64_t off : sp)
		if ((get64(img, off + slot_state) & 0xffffffff) == format::span_region)
			regions.push_back(off);
	ASSERT_GE(regions.size(), 2u);
	for (uint64_t field : {slot_id, slot_epoch}) {
		auto copy = img;
		set_span_field(copy, regions[1], field, get64(img, regions[0] + field));
		EXPECT_EQ(check(copy), "");
	}
}
