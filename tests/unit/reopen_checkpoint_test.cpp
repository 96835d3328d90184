// SPDX-License-Identifier: BSD-3-Clause
// Fast reopen (docs/format.md 8.5): recovery that starts each region's walk at its checkpoint
// must find exactly what the full walk finds, on images of random streams crashed at random
// moments (random regions, sizes, synchronous and asynchronous appends, frees, clean
// reopens, truncations, wrapping regions, transactions, checkpoints while running at random
// intervals). PMEMSTREAM_REOPEN_IMAGES sets the
// number of images (default 1000).
#include "sim_media.hpp"
#include "stream_factory.hpp"

#include "media/media.hpp"
#include "format/format.hpp"

#include <pmemstream/stream.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

struct seen_entry {
	uint64_t offset, timestamp;
	std::vector<std::byte> data;
	bool operator==(const seen_entry &) const = default;
};
using contents = std::map<uint64_t, std::vector<seen_entry>>; // region offset -> entries

contents read_all(const stream &s)
{
	contents c;
	for (auto ri = s.regions(); ri.is_valid(); ri.next()) {
		const region r = ri.get();
		auto &v = c[r.offset];
		auto it = s.entries(r);
		for (; it && it->is_valid(); it->next()) {
			const entry e = it->get();
			auto d = s.entry_data(e);
			auto t = s.entry_timestamp(e);
			v.push_back({e.offset, t ? *t : 0, d ? std::vector<std::byte>(d->begin(), d->end()) : std::vector<std::byte>{}});
		}
		auto n = s.region_entry_count(r);
		EXPECT_EQ(n ? *n : ~0ull, v.size()) << "region_entry_count of " << r.offset;
	}
	return c;
}

uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = std::getenv(name);
	return v && *v ? std::strtoull(v, nullptr, 10) : dflt;
}

constexpr uint64_t medium_size = 4096 + 48 * 1024;

// A random history on a simulated medium; returns the image of a power failure at a random
// drain (or at the end, when the history had fewer drains).
std::vector<std::byte> random_crash_image(uint64_t seed, uint64_t &checkpoint_bytes, uint64_t &wraps)
{
	std::mt19937_64 rng(seed);
	const uint64_t cps[] = {0, 8, 64, 200, 1000, 4000};
	checkpoint_bytes = cps[rng() % 6];
	const uint64_t crash_at = 1 + rng() % 160;
	uint64_t drains = 0;
	std::vector<std::byte> img;
	bool crashed = false;
	std::mt19937_64 img_rng(seed ^ 0x1234);
	auto hook = [&](sim_media &m, sim_event e) {
		if (crashed || e != sim_event::drain || ++drains != crash_at)
			return;
		image_options io;
		io.tear_probability = static_cast<double>(rng() % 4) * 0.1;
		m.crash_image(img_rng, img, io);
		crashed = true;
	};
	open_options oo;
	oo.checkpoint_bytes = checkpoint_bytes;
	oo.max_in_flight = 1 + rng() % 4;
	oo.commit.worker = commit_policy::worker_mode::off;
	auto sink = std::make_shared<std::vector<std::byte>>();
	auto sm = std::make_unique<sim_media>(medium_size);
	sim_media *current_medium = sm.get();
	sm->set_hook(hook);
	sm->keep_on_destroy(sink);
	auto s = detail::open_on_media(std::move(sm), 256, oo).value();
	std::vector<region> live;
	const int ops = 20 + static_cast<int>(rng() % 120);
	for (int i = 0; i < ops && !crashed; ++i) {
		const auto k = static_cast<unsigned>(rng() % 100);
		if (live.empty() || (k < 6 && live.size() < 4)) {
			if (auto r = s->region_allocate(1000 + rng() % 9000))
				live.push_back(*r);
			continue;
		}
		region r = live[rng() % live.size()];
		if (k < 9) { // free
			(void)s->region_free(r);
			live.erase(std::find(live.begin(), live.end(), r));
		} else if (k < 12) { // clean close and reopen
			s.reset();
			auto m2 = std::make_unique<sim_media>(*sink);
			current_medium = m2.get();
			m2->set_hook(hook);
			sink = std::make_shared<std::vector<std::byte>>();
			m2->keep_on_destroy(sink);
			s = detail::open_on_media(std::move(m2), 0, oo).value();
		} else if (k < 18) { // truncations (issue 14) rewrite the checkpoint they cut through
			std::vector<entry> es;
			if (auto it = s->entries(r))
				for (auto e : *it)
					es.push_back(e);
			if (k < 14) {
				(void)s->region_clear(r);
			} else if (es.empty()) {
				continue;
			} else if (k < 16) {
				(void)s->region_truncate_before(r, es[rng() % es.size()]);
			} else {
				(void)s->region_truncate_after(r, es[rng() % es.size()]);
			}
		} else if (k >= 22 && k < 25) {
			// The ring (issue 14): keep the newer half, then append until the region wraps
			// into the space the cut freed and fills its second lap.
			std::vector<entry> es;
			if (auto it = s->entries(r))
				for (auto e : *it)
					es.push_back(e);
			if (es.size() >= 2)
				(void)s->region_truncate_before(r, es[es.size() / 2]);
			uint64_t prev = 0;
			for (int j = 0; j < 400 && !crashed; ++j) {
				std::vector<std::byte> data(rng() % 150);
				for (auto &b : data)
					b = std::byte(rng());
				auto a = j % 2 ? s->async_append(r, data) : s->append(r, data);
				if (!a)
					break; // full (or the medium crashed)
				wraps += a->offset < prev;
				prev = a->offset;
			}
		} else if (k < 22) { // a transaction of 1-3 members (issue 13) over the live regions
			auto tx = s->begin_transaction();
			if (!tx)
				continue;
			const uint64_t members = 1 + rng() % 3;
			for (uint64_t j = 0; j < members; ++j) {
				std::vector<std::byte> data(rng() % 100);
				for (auto &b : data)
					b = std::byte(rng());
				(void)tx->append(live[rng() % live.size()], data);
			}
			(void)tx->commit();
		} else {
			std::vector<std::byte> data(rng() % 150);
			for (auto &b : data)
				b = std::byte(rng());
			if (k < 40)
				(void)s->async_append(r, data);
			else
				(void)s->append(r, data);
		}
	}
	if (!crashed) { // a crash right now
		img = current_medium->persisted_image();
	}
	return img;
}

std::string compare_opens(const std::vector<std::byte> &img, bool read_only, uint64_t &fast_regions)
{
	open_options fast, full;
	fast.read_only = full.read_only = read_only;
	full.verify = verify_mode::full;
	auto sink_fast = std::make_shared<std::vector<std::byte>>();
	auto sink_full = std::make_shared<std::vector<std::byte>>();
	auto mf = std::make_unique<sim_media>(img, read_only);
	auto mg = std::make_unique<sim_media>(img, read_only);
	mf->keep_on_destroy(sink_fast);
	mg->keep_on_destroy(sink_full);
	auto a = detail::open_on_media(std::move(mf), 0, fast);
	auto b = detail::open_on_media(std::move(mg), 0, full);
	if (a.has_value() != b.has_value())
		return std::string("one open failed: ") + (a ? b.err().message() : a.err().message());
	if (!a)
		return a.code() == b.code() ? "" : "different errors";
	const auto &ra = (*a)->recovery(), &rb = (*b)->recovery();
	fast_regions += ra.checkpointed_regions;
	if (rb.checkpointed_regions != 0)
		return "the full walk used a checkpoint";
	if (ra.regions != rb.regions || ra.entries != rb.entries || ra.torn_tails != rb.torn_tails ||
	    ra.trimmed_entries != rb.trimmed_entries || ra.problems.size() != rb.problems.size())
		return "recovery reports differ: entries " + std::to_string(ra.entries) + "/" + std::to_string(rb.entries) +
		       " torn " + std::to_string(ra.torn_tails) + "/" + std::to_string(rb.torn_tails) + " trimmed " +
		       std::to_string(ra.trimmed_entries) + "/" + std::to_string(rb.trimmed_entries) + " problems " +
		       std::to_string(ra.problems.size()) + "/" + std::to_string(rb.problems.size());
	if ((*a)->committed_timestamp() != (*b)->committed_timestamp())
		return "committed watermarks differ";
	if (read_all(**a) != read_all(**b))
		return "visible entries differ";
	if (!read_only) {
		// Both take the same appends, and their clean closes leave the same bytes.
		for (auto ri = (*a)->regions(); ri.is_valid(); ri.next()) {
			const std::byte d[24] = {std::byte{7}};
			auto x = (*a)->append(ri.get(), d, sizeof(d));
			auto y = (*b)->append(ri.get(), d, sizeof(d));
			if (x.has_value() != y.has_value() || (x && (x->offset != y->offset || x->timestamp != y->timestamp)))
				return "appends after recovery differ";
		}
		a->reset();
		b->reset();
		if (*sink_fast != *sink_full)
			return "the images after a clean close differ";
	}
	return "";
}

} // namespace

TEST(reopen_checkpoint, fast_path_equals_full_walk_on_random_crash_images)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	const uint64_t dflt = 150; // sanitized builds run every check ~10x slower
#else
	const uint64_t dflt = 1000;
#endif
	const uint64_t n = env_u64("PMEMSTREAM_REOPEN_IMAGES", dflt);
	uint64_t fast_regions = 0, failures = 0, wraps = 0;
	for (uint64_t seed = 1; seed <= n && failures < 5; ++seed) {
		uint64_t cp = 0;
		auto img = random_crash_image(seed, cp, wraps);
		for (bool ro : {true, false}) {
			auto why = compare_opens(img, ro, fast_regions);
			if (!why.empty()) {
				++failures;
				ADD_FAILURE() << "seed " << seed << " (checkpoint_bytes " << cp << ", " << (ro ? "read-only" : "writable")
					      << "): " << why;
			}
		}
	}
	// The fast path must have been taken, and often: else this test compares the full walk
	// with itself.
	std::printf("reopen_checkpoint: %llu images, %llu region walks started at a checkpoint, %llu wraps\n",
		    static_cast<unsigned long long>(n), static_cast<unsigned long long>(fast_regions),
		    static_cast<unsigned long long>(wraps));
	EXPECT_GT(fast_regions, n / 2);
	// And wrapped regions must be among them: else the ring's checkpoints go untested here.
	EXPECT_GT(wraps, n / 20);
}

// Rounds while appending: both regions of a stream appended in turn get checkpoints and the
// floor follows, so an image taken without a clean close starts both walks at a checkpoint
// and reads only what follows; with checkpoint_bytes 0 nothing is written before the close.
TEST(reopen_checkpoint, rounds_while_appending_cover_every_region)
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
			ASSERT_TRUE(s->append(a, d, sizeof(d)));
			ASSERT_TRUE(s->append(b, d, sizeof(d)));
		}
		auto img = m->persisted_image(); // a crash now
		auto r = detail::open_on_media(std::make_unique<sim_media>(img, true), 0, {.read_only = true}).value();
		EXPECT_EQ(r->recovery().entries, 400u);
		EXPECT_EQ(r->recovery().checkpointed_regions, cp ? 2u : 0u) << "checkpoint_bytes " << cp;
		// Every region's unsealed part is shorter than checkpoint_bytes plus one entry.
		if (cp) {
			format::span_slot v[2];
			for (region g : {a, b}) {
				std::memcpy(v, img.data() + g.offset, sizeof(v));
				const auto &cur = v[0].sequence > v[1].sequence ? v[0] : v[1];
				EXPECT_LT(200 * format::entry_footprint(sizeof(d)) - cur.sealed_tail, cp + format::entry_footprint(sizeof(d)));
			}
		}
		// (The clean close at the end of the scope comes after the image.)
	}
}

// Two threads append to two regions while rounds run (each round meets the other thread's
// appends): images drawn at every 40th fence recover the same by both paths, and the walks
// still start at checkpoints (a region appended to during a round is checkpointed at its
// last entry at or below the round's floor, not left above it).
TEST(reopen_checkpoint, rounds_racing_appends_of_another_thread)
{
	auto sm = std::make_unique<sim_media>(4096 + 256 * 1024);
	sim_media *m = sm.get();
	m->set_serialized(true);
	std::vector<std::vector<std::byte>> images;
	std::mt19937_64 rng(3);
	uint64_t drains = 0;
	m->set_hook([&](sim_media &mm, sim_event e) {
		if (e != sim_event::drain || ++drains % 40 != 0 || images.size() >= 60)
			return;
		images.emplace_back();
		mm.crash_image(rng, images.back());
	});
	open_options oo;
	oo.checkpoint_bytes = 2048;
	auto s = detail::open_on_media(std::move(sm), 256, oo).value();
	region r[2] = {s->region_allocate(100000).value(), s->region_allocate(100000).value()};
	std::vector<std::thread> pool;
	for (int t = 0; t < 2; ++t)
		pool.emplace_back([&, t] {
			const std::byte d[40] = {std::byte(t)};
			for (int i = 0; i < 1500; ++i)
				if (!s->append(r[t], d, sizeof(d)))
					return;
		});
	for (auto &t : pool)
		t.join();
	m->set_hook({});
	ASSERT_GE(images.size(), 20u);
	uint64_t fast_regions = 0;
	for (size_t i = 0; i < images.size(); ++i)
		for (bool ro : {true, false}) {
			auto why = compare_opens(images[i], ro, fast_regions);
			EXPECT_TRUE(why.empty()) << "image " << i << (ro ? " read-only: " : " writable: ") << why;
		}
	// Each image is opened fast twice (read-only, writable) with two regions, 4 walks; the
	// first images may precede the first rounds, and how far the threads got when an image
	// was drawn varies (170-230 of 240 in runs under ASan and in the dev build): the bound
	// only says the fast path was taken in earnest, the equality above is the point.
	std::printf("reopen_checkpoint: %zu images of racing appends, %llu region walks started at a checkpoint\n", images.size(),
		    static_cast<unsigned long long>(fast_regions));
	EXPECT_GT(fast_regions, images.size());
}
