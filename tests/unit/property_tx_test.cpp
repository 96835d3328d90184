// SPDX-License-Identifier: BSD-3-Clause
// A rapidcheck model of transactions mixed with plain appends (issue 13), on the simulated
// medium. Random programs of plain appends, transactions (appends over several regions, an
// allocation with appends into it, frees; committed, committed asynchronously or aborted),
// persists, clean reopens and crashes (the image a power failure leaves when nothing unfenced
// survives, or a random one: lines lost, kept or torn). After every step the stream must equal
// the model; after a crash it must equal the model after some prefix of the operations that
// holds every persisted one, and the model continues from there.
#include "sim_media.hpp"
#include "stream_factory.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstring>
#include <map>
#include <ostream>
#include <random>

using namespace pmemstream;
using pmemstream::test::sim_media;

namespace {

// Per region id: its entries' payloads in order.
using state = std::map<uint64_t, std::vector<std::vector<std::byte>>>;

struct op {
	int kind = 0;	   // 0 append, 1 tx commit, 2 tx async commit, 3 tx abort, 4 persist, 5 reopen, 6 crash
	int regions = 1;   // how many of the live regions the transaction's appends spread over
	int members = 1;   // appends of a transaction
	int size = 8;	   // payload bytes of each
	bool allocate = false;
	bool free = false;
	uint64_t seed = 0;
};

void showValue(const op &o, std::ostream &os)
{
	os << "{kind " << o.kind << ", regions " << o.regions << ", members " << o.members << ", size " << o.size
	   << (o.allocate ? ", allocate" : "") << (o.free ? ", free" : "") << ", seed " << o.seed << "}";
}

rc::Gen<op> gen_op()
{
	return rc::gen::apply(
		[](int k, int r, int m, int sz, bool a, bool f, uint64_t seed) {
			op o;
			o.kind = k < 3 ? 0 : k < 8 ? 1 : k < 12 ? 2 : k < 13 ? 3 : k < 14 ? 4 : k < 15 ? 5 : 6;
			o.regions = r;
			o.members = m;
			o.size = sz;
			o.allocate = a;
			o.free = f;
			o.seed = seed;
			return o;
		},
		rc::gen::inRange(0, 19), rc::gen::inRange(1, 4), rc::gen::inRange(0, 12), rc::gen::inRange(0, 120),
		rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>(), rc::gen::arbitrary<uint64_t>());
}

struct unit {
	state after; // the model after this unit
	bool durable = false;
};

class runner {
public:
	runner()
	{
		open(std::make_unique<sim_media>(96 * 1024));
		for (int k = 0; k < 3; ++k) {
			auto r = s_->region_allocate(4000).value();
			model_[r.id];
			handles_[r.id] = r;
		}
		units_.push_back({model_, true});
	}

	void step(const op &o)
	{
		std::mt19937_64 rng(o.seed);
		switch (o.kind) {
		case 0: {
			const uint64_t id = pick(rng);
			auto d = payload(rng, o.size);
			auto e = s_->append(handles_[id], d);
			if (!e) {
				RC_ASSERT(e.code() == errc::region_full);
				return;
			}
			model_[id].push_back(d);
			push(true);
			break;
		}
		case 1:
		case 2:
		case 3: transaction(o, rng); break;
		case 4:
			RC_ASSERT(s_->persist().has_value());
			mark_durable();
			break;
		case 5: { // a clean close and reopen
			auto img = std::make_shared<std::vector<std::byte>>();
			media_->keep_on_destroy(img);
			s_.reset();
			open(std::make_unique<sim_media>(*img));
			mark_durable();
			break;
		}
		case 6: crash(rng, o.seed % 4 != 0); break;
		}
		RC_ASSERT(read() == model_);
	}

private:
	void open(std::unique_ptr<sim_media> m)
	{
		media_ = m.get();
		open_options opt;
		opt.commit.worker = commit_policy::worker_mode::off;
		auto s = detail::open_on_media(std::move(m), 256, opt);
		RC_ASSERT(s.has_value());
		s_ = std::move(*s);
	}

	uint64_t pick(std::mt19937_64 &rng)
	{
		auto it = model_.begin();
		std::advance(it, static_cast<long>(rng() % model_.size()));
		return it->first;
	}

	std::vector<std::byte> payload(std::mt19937_64 &rng, int size)
	{
		std::vector<std::byte> v(static_cast<size_t>(size));
		for (auto &b : v)
			b = static_cast<std::byte>(rng());
		return v;
	}

	void push(bool durable)
	{
		units_.push_back({model_, durable});
		if (durable)
			mark_durable();
	}
	void mark_durable()
	{
		for (auto &u : units_)
			u.durable = true;
	}

	void transaction(const op &o, std::mt19937_64 &rng)
	{
		auto tx = s_->begin_transaction().value();
		state next = model_;
		std::vector<uint64_t> targets;
		for (int k = 0; k < o.regions && targets.size() < model_.size(); ++k) {
			const uint64_t id = pick(rng);
			if (std::find(targets.begin(), targets.end(), id) == targets.end())
				targets.push_back(id);
		}
		if (o.allocate && model_.size() < 6) {
			auto r = tx.region_allocate(300 + rng() % 3000);
			if (r) {
				handles_[r->id] = *r;
				next[r->id];
				targets.push_back(r->id);
			} else {
				RC_ASSERT(r.code() == errc::out_of_space);
			}
		}
		for (int k = 0; k < o.members; ++k) {
			const uint64_t id = targets[rng() % targets.size()];
			auto d = payload(rng, o.size / 2 + static_cast<int>(rng() % 40));
			auto st = tx.append(handles_[id], d);
			if (!st) {
				RC_ASSERT(st.code() == errc::region_full);
				continue;
			}
			next[id].push_back(d);
		}
		if (o.free && model_.size() > 1) {
			for (auto &[id, entries] : model_) {
				(void)entries;
				if (std::find(targets.begin(), targets.end(), id) != targets.end())
					continue;
				RC_ASSERT(tx.region_free(handles_[id]));
				next.erase(id);
				break;
			}
		}
		if (o.kind == 3) {
			tx.abort();
			return;
		}
		auto last = o.kind == 1 ? tx.commit() : tx.async_commit();
		if (!last) {
			RC_ASSERT(last.code() == errc::region_full); // a commit record with no room
			return;
		}
		model_ = next;
		push(o.kind == 1 || s_->persisted_timestamp() >= *last);
	}

	void crash(std::mt19937_64 &rng, bool random_image)
	{
		std::vector<std::byte> img;
		if (random_image)
			media_->crash_image(rng, img);
		else
			img = media_->persisted_image();
		s_.reset();
		open(std::make_unique<sim_media>(img));
		const state got = read();
		// The state after some prefix of the operations that holds every durable one.
		size_t first_allowed = 0;
		for (size_t k = 0; k < units_.size(); ++k)
			if (units_[k].durable)
				first_allowed = k;
		bool found = false;
		for (size_t k = first_allowed; k < units_.size() && !found; ++k)
			if (units_[k].after == got) {
				found = true;
				units_.resize(k + 1);
			}
		RC_ASSERT(found);
		model_ = got;
		mark_durable(); // recovery made what it shows final
	}

	state read()
	{
		state st;
		for (auto r : s_->regions()) {
			auto &list = st[r.id];
			for (auto e : s_->entries(r).value()) {
				auto d = s_->entry_data(e).value();
				list.emplace_back(d.begin(), d.end());
			}
		}
		return st;
	}

	sim_media *media_ = nullptr;
	std::unique_ptr<stream> s_;
	state model_;
	std::map<uint64_t, region> handles_;
	std::vector<unit> units_;
};

} // namespace

RC_GTEST_PROP(property_tx, transactions_and_appends_are_all_or_nothing_after_every_crash, ())
{
	const auto ops = *rc::gen::container<std::vector<op>>(gen_op());
	runner r;
	for (const auto &o : ops)
		r.step(o);
}
