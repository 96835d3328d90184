// SPDX-License-Identifier: BSD-3-Clause
// Asynchronous appends (issue 10): an async append returns committed, not persisted; the waits,
// the poll and persist() make it durable, also for entries another thread submitted (on
// persistent memory a fence covers only its own thread's flushes); waits time out, refuse
// timestamps never handed out, wake when another thread gets there, and sleep in the kernel
// while they wait; back-pressure at max_in_flight; the commit worker persists on msync media
// with nobody waiting. Durability is read from the simulated medium's images, not from the
// library's watermark.
#include "gate_media.hpp"
#include "sim_media.hpp"
#include "stream_factory.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <latch>
#include <mutex>
#include <sstream>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

using namespace pmemstream;
using namespace pmemstream::test;
using namespace std::chrono_literals;
using fence_model = sim_media::fence_model;

namespace {

constexpr uint64_t medium_size = 1 << 20;

open_options opts(commit_policy::worker_mode w, uint32_t max_in_flight = default_max_in_flight)
{
	open_options o;
	o.commit.worker = w;
	o.max_in_flight = max_in_flight;
	return o;
}

struct sim_stream {
	sim_media *m = nullptr;
	gate_media *gate = nullptr; // when made with a gate
	std::unique_ptr<stream> s;
	region r;
};

sim_stream make(fence_model f, const open_options &o, bool with_gate = false)
{
	sim_stream x;
	auto sm = std::make_unique<sim_media>(medium_size, false, f);
	x.m = sm.get();
	// Threads store into lines another thread's sweep flushes (consecutive entries share
	// lines): hardware does that coherently, the simulation by taking turns.
	x.m->set_serialized(true);
	std::unique_ptr<detail::media> top;
	if (with_gate) {
		auto g = std::make_unique<gate_media>(std::move(sm));
		x.gate = g.get();
		top = std::move(g);
	} else {
		top = std::move(sm);
	}
	auto s = detail::open_on_media(std::move(top), 4096, o);
	EXPECT_TRUE(s.has_value()) << (s ? "" : s.err().message());
	if (!s)
		return x;
	x.s = std::move(*s);
	x.r = x.s->region_allocate(256 * 1024).value();
	return x;
}

// The payloads of region `r` in an image of the medium, opened read-only (recovery as after a
// power failure, without writing).
std::vector<std::vector<std::byte>> region_in_image(const std::vector<std::byte> &img, region r, fence_model f)
{
	open_options o;
	o.read_only = true;
	auto s = detail::open_on_media(std::make_unique<sim_media>(img, true, f), 0, o);
	EXPECT_TRUE(s.has_value()) << (s ? "" : s.err().message());
	std::vector<std::vector<std::byte>> out;
	if (!s)
		return out;
	auto it = (*s)->entries(region{r.offset, 0});
	EXPECT_TRUE(it.has_value());
	if (!it)
		return out;
	for (auto e : *it)
		out.push_back(::test::to_vec(*(*s)->entry_data(e)));
	return out;
}

std::vector<std::byte> payload(uint64_t i)
{
	return ::test::pattern(static_cast<size_t>((i * 37) % 300), static_cast<unsigned>(i));
}

// Every crash image of this moment holds at least the first `n` of `want`, exact, in order.
void expect_durable(const sim_media &m, region r, fence_model f, const std::vector<std::vector<std::byte>> &want, size_t n,
		    const char *what)
{
	auto check = [&](const std::vector<std::byte> &img, const std::string &which) {
		auto got = region_in_image(img, r, f);
		ASSERT_GE(got.size(), n) << what << ": " << which << " lost entries the stream said were persisted";
		for (size_t i = 0; i < got.size() && i < want.size(); ++i)
			ASSERT_EQ(got[i], want[i]) << what << ": " << which << ", entry " << i;
	};
	check(m.persisted_image(), "the durable image");
	std::mt19937_64 rng(5);
	std::vector<std::byte> img;
	for (int k = 0; k < 40; ++k) {
		m.crash_image(rng, img);
		check(img, "crash image " + std::to_string(k));
	}
}

// /proc/self/task/<tid>/stat: the state letter and utime + stime in clock ticks.
struct task_stat {
	char state = '?';
	uint64_t cpu_ticks = 0;
};

task_stat read_task_stat(pid_t tid)
{
	std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
	std::string line;
	std::getline(f, line);
	task_stat st;
	const auto close = line.rfind(')'); // the command may hold spaces and parentheses
	if (close == std::string::npos)
		return st;
	std::istringstream rest(line.substr(close + 2));
	std::string field;
	rest >> st.state;
	// Fields 4..13, then utime (14) and stime (15).
	for (int i = 4; i <= 13; ++i)
		rest >> field;
	uint64_t ut = 0, stime = 0;
	rest >> ut >> stime;
	st.cpu_ticks = ut + stime;
	return st;
}

pid_t this_tid()
{
	return static_cast<pid_t>(::syscall(SYS_gettid));
}

// The thread of this process named `name` (/proc/self/task/*/comm), 0 if none.
pid_t find_thread(const std::string &name)
{
	for (const auto &d : std::filesystem::directory_iterator("/proc/self/task")) {
		std::ifstream f(d.path() / "comm");
		std::string comm;
		std::getline(f, comm);
		if (comm == name)
			return static_cast<pid_t>(std::stoi(d.path().filename().string()));
	}
	return 0;
}

// Voluntary and involuntary context switches of a thread of this process: how often it woke.
uint64_t context_switches(pid_t tid)
{
	std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/status");
	uint64_t n = 0;
	for (std::string line; std::getline(f, line);)
		if (line.starts_with("voluntary_ctxt_switches:") || line.starts_with("nonvoluntary_ctxt_switches:"))
			n += std::stoull(line.substr(line.find(':') + 1));
	return n;
}

// A thread that submits one async append and stops inside it (timestamp taken, entry not
// committed) until the gate is released.
class stuck_append {
public:
	stuck_append(sim_stream &x, std::vector<std::byte> data) : x_(x), data_(std::move(data))
	{
		th_ = std::thread([this] {
			x_.gate->arm_for_this_thread();
			auto e = x_.s->async_append(x_.r, data_);
			ok_ = e.has_value();
			if (e)
				ts_ = e->timestamp;
		});
		blocked_ = x_.gate->wait_blocked();
		// A wait that does not return by its timeout (say, it queues behind the stuck
		// append) must fail the test, not hang it.
		watchdog_ = std::thread([this] {
			std::unique_lock lk(mutex_);
			if (!cv_.wait_for(lk, 10s, [&] { return finished_; })) {
				fired_ = true;
				x_.gate->release();
			}
		});
	}
	~stuck_append()
	{
		finish();
		EXPECT_FALSE(fired_.load()) << "a call stayed blocked behind the stuck append for 10 s (the watchdog released it)";
	}
	bool blocked() const
	{
		return blocked_;
	}
	void finish()
	{
		if (th_.joinable()) {
			x_.gate->release();
			th_.join();
		}
		if (watchdog_.joinable()) {
			{
				std::lock_guard g(mutex_);
				finished_ = true;
			}
			cv_.notify_all();
			watchdog_.join();
		}
	}
	uint64_t timestamp() const
	{
		return ts_;
	}
	bool ok() const
	{
		return ok_;
	}

private:
	sim_stream &x_;
	std::vector<std::byte> data_;
	std::thread th_, watchdog_;
	std::mutex mutex_;
	std::condition_variable cv_;
	bool finished_ = false;
	std::atomic<bool> fired_{false};
	bool blocked_ = false;
	std::atomic<bool> ok_{false};
	uint64_t ts_ = 0;
};

} // namespace

// The entry is visible at once (iterator, accessors, committed watermark) and not durable:
// neither the watermark nor the medium's durable image has it until wait_persisted.
TEST(async, async_append_returns_committed_not_persisted)
{
	const auto f = fence_model::per_thread;
	auto x = make(f, opts(commit_policy::worker_mode::off));
	ASSERT_TRUE(x.s);
	const auto base_ts = x.s->persisted_timestamp();
	const auto data = payload(7);
	auto e = x.s->async_append(x.r, data);
	ASSERT_TRUE(e.has_value()) << e.err().message();
	const uint64_t ts = e->timestamp;
	EXPECT_GT(ts, base_ts);
	EXPECT_GE(x.s->committed_timestamp(), ts);
	EXPECT_EQ(x.s->last_timestamp(), ts);
	EXPECT_EQ(*x.s->entry_timestamp(*e), ts);
	auto seen = ::test::entries_of(*x.s, x.r);
	ASSERT_EQ(seen.size(), 1u) << "an iterator does not see the committed entry";
	EXPECT_EQ(::test::to_vec(*x.s->entry_data(seen[0])), data);
	EXPECT_LT(x.s->persisted_timestamp(), ts) << "async_append persisted (fenced) its entry";
	EXPECT_TRUE(region_in_image(x.m->persisted_image(), x.r, f).empty())
		<< "the durable image holds an entry nothing fenced";

	ASSERT_TRUE(x.s->wait_persisted(ts).has_value());
	EXPECT_GE(x.s->persisted_timestamp(), ts);
	expect_durable(*x.m, x.r, f, {data}, 1, "after wait_persisted");
}

TEST(async, persist_makes_everything_committed_durable)
{
	const auto f = fence_model::per_thread;
	auto x = make(f, opts(commit_policy::worker_mode::off));
	ASSERT_TRUE(x.s);
	std::vector<std::vector<std::byte>> want;
	uint64_t last = 0;
	for (uint64_t i = 0; i < 10; ++i) {
		want.push_back(payload(i));
		last = x.s->async_append(x.r, want.back()).value().timestamp;
	}
	EXPECT_LT(x.s->persisted_timestamp(), last);
	auto p = x.s->persist();
	ASSERT_TRUE(p.has_value()) << p.err().message();
	EXPECT_GE(*p, last);
	EXPECT_GE(x.s->persisted_timestamp(), last);
	expect_durable(*x.m, x.r, f, want, want.size(), "after persist()");
}

// Polling alone completes the work: the poll starts persisting when nobody else does.
TEST(async, poll_persisted_alone_makes_entries_durable)
{
	const auto f = fence_model::per_thread;
	auto x = make(f, opts(commit_policy::worker_mode::off));
	ASSERT_TRUE(x.s);
	std::vector<std::vector<std::byte>> want;
	uint64_t last = 0;
	for (uint64_t i = 0; i < 5; ++i) {
		want.push_back(payload(i + 100));
		last = x.s->async_append(x.r, want.back()).value().timestamp;
	}
	EXPECT_LT(x.s->persisted_timestamp(), last);
	bool done = false;
	const auto deadline = std::chrono::steady_clock::now() + 5s;
	uint64_t polls = 0;
	while (!done && std::chrono::steady_clock::now() < deadline) {
		done = x.s->poll_persisted(last);
		++polls;
		if (!done)
			std::this_thread::sleep_for(100us);
	}
	ASSERT_TRUE(done) << "poll_persisted never turned true (" << polls << " polls in 5 s)";
	EXPECT_GE(x.s->persisted_timestamp(), last);
	expect_durable(*x.m, x.r, f, want, want.size(), "after poll_persisted returned true");
	EXPECT_TRUE(x.s->poll_persisted(last)) << "a true poll turned false";
}

// On persistent memory a fence orders only the flushes of its own thread: the waiter must
// make the other thread's entries durable itself.
TEST(async, wait_persisted_on_another_thread_makes_its_entries_durable)
{
	const auto f = fence_model::per_thread;
	auto x = make(f, opts(commit_policy::worker_mode::off));
	ASSERT_TRUE(x.s);
	std::vector<std::vector<std::byte>> want;
	std::atomic<uint64_t> last{0};
	std::latch submitted(1), checked(1);
	std::thread a([&] {
		for (uint64_t i = 0; i < 20; ++i) {
			want.push_back(payload(i + 3));
			auto e = x.s->async_append(x.r, want.back());
			ASSERT_TRUE(e.has_value());
			last = e->timestamp;
		}
		submitted.count_down();
		checked.wait(); // alive, its flushes unfenced, while the others check
	});
	submitted.wait();
	EXPECT_LT(x.s->persisted_timestamp(), last.load());
	std::thread b([&] { EXPECT_TRUE(x.s->wait_persisted(last.load()).has_value()); });
	b.join();
	EXPECT_GE(x.s->persisted_timestamp(), last.load());
	expect_durable(*x.m, x.r, f, want, want.size(), "after another thread's wait_persisted");
	checked.count_down();
	a.join();
}

// The same with entries of two threads in two regions, and the waiter one of the submitters.
TEST(async, a_submitters_wait_covers_the_other_submitters_entries)
{
	const auto f = fence_model::per_thread;
	auto x = make(f, opts(commit_policy::worker_mode::off));
	ASSERT_TRUE(x.s);
	const region r2 = x.s->region_allocate(64 * 1024).value();
	std::vector<std::vector<std::byte>> want1, want2;
	std::atomic<uint64_t> last2{0};
	std::latch submitted(1), checked(1);
	std::thread a([&] {
		for (uint64_t i = 0; i < 15; ++i) {
			want2.push_back(payload(i + 50));
			last2 = x.s->async_append(r2, want2.back()).value().timestamp;
		}
		submitted.count_down();
		checked.wait();
	});
	submitted.wait();
	uint64_t last1 = 0;
	for (uint64_t i = 0; i < 5; ++i) {
		want1.push_back(payload(i + 80));
		last1 = x.s->async_append(x.r, want1.back()).value().timestamp;
	}
	ASSERT_GT(last1, last2.load());
	ASSERT_TRUE(x.s->wait_persisted(last1).has_value());
	expect_durable(*x.m, x.r, f, want1, want1.size(), "own region");
	expect_durable(*x.m, r2, f, want2, want2.size(), "the other thread's region");
	checked.count_down();
	a.join();
}

TEST(async, waits_time_out_on_a_timestamp_not_yet_committed)
{
	auto x = make(fence_model::per_thread, opts(commit_policy::worker_mode::off), true);
	ASSERT_TRUE(x.s);
	ASSERT_TRUE(x.s->append(x.r, payload(1)).has_value());
	stuck_append a(x, payload(2));
	ASSERT_TRUE(a.blocked()) << "the append never called into the medium";
	const uint64_t ts = x.s->last_timestamp();
	ASSERT_GT(ts, x.s->committed_timestamp()) << "no timestamp handed out before the entry is written";

	auto t0 = std::chrono::steady_clock::now();
	auto st = x.s->wait_committed(ts, 50ms);
	auto waited = std::chrono::steady_clock::now() - t0;
	ASSERT_FALSE(st.has_value());
	EXPECT_EQ(st.code(), errc::timed_out);
	EXPECT_GE(waited, 50ms);
	EXPECT_LT(waited, 3s);

	t0 = std::chrono::steady_clock::now();
	st = x.s->wait_persisted(ts, 50ms);
	waited = std::chrono::steady_clock::now() - t0;
	ASSERT_FALSE(st.has_value());
	EXPECT_EQ(st.code(), errc::timed_out);
	EXPECT_GE(waited, 50ms);
	EXPECT_LT(waited, 3s);

	EXPECT_EQ(x.s->wait_committed(ts, 0ns).code(), errc::timed_out);
	EXPECT_FALSE(x.s->poll_persisted(ts));
	// Smaller timestamps are not held up by the stuck one.
	EXPECT_TRUE(x.s->wait_committed(ts - 1, 50ms).has_value());
	EXPECT_TRUE(x.s->wait_persisted(ts - 1, 50ms).has_value());

	a.finish();
	ASSERT_TRUE(a.ok());
	EXPECT_EQ(a.timestamp(), ts);
	EXPECT_TRUE(x.s->wait_committed(ts, 5s).has_value());
	EXPECT_TRUE(x.s->wait_persisted(ts, 5s).has_value());
}

TEST(async, waits_refuse_a_timestamp_never_handed_out)
{
	auto x = make(fence_model::per_thread, opts(commit_policy::worker_mode::off));
	ASSERT_TRUE(x.s);
	EXPECT_EQ(x.s->wait_committed(1, 10ms).code(), errc::invalid_argument) << "empty stream";
	EXPECT_EQ(x.s->wait_persisted(1).code(), errc::invalid_argument) << "empty stream, no timeout";
	const uint64_t ts = x.s->async_append(x.r, payload(4)).value().timestamp;
	EXPECT_EQ(x.s->last_timestamp(), ts);
	EXPECT_EQ(x.s->wait_committed(ts + 1).code(), errc::invalid_argument);
	EXPECT_EQ(x.s->wait_persisted(ts + 1).code(), errc::invalid_argument);
	EXPECT_EQ(x.s->wait_persisted(ts + 1000, 10ms).code(), errc::invalid_argument);
	EXPECT_EQ(x.s->wait_persisted(UINT64_MAX, 10ms).code(), errc::invalid_argument);
	EXPECT_FALSE(x.s->poll_persisted(ts + 1));
	EXPECT_TRUE(x.s->wait_committed(ts).has_value());
	EXPECT_TRUE(x.s->wait_persisted(ts).has_value());
}

// A thread asleep in wait_persisted() on an entry that is not written yet wakes once another
// thread commits and persists it; meanwhile it is blocked in the kernel and uses no CPU.
TEST(async, an_idle_waiter_sleeps_in_the_kernel_and_wakes_when_another_thread_persists)
{
	auto x = make(fence_model::per_thread, opts(commit_policy::worker_mode::off), true);
	ASSERT_TRUE(x.s);
	stuck_append a(x, payload(9));
	ASSERT_TRUE(a.blocked());
	const uint64_t ts = x.s->last_timestamp();
	ASSERT_GT(ts, x.s->committed_timestamp());

	std::atomic<pid_t> tid_c{0}, tid_p{0};
	std::atomic<bool> woke_c{false}, woke_p{false};
	std::thread wc([&] {
		tid_c = this_tid();
		EXPECT_TRUE(x.s->wait_committed(ts).has_value());
		woke_c = true;
	});
	std::thread wp([&] {
		tid_p = this_tid();
		EXPECT_TRUE(x.s->wait_persisted(ts).has_value());
		woke_p = true;
	});
	while (tid_c.load() == 0 || tid_p.load() == 0)
		std::this_thread::yield();
	std::this_thread::sleep_for(100ms); // past the brief spin
	const task_stat c0 = read_task_stat(tid_c), p0 = read_task_stat(tid_p);
	// Asleep at every look, not just at most: a thread that polls with short sleeps is
	// caught running now and then.
	task_stat c1, p1;
	for (int k = 0; k < 10; ++k) {
		std::this_thread::sleep_for(25ms);
		c1 = read_task_stat(tid_c);
		p1 = read_task_stat(tid_p);
		EXPECT_EQ(c1.state, 'S') << "wait_committed is not asleep in the kernel (look " << k << ")";
		EXPECT_EQ(p1.state, 'S') << "wait_persisted is not asleep in the kernel (look " << k << ")";
	}
	EXPECT_FALSE(woke_c.load());
	EXPECT_FALSE(woke_p.load());
	EXPECT_EQ(c0.state, 'S') << "wait_committed is not asleep";
	EXPECT_EQ(p0.state, 'S') << "wait_persisted is not asleep";
	// A spinning thread would gather ~25 ticks in 250 ms; allow the one a boundary may add.
	EXPECT_LE(c1.cpu_ticks - c0.cpu_ticks, 1u) << "wait_committed used CPU while waiting";
	EXPECT_LE(p1.cpu_ticks - p0.cpu_ticks, 1u) << "wait_persisted used CPU while waiting";

	a.finish(); // commits it (not persisted: nobody but the waiter may do that)
	ASSERT_TRUE(a.ok());
	wc.join();
	EXPECT_TRUE(woke_c.load());
	auto p = x.s->persist(); // the main thread persists; the waiter must wake
	ASSERT_TRUE(p.has_value());
	EXPECT_GE(*p, ts);
	const auto deadline = std::chrono::steady_clock::now() + 5s;
	while (!woke_p.load() && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(1ms);
	EXPECT_TRUE(woke_p.load()) << "wait_persisted did not wake within 5 s of persist()";
	wp.join();
}

// More async appends to one region than max_in_flight never fail: the oldest is persisted
// first, so at most max_in_flight entries of the region are ever not persisted.
TEST(async, back_pressure_beyond_max_in_flight_never_errors)
{
	for (uint32_t w : {1u, 4u, 64u}) {
		SCOPED_TRACE("max_in_flight " + std::to_string(w));
		const auto f = fence_model::per_thread;
		auto x = make(f, opts(commit_policy::worker_mode::off, w));
		ASSERT_TRUE(x.s);
		std::vector<std::vector<std::byte>> want;
		uint64_t last = 0, first = 0;
		const uint64_t n = 4 * w + 50;
		for (uint64_t i = 0; i < n; ++i) {
			want.push_back(payload(i % 7));
			auto e = x.s->async_append(x.r, want.back());
			ASSERT_TRUE(e.has_value()) << "append " << i << ": " << e.err().message();
			if (i == 0)
				first = e->timestamp;
			last = e->timestamp;
			ASSERT_GE(x.s->persisted_timestamp() + w, last) << "more than max_in_flight entries unpersisted";
		}
		EXPECT_EQ(last - first + 1, n);
		EXPECT_EQ(::test::entries_of(*x.s, x.r).size(), n);
		// What back-pressure persisted is durable.
		const uint64_t p = x.s->persisted_timestamp();
		expect_durable(*x.m, x.r, f, want, static_cast<size_t>(p - first + 1), "after back-pressure");
	}
}

// Several threads on one region with a small max_in_flight: nothing fails, nothing is lost.
TEST(async, threads_async_appending_to_one_region_under_back_pressure)
{
	auto x = make(fence_model::per_thread, opts(commit_policy::worker_mode::off, 2));
	ASSERT_TRUE(x.s);
	constexpr int threads = 3, per = 300;
	std::vector<std::thread> pool;
	std::atomic<int> failures{0};
	for (int t = 0; t < threads; ++t)
		pool.emplace_back([&, t] {
			for (int i = 0; i < per; ++i) {
				auto e = x.s->async_append(x.r, ::test::pattern(24, static_cast<unsigned>(t * 1000 + i)));
				if (!e)
					++failures;
				if (i % 50 == 49 && e)
					(void)x.s->wait_persisted(e->timestamp);
			}
		});
	for (auto &th : pool)
		th.join();
	EXPECT_EQ(failures.load(), 0);
	EXPECT_EQ(::test::entries_of(*x.s, x.r).size(), static_cast<size_t>(threads * per));
	ASSERT_TRUE(x.s->persist().has_value());
	EXPECT_EQ(x.s->persisted_timestamp(), x.s->committed_timestamp());
}

// On msync media (any thread's sync covers the range) the commit worker persists committed
// entries with nobody waiting, within a bounded time.
TEST(async, commit_worker_persists_on_msync_media_without_a_waiter)
{
	const auto f = fence_model::range_sync;
	open_options o = opts(commit_policy::worker_mode::on);
	o.commit.max_delay = 200us;
	auto x = make(f, o);
	ASSERT_TRUE(x.s);
	std::vector<std::vector<std::byte>> want;
	uint64_t last = 0;
	for (uint64_t i = 0; i < 40; ++i) {
		want.push_back(payload(i + 11));
		last = x.s->async_append(x.r, want.back()).value().timestamp;
	}
	const auto t0 = std::chrono::steady_clock::now();
	while (x.s->persisted_timestamp() < last && std::chrono::steady_clock::now() - t0 < 5s)
		std::this_thread::sleep_for(1ms);
	const auto took = std::chrono::steady_clock::now() - t0;
	ASSERT_GE(x.s->persisted_timestamp(), last) << "the worker did not persist within 5 s";
	std::printf("commit worker: persisted %zu entries %.2f ms after the last submit\n", want.size(),
		    std::chrono::duration<double, std::milli>(took).count());
	expect_durable(*x.m, x.r, f, want, want.size(), "after the worker");

	// And again after an idle spell: the worker wakes for new work.
	std::this_thread::sleep_for(50ms);
	want.push_back(payload(999));
	last = x.s->async_append(x.r, want.back()).value().timestamp;
	const auto t1 = std::chrono::steady_clock::now();
	while (x.s->persisted_timestamp() < last && std::chrono::steady_clock::now() - t1 < 5s)
		std::this_thread::sleep_for(1ms);
	ASSERT_GE(x.s->persisted_timestamp(), last) << "the worker did not persist a lone entry after an idle spell";
	expect_durable(*x.m, x.r, f, want, want.size(), "after the worker, lone entry");
}

// The worker's max_bytes trigger: with the entry count and the delay out of reach, it
// persists once the committed bytes pass max_bytes, and not before.
TEST(async, commit_worker_persists_when_committed_bytes_pass_max_bytes)
{
	const auto f = fence_model::range_sync;
	open_options o = opts(commit_policy::worker_mode::on);
	o.commit.max_entries = 1000000;
	o.commit.max_delay = std::chrono::duration_cast<std::chrono::microseconds>(60s);
	o.commit.max_bytes = 16 * 1024;
	auto x = make(f, o);
	ASSERT_TRUE(x.s);
	const std::vector<std::byte> kib(1024, std::byte{0x5a});
	uint64_t last = 0;
	for (int i = 0; i < 8; ++i) // 8 KiB: below the trigger
		last = x.s->async_append(x.r, kib).value().timestamp;
	std::this_thread::sleep_for(200ms);
	EXPECT_LT(x.s->persisted_timestamp(), last) << "persisted with the trigger out of reach";
	for (int i = 0; i < 8; ++i) // 16 KiB: the trigger
		last = x.s->async_append(x.r, kib).value().timestamp;
	// (Entries committed after the sweep starts may stay for the next trigger: the worker
	// persists what is committed when it wakes.)
	const auto t0 = std::chrono::steady_clock::now();
	while (x.s->persisted_timestamp() < last && std::chrono::steady_clock::now() - t0 < 5s)
		std::this_thread::sleep_for(1ms);
	EXPECT_GE(x.s->persisted_timestamp(), last) << "the worker did not persist 16 KiB with a 16 KiB max_bytes";
}

// Synchronous appends persist their own entries: they must not wake the commit worker (a
// worker racing them for the sweep would only add a hand-off). The idle worker wakes on its
// own timer (every 50 ms); thousands of appends in the same time must not add wake-ups.
TEST(async, synchronous_appends_leave_the_commit_worker_asleep)
{
	auto x = make(fence_model::range_sync, opts(commit_policy::worker_mode::on));
	ASSERT_TRUE(x.s);
	pid_t worker = 0;
	for (int k = 0; k < 200 && worker == 0; ++k) {
		worker = find_thread("pmemstream-cmt");
		std::this_thread::sleep_for(1ms);
	}
	ASSERT_NE(worker, 0) << "no thread named pmemstream-cmt: the worker did not start";
	std::this_thread::sleep_for(20ms);
	const uint64_t idle0 = context_switches(worker);
	std::this_thread::sleep_for(300ms);
	const uint64_t idle = context_switches(worker) - idle0;

	const uint64_t busy0 = context_switches(worker);
	const auto t0 = std::chrono::steady_clock::now();
	uint64_t appends = 0;
	while (std::chrono::steady_clock::now() - t0 < 300ms) {
		auto a = x.s->append(x.r, payload(appends % 50));
		if (!a && a.code() == errc::region_full) { // start over in a fresh region
			ASSERT_TRUE(x.s->region_free(x.r).has_value());
			x.r = x.s->region_allocate(256 * 1024).value();
			continue;
		}
		ASSERT_TRUE(a.has_value()) << a.err().message();
		++appends;
	}
	const uint64_t busy = context_switches(worker) - busy0;
	std::printf("commit worker: %llu wake-ups in 300 ms idle, %llu during %llu synchronous appends\n",
		    static_cast<unsigned long long>(idle), static_cast<unsigned long long>(busy),
		    static_cast<unsigned long long>(appends));
	EXPECT_GT(appends, 100u);
	EXPECT_LE(busy, idle + 4) << "synchronous appends woke the commit worker";
}

// The worker also persists what several threads submit, and a closed stream loses nothing
// that was committed (close persists).
TEST(async, commit_worker_serves_several_threads_and_close_persists)
{
	const auto f = fence_model::range_sync;
	auto sm = std::make_unique<sim_media>(medium_size, false, f);
	auto sink = std::make_shared<std::vector<std::byte>>();
	sm->keep_on_destroy(sink);
	sm->set_serialized(true);
	auto s = detail::open_on_media(std::move(sm), 4096, opts(commit_policy::worker_mode::on)).value();
	std::vector<region> rs;
	for (int t = 0; t < 2; ++t)
		rs.push_back(s->region_allocate(64 * 1024).value());
	std::vector<std::thread> pool;
	for (int t = 0; t < 2; ++t)
		pool.emplace_back([&, t] {
			for (int i = 0; i < 200; ++i)
				ASSERT_TRUE(s->async_append(rs[t], ::test::pattern(40, static_cast<unsigned>(t * 7 + i))).has_value());
		});
	for (auto &th : pool)
		th.join();
	const uint64_t last = s->last_timestamp();
	EXPECT_TRUE(s->wait_persisted(last, 5s).has_value());
	s.reset();
	ASSERT_FALSE(sink->empty());
	for (int t = 0; t < 2; ++t) {
		auto got = region_in_image(*sink, rs[t], f);
		ASSERT_EQ(got.size(), 200u);
		for (int i = 0; i < 200; ++i)
			EXPECT_EQ(got[static_cast<size_t>(i)], ::test::pattern(40, static_cast<unsigned>(t * 7 + i)));
	}
}

// async_publish: committed on return, persisted by the waits like async_append.
TEST(async, async_publish_commits_without_persisting)
{
	const auto f = fence_model::per_thread;
	auto x = make(f, opts(commit_policy::worker_mode::off));
	ASSERT_TRUE(x.s);
	auto res = x.s->reserve(x.r, 100);
	ASSERT_TRUE(res.has_value());
	const auto data = ::test::pattern(60, 3);
	std::memcpy(res->data, data.data(), data.size());
	auto ts = x.s->async_publish(x.r, res->ent, data.size());
	ASSERT_TRUE(ts.has_value()) << ts.err().message();
	EXPECT_GE(x.s->committed_timestamp(), *ts);
	EXPECT_LT(x.s->persisted_timestamp(), *ts);
	EXPECT_EQ(::test::entries_of(*x.s, x.r).size(), 1u);
	ASSERT_TRUE(x.s->wait_persisted(*ts).has_value());
	expect_durable(*x.m, x.r, f, {data}, 1, "after async_publish and wait_persisted");
}

// A synchronous append after async ones returns only when they are persisted too (prefix).
TEST(async, a_sync_append_persists_the_async_entries_before_it)
{
	const auto f = fence_model::per_thread;
	auto x = make(f, opts(commit_policy::worker_mode::off));
	ASSERT_TRUE(x.s);
	std::vector<std::vector<std::byte>> want;
	for (uint64_t i = 0; i < 6; ++i) {
		want.push_back(payload(i + 20));
		ASSERT_TRUE(x.s->async_append(x.r, want.back()).has_value());
	}
	want.push_back(payload(99));
	auto e = x.s->append(x.r, want.back());
	ASSERT_TRUE(e.has_value());
	EXPECT_GE(x.s->persisted_timestamp(), e->timestamp);
	expect_durable(*x.m, x.r, f, want, want.size(), "after a sync append behind async ones");
}

// Through a real file (the test runs once per libpmem2 granularity: cache line and page).
TEST(async, async_appends_to_a_file_survive_a_reopen)
{
	::test::temp_file tf("async");
	open_options o;
	{
		auto s = ::test::create(tf.path);
		ASSERT_TRUE(s);
		auto r = s->region_allocate(64 * 1024).value();
		uint64_t last = 0;
		for (uint64_t i = 0; i < 100; ++i)
			last = s->async_append(r, payload(i)).value().timestamp;
		ASSERT_TRUE(s->wait_persisted(last, 10s).has_value());
		EXPECT_EQ(s->persisted_timestamp(), last);
	}
	auto s = ::test::reopen(tf.path, o);
	ASSERT_TRUE(s);
	auto rs = ::test::regions_of(*s);
	ASSERT_EQ(rs.size(), 1u);
	auto es = ::test::entries_of(*s, rs[0]);
	ASSERT_EQ(es.size(), 100u);
	for (uint64_t i = 0; i < 100; ++i)
		EXPECT_EQ(::test::to_vec(*s->entry_data(es[i])), payload(i));
}

// async_append returns "committed (visible to iterators and readers)". With another thread's
// smaller timestamp still being written, the committed watermark is below the new entry, so
// it may return only once that other entry is committed too; and persist() afterwards must
// cover it ("every entry committed so far").
TEST(async, async_append_returns_only_once_its_entry_is_visible)
{
	auto x = make(fence_model::per_thread, opts(commit_policy::worker_mode::off), true);
	ASSERT_TRUE(x.s);
	const region r2 = x.s->region_allocate(64 * 1024).value();
	stuck_append a(x, payload(5)); // holds the smaller timestamp, not committed
	ASSERT_TRUE(a.blocked());
	std::atomic<bool> returned{false};
	uint64_t ts = 0, committed_at_return = 0, seen_at_return = 0, persisted_by_persist = 0;
	std::thread b([&] {
		auto e = x.s->async_append(r2, payload(6));
		ASSERT_TRUE(e.has_value());
		ts = e->timestamp;
		committed_at_return = x.s->committed_timestamp();
		seen_at_return = ::test::entries_of(*x.s, r2).size();
		persisted_by_persist = x.s->persist().value();
		returned = true;
	});
	std::this_thread::sleep_for(100ms);
	const bool early = returned.load();
	a.finish();
	b.join();
	EXPECT_FALSE(early) << "async_append returned while an earlier timestamp was still being written";
	EXPECT_GE(committed_at_return, ts) << "async_append returned below the committed watermark";
	EXPECT_EQ(seen_at_return, 1u) << "an iterator did not see the entry async_append had returned";
	EXPECT_GE(persisted_by_persist, ts) << "persist() by the same thread did not cover its own committed entry";
}
