// SPDX-License-Identifier: BSD-3-Clause
// A rapidcheck state machine for asynchronous appends (issue 10), on the simulated medium:
// synchronous and asynchronous appends, waits, polls and persists leave committed entries that
// are not persisted; a crash (a random power-failure image: lines lost, kept or torn) and a
// reopen must show a timestamp prefix that reaches every persisted watermark observed, with
// exact bytes, and the model continues from what survived. The synchronous state machine is in
// property_test.cpp.
#include "sim_media.hpp"
#include "stream_factory.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <atomic>
#include <random>

using namespace pmemstream;

namespace {

constexpr uint64_t block = 256;

using pmemstream::test::sim_media;

struct amodel_entry {
	uint64_t ts;
	std::vector<std::byte> data;
};

struct amodel_region {
	uint64_t capacity;
	std::vector<amodel_entry> entries;
	uint64_t used() const
	{
		uint64_t u = 0;
		for (const auto &e : entries)
			u += entry_footprint(e.data.size());
		return u;
	}
};

struct amodel {
	std::vector<amodel_region> regions;
	uint64_t last_ts = 0;	// the last timestamp handed out
	uint64_t persisted = 0; // the largest timestamp known persisted (told, or watermark seen)
};

// What generation needs (rapidcheck builds it with apply() alone, without running).
struct agen {
	uint64_t appends = 0;
};

// The system and the truth about it: timestamps are the library's (a recovery may skip some),
// so the model of entries lives beside the stream and each command updates it as it runs.
struct asut {
	amodel model;
	sim_media::fence_model fence;
	open_options options;
	sim_media *media = nullptr;
	std::unique_ptr<stream> s;
	std::vector<region> handles;
};

std::atomic<uint64_t> async_unpersisted_states{0}; // steps that ended with committed > persisted
std::atomic<uint64_t> async_crashes_with_loss{0};  // crashes that dropped a committed entry

void acheck(const amodel &m, asut &u)
{
	const stream &s = *u.s;
	for (size_t i = 0; i < m.regions.size(); ++i) {
		const auto &mr = m.regions[i];
		RC_ASSERT(*s.region_usable_size(u.handles[i]) == mr.capacity - mr.used());
		size_t k = 0;
		for (auto e : *s.entries(u.handles[i])) {
			RC_ASSERT(k < mr.entries.size());
			RC_ASSERT(*s.entry_timestamp(e) == mr.entries[k].ts);
			RC_ASSERT(::test::to_vec(*s.entry_data(e)) == mr.entries[k].data);
			++k;
		}
		RC_ASSERT(k == mr.entries.size());
	}
	RC_ASSERT(s.committed_timestamp() == m.last_ts);
	RC_ASSERT(s.last_timestamp() == m.last_ts);
	const uint64_t p = s.persisted_timestamp();
	RC_ASSERT(p >= m.persisted);
	RC_ASSERT(p <= s.committed_timestamp());
	if (p < s.committed_timestamp())
		++async_unpersisted_states;
}

using acommand = rc::state::Command<agen, asut>;

struct any_append : acommand {
	bool async = *rc::gen::weightedElement<bool>({{3, true}, {1, false}});
	size_t pick = *rc::gen::inRange<size_t>(0, 1000);
	uint64_t size = *rc::gen::oneOf(rc::gen::inRange<uint64_t>(0, 70), rc::gen::inRange<uint64_t>(0, 700));
	unsigned seed = *rc::gen::arbitrary<unsigned>();
	bool fits(const amodel &m) const
	{
		const auto &r = m.regions[pick % m.regions.size()];
		return entry_footprint(size) <= r.capacity - r.used();
	}
	void apply(agen &g) const override
	{
		++g.appends;
	}
	void run(const agen &, asut &u) const override
	{
		amodel &m = u.model;
		const size_t i = pick % m.regions.size();
		auto data = ::test::pattern(size, seed);
		auto e = async ? u.s->async_append(u.handles[i], data) : u.s->append(u.handles[i], data);
		if (!fits(m)) {
			RC_ASSERT(e.code() == errc::region_full);
			return;
		}
		RC_ASSERT(e.has_value());
		RC_ASSERT(e->timestamp > m.last_ts);
		m.last_ts = e->timestamp;
		m.regions[i].entries.push_back({e->timestamp, std::move(data)});
		if (!async) // returns persisted, with every smaller timestamp
			m.persisted = e->timestamp;
		m.persisted = std::max(m.persisted, u.s->persisted_timestamp());
		acheck(m, u);
	}
	void show(std::ostream &os) const override
	{
		os << (async ? "async_append(#" : "append(#") << pick << ", " << size << " bytes)";
	}
};

struct wait_some : acommand {
	int how = *rc::gen::inRange(0, 4); // wait_persisted, persist, poll until true, wait_committed
	uint64_t back = *rc::gen::inRange<uint64_t>(0, 5);
	void checkPreconditions(const agen &g) const override
	{
		RC_PRE(g.appends > 0u);
	}
	void run(const agen &, asut &u) const override
	{
		amodel &m = u.model;
		if (m.last_ts == 0)
			return; // every append so far found its region full
		const uint64_t ts = m.last_ts > back ? m.last_ts - back : m.last_ts;
		switch (how) {
		case 0:
			RC_ASSERT(u.s->wait_persisted(ts).has_value());
			m.persisted = std::max(m.persisted, ts);
			break;
		case 1: {
			auto p = u.s->persist();
			RC_ASSERT(p.has_value());
			RC_ASSERT(*p >= m.last_ts);
			m.persisted = m.last_ts;
			break;
		}
		case 2: {
			int polls = 0;
			while (!u.s->poll_persisted(ts))
				RC_ASSERT(++polls < 100000);
			m.persisted = std::max(m.persisted, ts);
			break;
		}
		default:
			RC_ASSERT(u.s->wait_committed(ts, std::chrono::milliseconds(100)).has_value());
			RC_ASSERT(u.s->wait_committed(m.last_ts + 1, std::chrono::milliseconds(1)).code() == errc::invalid_argument);
			break;
		}
		m.persisted = std::max(m.persisted, u.s->persisted_timestamp());
		acheck(m, u);
	}
	void show(std::ostream &os) const override
	{
		static const char *names[] = {"wait_persisted", "persist", "poll_persisted", "wait_committed"};
		os << names[how] << "(last - " << back << ")";
	}
};

// A power failure now: one random image of the medium, recovered.
struct crash_reopen : acommand {
	uint64_t seed = *rc::gen::arbitrary<uint64_t>();
	bool clean = *rc::gen::weightedElement<bool>({{1, true}, {3, false}});
	void run(const agen &, asut &u) const override
	{
		amodel &m = u.model;
		const uint64_t observed = std::max(m.persisted, u.s->persisted_timestamp());
		std::vector<std::byte> img;
		if (clean) { // a clean close persists everything committed
			auto sink = std::make_shared<std::vector<std::byte>>();
			u.media->keep_on_destroy(sink);
			u.s.reset();
			img = *sink;
		} else {
			std::mt19937_64 rng(seed);
			u.media->crash_image(rng, img);
			u.s.reset();
		}
		auto sm = std::make_unique<sim_media>(img, false, u.fence);
		u.media = sm.get();
		auto s = detail::open_on_media(std::move(sm), 0, u.options);
		RC_ASSERT(s.has_value());
		u.s = std::move(*s);
		// The visible entries: exactly the model's entries with ts <= T, for one T >= every
		// persisted watermark observed.
		uint64_t t_max = 0, visible = 0;
		for (size_t i = 0; i < m.regions.size(); ++i) {
			const auto &mr = m.regions[i];
			size_t k = 0;
			for (auto e : *u.s->entries(u.handles[i])) {
				RC_ASSERT(k < mr.entries.size());
				RC_ASSERT(*u.s->entry_timestamp(e) == mr.entries[k].ts);
				RC_ASSERT(::test::to_vec(*u.s->entry_data(e)) == mr.entries[k].data);
				t_max = std::max(t_max, mr.entries[k].ts);
				++k;
				++visible;
			}
		}
		// Every entry at or below an observed persisted watermark survived (the watermark may
		// also cover timestamps never used: a lease skips some after a recovery).
		for (const auto &mr : m.regions)
			for (const auto &e : mr.entries)
				RC_ASSERT(e.ts <= t_max || e.ts > observed);
		uint64_t expected = 0, before = 0;
		for (auto &mr : m.regions) {
			before += mr.entries.size();
			std::erase_if(mr.entries, [&](const amodel_entry &e) { return e.ts > t_max; });
			expected += mr.entries.size();
		}
		RC_ASSERT(visible == expected); // nothing missing below T: a prefix
		if (clean)
			RC_ASSERT(expected == before); // a clean close loses nothing committed
		if (expected < before)
			++async_crashes_with_loss;
		// Timestamps continue above everything handed out before (a lease may skip some).
		RC_ASSERT(u.s->last_timestamp() >= t_max);
		RC_ASSERT(u.s->committed_timestamp() == u.s->last_timestamp());
		RC_ASSERT(u.s->persisted_timestamp() == u.s->committed_timestamp());
		m.last_ts = u.s->last_timestamp();
		m.persisted = m.last_ts;
		acheck(m, u);
	}
	void show(std::ostream &os) const override
	{
		os << (clean ? "close and reopen" : "crash and reopen, image seed ") << (clean ? 0 : seed);
	}
};

} // namespace

TEST(property, async_appends_survive_crashes_as_a_persisted_prefix)
{
	async_unpersisted_states = 0;
	async_crashes_with_loss = 0;
	const bool ok = rc::check("async appends and crashes match the model", [] {
		asut u;
		u.fence = *rc::gen::element(sim_media::fence_model::per_thread, sim_media::fence_model::range_sync);
		u.options.commit.worker = commit_policy::worker_mode::off;
		u.options.max_in_flight = *rc::gen::element(1u, 2u, 8u, 64u);
		auto sm = std::make_unique<sim_media>(uint64_t(256) << 10, false, u.fence);
		u.media = sm.get();
		u.s = detail::open_on_media(std::move(sm), block, u.options).value();
		for (uint64_t size : {3000u, 8000u, 20000u}) {
			u.handles.push_back(u.s->region_allocate(size).value());
			u.model.regions.push_back({*u.s->region_size(u.handles.back()), {}});
		}
		rc::state::check(agen{}, u, rc::state::gen::execOneOfWithArgs<any_append, any_append, any_append, wait_some, crash_reopen>());
	});
	EXPECT_TRUE(ok);
	std::printf("async property: %llu steps ended with committed > persisted, %llu crashes lost committed entries\n",
		    static_cast<unsigned long long>(async_unpersisted_states.load()),
		    static_cast<unsigned long long>(async_crashes_with_loss.load()));
	EXPECT_GT(async_unpersisted_states.load(), 0u) << "no state with committed > persisted was reached";
	EXPECT_GT(async_crashes_with_loss.load(), 0u) << "no crash lost a committed, unpersisted entry";
}
