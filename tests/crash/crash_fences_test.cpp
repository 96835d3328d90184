// SPDX-License-Identifier: BSD-3-Clause
// Whose flushes a fence covers. On x86 persistent memory an sfence orders only the flushes of
// the thread that issues it; msync on a file makes a range durable whoever stored into it. The
// medium tests pin down that sim_media models both; the protocol tests run small group
// commits (a committer thread serving the drains of appending threads) through the explorer
// and require that the wrong ones are caught and the right ones pass.
#include "explorer.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

using fence_model = sim_media::fence_model;

// A thread of its own that runs the functions given to it, one at a time, while the caller
// waits: a test can then say which thread stores, flushes and fences.
class worker {
public:
	worker() : thread_([this] { loop(); })
	{
	}
	~worker()
	{
		{
			std::lock_guard g(mutex_);
			stop_ = true;
		}
		cv_.notify_all();
		thread_.join();
	}
	void run(std::function<void()> fn)
	{
		std::unique_lock lk(mutex_);
		task_ = std::move(fn);
		cv_.notify_all();
		cv_.wait(lk, [&] { return !task_; });
	}

private:
	void loop()
	{
		std::unique_lock lk(mutex_);
		for (;;) {
			cv_.wait(lk, [&] { return stop_ || task_; });
			if (!task_)
				return;
			task_();
			task_ = nullptr;
			cv_.notify_all();
		}
	}

	std::mutex mutex_;
	std::condition_variable cv_;
	std::function<void()> task_;
	bool stop_ = false;
	std::thread thread_;
};

void store_line(sim_media &m, uint64_t off, uint8_t v)
{
	std::memset(m.base() + off, v, line_size);
}

bool line_is(const std::vector<std::byte> &img, uint64_t off, uint8_t v)
{
	for (uint64_t i = 0; i < line_size; ++i)
		if (img[off + i] != std::byte{v})
			return false;
	return true;
}

// How often each line of interest shows each value over many crash images.
struct tally {
	uint64_t images = 0;
	std::vector<std::map<int, uint64_t>> seen; // per line: value (-1 = torn) -> images
};

tally draw(const sim_media &m, const std::vector<uint64_t> &lines, const std::vector<uint8_t> &values, uint64_t n = 400)
{
	tally t;
	t.seen.resize(lines.size());
	std::mt19937_64 rng(3);
	std::vector<std::byte> img;
	for (uint64_t k = 0; k < n; ++k, ++t.images) {
		m.crash_image(rng, img);
		for (size_t i = 0; i < lines.size(); ++i) {
			int which = -1;
			for (uint8_t v : values)
				if (line_is(img, lines[i], v))
					which = v;
			++t.seen[i][which];
		}
	}
	return t;
}

} // namespace

// Thread A flushes a line and does not fence; thread B flushes and fences another. B's line
// is durable in every image; A's may be lost (the durable image has it lost) or kept.
TEST(crash_fences, a_fence_covers_only_the_calling_threads_flushes)
{
	sim_media m(4096);
	worker a, b;
	a.run([&] {
		store_line(m, 0, 0xaa);
		m.flush(m.base(), line_size);
	});
	b.run([&] {
		store_line(m, 64, 0xbb);
		m.flush(m.base() + 64, line_size);
		m.drain();
	});
	const auto durable = m.persisted_image();
	EXPECT_TRUE(line_is(durable, 64, 0xbb)) << "B's fence did not make B's own flush durable";
	EXPECT_TRUE(line_is(durable, 0, 0)) << "B's fence made A's flush durable; an sfence orders only its own thread's flushes";
	tally t = draw(m, {0, 64}, {0x00, 0xaa, 0xbb});
	EXPECT_EQ(t.seen[1][0xbb], t.images) << "an image lost the line its own thread fenced";
	EXPECT_GT(t.seen[0][0x00], 0u) << "no image lost A's unfenced line";
	EXPECT_GT(t.seen[0][0xaa], 0u) << "no image kept A's flushed line (it may reach the medium)";

	a.run([&] { m.drain(); });
	t = draw(m, {0, 64}, {0x00, 0xaa, 0xbb});
	EXPECT_EQ(t.seen[0][0xaa], t.images) << "A's own fence did not make its flush durable";
	EXPECT_EQ(t.seen[1][0xbb], t.images);
}

// A flush writes back the line as it holds then, whoever stored into it: A stores, B flushes
// and fences, and A's bytes are durable.
TEST(crash_fences, a_fence_persists_what_its_threads_flush_saw_of_another_threads_store)
{
	sim_media m(4096);
	worker a, b;
	a.run([&] { store_line(m, 0, 0xaa); });
	b.run([&] {
		m.flush(m.base(), line_size);
		m.drain();
	});
	EXPECT_TRUE(line_is(m.persisted_image(), 0, 0xaa));
	// Stored after B's flush: not covered by it.
	a.run([&] { store_line(m, 0, 0xcc); });
	tally t = draw(m, {0}, {0xaa, 0xcc});
	EXPECT_GT(t.seen[0][0xaa], 0u) << "the store after the fence was made durable";
	for (const auto &[v, n] : t.seen[0])
		EXPECT_TRUE(v == 0xaa || v == 0xcc || v == -1) << "value " << v << " in " << n << " images";
}

// Writebacks of one line arrive in coherence order: once B's newer flush of a line is
// durable, A's older flush of it can neither reach the medium nor be made durable by A's
// fence.
TEST(crash_fences, an_older_flush_never_replaces_a_newer_durable_one)
{
	sim_media m(4096);
	worker a, b;
	a.run([&] {
		store_line(m, 0, 0xaa);
		m.flush(m.base(), line_size);
	});
	b.run([&] {
		store_line(m, 0, 0xbb);
		m.flush(m.base(), line_size);
	});
	tally before = draw(m, {0}, {0x00, 0xaa, 0xbb});
	EXPECT_GT(before.seen[0][0xaa], 0u) << "A's flushed version never showed before any fence";
	EXPECT_GT(before.seen[0][0x00], 0u);
	b.run([&] { m.drain(); });
	tally after = draw(m, {0}, {0x00, 0xaa, 0xbb});
	EXPECT_EQ(after.seen[0][0xbb], after.images) << "an older version survived the newer one's fence";
	a.run([&] { m.drain(); });
	EXPECT_TRUE(line_is(m.persisted_image(), 0, 0xbb)) << "A's fence brought back its older flush";
}

// The fault injection of a dropped fence loses the flushes of the thread that fenced, not
// those another thread has pending.
TEST(crash_fences, a_dropped_fence_forgets_only_its_threads_flushes)
{
	sim_media m(4096);
	worker a, b;
	m.drop_drain(1);
	a.run([&] {
		store_line(m, 0, 0xaa);
		m.flush(m.base(), line_size);
	});
	b.run([&] {
		store_line(m, 64, 0xbb);
		m.flush(m.base() + 64, line_size);
		m.drain(); // dropped
	});
	a.run([&] { m.drain(); });
	const auto durable = m.persisted_image();
	EXPECT_TRUE(line_is(durable, 0, 0xaa));
	EXPECT_TRUE(line_is(durable, 64, 0));
}

// msync: a flush makes its lines durable whoever stored into them, a drain orders nothing,
// and lines outside the range stay as the last sync left them.
TEST(crash_fences, msync_makes_a_range_durable_whoever_stored_it)
{
	sim_media m(4096, false, fence_model::range_sync);
	worker a, b;
	a.run([&] {
		store_line(m, 0, 0xaa);
		store_line(m, 128, 0xaa);
	});
	b.run([&] { m.flush(m.base(), line_size); });
	tally t = draw(m, {0, 128}, {0x00, 0xaa});
	EXPECT_EQ(t.seen[0][0xaa], t.images) << "the synced range is not durable";
	EXPECT_GT(t.seen[1][0x00], 0u) << "a line outside the synced range was made durable";
	a.run([&] {
		store_line(m, 64, 0xbb);
		m.drain();
	});
	EXPECT_TRUE(line_is(m.persisted_image(), 64, 0)) << "a drain made an unsynced store durable";
}

namespace {

// A medium between the stream and the simulated one that runs a group commit: once enabled,
// a drain() waits for a committer thread, which serves every drain waiting with one pass.
class group_commit_media : public detail::media {
public:
	enum class protocol {
		// The committer fences for the group; the clients flush. Wrong on pmem: that fence
		// covers none of the clients' flushes.
		committer_fences,
		// Each client fences its own flushes, then waits for the group. Right on pmem.
		client_fences,
		// An msync worker: clients only store, the committer syncs every range they stored.
		committer_syncs_ranges,
		// As the msync worker, but it only fences. Wrong on msync: a drain orders nothing.
		committer_fences_deferred,
	};

	group_commit_media(std::unique_ptr<sim_media> inner, protocol p, bool enabled)
	    : media(inner->base(), inner->size(), inner->read_only()), inner_(std::move(inner)), protocol_(p),
	      enabled_(enabled), committer_([this] { commit_loop(); })
	{
	}
	~group_commit_media() override
	{
		{
			std::lock_guard g(mutex_);
			stop_ = true;
		}
		cv_.notify_all();
		committer_.join();
	}
	// From one thread, while nothing uses the medium.
	void enable()
	{
		enabled_ = true;
	}

	void flush(const void *addr, size_t len) noexcept override
	{
		if (!defers()) {
			inner_->flush(addr, len);
			return;
		}
		std::lock_guard g(mutex_);
		ranges_.push_back({addr, len});
	}
	void drain() noexcept override
	{
		if (!enabled_) {
			inner_->drain();
			return;
		}
		if (protocol_ == protocol::client_fences)
			inner_->drain();
		std::unique_lock lk(mutex_);
		const uint64_t ticket = ++requested_;
		cv_.notify_all();
		cv_.wait(lk, [&] { return served_ >= ticket; });
	}
	void copy_nodrain(void *dst, const void *src, size_t len) noexcept override
	{
		if (!defers()) {
			inner_->copy_nodrain(dst, src, len);
			return;
		}
		inner_->store(dst, src, len);
		flush(dst, len);
	}
	void set_nodrain(void *dst, int c, size_t len) noexcept override
	{
		if (!defers()) {
			inner_->set_nodrain(dst, c, len);
			return;
		}
		inner_->fill(dst, c, len);
		flush(dst, len);
	}
	bool healthy() const noexcept override
	{
		return inner_->healthy();
	}
	uint64_t passes() const
	{
		std::lock_guard g(mutex_);
		return passes_;
	}

private:
	struct range {
		const void *addr;
		size_t len;
	};
	bool defers() const noexcept
	{
		return enabled_ && (protocol_ == protocol::committer_syncs_ranges || protocol_ == protocol::committer_fences_deferred);
	}
	void commit_loop()
	{
		std::unique_lock lk(mutex_);
		for (;;) {
			cv_.wait(lk, [&] { return stop_ || requested_ > served_; });
			if (requested_ == served_)
				return; // stopping
			const uint64_t upto = requested_;
			std::vector<range> ranges = std::move(ranges_);
			ranges_.clear();
			lk.unlock();
			switch (protocol_) {
			case protocol::committer_fences:
			case protocol::committer_fences_deferred:
				inner_->drain();
				break;
			case protocol::client_fences:
				break; // the clients fenced; the pass only acknowledges
			case protocol::committer_syncs_ranges:
				for (const range &r : ranges)
					inner_->flush(r.addr, r.len);
				inner_->drain();
				break;
			}
			lk.lock();
			++passes_;
			served_ = upto;
			cv_.notify_all();
		}
	}

	std::unique_ptr<sim_media> inner_; // first: destroyed after the committer stopped
	const protocol protocol_;
	bool enabled_;
	mutable std::mutex mutex_;
	std::condition_variable cv_;
	std::vector<range> ranges_; // stored by clients, not yet synced
	uint64_t requested_ = 0, served_ = 0, passes_ = 0;
	bool stop_ = false;
	std::thread committer_;
};

struct group_run {
	explore_figures setup; // before the group commit was enabled
	explore_figures all;
	uint64_t passes = 0;
	std::vector<std::string> reports;
};

// Creates a stream and two regions the ordinary way, then enables the group commit and lets
// two threads append to their own regions at once; closes, reopens and checks.
group_run run_group_commit(const char *name, group_commit_media::protocol p, fence_model f)
{
	explore_config c = explore_config::from_env();
	c.images_per_fence = std::max<uint64_t>(1, c.images_per_fence / 6);
	c.images_per_flush = std::max<uint64_t>(1, c.images_per_flush / 6);
	c.fence = f;
	explorer x(name, 4096 + 16 * 1024, 256, c);
	group_commit_media *gc = nullptr;
	bool enabled = false;
	x.wrap_media([&](std::unique_ptr<sim_media> sm) -> std::unique_ptr<detail::media> {
		auto w = std::make_unique<group_commit_media>(std::move(sm), p, enabled);
		gc = w.get();
		return w;
	});
	x.create();
	region r[2];
	for (auto &reg : r) {
		auto a = x.allocate(4096);
		EXPECT_TRUE(a.has_value());
		reg = a ? *a : region{};
	}
	group_run out;
	out.setup = x.figures();
	gc->enable();
	enabled = true;
	std::vector<std::thread> clients;
	for (int t = 0; t < 2; ++t)
		clients.emplace_back([&, t] {
			for (uint64_t i = 0; i < 8; ++i) {
				auto e = x.append(r[t], (i * 29 + static_cast<uint64_t>(t) * 7) % 120);
				EXPECT_TRUE(e.has_value());
			}
		});
	for (auto &th : clients)
		th.join();
	out.passes = gc->passes();
	x.check_live();
	x.reopen();
	out.all = x.figures();
	out.reports = x.reports();
	const auto &fig = out.all;
	std::printf("crash[%s]: %llu group passes, %llu crash points, %llu images checked, %llu nested images, %llu violations\n",
		    name, static_cast<unsigned long long>(out.passes), static_cast<unsigned long long>(fig.points),
		    static_cast<unsigned long long>(fig.images), static_cast<unsigned long long>(fig.nested_images),
		    static_cast<unsigned long long>(fig.violations));
	return out;
}

bool reports_lost_acknowledged(const std::vector<std::string> &reports)
{
	for (const auto &r : reports)
		if (r.find("acknowledged entries (first ts") != std::string::npos || r.find("missing, but the persisted watermark") != std::string::npos)
			return true;
	return false;
}

} // namespace

// Thread A writes its entry; the committer fences on its behalf and A's append is reported
// persisted. On persistent memory that fence covers none of A's flushes.
TEST(crash_fences, group_commit_where_the_committer_fences_for_the_clients_is_caught)
{
	auto g = run_group_commit("group commit, committer fences (violations expected)", group_commit_media::protocol::committer_fences,
				  fence_model::per_thread);
	EXPECT_EQ(g.setup.violations, 0u) << "the setup before the group commit must be clean";
	EXPECT_GT(g.all.violations, 0u) << "a fence on another thread's behalf went unnoticed";
	EXPECT_TRUE(reports_lost_acknowledged(g.reports)) << "expected an acknowledged entry reported lost";
}

TEST(crash_fences, group_commit_where_each_client_fences_itself_passes)
{
	auto g = run_group_commit("group commit, clients fence", group_commit_media::protocol::client_fences, fence_model::per_thread);
	EXPECT_GT(g.all.images, 0u);
	EXPECT_EQ(g.all.violations, 0u);
	for (const auto &r : g.reports)
		ADD_FAILURE() << r;
}

// The group commit later work brings to msync'd files: a background worker syncs the ranges
// the clients stored. Right on msync, and on pmem too (a flush writes back whatever the line
// holds, whoever stored it).
TEST(crash_fences, msync_worker_that_syncs_the_clients_ranges_passes)
{
	for (auto f : {fence_model::range_sync, fence_model::per_thread}) {
		auto g = run_group_commit(f == fence_model::range_sync ? "msync worker syncs ranges, on msync" : "msync worker syncs ranges, on pmem",
					  group_commit_media::protocol::committer_syncs_ranges, f);
		EXPECT_GT(g.all.images, 0u);
		EXPECT_EQ(g.all.violations, 0u);
		for (const auto &r : g.reports)
			ADD_FAILURE() << r;
	}
}

TEST(crash_fences, msync_worker_that_only_fences_is_caught)
{
	auto g = run_group_commit("msync worker only fences (violations expected)", group_commit_media::protocol::committer_fences_deferred,
				  fence_model::range_sync);
	EXPECT_EQ(g.setup.violations, 0u);
	EXPECT_GT(g.all.violations, 0u) << "a drain was taken for a sync";
	EXPECT_TRUE(reports_lost_acknowledged(g.reports));
}
