// SPDX-License-Identifier: BSD-3-Clause
// Crash exploration of transactions (issue 13). One thread runs a random mix of transactions
// (1-16 members over 1-4 regions, synchronous or asynchronous commits, some aborted) and plain
// appends on the simulated medium. At every fence and flush the hook draws crash images (lines
// lost, kept as flushed, kept as written, or torn at 8 bytes), recovers each with the real
// writable open path and checks it against the model:
//  - every entry shown is a member the workload wrote, with its exact bytes, in its region;
//  - of every transaction either all members are shown or none; an acknowledged one (its
//    commit returned, or wait_persisted after an async commit) in full; an aborted one never;
//  - what is shown is a prefix of the operations in program order (one thread);
//  - the recovered stream takes a new transaction, and after its commit a reopen shows the
//    same old operations plus the new one whole (nothing trimmed comes back).
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
constexpr uint32_t after_crash_unit = 1000000; // unit ids of the transaction written after recovery

struct config {
	int regions = 4;
	uint64_t ops = env_u64("PMEMSTREAM_CRASH_TX_OPS", 40);
	uint64_t images_per_drain = std::max<uint64_t>(1, env_u64("PMEMSTREAM_CRASH_IMAGES", 6));
	uint64_t images_per_flush = std::max<uint64_t>(1, images_per_drain / 3);
	uint64_t nested_every = 40;
	// W of the regions: with 1, a torn member followed by a member of its transaction is
	// what rule R2's exception is for.
	uint32_t max_in_flight = default_max_in_flight;
	uint64_t seed = env_u64("PMEMSTREAM_CRASH_SEED", 1);
};

// One operation of the workload: a transaction, or a plain append (one member, not a
// transaction).
struct unit {
	bool tx = false;
	bool aborted = false;
	bool acked = false; // durable by contract
	std::vector<std::pair<int, std::vector<std::byte>>> members; // region index, payload
};

struct figures {
	uint64_t points = 0, images = 0, nested_images = 0, partial_shown = 0, violations = 0;
};

class workload {
public:
	explicit workload(const config &c) : cfg_(c), rng_(c.seed)
	{
		auto sm = std::make_unique<sim_media>(4096 + static_cast<uint64_t>(cfg_.regions) * (region_bytes + 4096));
		media_ = sm.get();
		open_options o = options();
		o.max_in_flight = cfg_.max_in_flight;
		auto s = detail::open_on_media(std::move(sm), 4096, o);
		EXPECT_TRUE(s.has_value());
		s_ = std::move(*s);
		for (int k = 0; k < cfg_.regions; ++k)
			regs_.push_back(s_->region_allocate(region_bytes).value());
	}

	figures run()
	{
		media_->set_hook([this](sim_media &m, sim_event e) { explore(m, e); });
		for (uint64_t i = 0; i < cfg_.ops; ++i)
			step();
		media_->set_hook({});
		// The live stream itself agrees with the model.
		check_stream(*s_, "live stream", false);
		return fig_;
	}

private:
	static open_options options()
	{
		open_options o;
		o.commit.worker = commit_policy::worker_mode::off;
		return o;
	}

	std::vector<std::byte> payload(uint32_t id, uint16_t k)
	{
		std::vector<std::byte> v(8 + rng_() % 180);
		for (auto &b : v)
			b = static_cast<std::byte>(rng_());
		std::memcpy(v.data(), &id, 4);
		std::memcpy(v.data() + 4, &k, 2);
		return v;
	}

	void step()
	{
		const uint32_t id = static_cast<uint32_t>(units_.size());
		unit u;
		const unsigned dice = static_cast<unsigned>(rng_() % 100);
		if (dice < 30) {
			u.members.emplace_back(static_cast<int>(rng_() % regs_.size()), payload(id, 0));
			units_.push_back(u);
			auto e = s_->append(regs_[static_cast<size_t>(units_.back().members[0].first)], units_.back().members[0].second);
			if (!e) {
				units_.back().aborted = true; // region full: nothing written
				EXPECT_EQ(e.code(), errc::region_full);
				return;
			}
			units_.back().acked = true;
			media_->crash_point();
			return;
		}
		u.tx = true;
		const int spread = 1 + static_cast<int>(rng_() % regs_.size());
		const int n = 1 + static_cast<int>(rng_() % 16);
		units_.push_back(u);
		auto tx = s_->begin_transaction().value();
		for (int k = 0; k < n; ++k) {
			const int r = static_cast<int>(rng_() % static_cast<uint64_t>(spread));
			auto p = payload(id, static_cast<uint16_t>(units_.back().members.size()));
			auto st = tx.append(regs_[static_cast<size_t>(r)], p);
			if (!st) {
				EXPECT_EQ(st.code(), errc::region_full);
				continue; // refused members are not part of it
			}
			units_.back().members.emplace_back(r, std::move(p));
		}
		if (dice < 38) {
			tx.abort();
			units_.back().aborted = true;
			media_->crash_point();
			return;
		}
		if (dice < 70) {
			auto last = tx.async_commit();
			ASSERT_TRUE(last.has_value()) << last.err().message();
			media_->crash_point(); // committed, perhaps not persisted
			ASSERT_TRUE(s_->wait_persisted(*last));
		} else {
			auto last = tx.commit();
			ASSERT_TRUE(last.has_value()) << last.err().message();
		}
		units_.back().acked = true;
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

	// Checks the visible entries of `s` against the model; returns how many members of each
	// unit are shown (after_crash_unit's under its own key).
	std::map<uint32_t, size_t> check_stream(const stream &s, const std::string &where, bool crashed)
	{
		std::map<uint32_t, size_t> shown;
		std::vector<region> rs;
		for (auto r : s.regions())
			rs.push_back(r);
		if (rs.size() != regs_.size()) {
			report(where, "regions: " + std::to_string(rs.size()));
			return shown;
		}
		for (size_t ri = 0; ri < rs.size(); ++ri) {
			auto it = s.entries(rs[ri]).value();
			std::map<uint32_t, int> last_k; // members of one unit in one region come in order
			for (auto e : it) {
				auto d = s.entry_data(e).value();
				uint32_t id = 0;
				uint16_t k = 0;
				if (d.size() >= 8) {
					std::memcpy(&id, d.data(), 4);
					std::memcpy(&k, d.data() + 4, 2);
				}
				if (id == after_crash_unit) {
					++shown[id];
					continue;
				}
				if (d.size() < 8 || id >= units_.size() || k >= units_[id].members.size()) {
					report(where, "an entry nobody wrote in region " + std::to_string(ri));
					continue;
				}
				const auto &[mr, bytes] = units_[id].members[k];
				if (static_cast<size_t>(mr) != ri || d.size() != bytes.size() || std::memcmp(d.data(), bytes.data(), d.size()) != 0) {
					report(where, "member " + std::to_string(k) + " of unit " + std::to_string(id) + " differs");
					continue;
				}
				if (last_k.count(id) && last_k[id] >= k)
					report(where, "members of unit " + std::to_string(id) + " out of order");
				last_k[id] = k;
				++shown[id];
			}
		}
		bool gap = false;
		for (uint32_t id = 0; id < units_.size(); ++id) {
			const unit &u = units_[id];
			const size_t c = shown.count(id) ? shown[id] : 0;
			const std::string name = (u.tx ? "transaction " : "append ") + std::to_string(id);
			if (u.aborted && c != 0)
				report(where, name + " was aborted (or refused) and is shown");
			if (c != 0 && c != u.members.size()) {
				++fig_.partial_shown;
				report(where, name + ": " + std::to_string(c) + " of " + std::to_string(u.members.size()) + " members shown");
			}
			if (u.acked && c != u.members.size())
				report(where, name + " was acknowledged and is " + (c ? "partly" : "not") + " shown");
			if (!crashed && !u.aborted && c != u.members.size())
				report(where, name + " is missing from the live stream");
			if (u.aborted || u.members.empty())
				continue;
			if (c != 0 && gap)
				report(where, name + " is shown after an operation before it is not (not a prefix)");
			gap = gap || c == 0;
		}
		return shown;
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
		auto before = check_stream(s, where, true);
		if (depth > 0)
			return;
		// A transaction after recovery: whole after a reopen, and nothing old comes back.
		auto tx = s.begin_transaction().value();
		std::vector<std::byte> p(40, std::byte{7});
		std::memcpy(p.data(), &after_crash_unit, 4);
		size_t added = 0;
		for (size_t ri = 0; ri < regs_.size(); ++ri) {
			region rr{};
			size_t k = 0;
			for (auto x : s.regions())
				if (k++ == ri)
					rr = x;
			if (tx.append(rr, p))
				++added;
		}
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
		auto after = check_stream(**r2, where + ", reopened after a new transaction", true);
		const size_t got = after.count(after_crash_unit) ? after[after_crash_unit] : 0;
		after.erase(after_crash_unit);
		if (got != added)
			report(where, "the transaction after recovery shows " + std::to_string(got) + " of " + std::to_string(added) + " members");
		if (after != before)
			report(where, "the reopen shows other old entries than the recovery did");
	}

	config cfg_;
	std::mt19937_64 rng_;
	sim_media *media_ = nullptr;
	std::unique_ptr<stream> s_;
	std::vector<region> regs_;
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

TEST(crash_tx, one_region)
{
	config c;
	c.regions = 1;
	run(c);
}

TEST(crash_tx, four_regions)
{
	config c;
	c.seed += 100;
	c.max_in_flight = 1;
	run(c);
}

TEST(crash_tx, two_regions_other_seed)
{
	config c;
	c.regions = 2;
	c.seed += 200;
	run(c);
}
