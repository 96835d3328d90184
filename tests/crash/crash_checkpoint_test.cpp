// SPDX-License-Identifier: BSD-3-Clause
// Fast reopen (docs/format.md 8.5): checkpoints written while appending (a span header update
// per region, then the floor), crashed at every fence and flush, torn lines included, with
// nested crashes during recovery; every image is recovered by the fast path (checkpoints
// trusted) and checked against the history of acknowledged appends.
#include "explorer.hpp"

#include <gtest/gtest.h>

#include <cstdio>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

explore_config cfg(uint64_t checkpoint_bytes)
{
	auto c = explore_config::from_env();
	c.images_per_fence = std::max<uint64_t>(1, c.images_per_fence / 8);
	c.images_per_flush = std::max<uint64_t>(1, c.images_per_flush / 8);
	c.open.checkpoint_bytes = checkpoint_bytes;
	return c;
}

void report(const char *name, const explorer &x)
{
	const auto &f = x.figures();
	std::printf("crash_checkpoint[%s]: %llu crash points, %llu images checked, %llu nested points, %llu nested images, %llu "
		    "violations\n",
		    name, static_cast<unsigned long long>(f.points), static_cast<unsigned long long>(f.images),
		    static_cast<unsigned long long>(f.nested_points), static_cast<unsigned long long>(f.nested_images),
		    static_cast<unsigned long long>(f.violations));
	for (size_t i = 0; i < x.reports().size() && i < 5; ++i)
		std::printf("  %s\n", x.reports()[i].c_str());
	std::fflush(stdout);
}

void append_ok(explorer &x, region r, uint64_t size)
{
	auto e = x.append(r, size);
	EXPECT_TRUE(e.has_value()) << (e ? "" : e.err().message());
}

} // namespace

// Two regions appended in turn with a checkpoint round every few entries: crashes inside a
// round (one region's header written, not the other's; headers written, floor not raised),
// then a clean reopen whose checkpoints the next rounds build on, then a free.
TEST(crash_checkpoint, rounds_while_appending)
{
	explorer x("rounds", 4096 + 16 * 1024, 256, cfg(96));
	x.create();
	auto a = x.allocate(3000);
	auto b = x.allocate(3000);
	ASSERT_TRUE(a && b);
	for (uint64_t n : {0, 40, 7, 64, 1, 90, 33, 8, 120, 5})
		append_ok(x, n % 2 ? *a : *b, n);
	x.check_live();
	x.reopen();
	for (uint64_t n : {17, 64, 3, 100, 9, 48})
		append_ok(x, n % 2 ? *a : *b, n);
	auto st = x.free(*b);
	EXPECT_TRUE(st.has_value());
	for (uint64_t n : {70, 2, 55})
		append_ok(x, *a, n);
	x.check_live();
	x.reopen();
	x.check_live();
	report("rounds", x);
	EXPECT_GT(x.figures().images, 0u);
	EXPECT_EQ(x.figures().violations, 0u);
}

// A round at every append of one region (checkpoint_bytes 8): each append is followed by a
// header update and a floor raise, so every fence of the round is a crash point between
// appends.
TEST(crash_checkpoint, round_at_every_append)
{
	explorer x("every_append", 4096 + 8 * 1024, 256, cfg(8));
	x.create();
	auto a = x.allocate(2000);
	ASSERT_TRUE(a);
	for (uint64_t n : {0, 9, 64, 1, 200, 16})
		append_ok(x, *a, n);
	x.reopen();
	for (uint64_t n : {5, 80})
		append_ok(x, *a, n);
	x.check_live();
	report("every_append", x);
	EXPECT_GT(x.figures().images, 0u);
	EXPECT_EQ(x.figures().violations, 0u);
}
