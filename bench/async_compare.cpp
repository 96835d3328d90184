// SPDX-License-Identifier: BSD-3-Clause
// Side-by-side comparison of asynchronous and synchronous appends, on the three persistence
// paths of issue 10:
//  - pmem: cache-line flushes + fence (PMEM2_FORCE_GRANULARITY=CACHE_LINE, a /dev/shm file);
//    one thread, synchronous append vs async_append with wait_persisted every --batch entries;
//  - disk: msync on a file of a real file system (PMEM2_FORCE_GRANULARITY=PAGE, a file next to
//    this program in the build folder); one thread of async appends persisted by the commit
//    worker vs synchronous appends, two threads of synchronous appends vs one, and the time
//    from submit to persisted of the async appends (p50/p99);
//  - shm: msync on /dev/shm (PAGE); synchronous appends vs libpmemlog (which msyncs too).
// Within a scenario the contenders run in every round, in an order that rotates, so machine
// noise hits them alike; each figure is the median over rounds. docs/benchmarks.md has the
// commands and how to read the output.
#include "bench_util.hpp"

#include <pmemstream/stream.hpp>

#include <libpmem2.h>
#include <libpmemlog.h>

#include <atomic>
#include <latch>
#include <memory>
#include <sched.h>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

using namespace bench;
namespace ps = pmemstream;

namespace {

struct options {
	unsigned rounds = 5;
	// The disk's msync time drifts by several times within seconds (other I/O): its
	// contenders run shorter and more often, so that the rotation pairs them more finely.
	unsigned disk_rounds = 15;
	std::vector<std::string> scenarios = {"pmem", "disk", "shm"};
	uint64_t pmem_ops = 20000;	 // per contender, size and round
	uint64_t shm_ops = 20000;
	uint64_t disk_sync_ops = 400;	 // synchronous appends on the disk: 0.1 to 4 ms each
	uint64_t disk_async_ops = 30000;
	uint64_t latency_ops = 10000;
	uint64_t latency_every = 16;	 // sample every n-th async append for submit-to-persisted
	uint64_t batch = 32;		 // pmem: wait_persisted every n async appends
	uint64_t file_mib = 64;
	uint32_t max_in_flight = ps::default_max_in_flight;
	uint64_t max_entries = ps::commit_policy{}.max_entries;
	uint64_t max_delay_us = static_cast<uint64_t>(ps::commit_policy{}.max_delay.count());
	std::string shm_dir = "/dev/shm";
	std::string disk_dir; // default: the folder of this program
	std::string out;
};

void usage()
{
	std::printf(
		"usage: async_compare [--rounds N] [--disk-rounds N] [--scenarios pmem,disk,shm] [--pmem-ops N] [--shm-ops N]\n"
		"                     [--disk-sync-ops N] [--disk-async-ops N] [--latency-ops N] [--latency-every N]\n"
		"                     [--batch N] [--file-mib N] [--max-in-flight N] [--max-entries N]\n"
		"                     [--max-delay-us N] [--shm-dir DIR] [--disk-dir DIR] [--out results.json]\n");
}

options parse_args(int argc, char **argv)
{
	options o;
	parse_options(argc, argv, usage, [&](const std::string &a, const std::string &v) {
		if (a == "--rounds")
			o.rounds = static_cast<unsigned>(parse_u64(a, v));
		else if (a == "--disk-rounds")
			o.disk_rounds = static_cast<unsigned>(parse_u64(a, v));
		else if (a == "--scenarios")
			o.scenarios = split(v);
		else if (a == "--pmem-ops")
			o.pmem_ops = parse_u64(a, v);
		else if (a == "--shm-ops")
			o.shm_ops = parse_u64(a, v);
		else if (a == "--disk-sync-ops")
			o.disk_sync_ops = parse_u64(a, v);
		else if (a == "--disk-async-ops")
			o.disk_async_ops = parse_u64(a, v);
		else if (a == "--latency-ops")
			o.latency_ops = parse_u64(a, v);
		else if (a == "--latency-every")
			o.latency_every = parse_u64(a, v);
		else if (a == "--batch")
			o.batch = parse_u64(a, v);
		else if (a == "--file-mib")
			o.file_mib = parse_u64(a, v);
		else if (a == "--max-in-flight")
			o.max_in_flight = static_cast<uint32_t>(parse_u64(a, v));
		else if (a == "--max-entries")
			o.max_entries = parse_u64(a, v);
		else if (a == "--max-delay-us")
			o.max_delay_us = parse_u64(a, v);
		else if (a == "--shm-dir")
			o.shm_dir = v;
		else if (a == "--disk-dir")
			o.disk_dir = v;
		else if (a == "--out")
			o.out = v;
		else
			return false;
		return true;
	});
	for (const auto &s : o.scenarios)
		if (s != "pmem" && s != "disk" && s != "shm")
			die("unknown scenario '" + s + "' (pmem, disk, shm)");
	if (o.disk_dir.empty())
		o.disk_dir = exe_dir();
	return o;
}

// A stream file holding `nregions` regions that share the file evenly.
class stream_log {
public:
	stream_log(std::string path, uint64_t file_size, unsigned nregions, const ps::commit_policy &policy,
		   uint32_t max_in_flight)
	    : path_(std::move(path))
	{
		::unlink(path_.c_str());
		ps::create_options co;
		co.size = file_size;
		co.block_size = 4096;
		co.commit = policy;
		co.max_in_flight = max_in_flight;
		auto s = ps::stream::create(path_, co);
		if (!s)
			die("stream::create " + path_ + ": " + s.err().message());
		s_ = std::move(*s);
		region_size_ = s_->info().largest_free / nregions - 2 * 4096;
		regions_.resize(nregions);
		runtimes_.resize(nregions);
		for (unsigned k = 0; k < nregions; ++k)
			allocate(k);
	}
	~stream_log()
	{
		s_.reset();
		::unlink(path_.c_str());
	}
	ps::stream &s()
	{
		return *s_;
	}
	ps::region region(unsigned k) const
	{
		return regions_[k];
	}
	ps::region_runtime *runtime(unsigned k) const
	{
		return runtimes_[k];
	}
	unsigned regions() const
	{
		return static_cast<unsigned>(regions_.size());
	}
	uint64_t room(unsigned k, uint64_t size)
	{
		auto u = s_->region_usable_size(regions_[k]);
		if (!u)
			die("region_usable_size: " + u.err().message());
		return *u / ps::entry_footprint(size);
	}
	// Not timed: persists everything and replaces region k by an empty one when fewer than
	// `n` appends of `size` fit.
	void make_room(unsigned k, uint64_t size, uint64_t n)
	{
		if (room(k, size) >= n)
			return;
		replace(k);
		if (room(k, size) < n)
			die(path_ + ": " + std::to_string(n) + " entries of " + std::to_string(size) +
			    " bytes do not fit in one region; raise --file-mib or lower the op counts");
	}
	void persist_all()
	{
		auto p = s_->persist();
		if (!p)
			die("persist: " + p.err().message());
	}
	// Warm-up: every region filled once (page faults of first touch and, on a disk, the
	// conversion of preallocated extents are paid here), then emptied.
	void fill(const std::byte *payload, uint64_t size)
	{
		for (unsigned k = 0; k < regions(); ++k) {
			const uint64_t n = room(k, size);
			for (uint64_t i = 0; i < n; ++i)
				if (auto e = s_->async_append(regions_[k], payload, size, runtimes_[k]); !e)
					die("async_append (warm-up): " + e.err().message());
			replace(k);
		}
	}
	uint64_t count(unsigned k)
	{
		auto c = s_->region_entry_count(regions_[k]);
		if (!c)
			die("region_entry_count: " + c.err().message());
		return *c;
	}

private:
	void replace(unsigned k)
	{
		persist_all();
		if (auto st = s_->region_free(regions_[k]); !st)
			die("region_free: " + st.err().message());
		allocate(k);
	}
	void allocate(unsigned k)
	{
		auto r = s_->region_allocate(region_size_);
		if (!r)
			die("region_allocate: " + r.err().message());
		regions_[k] = *r;
		auto rt = s_->get_region_runtime(*r);
		if (!rt)
			die("get_region_runtime: " + rt.err().message());
		runtimes_[k] = *rt;
	}

	std::string path_;
	std::unique_ptr<ps::stream> s_;
	uint64_t region_size_ = 0;
	std::vector<ps::region> regions_;
	std::vector<ps::region_runtime *> runtimes_;
};

// One way of appending n entries of one size; run() returns the timed nanoseconds and checks
// (untimed) that the appends happened.
class contender {
public:
	explicit contender(std::string name) : name_(std::move(name))
	{
	}
	virtual ~contender() = default;
	const std::string &name() const
	{
		return name_;
	}
	virtual double run(const std::byte *payload, uint64_t size, uint64_t n) = 0;
	virtual void warm_up(const std::byte *payload, uint64_t size) = 0;

private:
	std::string name_;
};

// A contender that appends to a stream_log: the warm-up fills its regions once.
class log_contender : public contender {
public:
	log_contender(std::string name, stream_log &log) : contender(std::move(name)), log_(log)
	{
	}
	void warm_up(const std::byte *payload, uint64_t size) override
	{
		log_.fill(payload, size);
	}

protected:
	stream_log &log_;
};

// stream::append in a loop (one fence or msync each).
class sync_append : public log_contender {
public:
	sync_append(std::string name, stream_log &log) : log_contender(std::move(name), log)
	{
	}
	double run(const std::byte *payload, uint64_t size, uint64_t n) override
	{
		log_.make_room(0, size, n);
		const uint64_t before = log_.count(0);
		ps::stream &s = log_.s();
		const ps::region r = log_.region(0);
		ps::region_runtime *rt = log_.runtime(0);
		auto t0 = clock_type::now();
		for (uint64_t i = 0; i < n; ++i)
			if (auto e = s.append(r, payload, size, rt); !e) [[unlikely]]
				die("append: " + e.err().message());
		auto t1 = clock_type::now();
		if (log_.count(0) != before + n)
			die(name() + ": the region holds a wrong number of entries");
		return ns_since(t0, t1);
	}
};

// async_append in a loop; wait_persisted(last) every `batch` appends (0: only at the end, the
// commit worker persists meanwhile). The timed section ends with everything persisted.
class async_append : public log_contender {
public:
	async_append(std::string name, stream_log &log, uint64_t batch) : log_contender(std::move(name), log), batch_(batch)
	{
	}
	double run(const std::byte *payload, uint64_t size, uint64_t n) override
	{
		log_.make_room(0, size, n);
		const uint64_t before = log_.count(0);
		ps::stream &s = log_.s();
		const ps::region r = log_.region(0);
		ps::region_runtime *rt = log_.runtime(0);
		uint64_t last = 0;
		auto t0 = clock_type::now();
		for (uint64_t i = 1; i <= n; ++i) {
			auto e = s.async_append(r, payload, size, rt);
			if (!e) [[unlikely]]
				die("async_append: " + e.err().message());
			last = e->timestamp;
			if (batch_ != 0 && i % batch_ == 0)
				if (auto st = s.wait_persisted(last); !st) [[unlikely]]
					die("wait_persisted: " + st.err().message());
		}
		if (auto st = s.wait_persisted(last); !st)
			die("wait_persisted: " + st.err().message());
		auto t1 = clock_type::now();
		if (log_.count(0) != before + n)
			die(name() + ": the region holds a wrong number of entries");
		if (s.persisted_timestamp() < last)
			die(name() + ": wait_persisted returned below its timestamp");
		return ns_since(t0, t1);
	}

private:
	uint64_t batch_;
};

// Async appends persisted by the commit worker, with a second thread that watches the
// persisted watermark and records, for every `every`-th append, the time from just before
// async_append to the first moment the observer saw persisted_timestamp() reach it. Nobody
// waits: the worker alone makes the entries durable. The observer polls and yields between
// polls, so it takes a CPU only while nothing else wants it.
class async_latency : public log_contender {
public:
	async_latency(std::string name, stream_log &log, uint64_t every)
	    : log_contender(std::move(name), log), every_(every)
	{
	}
	double run(const std::byte *payload, uint64_t size, uint64_t n) override
	{
		log_.make_room(0, size, n);
		ps::stream &s = log_.s();
		const ps::region r = log_.region(0);
		ps::region_runtime *rt = log_.runtime(0);
		const uint64_t nsamples = n / every_;
		std::vector<sample> samples(nsamples);
		std::atomic<uint64_t> published{0};
		std::atomic<bool> done{false};
		std::vector<double> lat;
		lat.reserve(nsamples);
		std::thread observer([&] {
			uint64_t idx = 0;
			const auto give_up = clock_type::now() + std::chrono::seconds(30);
			while (idx < nsamples) {
				const uint64_t avail = published.load(std::memory_order_acquire);
				const uint64_t p = s.persisted_timestamp();
				const auto now = clock_type::now();
				while (idx < avail && samples[idx].ts <= p) {
					lat.push_back(ns_since(samples[idx].submit, now) / 1000.0);
					++idx;
				}
				if (now > give_up) {
					std::fprintf(stderr, "async_compare: the commit worker persisted nothing for 30 s "
							     "(persisted %llu, waiting for %llu)\n",
						     static_cast<unsigned long long>(p),
						     static_cast<unsigned long long>(idx < avail ? samples[idx].ts : 0));
					done = true;
					return;
				}
				::sched_yield();
			}
			done = true;
		});
		auto t0 = clock_type::now();
		uint64_t last = 0;
		for (uint64_t i = 0; i < n; ++i) {
			const auto submit = clock_type::now();
			auto e = s.async_append(r, payload, size, rt);
			if (!e) [[unlikely]]
				die("async_append: " + e.err().message());
			last = e->timestamp;
			if ((i + 1) % every_ == 0 && (i + 1) / every_ <= nsamples) {
				samples[(i + 1) / every_ - 1] = {submit, last};
				published.store((i + 1) / every_, std::memory_order_release);
			}
		}
		auto t1 = clock_type::now();
		observer.join();
		if (lat.size() != nsamples)
			die(name() + ": the commit worker did not persist the entries without a waiter");
		latencies_us_.insert(latencies_us_.end(), lat.begin(), lat.end());
		round_p50_.push_back(percentile(lat, 50));
		round_p99_.push_back(percentile(lat, 99));
		if (auto st = s.wait_persisted(last); !st)
			die("wait_persisted: " + st.err().message());
		return ns_since(t0, t1); // submission only: the observer's CPU use is in the figure
	}
	const std::vector<double> &latencies_us() const
	{
		return latencies_us_;
	}
	const std::vector<double> &round_p50() const
	{
		return round_p50_;
	}
	const std::vector<double> &round_p99() const
	{
		return round_p99_;
	}

private:
	struct sample {
		clock_type::time_point submit;
		uint64_t ts = 0;
	};
	uint64_t every_;
	std::vector<double> latencies_us_, round_p50_, round_p99_;
};

// `threads` threads, each appending synchronously to its own region, n / threads each;
// wall-clock time from the first thread's start to the last one's end.
class sync_threads : public log_contender {
public:
	sync_threads(std::string name, stream_log &log) : log_contender(std::move(name), log)
	{
	}
	double run(const std::byte *payload, uint64_t size, uint64_t n) override
	{
		const unsigned t = log_.regions();
		const uint64_t per = n / t;
		std::vector<uint64_t> before(t);
		for (unsigned k = 0; k < t; ++k) {
			log_.make_room(k, size, per);
			before[k] = log_.count(k);
		}
		std::vector<clock_type::time_point> start(t), end(t);
		std::latch go(t);
		std::vector<std::thread> pool;
		for (unsigned k = 0; k < t; ++k)
			pool.emplace_back([&, k] {
				ps::stream &s = log_.s();
				const ps::region r = log_.region(k);
				ps::region_runtime *rt = log_.runtime(k);
				go.arrive_and_wait();
				start[k] = clock_type::now();
				for (uint64_t i = 0; i < per; ++i)
					if (auto e = s.append(r, payload, size, rt); !e) [[unlikely]]
						die("append: " + e.err().message());
				end[k] = clock_type::now();
			});
		for (auto &th : pool)
			th.join();
		for (unsigned k = 0; k < t; ++k)
			if (log_.count(k) != before[k] + per)
				die(name() + ": a region holds a wrong number of entries");
		const auto t0 = *std::min_element(start.begin(), start.end());
		const auto t1 = *std::max_element(end.begin(), end.end());
		// Per append of the total, so that rates compare with one thread's directly.
		return ns_since(t0, t1) * static_cast<double>(n) / static_cast<double>(per * t);
	}
};

// libpmemlog's pmemlog_append (under PMEM_IS_PMEM_FORCE=0 on a non-pmem file: one msync for
// the data and one for the write offset). Set up as bench/append_compare.cpp does.
class pmemlog_contender : public contender {
public:
	pmemlog_contender(std::string name, const std::string &path, uint64_t file_size) : contender(std::move(name)), path_(path)
	{
		::unlink(path.c_str());
		log_ = pmemlog_create(path.c_str(), file_size, 0644);
		if (!log_)
			die(std::string("pmemlog_create: ") + pmemlog_errormsg());
	}
	~pmemlog_contender() override
	{
		pmemlog_close(log_);
		::unlink(path_.c_str());
	}
	uint64_t room(uint64_t size)
	{
		return (pmemlog_nbyte(log_) - static_cast<uint64_t>(pmemlog_tell(log_))) / size;
	}
	double run(const std::byte *payload, uint64_t size, uint64_t n) override
	{
		if (room(size) < n)
			pmemlog_rewind(log_);
		if (room(size) < n)
			die("libpmemlog: " + std::to_string(n) + " appends do not fit; raise --file-mib");
		const auto before = pmemlog_tell(log_);
		auto t0 = clock_type::now();
		for (uint64_t i = 0; i < n; ++i)
			if (pmemlog_append(log_, payload, size) != 0) [[unlikely]]
				die(std::string("pmemlog_append: ") + pmemlog_errormsg());
		auto t1 = clock_type::now();
		if (static_cast<uint64_t>(pmemlog_tell(log_) - before) != n * size)
			die("libpmemlog: the write offset did not advance");
		return ns_since(t0, t1);
	}
	void warm_up(const std::byte *payload, uint64_t size) override
	{
		pmemlog_rewind(log_);
		const uint64_t n = room(size);
		for (uint64_t i = 0; i < n; ++i)
			if (pmemlog_append(log_, payload, size) != 0)
				die(std::string("pmemlog_append: ") + pmemlog_errormsg());
		pmemlog_rewind(log_);
	}

private:
	std::string path_;
	PMEMlogpool *log_ = nullptr;
};

// A ratio of two contenders' medians: how many times `faster`'s appends/s `slower`'s.
struct ratio_def {
	std::string name;
	size_t faster, slower; // contender indexes
	double target;
};

struct scenario_result {
	std::string name, dir, fs, granularity, force_granularity, what;
	std::vector<std::string> contenders;
	struct size_row {
		uint64_t size, ops;
		std::vector<std::vector<double>> ns; // [contender][round] ns per append; empty: not run
		std::vector<double> med;
		std::vector<double> ratios;
		std::vector<double> ratio_per_round_min, ratio_per_round_max;
	};
	std::vector<size_row> rows;
	std::vector<ratio_def> ratios;
	// disk only
	std::vector<double> latencies_us, p50_rounds, p99_rounds;
};

// Runs every contender that `runs_at(size, contender)` selects, in rotating order, for all
// rounds, then the medians and ratios.
template <typename OpsFn, typename RunsAtFn>
void measure(scenario_result &res, std::vector<std::unique_ptr<contender>> &cs, const std::vector<uint64_t> &sizes,
	     unsigned rounds, OpsFn ops_of, RunsAtFn runs_at, const std::vector<std::byte> &payload)
{
	for (auto &c : cs)
		res.contenders.push_back(c->name());
	for (uint64_t sz : sizes) {
		scenario_result::size_row row{sz, 0, std::vector<std::vector<double>>(cs.size()), {}, {}, {}, {}};
		res.rows.push_back(row);
	}
	for (unsigned round = 0; round < rounds; ++round)
		for (size_t si = 0; si < sizes.size(); ++si)
			for (size_t k = 0; k < cs.size(); ++k) {
				const size_t ci = (k + round + si) % cs.size();
				if (!runs_at(sizes[si], ci))
					continue;
				const uint64_t n = ops_of(sizes[si], ci);
				const double ns = cs[ci]->run(payload.data(), sizes[si], n);
				res.rows[si].ns[ci].push_back(ns / static_cast<double>(n));
				std::fprintf(stderr, "  round %u: %s %llu B x %llu: %.0f ns/append\n", round + 1,
					     cs[ci]->name().c_str(), static_cast<unsigned long long>(sizes[si]),
					     static_cast<unsigned long long>(n), ns / static_cast<double>(n));
			}
	for (auto &row : res.rows) {
		for (auto &v : row.ns)
			row.med.push_back(median(v));
		for (const auto &rd : res.ratios) {
			const auto &f = row.ns[rd.faster], &s = row.ns[rd.slower];
			if (f.empty() || s.empty()) {
				row.ratios.push_back(0);
				row.ratio_per_round_min.push_back(0);
				row.ratio_per_round_max.push_back(0);
				continue;
			}
			row.ratios.push_back(row.med[rd.slower] / row.med[rd.faster]);
			double lo = 1e300, hi = 0;
			for (size_t r = 0; r < std::min(f.size(), s.size()); ++r) {
				lo = std::min(lo, s[r] / f[r]);
				hi = std::max(hi, s[r] / f[r]);
			}
			row.ratio_per_round_min.push_back(lo);
			row.ratio_per_round_max.push_back(hi);
		}
	}
}

// --pmem-ops and --shm-ops count 64-byte appends; entries of 1 KiB and more get a quarter of
// them, so that a round fits a 64 MiB file and takes about as long.
uint64_t ops_for(uint64_t ops, uint64_t size)
{
	return size >= 1024 ? std::max<uint64_t>(1, ops / 4) : ops;
}

void set_granularity(const char *g)
{
	// libpmem2 reads it at every pmem2_map_new: each scenario's files get their own.
	setenv("PMEM2_FORCE_GRANULARITY", g, 1);
}

std::string prefix_in(const std::string &dir)
{
	return dir + "/pmemstream_async_bench_" + std::to_string(::getpid()) + "_";
}

void describe(scenario_result &res, const std::string &dir, const char *granularity)
{
	res.dir = dir;
	res.fs = fs_type(dir);
	res.force_granularity = granularity;
	res.granularity = probe_granularity(dir);
}

scenario_result run_pmem(const options &o)
{
	scenario_result res;
	res.name = "pmem";
	res.what = "one thread; sync append vs async_append + wait_persisted every " + std::to_string(o.batch);
	set_granularity("CACHE_LINE");
	describe(res, o.shm_dir, "CACHE_LINE");
	const uint64_t fsz = o.file_mib << 20;
	const std::string pre = prefix_in(o.shm_dir);
	ps::commit_policy off;
	off.worker = ps::commit_policy::worker_mode::off;
	stream_log a(pre + "sync", fsz, 1, off, o.max_in_flight), b(pre + "async", fsz, 1, off, o.max_in_flight);
	std::vector<std::unique_ptr<contender>> cs;
	cs.emplace_back(new sync_append("sync append", a));
	cs.emplace_back(new async_append("async_append + wait_persisted/" + std::to_string(o.batch), b, o.batch));
	res.ratios = {{"async/sync", 1, 0, 0}};
	const std::vector<uint64_t> sizes = {64, 4096};
	const auto payload = make_payload(4096);
	for (auto &c : cs)
		c->warm_up(payload.data(), 4096);
	measure(
		res, cs, sizes, o.rounds, [&](uint64_t size, size_t) { return ops_for(o.pmem_ops, size); },
		[](uint64_t, size_t) { return true; }, payload);
	return res; // targets by size: target_of()
}

scenario_result run_disk(const options &o)
{
	scenario_result res;
	res.name = "disk";
	res.what = "msync on a file system; 64 B; async with the commit worker vs sync, 2 threads vs 1 (sync)";
	set_granularity("PAGE");
	describe(res, o.disk_dir, "PAGE");
	const uint64_t fsz = o.file_mib << 20;
	const std::string pre = prefix_in(o.disk_dir);
	ps::commit_policy automatic, on;
	on.worker = ps::commit_policy::worker_mode::on;
	on.max_entries = o.max_entries;
	on.max_delay = std::chrono::microseconds(o.max_delay_us);
	stream_log s1(pre + "sync1", fsz, 1, automatic, o.max_in_flight);
	stream_log s2(pre + "sync2", fsz, 2, automatic, o.max_in_flight);
	stream_log aw(pre + "async", fsz, 1, on, o.max_in_flight);
	stream_log al(pre + "latency", fsz / 2, 1, on, o.max_in_flight);
	std::vector<std::unique_ptr<contender>> cs;
	cs.emplace_back(new sync_append("sync append, 1 thread", s1));
	cs.emplace_back(new sync_threads("sync append, 2 threads", s2));
	cs.emplace_back(new async_append("async_append, commit worker", aw, 0));
	auto *lat = new async_latency("async_append, commit worker, observed", al, o.latency_every);
	cs.emplace_back(lat);
	res.ratios = {{"async/sync", 2, 0, 30.0}, {"2T/1T sync", 1, 0, 1.8}};
	const auto payload = make_payload(4096);
	for (auto &c : cs)
		c->warm_up(payload.data(), 4096);
	measure(
		res, cs, {64}, o.disk_rounds,
		[&](uint64_t, size_t ci) {
			return ci <= 1 ? o.disk_sync_ops : ci == 2 ? o.disk_async_ops : o.latency_ops;
		},
		[](uint64_t, size_t) { return true; }, payload);
	res.latencies_us = lat->latencies_us();
	res.p50_rounds = lat->round_p50();
	res.p99_rounds = lat->round_p99();
	return res;
}

scenario_result run_shm(const options &o)
{
	scenario_result res;
	res.name = "shm";
	res.what = "msync on /dev/shm; one thread; sync append vs pmemlog_append";
	set_granularity("PAGE");
	// libpmem (under libpmemlog) reads it once, at its first pmem_is_pmem(): only this
	// scenario uses libpmemlog, and it must take the msync path like the stream.
	setenv("PMEM_IS_PMEM_FORCE", "0", 1);
	describe(res, o.shm_dir, "PAGE");
	const uint64_t fsz = o.file_mib << 20;
	const std::string pre = prefix_in(o.shm_dir);
	ps::commit_policy automatic;
	stream_log a(pre + "msync", fsz, 1, automatic, o.max_in_flight);
	std::vector<std::unique_ptr<contender>> cs;
	cs.emplace_back(new sync_append("pmemstream sync append", a));
	cs.emplace_back(new pmemlog_contender("libpmemlog", pre + "pmemlog", fsz));
	res.ratios = {{"stream/pmemlog", 0, 1, 1.3}};
	const auto payload = make_payload(4096);
	for (auto &c : cs)
		c->warm_up(payload.data(), 4096);
	measure(
		res, cs, {64, 4096}, o.rounds, [&](uint64_t size, size_t) { return ops_for(o.shm_ops, size); },
		[](uint64_t, size_t) { return true; }, payload);
	return res;
}

double target_of(const scenario_result &res, size_t ri, uint64_t size)
{
	if (res.name == "pmem")
		return size <= 64 ? 3.0 : 1.5;
	return res.ratios[ri].target;
}

void print(const scenario_result &res)
{
	std::printf("\n## %s: %s\n# %s (%s), PMEM2_FORCE_GRANULARITY=%s, libpmem2 granularity there: %s\n\n",
		    res.name.c_str(), res.what.c_str(), res.dir.c_str(), res.fs.c_str(), res.force_granularity.c_str(),
		    res.granularity.c_str());
	std::printf("| size (B) | contender | appends/s | ns/append |\n|---:|---|---:|---:|\n");
	for (const auto &row : res.rows)
		for (size_t ci = 0; ci < res.contenders.size(); ++ci)
			if (!row.ns[ci].empty())
				std::printf("| %llu | %s | %.0f | %.1f |\n", static_cast<unsigned long long>(row.size),
					    res.contenders[ci].c_str(), 1e9 / row.med[ci], row.med[ci]);
	std::printf("\n");
	for (const auto &row : res.rows)
		for (size_t ri = 0; ri < res.ratios.size(); ++ri) {
			const double t = target_of(res, ri, row.size);
			std::printf("- %llu B %s: %.2f (rounds %.2f-%.2f), target >= %.1f: %s\n",
				    static_cast<unsigned long long>(row.size), res.ratios[ri].name.c_str(), row.ratios[ri],
				    row.ratio_per_round_min[ri], row.ratio_per_round_max[ri], t,
				    row.ratios[ri] >= t ? "met" : "MISSED");
		}
	if (!res.latencies_us.empty())
		std::printf("- submit to persisted (commit worker, nobody waiting), %zu samples: p50 %.1f us, p99 %.1f us, "
			    "max %.1f us\n",
			    res.latencies_us.size(), percentile(res.latencies_us, 50), percentile(res.latencies_us, 99),
			    percentile(res.latencies_us, 100));
}

void write_json(const options &o, const std::vector<scenario_result> &all, const std::string &load0, const std::string &load1)
{
	FILE *f = open_out(o.out);
	std::fprintf(f,
		     "{\n  \"config\": {\"cpu\": \"%s\", \"online_cpus\": %ld, \"rounds\": %u, \"disk_rounds\": %u, \"batch\": %llu, "
		     "\"file_bytes\": %llu, \"max_in_flight\": %u, \"max_entries\": %llu, \"max_delay_us\": %llu, "
		     "\"pmem_ops\": %llu, \"shm_ops\": %llu, \"disk_sync_ops\": %llu, \"disk_async_ops\": %llu, "
		     "\"latency_ops\": %llu, \"latency_every\": %llu, \"loadavg_start_end\": \"%s / %s\"},\n"
		     "  \"scenarios\": [\n",
		     cpu_model().c_str(), ::sysconf(_SC_NPROCESSORS_ONLN), o.rounds, o.disk_rounds,
		     static_cast<unsigned long long>(o.batch),
		     static_cast<unsigned long long>(o.file_mib << 20), o.max_in_flight,
		     static_cast<unsigned long long>(o.max_entries), static_cast<unsigned long long>(o.max_delay_us),
		     static_cast<unsigned long long>(o.pmem_ops), static_cast<unsigned long long>(o.shm_ops),
		     static_cast<unsigned long long>(o.disk_sync_ops), static_cast<unsigned long long>(o.disk_async_ops),
		     static_cast<unsigned long long>(o.latency_ops), static_cast<unsigned long long>(o.latency_every),
		     load0.c_str(), load1.c_str());
	for (size_t si = 0; si < all.size(); ++si) {
		const auto &res = all[si];
		std::fprintf(f,
			     "    {\"name\": \"%s\", \"what\": \"%s\", \"dir\": \"%s\", \"fs\": \"%s\", "
			     "\"PMEM2_FORCE_GRANULARITY\": \"%s\", \"pmem2_granularity\": \"%s\",\n     \"rows\": [\n",
			     res.name.c_str(), res.what.c_str(), res.dir.c_str(), res.fs.c_str(), res.force_granularity.c_str(),
			     res.granularity.c_str());
		for (size_t ri = 0; ri < res.rows.size(); ++ri) {
			const auto &row = res.rows[ri];
			std::fprintf(f, "      {\"size\": %llu, \"contenders\": [\n", static_cast<unsigned long long>(row.size));
			for (size_t ci = 0; ci < res.contenders.size(); ++ci) {
				std::fprintf(f, "        {\"name\": \"%s\", \"median_ns\": %.2f, \"appends_per_s\": %.0f, \"rounds_ns\": ",
					     res.contenders[ci].c_str(), row.med[ci], row.med[ci] > 0 ? 1e9 / row.med[ci] : 0.0);
				write_array(f, row.ns[ci]);
				std::fprintf(f, "}%s\n", ci + 1 < res.contenders.size() ? "," : "");
			}
			std::fprintf(f, "       ],\n       \"ratios\": [\n");
			for (size_t k = 0; k < res.ratios.size(); ++k) {
				const double t = target_of(res, k, row.size);
				std::fprintf(f,
					     "         {\"name\": \"%s\", \"value\": %.4f, \"round_min\": %.4f, \"round_max\": %.4f, "
					     "\"target\": %.2f, \"met\": %s}%s\n",
					     res.ratios[k].name.c_str(), row.ratios[k], row.ratio_per_round_min[k],
					     row.ratio_per_round_max[k], t, row.ratios[k] >= t ? "true" : "false",
					     k + 1 < res.ratios.size() ? "," : "");
			}
			std::fprintf(f, "       ]}%s\n", ri + 1 < res.rows.size() ? "," : "");
		}
		std::fprintf(f, "     ]");
		if (!res.latencies_us.empty()) {
			std::fprintf(f, ",\n     \"latency_us\": {\"samples\": %zu, \"p50\": %.2f, \"p99\": %.2f, \"max\": %.2f, "
				     "\"p50_rounds\": ",
				     res.latencies_us.size(), percentile(res.latencies_us, 50), percentile(res.latencies_us, 99),
				     percentile(res.latencies_us, 100));
			write_array(f, res.p50_rounds);
			std::fprintf(f, ", \"p99_rounds\": ");
			write_array(f, res.p99_rounds);
			std::fprintf(f, "}");
		}
		std::fprintf(f, "}%s\n", si + 1 < all.size() ? "," : "");
	}
	std::fprintf(f, "  ]\n}\n");
	close_out(f, o.out);
}

} // namespace

int main(int argc, char **argv)
{
	program_name = "async_compare";
	const options o = parse_args(argc, argv);
	const std::string load0 = loadavg();
	std::printf("# async_compare: %u rounds (disk: %u); CPU: %s (%ld online); load average %s\n", o.rounds, o.disk_rounds,
		    cpu_model().c_str(),
		    ::sysconf(_SC_NPROCESSORS_ONLN), load0.c_str());
	std::printf("# max_in_flight %u; commit worker: max_entries %llu, max_delay %llu us\n", o.max_in_flight,
		    static_cast<unsigned long long>(o.max_entries), static_cast<unsigned long long>(o.max_delay_us));
	std::fflush(stdout);
	std::vector<scenario_result> all;
	for (const auto &s : o.scenarios) {
		std::fprintf(stderr, "scenario %s\n", s.c_str());
		if (s == "pmem")
			all.push_back(run_pmem(o));
		else if (s == "disk")
			all.push_back(run_disk(o));
		else
			all.push_back(run_shm(o));
		print(all.back());
		std::fflush(stdout);
	}
	const std::string load1 = loadavg();
	std::printf("\n# load average at the end: %s\n", load1.c_str());
	if (!o.out.empty())
		write_json(o, all, load0, load1);
	return 0;
}
