// SPDX-License-Identifier: BSD-3-Clause
// Fast reopen (docs/format.md 8.5) of streams written only by transactions: a commit that
// leaves one of its regions checkpoint_bytes past its checkpoint runs a checkpoint round, as
// an append does, so the reopen after a crash starts each walk at a checkpoint instead of
// walking everything.
#include "sim_media.hpp"
#include "stream_factory.hpp"

#include "format/format.hpp"
#include "media/media.hpp"
#include "util/checked_mutex.hpp"

#include <pmemstream/stream.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

constexpr uint64_t medium_size = 4096 + 48 * 1024;

// The sealed tail of the span slot in force in the image's header of region g.
uint64_t sealed_tail(const std::vector<std::byte> &img, region g)
{
	format::span_slot v[2];
	std::memcpy(v, img.data() + g.offset, sizeof(v));
	return (v[0].sequence > v[1].sequence ? v[0] : v[1]).sealed_tail;
}

// The crash image read back: read-only, once from the checkpoints and once by a full walk.
struct reopened {
	recovery_report fast, full;
};

reopened reopen(const std::vector<std::byte> &img)
{
	reopened r;
	auto f = detail::open_on_media(std::make_unique<sim_media>(img, true), 0, {.read_only = true}).value();
	r.fast = f->recovery();
	open_options full;
	full.read_only = true;
	full.verify = verify_mode::full;
	auto w = detail::open_on_media(std::make_unique<sim_media>(img, true), 0, full).value();
	r.full = w->recovery();
	return r;
}

} // namespace

// Synchronous commits, each with one entry in each of two regions: with checkpoint_bytes the
// crash image has both regions checkpointed within checkpoint_bytes (plus one entry) of their
// tails; without, nothing is written before the close.
TEST(tx_checkpoint, commits_checkpoint_every_region_they_write)
{
	for (uint64_t cp : {uint64_t{0}, uint64_t{2048}}) {
		auto sm = std::make_unique<sim_media>(medium_size);
		sim_media *m = sm.get();
		open_options oo;
		oo.checkpoint_bytes = cp;
		auto s = detail::open_on_media(std::move(sm), 256, oo).value();
		region a = s->region_allocate(16000).value(), b = s->region_allocate(16000).value();
		const std::byte d[48] = {};
		for (int i = 0; i < 200; ++i) {
			auto tx = s->begin_transaction().value();
			ASSERT_TRUE(tx.append(a, d, sizeof(d)));
			ASSERT_TRUE(tx.append(b, d, sizeof(d)));
			ASSERT_TRUE(tx.commit());
		}
		auto img = m->persisted_image(); // a crash now
		auto r = reopen(img);
		EXPECT_EQ(r.fast.entries, 400u);
		EXPECT_EQ(r.full.entries, 400u);
		EXPECT_EQ(r.fast.checkpointed_regions, cp ? 2u : 0u) << "checkpoint_bytes " << cp;
		for (region g : {a, b}) {
			const uint64_t sealed = sealed_tail(img, g);
			if (cp)
				EXPECT_LT(200 * format::entry_footprint(sizeof(d)) - sealed, cp + format::entry_footprint(sizeof(d)));
			else
				EXPECT_EQ(sealed, 0u);
		}
	}
}

// A transaction that allocates its region, then asynchronous commits into it: the round
// persists what they left committed and checkpoints the region the transaction made.
TEST(tx_checkpoint, async_commits_to_a_region_the_transaction_allocated)
{
	auto sm = std::make_unique<sim_media>(medium_size);
	sim_media *m = sm.get();
	open_options oo;
	oo.checkpoint_bytes = 1024;
	auto s = detail::open_on_media(std::move(sm), 256, oo).value();
	const std::byte d[100] = {};
	// The allocating commit holds the catalog's lock, which the round takes too: it runs the
	// hook only after releasing it (else this commit would deadlock).
	auto tx = s->begin_transaction().value();
	region a = tx.region_allocate(30000).value();
	for (int i = 0; i < 11; ++i)
		ASSERT_TRUE(tx.append(a, d, sizeof(d)));
	ASSERT_TRUE(tx.commit());
	EXPECT_EQ(reopen(m->persisted_image()).fast.checkpointed_regions, 1u);
	for (int i = 0; i < 100; ++i) {
		auto t = s->begin_transaction().value();
		ASSERT_TRUE(t.append(a, d, sizeof(d)));
		ASSERT_TRUE(t.append(a, d, sizeof(d)));
		ASSERT_TRUE(t.async_commit());
	}
	auto img = m->persisted_image();
	auto r = reopen(img);
	EXPECT_EQ(r.fast.checkpointed_regions, 1u);
	EXPECT_EQ(r.fast.entries, r.full.entries);
	// The checkpoint is within checkpoint_bytes (plus one commit) of the last commit, and the
	// round persisted everything up to it.
	const uint64_t written = 211 * format::entry_footprint(sizeof(d));
	EXPECT_LT(written - sealed_tail(img, a), oo.checkpoint_bytes + 2 * format::entry_footprint(sizeof(d)));
	EXPECT_GE(r.fast.entries * format::entry_footprint(sizeof(d)), sealed_tail(img, a));
}

// What made a checkpoint hook run under the catalog's lock show only as a hang into the test
// timeout: the catalog's lock now stops the process at once, with a message, when the thread
// that holds it takes it again (as the round the hook runs would).
TEST(tx_checkpoint, the_catalog_lock_taken_twice_by_one_thread_stops_at_once)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	detail::checked_mutex m("region catalog's lock");
	EXPECT_DEATH(
		{
			std::lock_guard a(m);
			std::lock_guard b(m);
		},
		"region catalog's lock is taken twice by one thread");
	// Taken, released, taken again, and by another thread while not held: no complaint.
	{
		std::lock_guard a(m);
	}
	std::thread([&m] { std::lock_guard b(m); }).join();
	EXPECT_TRUE(m.try_lock());
	m.unlock();
}
