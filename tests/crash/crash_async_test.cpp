// SPDX-License-Identifier: BSD-3-Clause
// Crash exploration of asynchronous appends (issue 10). Two or three real threads submit async
// appends (and some synchronous ones) to their own regions or to shared ones, and at random
// points wait for persistence (wait_persisted, persist, poll_persisted, a wait with a timeout).
// Each records what it submitted, what the library handed out (committed) and what it was told
// is persisted in an op_history. The serialised simulated medium calls the hook at every drain
// (before the fence) and every flush, on whichever thread (the commit worker's included); the
// hook holds the other threads off and draws crash images of that moment (lines lost, kept
// as some thread flushed them, kept as written, or torn at 8 bytes), recovers each with the real
// open path and checks it: every timestamp <= the persisted watermark observed before the
// crash (also at the crash instant) survives with its exact bytes, the visible entries are a
// timestamp prefix, and nothing torn, stale or never submitted is visible.
//
// PMEMSTREAM_CRASH_IMAGES sets the images per drain (default 16; per flush a third of it, at
// least 1) and PMEMSTREAM_CRASH_ASYNC_OPS the operations per thread (default 150);
// PMEMSTREAM_CRASH_SEED the seed. The defaults keep the whole binary under a minute in the
// dev build (sanitized builds explore a third of the images and 40 ops);
// e.g. PMEMSTREAM_CRASH_IMAGES=60 PMEMSTREAM_CRASH_ASYNC_OPS=1000 explores longer.
#include "op_history.hpp"
#include "sim_media.hpp"
#include "stream_check.hpp"
#include "stream_factory.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;
using fence_model = sim_media::fence_model;

namespace {

uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = std::getenv(name);
	if (v == nullptr || *v == '\0')
		return dflt;
	return std::strtoull(v, nullptr, 0);
}

constexpr uint64_t small_region_bytes = 24 * 1024;

struct config {
	fence_model fence = fence_model::per_thread;
	commit_policy::worker_mode worker = commit_policy::worker_mode::off;
	uint32_t max_in_flight = 8;
	int threads = 3;
	bool shared_regions = false; // every thread appends to two regions all threads share
	// Percent of the asynchronous appends with a payload of 1-2 KiB: on pmem those write
	// themselves with non-temporal stores and drain (async_self_drain) instead of leaving
	// their lines to a sweep, so both kinds are in flight at once.
	unsigned large_percent = 0;
	uint64_t region_bytes = small_region_bytes;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	// ~10x slower checks: the concurrency schedule matters more than the image count under
	// ThreadSanitizer (make test runs it there), so few images and ops.
	uint64_t ops = env_u64("PMEMSTREAM_CRASH_ASYNC_OPS", 40);
#else
	uint64_t ops = env_u64("PMEMSTREAM_CRASH_ASYNC_OPS", 150);
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	uint64_t images_per_drain = std::max<uint64_t>(1, env_u64("PMEMSTREAM_CRASH_IMAGES", 16) / 3);
#else
	uint64_t images_per_drain = std::max<uint64_t>(1, env_u64("PMEMSTREAM_CRASH_IMAGES", 16));
#endif
	uint64_t images_per_flush = std::max<uint64_t>(1, images_per_drain / 3);
	uint64_t seed = env_u64("PMEMSTREAM_CRASH_SEED", 1);
};

struct figures {
	uint64_t points = 0, images = 0, crowded = 0, unpersisted = 0;
	uint64_t second_crashes = 0; // recoveries appended to and crashed again
	uint64_t large = 0; // asynchronous appends of 1 KiB or more acknowledged
	uint64_t violations = 0;     // what a crash image showed, or a watermark reading
	uint64_t api_violations = 0; // a call's result broke its contract (no crash involved)
};

class workload {
public:
	explicit workload(const config &c) : cfg_(c)
	{
		const int nregions = cfg_.shared_regions ? 2 : cfg_.threads;
		auto sm = std::make_unique<sim_media>(4096 + static_cast<uint64_t>(nregions) * (cfg_.region_bytes + 4096), false, cfg_.fence);
		media_ = sm.get();
		media_->set_serialized(true);
		media_->keep_on_destroy(closed_);
		open_options o;
		o.commit.worker = cfg_.worker;
		o.commit.max_entries = 16;
		o.commit.max_delay = std::chrono::microseconds(50);
		o.max_in_flight = cfg_.max_in_flight;
		auto opened = detail::open_on_media(std::move(sm), 4096, o);
		EXPECT_TRUE(opened.has_value()) << (opened ? "" : opened.err().message());
		if (!opened)
			return;
		s_ = std::move(*opened);
		stream_model m;
		for (int k = 0; k < nregions; ++k) {
			regs_.push_back(s_->region_allocate(cfg_.region_bytes).value());
			m.allocated(regs_.back(), s_->region_size(regs_.back()).value());
		}
		hist_ = std::make_unique<op_history>(std::move(m));
	}
	~workload()
	{
		if (media_)
			media_->set_hook({});
	}
	bool ready() const
	{
		return s_ != nullptr;
	}

	// Runs the threads with the hook exploring, then checks the final state and a clean close.
	figures run()
	{
		media_->set_hook([this](sim_media &m, sim_event e) { explore(m, e); });
		std::vector<std::thread> pool;
		for (int t = 0; t < cfg_.threads; ++t)
			pool.emplace_back([this, t] { work(t); });
		for (auto &th : pool)
			th.join();
		// Nothing may be left to a worker or a waiter: persist the rest (still explored).
		auto p = s_->persist();
		EXPECT_TRUE(p.has_value());
		observe("after the final persist");
		media_->set_hook({});
		EXPECT_EQ(hist_->in_flight(), 0u) << "operations left unpersisted after persist()";
		check_final();
		fig_.large = large_.load();
		return fig_;
	}

private:
	void report(const std::string &where, const std::string &what, bool api = false)
	{
		std::lock_guard g(report_mutex_);
		++(api ? fig_.api_violations : fig_.violations);
		if (reported_++ < 12)
			ADD_FAILURE() << where << ": " << what;
	}

	void observe(const char *where)
	{
		if (auto v = hist_->observe(*s_); !v.empty())
			report(where, v);
	}

	void work(int t)
	{
		std::mt19937_64 rng(cfg_.seed * 1000003 + static_cast<uint64_t>(t));
		const auto pick_region = [&]() -> region {
			if (cfg_.shared_regions)
				return regs_[rng() % regs_.size()];
			return regs_[static_cast<size_t>(t)];
		};
		uint64_t last = 0; // this thread's last committed timestamp
		for (uint64_t i = 0; i < cfg_.ops; ++i) {
			const unsigned dice = static_cast<unsigned>(rng() % 100);
			if (dice < 62 || last == 0) {
				const region r = pick_region();
				std::vector<std::byte> data;
				{
					std::lock_guard g(data_mutex_);
					const bool large = rng() % 100 < cfg_.large_percent;
					data = make_payload(rng, large ? 1024 + rng() % 1024 : rng() % 3 == 0 ? rng() % 200 : rng() % 40);
				}
				const uint64_t id = hist_->submit_append(r, data);
				auto e = s_->async_append(r, data);
				if (!e) {
					hist_->failed(id);
					if (e.code() != errc::region_full)
						report("async_append", e.err().message());
					continue;
				}
				hist_->committed(id, *e, e->timestamp);
				last = e->timestamp;
				if (data.size() >= 1024)
					large_.fetch_add(1, std::memory_order_relaxed);
			} else if (dice < 72) {
				const region r = pick_region();
				std::vector<std::byte> data;
				{
					std::lock_guard g(data_mutex_);
					data = make_payload(rng, rng() % 64);
				}
				const uint64_t id = hist_->submit_append(r, data);
				auto e = s_->append(r, data);
				if (!e) {
					hist_->failed(id);
					if (e.code() != errc::region_full)
						report("append", e.err().message());
					continue;
				}
				hist_->committed(id, *e, e->timestamp);
				hist_->persisted(id);
				last = e->timestamp;
			} else if (dice < 84) {
				if (auto st = s_->wait_persisted(last); !st)
					report("wait_persisted", st.err().message());
			} else if (dice < 89) {
				auto p = s_->persist();
				if (!p)
					report("persist", p.err().message());
				else if (*p < last)
					report("persist", "returned a watermark below a timestamp this thread's async_append "
							  "returned (as committed) before it", true);
			} else if (dice < 95) {
				(void)s_->poll_persisted(last);
			} else {
				// A short wait may time out; a success is as good as wait_persisted.
				auto st = s_->wait_persisted(last, std::chrono::microseconds(rng() % 200));
				if (!st && st.code() != errc::timed_out)
					report("wait_persisted with a timeout", st.err().message());
			}
			observe("watermarks after an operation");
		}
		if (last != 0) {
			if (auto st = s_->wait_persisted(last); !st)
				report("final wait_persisted", st.err().message());
			observe("after the thread's last wait");
		}
	}

	void explore(sim_media &m, sim_event e)
	{
		const uint64_t n = e == sim_event::flush ? cfg_.images_per_flush : cfg_.images_per_drain;
		if (n == 0)
			return;
		// The watermark read at the crash instant is an observation too.
		observe("watermarks at a crash point");
		const expectation x = hist_->view();
		++fig_.points;
		fig_.crowded += x.in_flight.size() > 1;
		for (const auto &op : x.in_flight)
			if (op.kind == op_kind::append && op.timestamp != 0) {
				++fig_.unpersisted; // committed, not known persisted
				break;
			}
		std::mt19937_64 rng(cfg_.seed ^ (m.drains() << 24) ^ m.flushes());
		std::vector<std::byte> img;
		for (uint64_t k = 0; k < n; ++k) {
			m.crash_image(rng, img);
			check_image(img, x,
				    std::string(e == sim_event::flush ? "at flush " : "before fence ") +
					    std::to_string(e == sim_event::flush ? m.flushes() : m.drains()) + ", image " +
					    std::to_string(k) + ", " + std::to_string(x.in_flight.size()) + " in flight, persisted " +
					    std::to_string(x.persisted));
		}
	}

	void check_image(const std::vector<std::byte> &img, const expectation &x, const std::string &where)
	{
		++fig_.images;
		open_options o;
		o.commit.worker = commit_policy::worker_mode::off;
		o.read_only = fig_.images % 4 == 0;
		auto sm = std::make_unique<sim_media>(img, o.read_only, cfg_.fence);
		sim_media *raw = sm.get();
		auto r = detail::open_on_media(std::move(sm), 0, o);
		if (!r) {
			report(where, std::string("open of a crash image failed: ") + errc_name(r.code()) + ": " + r.err().message());
			return;
		}
		stream_model seen;
		auto v = check_stream(**r, x, &seen);
		for (auto &w : v)
			report(where + (o.read_only ? " (read-only)" : ""), w);
		if (o.read_only || !v.empty() || fig_.images % 25 != 1)
			return;
		// Now and then: appends to the recovered stream (sync, and async persisted by a wait),
		// then a second crash (the durable image): they must all be there.
		++fig_.second_crashes;
		expectation x2{seen, {}, 0};
		std::mt19937_64 rng(fig_.images);
		for (int k = 0; k < 3 && !x2.acked.regions.empty(); ++k) {
			const region reg{x2.acked.regions[rng() % x2.acked.regions.size()].offset};
			auto data = make_payload(rng, rng() % 100);
			auto e = k == 1 ? (*r)->async_append(reg, data) : (*r)->append(reg, data);
			if (e && k == 1 && !(*r)->wait_persisted(e->timestamp).has_value()) {
				report(where + " (append after recovery)", "wait_persisted failed");
				return;
			}
			if (e)
				x2.acked.appended(reg, *e, e->timestamp, data);
			else if (e.code() != errc::region_full)
				report(where + " (append after recovery)", e.err().message());
		}
		const auto again = raw->persisted_image();
		auto r2 = detail::open_on_media(std::make_unique<sim_media>(again, false, cfg_.fence), 0, o);
		if (!r2) {
			report(where + " (second crash)", std::string("open failed: ") + r2.err().message());
			return;
		}
		for (auto &w : check_stream(**r2, x2))
			report(where + " (appends after recovery, then a second crash)", w);
	}

	void check_final()
	{
		const expectation x = hist_->view();
		std::mt19937_64 rng(cfg_.seed + 77);
		std::vector<std::byte> img;
		for (int k = 0; k < 30; ++k) {
			media_->crash_image(rng, img);
			check_image(img, x, "final image " + std::to_string(k));
		}
		media_ = nullptr;
		s_.reset(); // a clean close
		check_image(*closed_, x, "after a clean close");
	}

	config cfg_;
	sim_media *media_ = nullptr;
	std::shared_ptr<std::vector<std::byte>> closed_ = std::make_shared<std::vector<std::byte>>();
	std::unique_ptr<stream> s_;
	std::vector<region> regs_;
	std::unique_ptr<op_history> hist_;
	std::mutex data_mutex_, report_mutex_;
	uint64_t reported_ = 0;
	figures fig_;
	std::atomic<uint64_t> large_{0};
};

void run(const char *name, const config &c)
{
	workload w(c);
	ASSERT_TRUE(w.ready());
	const auto t0 = std::chrono::steady_clock::now();
	const figures f = w.run();
	std::printf("crash_async[%s]: %d threads x %llu ops, %llu crash points (%llu with several operations in flight, %llu with "
		    "committed entries not persisted), %llu images (%llu crashed again after appends), %llu violations, %llu API contract violations, %.1f s\n",
		    name, c.threads, static_cast<unsigned long long>(c.ops), static_cast<unsigned long long>(f.points),
		    static_cast<unsigned long long>(f.crowded), static_cast<unsigned long long>(f.unpersisted),
		    static_cast<unsigned long long>(f.images), static_cast<unsigned long long>(f.second_crashes),
		    static_cast<unsigned long long>(f.violations), static_cast<unsigned long long>(f.api_violations),
		    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
	EXPECT_EQ(f.violations, 0u) << "crash images or watermark readings departed from the history";
	EXPECT_EQ(f.api_violations, 0u) << "calls broke their contract";
	EXPECT_GT(f.points, 0u);
	// The states the test is for were reached.
	EXPECT_GT(f.unpersisted, 0u) << "no crash point had a committed entry that was not persisted";
	EXPECT_GT(f.crowded, 0u) << "no crash point had several operations in flight";
	if (c.large_percent > 0) {
		EXPECT_GT(f.large, 0u) << "no large asynchronous append was acknowledged";
	}
}

} // namespace

TEST(crash_async, pmem_threads_own_regions)
{
	config c;
	run("pmem, own regions", c);
}

TEST(crash_async, pmem_threads_share_regions)
{
	config c;
	c.shared_regions = true;
	c.max_in_flight = 3;
	run("pmem, shared regions, max_in_flight 3", c);
}

TEST(crash_async, pmem_two_threads_max_in_flight_one)
{
	config c;
	c.threads = 2;
	c.shared_regions = true;
	c.max_in_flight = 1;
	run("pmem, shared regions, max_in_flight 1", c);
}

TEST(crash_async, pmem_large_entries_drain_themselves)
{
	config c;
	c.threads = 2;
	c.shared_regions = true;
	c.max_in_flight = 4;
	c.large_percent = 35;
	c.region_bytes = 96 * 1024;
	c.ops = std::min<uint64_t>(c.ops, 80);
	run("pmem, shared regions, 35% of async entries 1-2 KiB", c);
}

TEST(crash_async, msync_with_commit_worker)
{
	config c;
	c.fence = fence_model::range_sync;
	c.worker = commit_policy::worker_mode::on;
	run("msync, commit worker", c);
}

TEST(crash_async, msync_with_commit_worker_shared_regions)
{
	config c;
	c.fence = fence_model::range_sync;
	c.worker = commit_policy::worker_mode::on;
	c.shared_regions = true;
	run("msync, commit worker, shared regions", c);
}

TEST(crash_async, msync_without_worker)
{
	config c;
	c.fence = fence_model::range_sync;
	c.threads = 2;
	run("msync, no worker", c);
}

// The harness must catch a fence that is missing: with one drain of wait_persisted() dropped
// (its flushes forgotten), the watermark claims entries the medium does not hold. At least
// one of the first drains after the submissions must be caught.
TEST(crash_async, harness_catches_a_dropped_drain_in_wait_persisted)
{
	uint64_t caught = 0;
	for (uint64_t k = 1; k <= 3; ++k) {
		auto sm = std::make_unique<sim_media>(4096 + 2 * (small_region_bytes + 4096), false, fence_model::per_thread);
		sim_media *m = sm.get();
		open_options o;
		o.commit.worker = commit_policy::worker_mode::off;
		auto s = detail::open_on_media(std::move(sm), 4096, o).value();
		const region r = s->region_allocate(small_region_bytes).value();
		stream_model model;
		model.allocated(r, s->region_size(r).value());
		op_history h(model);
		std::mt19937_64 rng(k);
		uint64_t last = 0;
		for (int i = 0; i < 6; ++i) {
			auto data = make_payload(rng, 30 + static_cast<uint64_t>(i) * 10);
			const uint64_t id = h.submit_append(r, data);
			auto e = s->async_append(r, data).value();
			h.committed(id, e, e.timestamp);
			last = e.timestamp;
		}
		m->drop_drain(m->drains() + k);
		if (!s->wait_persisted(last).has_value())
			continue;
		(void)h.observe(*s);
		open_options ro;
		ro.read_only = true;
		ro.commit.worker = commit_policy::worker_mode::off;
		auto img = m->persisted_image();
		auto r2 = detail::open_on_media(std::make_unique<sim_media>(img, true, fence_model::per_thread), 0, ro);
		if (!r2 || !check_stream(**r2, h.view()).empty())
			++caught;
	}
	EXPECT_GT(caught, 0u) << "no dropped drain of wait_persisted was caught: the check cannot fail";
}

// A recovery after a crash hands out timestamps above its lease (a jump, e.g. 1 -> 4098); an
// append acknowledged after that must survive the next crash like any other. Deterministic:
// the durable image (everything fenced, nothing in flight) at each crash.
TEST(crash_async, an_append_acknowledged_after_a_crash_recovery_survives_the_next_crash)
{
	for (bool lost_async : {false, true})
	for (bool async : {false, true})
		for (auto f : {fence_model::per_thread, fence_model::range_sync}) {
			SCOPED_TRACE(std::string(async ? "async_append + wait_persisted" : "append") + ", " +
				     (f == fence_model::per_thread ? "pmem" : "msync") +
				     (lost_async ? ", unpersisted async entries lost in the first crash" : ""));
			open_options o;
			o.commit.worker = commit_policy::worker_mode::off;
			auto sm = std::make_unique<sim_media>(256 * 1024, false, f);
			sim_media *m = sm.get();
			auto s = detail::open_on_media(std::move(sm), 4096, o).value();
			const region r = s->region_allocate(3000).value();
			ASSERT_TRUE(s->append(r, "abc", 3).has_value());
			if (lost_async) { // committed, never persisted: gone after crash 1
				for (int k = 0; k < 3; ++k)
					ASSERT_TRUE(s->async_append(r, "xy", 2).has_value());
			}
			std::vector<std::byte> img = m->persisted_image(); // crash 1
			s.reset();
			auto sm2 = std::make_unique<sim_media>(img, false, f);
			m = sm2.get();
			s = detail::open_on_media(std::move(sm2), 0, o).value();
			ASSERT_EQ(s->recovery().trimmed_entries, 0u);
			uint64_t ts = 0;
			if (async) {
				ts = s->async_append(r, "defg", 4).value().timestamp;
				ASSERT_TRUE(s->wait_persisted(ts).has_value());
			} else {
				ts = s->append(r, "defg", 4).value().timestamp;
			}
			ASSERT_GE(s->persisted_timestamp(), ts);
			img = m->persisted_image(); // crash 2
			s.reset();
			auto opened = detail::open_on_media(std::make_unique<sim_media>(img, false, f), 0, o);
			ASSERT_TRUE(opened.has_value()) << "the image of the second crash does not open: " << errc_name(opened.code())
							<< ": " << opened.err().message();
			auto &s3 = *opened;
			uint64_t n = 0;
			for (auto e : *s3->entries(r)) {
				(void)e;
				++n;
			}
			EXPECT_EQ(n, 2u) << "the entry with timestamp " << ts << ", acknowledged as persisted, is gone after the next "
					 << "crash (recovery trimmed " << s3->recovery().trimmed_entries << ")";
			EXPECT_EQ(s3->recovery().trimmed_entries, 0u);
		}
}
