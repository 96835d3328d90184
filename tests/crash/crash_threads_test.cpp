// SPDX-License-Identifier: BSD-3-Clause
// Real threads appending to their own regions on the simulated medium, each recording its
// submissions and acknowledgements in an op_history. While they run, the main thread
// repeatedly takes the durable image (what a power failure at that instant leaves if nothing
// in flight made it), or the medium's hook draws random crash images of moments inside the
// appends, and recovers them: every append acknowledged before the image must be there, exact, further entries must
// be appends in flight, the visible timestamps must form a prefix 1..T across all regions (an
// entry may only survive if every smaller timestamp does), and T must reach the persisted
// watermark read before the image. After the threads finish, random crash images of the final
// state are checked against the full model.
#include "op_history.hpp"
#include "sim_media.hpp"
#include "stream_check.hpp"
#include "stream_factory.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

constexpr int threads = 3;
constexpr uint64_t per_thread = 2000;
constexpr uint64_t region_bytes = 160 * 1024;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uint64_t fence_stride = 90; // sanitized builds run every check ~10x slower
#else
constexpr uint64_t fence_stride = 30;
#endif

uint64_t size_of(int t, uint64_t i)
{
	return (i * 37 + static_cast<uint64_t>(t) * 11) % 90;
}

std::vector<std::byte> data_of(int t, uint64_t i)
{
	std::vector<std::byte> d(size_of(t, i));
	uint64_t x = static_cast<uint64_t>(t) * 1000003 + i;
	for (auto &b : d) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		b = static_cast<std::byte>(x >> 56);
	}
	return d;
}

// Threads appending their entries while the main thread takes images; the history knows
// what each thread submitted and which appends returned.
class appenders {
public:
	// `pause`: every other append, so that the main thread's images fall between appends.
	appenders(sim_media::fence_model f, bool serialized, std::chrono::microseconds pause) : pause_(pause)
	{
		auto sm = std::make_unique<sim_media>(4096 + threads * (region_bytes + 4096), false, f);
		media_ = sm.get();
		media_->set_serialized(serialized);
		auto opened = detail::open_on_media(std::move(sm), 4096, {});
		EXPECT_TRUE(opened.has_value());
		if (!opened)
			return;
		s_ = std::move(*opened);
		stream_model m;
		for (int t = 0; t < threads; ++t) {
			regs_.push_back(s_->region_allocate(region_bytes).value());
			m.allocated(regs_.back(), s_->region_size(regs_.back()).value());
		}
		hist_ = std::make_unique<op_history>(std::move(m));
	}
	~appenders()
	{
		join();
	}

	void start()
	{
		for (int t = 0; t < threads; ++t)
			pool_.emplace_back([this, t] { work(t); });
	}
	bool running() const
	{
		return done_.load() < threads && !failed_.load();
	}
	void join()
	{
		for (auto &th : pool_)
			th.join();
		pool_.clear();
	}

	stream &s()
	{
		return *s_;
	}
	sim_media &media()
	{
		return *media_;
	}
	op_history &hist()
	{
		return *hist_;
	}
	bool failed() const
	{
		return failed_.load();
	}
	// Violations the threads found in their own watermark readings.
	std::vector<std::string> observations()
	{
		std::lock_guard g(mutex_);
		return observations_;
	}

private:
	void work(int t)
	{
		const region r = regs_[static_cast<size_t>(t)];
		for (uint64_t i = 0; i < per_thread; ++i) {
			const auto data = data_of(t, i);
			const uint64_t id = hist_->submit_append(r, data);
			auto e = s_->append(r, data);
			if (!e) {
				hist_->failed(id);
				failed_ = true;
				break;
			}
			hist_->committed(id, *e, s_->entry_timestamp(*e).value());
			hist_->persisted(id);
			if (auto v = hist_->observe(*s_); !v.empty()) {
				std::lock_guard g(mutex_);
				observations_.push_back("thread " + std::to_string(t) + ": " + v);
			}
			if (i % 2 == 0 && pause_.count() > 0)
				std::this_thread::sleep_for(pause_);
		}
		++done_;
	}

	std::chrono::microseconds pause_;
	sim_media *media_ = nullptr;
	std::unique_ptr<stream> s_;
	std::vector<region> regs_;
	std::unique_ptr<op_history> hist_;
	std::vector<std::thread> pool_;
	std::atomic<int> done_{0};
	std::atomic<bool> failed_{false};
	std::mutex mutex_;
	std::vector<std::string> observations_;
};

// Opens `img` and checks it against `x`; counts and reports what departs from it.
void check_image(const std::vector<std::byte> &img, const expectation &x, sim_media::fence_model f, const std::string &what,
		 uint64_t &violations)
{
	auto r = detail::open_on_media(std::make_unique<sim_media>(img, false, f), 0, {});
	if (!r) {
		++violations;
		ADD_FAILURE() << what << " does not open: " << r.err().message();
		return;
	}
	for (auto &v : check_stream(**r, x)) {
		++violations;
		ADD_FAILURE() << what << ": " << v;
	}
}

// Every append is acknowledged now: any crash image of this moment holds them all.
void check_final(appenders &a, sim_media::fence_model f, uint64_t &violations)
{
	EXPECT_EQ(a.hist().in_flight(), 0u);
	const expectation x = a.hist().view();
	std::mt19937_64 rng(7);
	std::vector<std::byte> img;
	for (int k = 0; k < 200; ++k) {
		a.media().crash_image(rng, img);
		check_image(img, x, f, "final image " + std::to_string(k), violations);
	}
	for (auto &v : a.observations()) {
		++violations;
		ADD_FAILURE() << v;
	}
}

} // namespace

TEST(crash_threads, snapshots_while_threads_append)
{
	const auto f = sim_media::fence_model::per_thread;
	appenders a(f, false, std::chrono::microseconds(300)); // let many snapshots fall between appends
	ASSERT_TRUE(a.hist().acked().regions.size() == threads);
	a.start();
	uint64_t snapshots = 0, violations = 0;
	for (bool more = true; more;) {
		more = a.running();
		// The watermark first, then the image; no submission or acknowledgement in between.
		uint64_t persisted = 0;
		std::vector<std::byte> img;
		expectation x = a.hist().view([&] {
			persisted = a.s().persisted_timestamp();
			img = a.media().persisted_image();
		});
		x.persisted = std::max(x.persisted, persisted);
		check_image(img, x, f, "snapshot " + std::to_string(++snapshots), violations);
	}
	a.join();
	ASSERT_FALSE(a.failed());
	check_final(a, f, violations);
	std::printf("crash_threads: %llu snapshots during %d x %llu appends, 200 final images, %llu violations\n",
		    static_cast<unsigned long long>(snapshots), threads, static_cast<unsigned long long>(per_thread),
		    static_cast<unsigned long long>(violations));
	EXPECT_GT(snapshots, 1u);
}

namespace {

// Random crash images of moments inside the threads' appends: at every 30th fence (before it)
// the hook, on the thread about to fence, draws images while the serialised medium holds the
// other threads off: each of them may have flushed lines it has not fenced (lost, kept or
// torn) or stored lines not yet flushed.
void crash_images_while_threads_append(sim_media::fence_model f, const char *name)
{
	appenders a(f, true, std::chrono::microseconds(0));
	ASSERT_TRUE(a.hist().acked().regions.size() == threads);
	uint64_t moments = 0, busy = 0, images = 0, violations = 0;
	std::mt19937_64 rng(11);
	std::vector<std::byte> img;
	a.media().set_hook([&](sim_media &m, sim_event e) {
		if (e != sim_event::drain || m.drains() % fence_stride != 0)
			return;
		const uint64_t persisted = a.s().persisted_timestamp();
		expectation x = a.hist().view();
		x.persisted = std::max(x.persisted, persisted);
		++moments;
		busy += x.in_flight.size() > 1; // another thread's append besides the one fencing
		for (int k = 0; k < 3; ++k) {
			m.crash_image(rng, img);
			check_image(img, x, f, std::string(name) + " image " + std::to_string(++images), violations);
		}
	});
	a.start();
	a.join();
	a.media().set_hook({});
	ASSERT_FALSE(a.failed());
	check_final(a, f, violations);
	std::printf("crash_threads[%s]: %llu moments (%llu with another thread's append in flight), %llu images during %d x "
		    "%llu appends, 200 final images, %llu violations\n",
		    name, static_cast<unsigned long long>(moments), static_cast<unsigned long long>(busy),
		    static_cast<unsigned long long>(images), threads, static_cast<unsigned long long>(per_thread),
		    static_cast<unsigned long long>(violations));
	EXPECT_GT(moments, threads * per_thread / fence_stride / 2);
	EXPECT_GT(busy, 0u) << "no moment had two appends in flight";
}

} // namespace

TEST(crash_threads, crash_images_while_threads_append_on_pmem)
{
	crash_images_while_threads_append(sim_media::fence_model::per_thread, "pmem");
}

TEST(crash_threads, crash_images_while_threads_append_on_msync)
{
	crash_images_while_threads_append(sim_media::fence_model::range_sync, "msync");
}
