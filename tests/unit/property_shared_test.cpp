// SPDX-License-Identifier: BSD-3-Clause
// A rapidcheck model of several threads in one region (issue 11): three writers, each a real
// thread, interleave appends (synchronous and asynchronous), reservations, publishes of any
// size up to the reservation and cancels, in a small region that fills up. The model knows
// the claim order and which operation must wait for which (a claim is sequenced only after
// every claim before it; an unpublished reservation holds back everything claimed after it),
// so after each command it checks: the operations that may complete do, with the offsets and
// results the model predicts; none completed before the command that released it; the
// visible entries are the model's finished prefix, bytes exact, timestamps rising with
// offsets; and after the last command, a reopen shows the same entries.
#include "engine/region_runtime.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

using namespace pmemstream;

namespace {

using namespace std::chrono_literals;
constexpr int writers = 3;

// A thread that runs the tasks given to it, one at a time, in order.
class executor {
public:
	executor() : t_([this] { run(); })
	{
	}
	~executor()
	{
		{
			std::lock_guard lk(m_);
			stop_ = true;
		}
		cv_.notify_one();
		t_.join();
	}
	std::future<void> submit(std::function<void()> f)
	{
		std::packaged_task<void()> task(std::move(f));
		auto fut = task.get_future();
		{
			std::lock_guard lk(m_);
			q_.push_back(std::move(task));
		}
		cv_.notify_one();
		return fut;
	}

private:
	void run()
	{
		for (;;) {
			std::packaged_task<void()> task;
			{
				std::unique_lock lk(m_);
				cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
				if (q_.empty())
					return;
				task = std::move(q_.front());
				q_.pop_front();
			}
			task();
		}
	}
	std::mutex m_;
	std::condition_variable cv_;
	std::deque<std::packaged_task<void()>> q_;
	bool stop_ = false;
	std::thread t_;
};

enum class op_kind { append, async_append, reserve, publish, cancel };

struct op {
	op_kind kind;
	int writer;
	uint32_t size; // payload (append), capacity (reserve), published bytes (publish)
};

void showValue(const op &o, std::ostream &os)
{
	static const char *names[] = {"append", "async_append", "reserve", "publish", "cancel"};
	os << names[static_cast<int>(o.kind)] << "(w" << o.writer << ", " << o.size << ")";
}

// One claim of the region, in claim order.
struct mclaim {
	int writer;
	bool reservation;
	uint64_t pos, size; // bytes claimed (may shrink)
	std::vector<std::byte> data;
	enum { reserved, waiting, sequenced } state = waiting;
	bool entry = true; // leaves a shown entry (false: cancelled or shrunk away)
	uint64_t publish_size = 0;
	bool cancel = false; // the waiting action of a reservation
};

// What an issued operation must return, once the model says it may.
struct pending {
	std::future<void> done;
	size_t claim = SIZE_MAX;    // the claim it waits for (its own)
	uint64_t runnable_at = 0;   // the command count from which it may have returned
	std::atomic<uint64_t> *stamp; // the command count when it returned
	std::optional<uint64_t> offset; // an append's offset, set by the task
	errc code = errc::ok;
};

struct world {
	std::unique_ptr<stream> s;
	region r;
	region_runtime *rt = nullptr; // white box: to see that an operation has made its claim
	uint64_t usable = 0;
	std::vector<mclaim> claims;
	uint64_t claim_end = 0; // relative to the first entry's offset
	uint64_t base = 0;	// offset of the region's first entry
	std::atomic<uint64_t> issued{0};
	std::array<std::optional<reservation>, writers> res;
	std::array<std::optional<size_t>, writers> res_claim; // writer's outstanding reservation
	std::array<std::unique_ptr<pending>, writers> busy;   // writer's operation in flight
	std::array<std::atomic<uint64_t>, writers> stamps{};
	std::array<std::unique_ptr<executor>, writers> ex;

	// A failed assertion leaves operations blocked behind reservations: cancel those so the
	// executors can stop (and fail loudly rather than hang if that is not enough).
	~world()
	{
		for (int k = 0; k < writers; ++k)
			if (res[k] && s)
				(void)s->cancel(r, res[k]->ent);
		for (auto &p : busy)
			if (p && p->done.wait_for(30s) != std::future_status::ready) {
				std::fprintf(stderr, "property_shared: an operation never returned\n");
				std::abort();
			}
	}
};

uint64_t claims_made(world &w)
{
	std::lock_guard lk(w.rt->lock);
	return w.rt->claims_made;
}

// The model's claim order is the order of commands: an operation issued on a writer's thread
// must have claimed before the next command is issued.
void await_claim(world &w, uint64_t before)
{
	const auto deadline = std::chrono::steady_clock::now() + 10s;
	while (claims_made(w) == before) {
		RC_ASSERT(std::chrono::steady_clock::now() < deadline);
		std::this_thread::yield();
	}
}

uint32_t reservations(world &w)
{
	std::lock_guard lk(w.rt->lock);
	return w.rt->reservations;
}

// Likewise a publish or cancel must have taken its decision (give back or pad) first.
void await_decision(world &w, uint32_t before)
{
	const auto deadline = std::chrono::steady_clock::now() + 10s;
	while (reservations(w) == before) {
		RC_ASSERT(std::chrono::steady_clock::now() < deadline);
		std::this_thread::yield();
	}
}

bool all_sequenced_before(const world &w, size_t k)
{
	for (size_t i = 0; i < k; ++i)
		if (w.claims[i].state != mclaim::sequenced)
			return false;
	return true;
}

// Sequences every claim whose turn has come (the model's cascade after a command).
void cascade(world &w)
{
	for (size_t i = 0; i < w.claims.size(); ++i) {
		mclaim &c = w.claims[i];
		if (c.state == mclaim::sequenced)
			continue;
		if (c.state == mclaim::reserved)
			return; // holds back everything after it
		// waiting: its turn has come
		c.state = mclaim::sequenced;
		// Its operation may return from the current command on, not before.
		for (auto &p : w.busy)
			if (p && p->claim == i)
				p->runnable_at = w.issued.load();
	}
}

// A publish or cancel decides at once whether it gives its rest back (nothing claimed after
// it) or leaves a padding entry.
void decide(world &w, mclaim &c)
{
	const uint64_t fp = c.cancel ? 0 : entry_footprint(c.publish_size);
	if (w.claim_end == c.pos + c.size) {
		c.size = fp;
		w.claim_end = c.pos + fp;
	}
	c.entry = !c.cancel;
	c.data.resize(c.cancel ? 0 : c.publish_size);
}

uint64_t model_visible(const world &w, std::vector<const mclaim *> &out)
{
	out.clear();
	for (const auto &c : w.claims) {
		if (c.state != mclaim::sequenced)
			break;
		if (c.entry)
			out.push_back(&c);
	}
	return out.size();
}

std::vector<std::byte> data_for(uint64_t seed, uint32_t size)
{
	return test::pattern(size, static_cast<unsigned>(seed));
}

// Waits for every in-flight operation the model says may complete; checks those it says must
// wait did not return before the command that released them.
void settle(world &w)
{
	for (int k = 0; k < writers; ++k) {
		auto &p = w.busy[k];
		if (!p)
			continue;
		const bool may = p->claim == SIZE_MAX || w.claims[p->claim].state == mclaim::sequenced;
		if (!may)
			continue;
		RC_ASSERT(p->done.wait_for(10s) == std::future_status::ready);
		p->done.get();
		RC_ASSERT(p->stamp->load() >= p->runnable_at);
		RC_ASSERT(p->code == errc::ok);
		if (p->offset)
			RC_ASSERT(*p->offset == w.base + w.claims[p->claim].pos);
		p.reset();
	}
}

void check_visible(world &w, const stream &s)
{
	std::vector<const mclaim *> vis;
	model_visible(w, vis);
	auto es = test::entries_of(s, w.r);
	RC_ASSERT(es.size() == vis.size());
	uint64_t prev_ts = 0;
	for (size_t i = 0; i < es.size(); ++i) {
		RC_ASSERT(es[i].offset == w.base + vis[i]->pos);
		RC_ASSERT(test::to_vec(*s.entry_data(es[i])) == vis[i]->data);
		const uint64_t ts = *s.entry_timestamp(es[i]);
		RC_ASSERT(ts > prev_ts);
		prev_ts = ts;
	}
}

void run(world &w, const op &o, uint64_t seed)
{
	const int k = o.writer;
	if (w.busy[k])
		return; // the writer's thread is blocked in an earlier operation
	if (std::getenv("PMEMSTREAM_PROPERTY_VERBOSE")) {
		showValue(o, std::cerr);
		std::cerr << " claim_end " << w.claim_end << "\n";
	}
	const uint64_t now = ++w.issued;
	auto p = std::make_unique<pending>();
	p->stamp = &w.stamps[k];
	p->runnable_at = now;
	stream &s = *w.s;
	const region r = w.r;
	pending *pp = p.get();
	auto start = [&](std::function<void()> f) {
		auto *stamp = &w.stamps[k];
		std::atomic<uint64_t> *issued = &w.issued;
		p->done = w.ex[k]->submit([f = std::move(f), stamp, issued] {
			f();
			stamp->store(issued->load());
		});
	};

	switch (o.kind) {
	case op_kind::append:
	case op_kind::async_append: {
		auto d = data_for(seed, o.size);
		const bool async = o.kind == op_kind::async_append;
		errc want = errc::ok;
		if (w.res_claim[k])
			want = errc::busy;
		else if (w.claim_end + entry_footprint(o.size) > w.usable)
			want = errc::region_full;
		if (want != errc::ok) {
			start([&s, r, d, async, pp] {
				auto a = async ? s.async_append(r, d) : s.append(r, d);
				pp->code = a ? errc::ok : a.code();
			});
			p->done.wait();
			RC_ASSERT(pp->code == want);
			return;
		}
		w.claims.push_back({k, false, w.claim_end, entry_footprint(o.size), d});
		w.claim_end += entry_footprint(o.size);
		p->claim = w.claims.size() - 1;
		const uint64_t before = claims_made(w);
		start([&s, r, d, async, pp] {
			auto a = async ? s.async_append(r, d) : s.append(r, d);
			pp->code = a ? errc::ok : a.code();
			if (a)
				pp->offset = a->offset;
		});
		await_claim(w, before);
		break;
	}
	case op_kind::reserve: {
		if (w.res_claim[k]) {
			// A second reserve cancels the first: only generated while that one is next in
			// turn (else the reserve would wait, and its claim's place would depend on timing).
			if (!all_sequenced_before(w, *w.res_claim[k]))
				return;
			w.claims[*w.res_claim[k]].state = mclaim::waiting;
			w.claims[*w.res_claim[k]].cancel = true;
			decide(w, w.claims[*w.res_claim[k]]);
			w.res_claim[k].reset();
			w.res[k].reset();
			cascade(w);
		}
		const uint64_t fp = entry_footprint(o.size);
		uint64_t take = fp + 16;
		if (w.claim_end + take > w.usable)
			take = fp;
		const bool fits = w.claim_end + take <= w.usable;
		auto d = data_for(seed, o.size);
		std::optional<reservation> got;
		start([&s, r, &got, size = o.size, pp, d] {
			auto res = s.reserve(r, size);
			pp->code = res ? errc::ok : res.code();
			if (res) {
				if (!d.empty())
					std::memcpy(res->data, d.data(), d.size());
				got = *res;
			}
		});
		RC_ASSERT(p->done.wait_for(10s) == std::future_status::ready);
		if (!fits) {
			RC_ASSERT(pp->code == errc::region_full);
			return;
		}
		RC_ASSERT(pp->code == errc::ok);
		RC_ASSERT(got->ent.offset == w.base + w.claim_end);
		mclaim c{k, true, w.claim_end, take, d};
		c.state = mclaim::reserved;
		w.claims.push_back(c);
		w.claim_end += take;
		w.res[k] = got;
		w.res_claim[k] = w.claims.size() - 1;
		settle(w); // the reserve may have cancelled an earlier one, releasing others
		check_visible(w, s);
		return;
	}
	case op_kind::publish:
	case op_kind::cancel: {
		const bool cancel = o.kind == op_kind::cancel;
		if (!w.res_claim[k]) {
			start([&s, r, pp, cancel] {
				auto e = entry{1}; // no reservation there
				pp->code = cancel ? s.cancel(r, e).code() : s.publish(r, e, 0).code();
			});
			p->done.wait();
			RC_ASSERT(pp->code == errc::invalid_handle);
			return;
		}
		const size_t ci = *w.res_claim[k];
		mclaim &c = w.claims[ci];
		const uint32_t size = std::min<uint32_t>(o.size, static_cast<uint32_t>(c.data.size()));
		const entry e = w.res[k]->ent;
		c.state = mclaim::waiting;
		c.cancel = cancel;
		c.publish_size = size;
		decide(w, c);
		w.res_claim[k].reset();
		w.res[k].reset();
		p->claim = ci;
		const uint32_t before = reservations(w);
		start([&s, r, e, size, pp, cancel] { pp->code = cancel ? s.cancel(r, e).code() : s.publish(r, e, size).code(); });
		await_decision(w, before);
		break;
	}
	}
	w.busy[k] = std::move(p);
	cascade(w);
	settle(w);
	check_visible(w, s);
}

} // namespace

TEST(property, threads_in_one_region_match_the_model)
{
	const bool ok = rc::check("interleaved appends, reservations, publishes and cancels of three threads", [] {
		test::temp_file f("shared");
		world w;
		w.s = test::create(f.path, 1 << 20, 4096);
		w.r = *w.s->region_allocate(2048);
		w.rt = *w.s->get_region_runtime(w.r);
		w.usable = *w.s->region_usable_size(w.r);
		for (auto &e : w.ex)
			e = std::make_unique<executor>();
		{
			// The first entry's offset: a probe reservation, cancelled (gives the space back).
			auto probe = *w.s->reserve(w.r, 0);
			w.base = probe.ent.offset;
			RC_ASSERT(w.s->cancel(w.r, probe.ent));
		}
		const auto ops = *rc::gen::container<std::vector<op>>(rc::gen::build<op>(
			rc::gen::set(&op::kind, rc::gen::element(op_kind::append, op_kind::async_append, op_kind::reserve, op_kind::reserve,
								 op_kind::publish, op_kind::publish, op_kind::cancel)),
			rc::gen::set(&op::writer, rc::gen::inRange(0, writers)),
			rc::gen::set(&op::size, rc::gen::inRange<uint32_t>(0, 120))));
		uint64_t seed = 1;
		for (const auto &o : ops)
			run(w, o, seed++);
		// Publish what is still reserved, oldest claim first, so that everything completes.
		for (size_t i = 0; i < w.claims.size(); ++i)
			for (int k = 0; k < writers; ++k)
				if (w.res_claim[k] == i) {
					if (w.busy[k])
						continue; // cannot happen: a writer with a reservation has nothing in flight but it
					run(w, op{op_kind::publish, k, 1000}, seed++);
				}
		settle(w);
		for (int k = 0; k < writers; ++k)
			RC_ASSERT(!w.busy[k]);
		RC_ASSERT(w.s->persist());
		const auto claims = w.claims;
		w.s.reset();
		w.s = test::reopen(f.path);
		check_visible(w, *w.s);
	});
	EXPECT_TRUE(ok);
}
