// SPDX-License-Identifier: BSD-3-Clause
// Concurrent appends (issue 11), side by side in one run: synchronous and asynchronous appends
// from 1 thread, 2 threads each in its own region, 2 and 4 threads in one region; libpmemlog
// from 1 and 2 threads into one pool; and the aligned one-fence ceiling (the payload as whole
// non-temporal cache lines at line-aligned positions, one sfence) from 1 and 2 threads in
// separate files. Every configuration runs for a fixed wall time (or until its file is full)
// in every round, in an order that rotates from round to round; the ratios the issue asks for
// are computed within each round and their median over rounds is reported. Only the public
// C++ API of the stream is used. docs/benchmarks.md ("Concurrent appends") explains the output.
#include "bench_util.hpp"

#include "crc32c.hpp"

#include <pmemstream/stream.hpp>

#include <libpmem2.h>
#include <libpmemlog.h>

#include <atomic>
#include <cstring>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace bench;
namespace ps = pmemstream;

namespace {

struct options {
	unsigned rounds = 5;
	uint64_t ms = 500; // wall time per configuration and round
	std::vector<uint64_t> sizes = {64, 1024};
	uint64_t batch = 64; // async: wait_persisted every this many appends of a thread
	std::string dir = "/dev/shm";
	uint64_t file_mib = 512; // per configuration (per thread for the ceiling)
	std::string out;
};

void usage()
{
	std::printf("usage: concurrent_compare [--rounds N] [--ms N] [--sizes a,b] [--batch K] [--dir DIR]\n"
		    "                          [--file-mib N] [--out|--json results.json] [--quick]\n"
		    "  --quick: 1 round of 5 ms per configuration in 16 MiB files (a smoke run)\n");
}

options parse_args(int argc, char **argv)
{
	options o;
	// --quick takes no value: taken out before the common loop, which wants one per option;
	// options after it still override what it sets.
	std::vector<char *> rest{argv[0]};
	for (int i = 1; i < argc; ++i) {
		if (std::strcmp(argv[i], "--quick") == 0) {
			o.rounds = 1;
			o.ms = 5;
			o.file_mib = 16;
		} else {
			rest.push_back(argv[i]);
		}
	}
	parse_options(static_cast<int>(rest.size()), rest.data(), usage, [&](const std::string &a, const std::string &v) {
		if (a == "--rounds")
			o.rounds = static_cast<unsigned>(parse_u64(a, v));
		else if (a == "--ms")
			o.ms = parse_u64(a, v);
		else if (a == "--sizes")
			o.sizes = parse_list(a, v);
		else if (a == "--batch")
			o.batch = parse_u64(a, v);
		else if (a == "--dir")
			o.dir = v;
		else if (a == "--file-mib")
			o.file_mib = parse_u64(a, v);
		else if (a == "--out" || a == "--json")
			o.out = v;
		else
			return false;
		return true;
	});
	return o;
}

// Appends between two looks at the clock and the stop flag (synchronous contenders): 64 where
// an append takes well under a microsecond, 1 where each is an msync (main() decides).
uint64_t sync_chunk = 64;

struct run_result {
	uint64_t entries = 0;
	double ns = 0;	   // from the first thread's start to the last thread's end
	bool capped = false; // a thread used up its share of the file before the wall time
};

// Starts `t` threads together on a latch; each runs body(k, stop, deadline) -> entries it
// appended, and raises `stop` when it returns, so the others end within one chunk.
template <typename Body>
run_result run_threads(unsigned t, uint64_t ms, Body body)
{
	std::latch go(t);
	std::atomic<bool> stop{false};
	std::vector<clock_type::time_point> start(t), end(t);
	std::vector<uint64_t> done(t);
	std::vector<char> capped(t);
	std::vector<std::thread> pool;
	for (unsigned k = 0; k < t; ++k)
		pool.emplace_back([&, k] {
			go.arrive_and_wait();
			start[k] = clock_type::now();
			const auto deadline = start[k] + std::chrono::milliseconds(ms);
			bool cap = false;
			done[k] = body(k, stop, deadline, cap);
			end[k] = clock_type::now();
			capped[k] = cap;
			stop.store(true, std::memory_order_relaxed);
		});
	for (auto &th : pool)
		th.join();
	run_result r;
	for (unsigned k = 0; k < t; ++k) {
		r.entries += done[k];
		r.capped = r.capped || capped[k];
	}
	r.ns = ns_since(*std::min_element(start.begin(), start.end()), *std::max_element(end.begin(), end.end()));
	return r;
}

// The loop shared by all contenders: `chunk` appends at a time while the thread's share
// `quota` has room and neither the wall time nor another thread ended the run.
template <typename Chunk>
uint64_t timed_loop(uint64_t quota, uint64_t chunk, const std::atomic<bool> &stop, clock_type::time_point deadline,
		    bool &capped, Chunk do_chunk)
{
	uint64_t n = 0;
	for (;;) {
		if (n + chunk > quota) {
			capped = true;
			break;
		}
		do_chunk();
		n += chunk;
		if (stop.load(std::memory_order_relaxed) || clock_type::now() >= deadline)
			break;
	}
	return n;
}

class contender {
public:
	contender(std::string name, unsigned threads) : name_(std::move(name)), threads_(threads)
	{
	}
	virtual ~contender() = default;
	const std::string &name() const
	{
		return name_;
	}
	unsigned threads() const
	{
		return threads_;
	}
	// Not timed: touches every page of files that live across rounds.
	virtual void warm_up(const std::byte *, uint64_t)
	{
	}
	virtual run_result run(const std::byte *payload, uint64_t size, uint64_t ms) = 0;

private:
	std::string name_;
	unsigned threads_;
};

// A fresh stream per run (so that a region never fills and no run inherits another's state),
// with `regions` regions (1: all threads share it; else one per thread).
class stream_contender : public contender {
public:
	stream_contender(std::string name, unsigned threads, unsigned regions, bool async, uint64_t batch, std::string path,
			 uint64_t file_size)
	    : contender(std::move(name), threads), regions_(regions), async_(async), batch_(batch), path_(std::move(path)),
	      file_size_(file_size)
	{
	}
	run_result run(const std::byte *payload, uint64_t size, uint64_t ms) override
	{
		::unlink(path_.c_str());
		ps::create_options co;
		co.size = file_size_;
		co.block_size = 4096;
		co.prefault = true; // no first-touch page fault inside the timed section
		if (async_)
			co.commit.worker = ps::commit_policy::worker_mode::off; // each thread persists its own
		auto sr = ps::stream::create(path_, co);
		if (!sr)
			die("stream::create " + path_ + ": " + sr.err().message());
		std::unique_ptr<ps::stream> s = std::move(*sr);
		const uint64_t region_size = regions_ == 1 ? s->info().largest_free : s->info().largest_free / regions_ - 2 * 4096;
		std::vector<ps::region> rs;
		std::vector<ps::region_runtime *> rts;
		for (unsigned k = 0; k < regions_; ++k) {
			auto r = s->region_allocate(region_size);
			if (!r)
				die("region_allocate: " + r.err().message());
			auto rt = s->get_region_runtime(*r);
			if (!rt)
				die("get_region_runtime: " + rt.err().message());
			rs.push_back(*r);
			rts.push_back(*rt);
		}
		auto usable = s->region_usable_size(rs[0]);
		if (!usable)
			die("region_usable_size: " + usable.err().message());
		const uint64_t per_region = *usable / ps::entry_footprint(size);
		const uint64_t quota = regions_ == 1 ? per_region / threads() : per_region;
		const uint64_t chunk = async_ ? batch_ : sync_chunk;
		std::vector<uint64_t> last(threads());
		ps::stream &st = *s;
		run_result res = run_threads(threads(), ms, [&](unsigned k, const std::atomic<bool> &stop, auto deadline, bool &capped) {
			const ps::region r = rs[regions_ == 1 ? 0 : k];
			ps::region_runtime *rt = rts[regions_ == 1 ? 0 : k];
			if (!async_)
				return timed_loop(quota, chunk, stop, deadline, capped, [&] {
					for (uint64_t i = 0; i < chunk; ++i)
						if (auto e = st.append(r, payload, size, rt); !e) [[unlikely]]
							die("append: " + e.err().message());
				});
			return timed_loop(quota, chunk, stop, deadline, capped, [&] {
				uint64_t ts = 0;
				for (uint64_t i = 0; i < chunk; ++i) {
					auto e = st.async_append(r, payload, size, rt);
					if (!e) [[unlikely]]
						die("async_append: " + e.err().message());
					ts = e->timestamp;
				}
				if (auto w = st.wait_persisted(ts); !w) [[unlikely]]
					die("wait_persisted: " + w.err().message());
				last[k] = ts;
			});
		});
		// Untimed checks: every append is in its region, every async one is persisted.
		uint64_t count = 0;
		for (auto r : rs) {
			auto c = s->region_entry_count(r);
			if (!c)
				die("region_entry_count: " + c.err().message());
			count += *c;
		}
		if (count != res.entries)
			die(name() + ": the regions hold " + std::to_string(count) + " entries, " +
			    std::to_string(res.entries) + " were appended");
		for (uint64_t ts : last)
			if (s->persisted_timestamp() < ts)
				die(name() + ": wait_persisted returned below its timestamp");
		s.reset();
		::unlink(path_.c_str());
		return res;
	}

private:
	unsigned regions_;
	bool async_;
	uint64_t batch_;
	std::string path_;
	uint64_t file_size_;
};

// pmemlog_append from every thread into one pool (it takes its own lock); rewound, untimed,
// before each run.
class pmemlog_contender : public contender {
public:
	pmemlog_contender(std::string name, unsigned threads, PMEMlogpool *log) : contender(std::move(name), threads), log_(log)
	{
	}
	// In pieces of 1 MiB: one persist each (on a disk one msync each, not one per entry).
	void warm_up(const std::byte *, uint64_t) override
	{
		const std::vector<std::byte> piece(1 << 20);
		pmemlog_rewind(log_);
		for (;;) {
			const uint64_t left = pmemlog_nbyte(log_) - static_cast<uint64_t>(pmemlog_tell(log_));
			if (left == 0)
				break;
			if (pmemlog_append(log_, piece.data(), std::min<uint64_t>(left, piece.size())) != 0)
				die(std::string("pmemlog_append (warm-up): ") + pmemlog_errormsg());
		}
		pmemlog_rewind(log_);
	}
	run_result run(const std::byte *payload, uint64_t size, uint64_t ms) override
	{
		pmemlog_rewind(log_);
		const uint64_t quota = pmemlog_nbyte(log_) / size / threads();
		run_result res = run_threads(threads(), ms, [&](unsigned, const std::atomic<bool> &stop, auto deadline, bool &capped) {
			return timed_loop(quota, sync_chunk, stop, deadline, capped, [&] {
				for (uint64_t i = 0; i < sync_chunk; ++i)
					if (pmemlog_append(log_, payload, size) != 0) [[unlikely]]
						die(std::string("pmemlog_append: ") + pmemlog_errormsg());
			});
		});
		if (static_cast<uint64_t>(pmemlog_tell(log_)) != res.entries * size)
			die(name() + ": the write offset does not match the appends");
		return res;
	}

private:
	PMEMlogpool *log_;
};

// One file of `file_size` bytes mapped with libpmem2, for one ceiling thread.
class ceiling_file {
public:
	ceiling_file(std::string path, uint64_t file_size) : file_(std::move(path), file_size), size_(file_size)
	{
		base_ = static_cast<std::byte *>(pmem2_map_get_address(file_.map));
		memcpy_ = pmem2_get_memcpy_fn(file_.map);
		drain_ = pmem2_get_drain_fn(file_.map);
		persist_ = pmem2_get_persist_fn(file_.map);
	}
	ceiling_file(const ceiling_file &) = delete;
	ceiling_file &operator=(const ceiling_file &) = delete;
	void touch()
	{
		std::memset(base_, 0, size_);
		persist_(base_, size_);
	}
	std::byte *base() const
	{
		return base_;
	}
	uint64_t size() const
	{
		return size_;
	}
	pmem2_memcpy_fn memcpy_fn() const
	{
		return memcpy_;
	}
	pmem2_drain_fn drain_fn() const
	{
		return drain_;
	}
	int granularity() const
	{
		return pmem2_map_get_store_granularity(file_.map);
	}

private:
	pmem2_mapped_file file_;
	uint64_t size_;
	std::byte *base_ = nullptr;
	pmem2_memcpy_fn memcpy_ = nullptr;
	pmem2_drain_fn drain_ = nullptr;
	pmem2_persist_fn persist_ = nullptr;
};

constexpr uint64_t line = 64;

uint64_t round_to_line(uint64_t n)
{
	return (n + line - 1) & ~(line - 1);
}

// One order with the prefix rule, for the ceiling's `prefix` variant: an append takes a
// ticket before its copy (as an append takes its timestamp before writing) and, after its
// fence, marks it done in a ring of line-sized slots, raises one shared watermark over the
// contiguous run of done tickets and waits until it covers its own, which is what a
// synchronous append promises (every smaller timestamp persisted when it returns).
class prefix_order {
public:
	uint64_t take() noexcept
	{
		return next_.fetch_add(1, std::memory_order_relaxed);
	}
	void finish(uint64_t t) noexcept
	{
		slots_[t % ring].done.store(t, std::memory_order_release);
		for (uint64_t w = mark_.load(std::memory_order_acquire); w < t;) {
			uint64_t x = w;
			while (slots_[(x + 1) % ring].done.load(std::memory_order_acquire) == x + 1)
				++x;
			if (x == w) {
				__builtin_ia32_pause();
				w = mark_.load(std::memory_order_acquire);
			} else if (mark_.compare_exchange_weak(w, x, std::memory_order_acq_rel)) {
				w = x;
			}
		}
	}

private:
	// Tickets in flight are at most one per thread, so a small ring never wraps onto one.
	static constexpr uint64_t ring = 1024;
	struct alignas(64) slot {
		std::atomic<uint64_t> done{0};
	};
	alignas(64) std::atomic<uint64_t> next_{1};
	alignas(64) std::atomic<uint64_t> mark_{0};
	std::unique_ptr<slot[]> slots_{new slot[ring]};
};

// The aligned one-fence ceiling: per thread, in its own file, the payload rounded up to whole
// cache lines copied with non-temporal stores to the next line-aligned position, then one
// drain (sfence). No header, no checksum, no shared state. Variants add one thing each:
// - `counter`: each append also takes a number from a counter (one atomic add after the
//   fence; with 2 threads on a line both write): the least that one order over the entries of
//   every thread costs, which is what a stream-wide timestamp is;
// - `crc`: each append also computes the CRC-32C of its payload after the fence (what an
//   append computes besides the copy), which overlaps the fence's write-back as nothing waits
//   for it; with `counter` as well (the add first), the add waits for the write-back and the
//   CRC runs after it. Any lock or timestamp an append takes puts it in that second case.
// - `prefix`: each append takes its number from a prefix_order before the copy and waits
//   after its fence until every smaller number is done: the least that the prefix rule costs
//   threads that share one order.
class ceiling_contender : public contender {
public:
	ceiling_contender(std::string name, std::vector<ceiling_file *> files, std::atomic<uint64_t> *counter = nullptr,
			  bool crc = false, prefix_order *prefix = nullptr)
	    : contender(std::move(name), static_cast<unsigned>(files.size())), files_(std::move(files)), counter_(counter),
	      crc_(crc), prefix_(prefix)
	{
	}
	void warm_up(const std::byte *, uint64_t) override
	{
		for (auto *f : files_)
			f->touch();
	}
	run_result run(const std::byte *payload, uint64_t size, uint64_t ms) override
	{
		const uint64_t step = round_to_line(size);
		const uint64_t quota = files_[0]->size() / step;
		return run_threads(threads(), ms, [&](unsigned k, const std::atomic<bool> &stop, auto deadline, bool &capped) {
			ceiling_file &f = *files_[k];
			const pmem2_memcpy_fn mc = f.memcpy_fn();
			const pmem2_drain_fn drain = f.drain_fn();
			std::byte *p = f.base();
			std::atomic<uint64_t> *const counter = counter_;
			prefix_order *const prefix = prefix_;
			const bool crc = crc_;
			uint32_t sum = 0;
			auto result = timed_loop(quota, sync_chunk, stop, deadline, capped, [&] {
				for (uint64_t i = 0; i < sync_chunk; ++i, p += step) {
					const uint64_t ticket = prefix ? prefix->take() : 0;
					mc(p, payload, step, PMEM2_F_MEM_NONTEMPORAL | PMEM2_F_MEM_NODRAIN);
					drain();
					if (prefix)
						prefix->finish(ticket);
					if (counter)
						counter->fetch_add(1, std::memory_order_relaxed);
					if (crc)
						sum += ps::detail::crc32c(payload, size);
				}
			});
			crc_sink.fetch_add(sum, std::memory_order_relaxed);
			return result;
		});
	}

private:
	static inline std::atomic<uint32_t> crc_sink{0}; // keeps the CRCs from being optimised away
	std::vector<ceiling_file *> files_;
	std::atomic<uint64_t> *counter_;
	bool crc_;
	prefix_order *prefix_;
};

// Contender indexes (the order of make_contenders()).
enum : size_t {
	sync_1t,
	sync_2t_own,
	sync_2t_one,
	sync_4t_one,
	async_1t,
	async_2t_own,
	async_2t_one,
	async_4t_one,
	pmemlog_1t,
	pmemlog_2t,
	ceiling_1t,
	ceiling_2t,
	ceiling_2t_counter,
	ceiling_1t_crc,
	ceiling_1t_counter_crc,
	ceiling_2t_prefix,
	n_contenders
};

struct ratio_def {
	std::string name;
	size_t num, den; // appends/s of num divided by appends/s of den
	double target;	 // 0: for information
};

std::vector<ratio_def> ratio_defs()
{
	std::vector<ratio_def> v;
	for (int a = 0; a < 2; ++a) {
		const std::string m = a ? "async" : "sync";
		const size_t o = a ? async_1t : sync_1t;
		v.push_back({m + ": 2T one region / 2T own regions", o + 2, o + 1, 0.9});
		v.push_back({m + ": 2T one region / 1T", o + 2, o + 0, 1.4});
		v.push_back({m + ": 2T own regions / 1T", o + 1, o + 0, 1.8});
		v.push_back({m + ": 1T / aligned one-fence ceiling 1T", o + 0, ceiling_1t, 0.85});
		v.push_back({m + ": 4T one region / 1T", o + 3, o + 0, 0});
	}
	v.push_back({"async 1T / sync 1T", async_1t, sync_1t, 0});
	v.push_back({"ceiling 2T / ceiling 1T (what 2 threads can give here)", ceiling_2t, ceiling_1t, 0});
	v.push_back({"ceiling 2T with one shared counter / ceiling 1T (what 2 threads can give with one order)",
		     ceiling_2t_counter, ceiling_1t, 0});
	v.push_back({"ceiling 1T + CRC / ceiling 1T (work after the fence overlaps its write-back)", ceiling_1t_crc,
		     ceiling_1t, 0});
	v.push_back({"ceiling 1T + atomic add + CRC / ceiling 1T (work after an atomic add does not)",
		     ceiling_1t_counter_crc, ceiling_1t, 0});
	v.push_back({"ceiling 2T + shared order + prefix wait / ceiling 1T (what 2 threads can give with the prefix rule)",
		     ceiling_2t_prefix, ceiling_1t, 0});
	v.push_back({"sync 2T own regions / ceiling 2T + shared order + prefix wait", sync_2t_own, ceiling_2t_prefix, 0});
	v.push_back({"libpmemlog 2T / libpmemlog 1T", pmemlog_2t, pmemlog_1t, 0});
	v.push_back({"sync 1T / libpmemlog 1T", sync_1t, pmemlog_1t, 0});
	v.push_back({"sync 2T one region / libpmemlog 2T", sync_2t_one, pmemlog_2t, 0});
	return v;
}

struct size_result {
	uint64_t size = 0;
	std::vector<std::vector<double>> rate;	   // [contender][round] appends/s
	std::vector<std::vector<double>> run_ms;   // [contender][round]
	std::vector<std::vector<double>> entries;  // [contender][round]
	std::vector<bool> capped;		   // [contender]: some round ran out of file
	std::vector<std::vector<double>> ratio;	   // [ratio][round]
};

struct stats3 {
	double med, lo, hi;
};

stats3 stats_of(const std::vector<double> &v)
{
	if (v.empty())
		return {0, 0, 0};
	return {median(v), *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end())};
}

const char *verdict(double value, double target)
{
	if (target == 0)
		return "info";
	return value >= target ? "met" : "MISSED";
}

void write_json(const options &o, const std::vector<std::unique_ptr<contender>> &cs, const std::vector<ratio_def> &rd,
		const std::vector<size_result> &all, const std::string &gran, const std::string &fs, const std::string &load0,
		const std::string &load1)
{
	FILE *f = open_out(o.out);
	std::fprintf(f,
		     "{\n  \"config\": {\"cpu\": \"%s\", \"online_cpus\": %ld, \"rounds\": %u, \"ms\": %llu, \"batch\": %llu, "
		     "\"dir\": \"%s\", \"fs\": \"%s\", \"file_bytes\": %llu, \"PMEM2_FORCE_GRANULARITY\": \"%s\", "
		     "\"pmem2_granularity\": \"%s\", \"PMEM_IS_PMEM_FORCE\": \"%s\", \"loadavg_start_end\": \"%s / %s\"},\n"
		     "  \"results\": [\n",
		     cpu_model().c_str(), ::sysconf(_SC_NPROCESSORS_ONLN), o.rounds, static_cast<unsigned long long>(o.ms),
		     static_cast<unsigned long long>(o.batch), o.dir.c_str(), fs.c_str(),
		     static_cast<unsigned long long>(o.file_mib << 20), env_or("PMEM2_FORCE_GRANULARITY", "").c_str(),
		     gran.c_str(), env_or("PMEM_IS_PMEM_FORCE", "").c_str(), load0.c_str(), load1.c_str());
	for (size_t si = 0; si < all.size(); ++si) {
		const size_result &sr = all[si];
		std::fprintf(f, "    {\"size\": %llu, \"contenders\": [\n", static_cast<unsigned long long>(sr.size));
		for (size_t ci = 0; ci < cs.size(); ++ci) {
			const stats3 s = stats_of(sr.rate[ci]);
			std::fprintf(f,
				     "       {\"name\": \"%s\", \"threads\": %u, \"median_appends_per_s\": %.0f, \"min\": %.0f, "
				     "\"max\": %.0f, \"median_ns\": %.2f, \"capped\": %s, \"rounds_appends_per_s\": ",
				     cs[ci]->name().c_str(), cs[ci]->threads(), s.med, s.lo, s.hi, s.med > 0 ? 1e9 / s.med : 0.0,
				     sr.capped[ci] ? "true" : "false");
			write_array(f, sr.rate[ci], "%.0f");
			std::fprintf(f, ", \"rounds_ms\": ");
			write_array(f, sr.run_ms[ci], "%.1f");
			std::fprintf(f, "}%s\n", ci + 1 < cs.size() ? "," : "");
		}
		std::fprintf(f, "     ],\n     \"ratios\": [\n");
		for (size_t ri = 0; ri < rd.size(); ++ri) {
			const stats3 s = stats_of(sr.ratio[ri]);
			std::fprintf(f,
				     "       {\"name\": \"%s\", \"median\": %.4f, \"min\": %.4f, \"max\": %.4f, \"target\": %.2f, "
				     "\"verdict\": \"%s\", \"rounds\": ",
				     rd[ri].name.c_str(), s.med, s.lo, s.hi, rd[ri].target, verdict(s.med, rd[ri].target));
			write_array(f, sr.ratio[ri], "%.4f");
			std::fprintf(f, "}%s\n", ri + 1 < rd.size() ? "," : "");
		}
		std::fprintf(f, "     ]}%s\n", si + 1 < all.size() ? "," : "");
	}
	std::fprintf(f, "  ]\n}\n");
	close_out(f, o.out);
}

} // namespace

int main(int argc, char **argv)
{
	program_name = "concurrent_compare";
	const options o = parse_args(argc, argv);

	// On tmpfs, persist with cache-line flushes and fences as on persistent memory (libpmem2
	// reads the variable at every pmem2_map_new, libpmem under libpmemlog at its first
	// pmem_is_pmem); elsewhere libpmem2 picks what the medium gives. A value set by the user
	// is kept.
	const std::string fs = fs_type(o.dir);
	if (fs == "tmpfs") {
		setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
		setenv("PMEM_IS_PMEM_FORCE", "1", 0);
	}
	const std::string gran = probe_granularity(o.dir);
	if (gran == "page")
		sync_chunk = 1;
	const std::string load0 = loadavg();
	const uint64_t file_size = o.file_mib << 20;
	const uint64_t max_size = *std::max_element(o.sizes.begin(), o.sizes.end());
	if (round_to_line(max_size) > file_size / 4 || ps::entry_footprint(max_size) * 64 * 4 > file_size / 2)
		die("--file-mib too small for entries of " + std::to_string(max_size) + " bytes");

	std::printf("# concurrent appends (issue 11), %u rounds x %llu ms per configuration; async waits every %llu appends per thread\n",
		    o.rounds, static_cast<unsigned long long>(o.ms), static_cast<unsigned long long>(o.batch));
	std::printf("# CPU: %s (%ld online); load average at start %s\n", cpu_model().c_str(),
		    ::sysconf(_SC_NPROCESSORS_ONLN), load0.c_str());
	std::printf("# files in %s (%s), %llu MiB per configuration; PMEM2_FORCE_GRANULARITY=%s, libpmem2 granularity: "
		    "%s, PMEM_IS_PMEM_FORCE=%s\n",
		    o.dir.c_str(), fs.c_str(), static_cast<unsigned long long>(o.file_mib),
		    env_or("PMEM2_FORCE_GRANULARITY", "(unset)").c_str(), gran.c_str(),
		    env_or("PMEM_IS_PMEM_FORCE", "(unset)").c_str());
	if (gran == "page")
		std::printf("# granularity page: every persist is an msync, not a cache flush\n");
	std::fflush(stdout);

	const std::string pre = o.dir + "/pmemstream_concurrent_" + std::to_string(::getpid()) + "_";
	const std::string pool_path = pre + "pmemlog";
	::unlink(pool_path.c_str());
	PMEMlogpool *log = pmemlog_create(pool_path.c_str(), file_size, 0644);
	if (!log)
		die(std::string("pmemlog_create: ") + pmemlog_errormsg());
	// Each ceiling thread gets a whole file of --file-mib; the 1-thread ceiling uses the first.
	ceiling_file cf0(pre + "ceiling0", file_size), cf1(pre + "ceiling1", file_size);

	std::vector<std::unique_ptr<contender>> cs;
	const std::string k = std::to_string(o.batch);
	cs.emplace_back(new stream_contender("sync 1T", 1, 1, false, o.batch, pre + "s1", file_size));
	cs.emplace_back(new stream_contender("sync 2T own regions", 2, 2, false, o.batch, pre + "s2own", file_size));
	cs.emplace_back(new stream_contender("sync 2T one region", 2, 1, false, o.batch, pre + "s2one", file_size));
	cs.emplace_back(new stream_contender("sync 4T one region", 4, 1, false, o.batch, pre + "s4one", file_size));
	cs.emplace_back(new stream_contender("async/" + k + " 1T", 1, 1, true, o.batch, pre + "a1", file_size));
	cs.emplace_back(new stream_contender("async/" + k + " 2T own regions", 2, 2, true, o.batch, pre + "a2own", file_size));
	cs.emplace_back(new stream_contender("async/" + k + " 2T one region", 2, 1, true, o.batch, pre + "a2one", file_size));
	cs.emplace_back(new stream_contender("async/" + k + " 4T one region", 4, 1, true, o.batch, pre + "a4one", file_size));
	cs.emplace_back(new pmemlog_contender("libpmemlog 1T", 1, log));
	cs.emplace_back(new pmemlog_contender("libpmemlog 2T (one pool)", 2, log));
	cs.emplace_back(new ceiling_contender("ceiling 1T", {&cf0}));
	cs.emplace_back(new ceiling_contender("ceiling 2T (own files)", {&cf0, &cf1}));
	alignas(64) static std::atomic<uint64_t> order_counter{0};
	cs.emplace_back(new ceiling_contender("ceiling 2T + shared counter", {&cf0, &cf1}, &order_counter));
	cs.emplace_back(new ceiling_contender("ceiling 1T + CRC", {&cf0}, nullptr, true));
	alignas(64) static std::atomic<uint64_t> private_counter{0};
	cs.emplace_back(new ceiling_contender("ceiling 1T + atomic add + CRC", {&cf0}, &private_counter, true));
	static prefix_order shared_order;
	cs.emplace_back(new ceiling_contender("ceiling 2T + shared order + prefix wait", {&cf0, &cf1}, nullptr, false,
					      &shared_order));
	if (cs.size() != n_contenders)
		die("contender table out of step");
	const std::vector<ratio_def> rd = ratio_defs();

	// The payload is read in whole lines by the ceiling.
	const std::vector<std::byte> payload = make_payload(round_to_line(max_size));
	for (auto &c : cs)
		c->warm_up(payload.data(), max_size);

	std::vector<size_result> all(o.sizes.size());
	for (size_t si = 0; si < all.size(); ++si) {
		all[si].size = o.sizes[si];
		all[si].rate.resize(cs.size());
		all[si].run_ms.resize(cs.size());
		all[si].entries.resize(cs.size());
		all[si].capped.assign(cs.size(), false);
		all[si].ratio.resize(rd.size());
	}
	for (unsigned round = 0; round < o.rounds; ++round)
		for (size_t si = 0; si < all.size(); ++si) {
			size_result &sr = all[si];
			// Rotate the order so that no configuration always runs first or after the same one.
			for (size_t j = 0; j < cs.size(); ++j) {
				const size_t ci = (j + round + si) % cs.size();
				const run_result r = cs[ci]->run(payload.data(), sr.size, o.ms);
				if (r.entries == 0)
					die(cs[ci]->name() + ": no append fits a thread's share of the file; raise --file-mib");
				const double rate = r.ns > 0 ? static_cast<double>(r.entries) * 1e9 / r.ns : 0;
				sr.rate[ci].push_back(rate);
				sr.run_ms[ci].push_back(r.ns / 1e6);
				sr.entries[ci].push_back(static_cast<double>(r.entries));
				sr.capped[ci] = sr.capped[ci] || r.capped;
				std::fprintf(stderr, "  round %u: %llu B %-28s %11.0f appends/s (%llu in %.1f ms%s)\n", round + 1,
					     static_cast<unsigned long long>(sr.size), cs[ci]->name().c_str(), rate,
					     static_cast<unsigned long long>(r.entries), r.ns / 1e6, r.capped ? ", file full" : "");
			}
			for (size_t ri = 0; ri < rd.size(); ++ri) {
				const double den = sr.rate[rd[ri].den].back();
				sr.ratio[ri].push_back(den > 0 ? sr.rate[rd[ri].num].back() / den : 0);
			}
		}
	pmemlog_close(log);
	::unlink(pool_path.c_str());

	for (const size_result &sr : all) {
		std::printf("\n## %llu-byte entries\n\n| configuration | threads | appends/s (median) | min | max | "
			    "ns/append | ms/run |\n|---|---:|---:|---:|---:|---:|---:|\n",
			    static_cast<unsigned long long>(sr.size));
		for (size_t ci = 0; ci < cs.size(); ++ci) {
			const stats3 s = stats_of(sr.rate[ci]);
			std::printf("| %s | %u | %.0f | %.0f | %.0f | %.1f | %.0f%s |\n", cs[ci]->name().c_str(), cs[ci]->threads(),
				    s.med, s.lo, s.hi, s.med > 0 ? 1e9 / s.med : 0.0, median(sr.run_ms[ci]),
				    sr.capped[ci] ? " (file full)" : "");
		}
		std::printf("\nRatios of appends/s, each computed within a round; median (min-max) over %u rounds:\n\n",
			    o.rounds);
		for (size_t ri = 0; ri < rd.size(); ++ri) {
			const stats3 s = stats_of(sr.ratio[ri]);
			if (rd[ri].target > 0)
				std::printf("- %llu B %s: %.3f (%.3f-%.3f), target >= %.2f: %s\n",
					    static_cast<unsigned long long>(sr.size), rd[ri].name.c_str(), s.med, s.lo, s.hi,
					    rd[ri].target, verdict(s.med, rd[ri].target));
			else
				std::printf("- %llu B %s: %.3f (%.3f-%.3f)\n", static_cast<unsigned long long>(sr.size),
					    rd[ri].name.c_str(), s.med, s.lo, s.hi);
		}
	}
	const std::string load1 = loadavg();
	std::printf("\n# load average at the end: %s\n", load1.c_str());
	if (!o.out.empty())
		write_json(o, cs, rd, all, gran, fs, load0, load1);
	return 0;
}
