// SPDX-License-Identifier: BSD-3-Clause
// Crash exploration of transactions (issue 13). One thread runs a random mix of transactions
// (1-16 members over 1-4 regions, with region allocations and frees, appends into the regions
// they allocate, synchronous or asynchronous commits, some aborted) and plain appends on the
// simulated medium. At every fence and flush the hook draws crash images (lines lost, kept as
// flushed, kept as written, or torn at 8 bytes), recovers each with the real writable open
// path and checks it against the model:
//  - the recovered stream (its regions by id, and each region's entries with their exact
//    bytes, in order) equals the model's state after some prefix of the operations: so of
//    every transaction either everything (members, allocations, frees) is there or nothing;
//  - that prefix holds every acknowledged operation (a commit returned, or wait_persisted
//    after an async commit); aborted transactions are never seen;
//  - the recovered stream takes a new transaction, and after its commit a reopen shows the
//    same state plus the new one whole (nothing trimmed or undone comes back).
// Every nested_every-th image is recovered on a medium that is itself crashed at each of the
// recovery's fences, and each of those images is checked the same way.
//
// PMEMSTREAM_CRASH_IMAGES sets the images per fence (default 6; per flush a third, at least
// 1), PMEMSTREAM_CRASH_TX_OPS the operations per workload (default 40), PMEMSTREAM_CRASH_SEED
// the seed.
#include "sim_media.hpp"
#include "stream_factory.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = std::getenv(name);
	if (v == nullptr || *v == '\0')
		return dflt;
	return std::strtoull(v, nullptr, 0);
}

constexpr uint64_t region_bytes = 12 * 1024;
constexpr uint64_t stream_bytes = 256 * 1024;
constexpr uint32_t after_crash_unit = 1000000; // unit id of the transaction written after recovery

struct config {
	int regions = 4; // at the start
	bool region_ops = true;
	uint64_t ops = env_u64("PMEMSTREAM_CRASH_TX_OPS", 40);
	uint64_t images_per_drain = std::max<uint64_t>(1, env_u64("PMEMSTREAM_CRASH_IMAGES", 6));
	uint64_t images_per_flush = std::max<uint64_t>(1, images_per_drain / 3);
	uint64_t nested_every = 40;
	// W of the regions: with 1, a torn member followed by a member of its transaction is
	// what rule R2's exception is for.
	uint32_t max_in_flight = default_max_in_flight;
	uint64_t seed = env_u64("PMEMSTREAM_CRASH_SEED", 1);
};

// A stream's state as the checks compare it: per region id, its entries as (unit, member).
using entry_key = std::pair<uint32_t, uint32_t>;
using stream_state = std::map<uint64_t, std::vector<entry_key>>;

// One operation of the workload: a transaction, or a plain append (one member).
struct unit {
	bool tx = false;
	bool aborted = false;
	bool acked = false; // durable by contract
	std::vector<std::pair<uint64_t, std::vector<std::byte>>> members; // region id, payload
	std::vector<uint64_t> allocated, freed;				   // region ids
};

struct figures {
	uint64_t points = 0, images = 0, nested_images = 0, violations = 0;
};

class workload {
public:
	explicit workload(const config &c) : cfg_(c), rng_(c.seed)
	{
		auto sm = std::make_unique<sim_media>(stream_bytes);
		media_ = sm.get();
		open_options o = options();
		o.max_in_flight = cfg_.max_in_flight;
		auto s = detail::open_on_media(std::move(sm), 4096, o);
		EXPECT_TRUE(s.has_value());
		s_ = std::move(*s);
		for (int k = 0; k < cfg_.regions; ++k) {
			region r = s_->region_allocate(region_bytes).value();
			handles_[r.id] = r;
			initial_[r.id];
		}
		live_ = initial_;
	}

	figures run()
	{
		media_->set_hook([this](sim_media &m, sim_event e) { explore(m, e); });
		for (uint64_t i = 0; i < cfg_.ops; ++i)
			step();
		media_->set_hook({});
		auto st = read_state(*s_, "live stream");
		if (st != live_)
			report("live stream", "differs from the model");
		return fig_;
	}

private:
	static open_options options()
	{
		open_options o;
		o.commit.worker = commit_policy::worker_mode::off;
		return o;
	}

	std::vector<std::byte> payload(uint32_t id, uint32_t k)
	{
		std::vector<std::byte> v(8 + rng_() % 180);
		for (auto &b : v)
			b = static_cast<std::byte>(rng_());
		std::memcpy(v.data(), &id, 4);
		std::memcpy(v.data() + 4, &k, 4);
		return v;
	}

	// Applies a committed unit to a state.
	static void apply(stream_state &st, const unit &u, uint32_t id)
	{
		if (u.aborted)
			return;
		for (uint64_t r : u.allocated)
			st[r];
		for (uint32_t k = 0; k < u.members.size(); ++k)
			st[u.members[k].first].emplace_back(id, k);
		for (uint64_t r : u.freed)
			st.erase(r);
	}

	uint64_t pick_live()
	{
		auto it = live_.begin();
		std::advance(it, static_cast<long>(rng_() % live_.size()));
		return it->first;
	}

	void step()
	{
		const uint32_t id = static_cast<uint32_t>(units_.size());
		units_.emplace_back();
		unit &u = units_.back();
		const unsigned dice = static_cast<unsigned>(rng_() % 100);
		if (dice < 25) {
			const uint64_t r = pick_live();
			u.members.emplace_back(r, payload(id, 0));
			auto e = s_->append(handles_[r], u.members[0].second);
			if (!e) {
				u.aborted = true; // region full: nothing written
				EXPECT_EQ(e.code(), errc::region_full);
				return;
			}
			u.acked = true;
			apply(live_, u, id);
			media_->crash_point();
			return;
		}
		u.tx = true;
		auto tx = s_->begin_transaction().value();
		std::vector<uint64_t> targets;
		const size_t spread = 1 + rng_() % std::min<size_t>(4, live_.size());
		while (targets.size() < spread) {
			const uint64_t r = pick_live();
			if (std::find(targets.begin(), targets.end(), r) == targets.end())
				targets.push_back(r);
		}
		if (cfg_.region_ops && rng_() % 3 == 0) {
			auto r = tx.region_allocate(1000 + rng_() % 6000);
			if (r) {
				handles_[r->id] = *r;
				u.allocated.push_back(r->id);
				targets.push_back(r->id);
			} else {
				EXPECT_EQ(r.code(), errc::out_of_space);
			}
		}
		const bool frees = cfg_.region_ops && live_.size() > 2 && rng_() % 3 == 0;
		int n = 1 + static_cast<int>(rng_() % 16);
		if ((frees || !u.allocated.empty()) && rng_() % 4 == 0)
			n = 0; // region operations alone
		for (int k = 0; k < n; ++k) {
			const uint64_t r = targets[rng_() % targets.size()];
			auto p = payload(id, static_cast<uint32_t>(u.members.size()));
			auto st = tx.append(handles_[r], p);
			if (!st) {
				EXPECT_EQ(st.code(), errc::region_full);
				continue; // refused members are not part of it
			}
			u.members.emplace_back(r, std::move(p));
		}
		if (frees) {
			// A live region the transaction does not append to (the checkpoint pattern).
			for (auto &[r, entries] : live_) {
				(void)entries;
				if (std::find(targets.begin(), targets.end(), r) != targets.end())
					continue;
				EXPECT_TRUE(tx.region_free(handles_[r]));
				u.freed.push_back(r);
				if (rng_() % 2)
					break;
			}
		}
		if (dice < 33) {
			tx.abort();
			u.aborted = true;
			media_->crash_point();
			return;
		}
		if (dice < 60) {
			auto last = tx.async_commit();
			ASSERT_TRUE(last.has_value()) << last.err().message();
			apply(live_, u, id); // visible now: a reader could see it
			media_->crash_point();
			ASSERT_TRUE(s_->wait_persisted(*last));
		} else {
			auto last = tx.commit();
			if (!last && last.code() == errc::region_full) {
				u.aborted = true; // only for a commit record with no room: nothing written
				return;
			}
			ASSERT_TRUE(last.has_value()) << last.err().message();
			apply(live_, u, id);
		}
		u.acked = true;
		media_->crash_point();
	}

	void explore(sim_media &m, sim_event e)
	{
		const uint64_t n = e == sim_event::flush ? cfg_.images_per_flush : cfg_.images_per_drain;
		++fig_.points;
		std::mt19937_64 rng(cfg_.seed ^ (m.drains() << 24) ^ (m.flushes() << 4) ^ static_cast<uint64_t>(e));
		std::vector<std::byte> img;
		for (uint64_t k = 0; k < n; ++k) {
			m.crash_image(rng, img);
			check_image(img, "unit " + std::to_string(units_.size() - 1) + (e == sim_event::flush ? ", at flush " : ", before fence ") +
						 std::to_string(e == sim_event::flush ? m.flushes() : m.drains()) + ", image " + std::to_string(k),
				    0);
		}
	}

	void report(const std::string &where, const std::string &what)
	{
		if (fig_.violations++ < 10)
			ADD_FAILURE() << where << ": " << what;
	}

	// The state of `s`, every entry checked against the payload the workload wrote.
	stream_state read_state(const stream &s, const std::string &where)
	{
		stream_state st;
		for (auto r : s.regions()) {
			auto &list = st[r.id];
			if (!handles_.count(r.id) || !(handles_[r.id] == r))
				report(where, "a region nobody allocated: id " + std::to_string(r.id));
			for (auto e : s.entries(r).value()) {
				auto d = s.entry_data(e).value();
				uint32_t id = 0, k = 0;
				if (d.size() >= 8) {
					std::memcpy(&id, d.data(), 4);
					std::memcpy(&k, d.data() + 4, 4);
				}
				if (id != after_crash_unit &&
				    (d.size() < 8 || id >= units_.size() || k >= units_[id].members.size() ||
				     units_[id].members[k].first != r.id || d.size() != units_[id].members[k].second.size() ||
				     std::memcmp(d.data(), units_[id].members[k].second.data(), d.size()) != 0)) {
					report(where, "an entry nobody wrote (or not there) in region " + std::to_string(r.id));
					continue;
				}
				list.emplace_back(id, k);
			}
		}
		return st;
	}

	// Which prefix of the operations `st` is; reports when it is none, or misses an
	// acknowledged one.
	void check_prefix(const stream_state &st, const std::string &where)
	{
		stream_state model = initial_;
		size_t acked_end = 0;
		for (size_t i = 0; i < units_.size(); ++i)
			if (units_[i].acked)
				acked_end = i + 1;
		for (size_t k = 0;; ++k) {
			if (model == st) {
				if (k < acked_end) {
					// A later prefix may look the same (aborted units change nothing).
					bool same_later = false;
					stream_state m2 = model;
					for (size_t j = k; j < units_.size() && !same_later; ++j) {
						apply(m2, units_[j], static_cast<uint32_t>(j));
						same_later = j + 1 >= acked_end && m2 == st;
					}
					if (!same_later)
						report(where, "shows the first " + std::to_string(k) + " operations; " +
								      std::to_string(acked_end) + " were acknowledged");
				}
				return;
			}
			if (k == units_.size())
				break;
			apply(model, units_[k], static_cast<uint32_t>(k));
		}
		std::string what = "not the state after any prefix of the operations:";
		for (auto &[r, list] : st)
			what += " region " + std::to_string(r) + ": " + std::to_string(list.size()) + " entries;";
		report(where, what);
	}

	void check_image(const std::vector<std::byte> &img, const std::string &where, int depth)
	{
		++(depth ? fig_.nested_images : fig_.images);
		auto sm = std::make_unique<sim_media>(img);
		sim_media *raw = sm.get();
		const bool nest = depth == 0 && fig_.images % cfg_.nested_every == 0;
		if (nest) {
			// Crash the recovery itself at each of its fences.
			raw->set_hook([this, where](sim_media &m, sim_event e) {
				if (e != sim_event::drain)
					return;
				std::mt19937_64 rng(m.drains() * 7919 + 1);
				std::vector<std::byte> again;
				for (int k = 0; k < 3; ++k) {
					m.crash_image(rng, again);
					check_image(again, where + ", recovery crashed before its fence " + std::to_string(m.drains()), 1);
				}
			});
		}
		auto r = detail::open_on_media(std::move(sm), 0, options());
		raw->set_hook({});
		if (!r) {
			report(where, std::string("open of a crash image failed: ") + errc_name(r.code()) + ": " + r.err().message());
			return;
		}
		auto &s = **r;
		const auto before = read_state(s, where);
		check_prefix(before, where);
		if (depth > 0)
			return;
		// A transaction after recovery: whole after a reopen, and nothing old comes back.
		auto tx = s.begin_transaction().value();
		std::vector<std::byte> p(40, std::byte{7});
		std::memcpy(p.data(), &after_crash_unit, 4);
		std::memset(p.data() + 4, 0, 4); // member 0
		size_t added = 0;
		for (auto rr : s.regions())
			if (tx.append(rr, p))
				++added;
		auto last = tx.commit();
		if (!last) {
			report(where, "a transaction after recovery failed: " + last.err().message());
			return;
		}
		auto img2 = raw->persisted_image();
		r->reset();
		auto r2 = detail::open_on_media(std::make_unique<sim_media>(img2), 0, options());
		if (!r2) {
			report(where, "reopen after recovery and a new transaction failed: " + r2.err().message());
			return;
		}
		auto after = read_state(**r2, where + ", reopened after a new transaction");
		size_t got = 0;
		for (auto &[reg, list] : after) {
			(void)reg;
			got += static_cast<size_t>(std::count(list.begin(), list.end(), entry_key{after_crash_unit, 0}));
			list.erase(std::remove(list.begin(), list.end(), entry_key{after_crash_unit, 0}), list.end());
		}
		if (got != added)
			report(where, "the transaction after recovery shows " + std::to_string(got) + " of " + std::to_string(added) + " members");
		if (after != before)
			report(where, "the reopen shows another state than the recovery did");
	}

	config cfg_;
	std::mt19937_64 rng_;
	sim_media *media_ = nullptr;
	std::unique_ptr<stream> s_;
	std::map<uint64_t, region> handles_; // every region ever allocated (or set aside), by id
	stream_state initial_, live_;
	std::vector<unit> units_;
	figures fig_;
};

void run(const config &c)
{
	workload w(c);
	auto f = w.run();
	std::printf("seed %llu, %d regions, W %u: %llu crash points, %llu images, %llu nested images\n",
		    static_cast<unsigned long long>(c.seed), c.regions, c.max_in_flight, static_cast<unsigned long long>(f.points),
		    static_cast<unsigned long long>(f.images), static_cast<unsigned long long>(f.nested_images));
	EXPECT_EQ(f.violations, 0u);
	EXPECT_GT(f.images, 100u);
}

} // namespace

TEST(crash_tx, appends_one_region)
{
	config c;
	c.regions = 1;
	c.region_ops = false;
	run(c);
}

TEST(crash_tx, appends_four_regions_one_in_flight)
{
	config c;
	c.seed += 100;
	c.region_ops = false;
	c.max_in_flight = 1;
	run(c);
}

TEST(crash_tx, allocations_and_frees)
{
	config c;
	c.seed += 200;
	c.regions = 3;
	run(c);
}

TEST(crash_tx, allocations_and_frees_one_in_flight)
{
	config c;
	c.seed += 300;
	c.max_in_flight = 1;
	run(c);
}
