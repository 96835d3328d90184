// SPDX-License-Identifier: BSD-3-Clause
// Reading a stream back through the public C API, against the ceiling of reading the same
// payload bytes straight from the mapping. Per entry size: one thread over one large region,
// two threads (over two half-size regions, and both over the one large region), and the cost
// of closing and reopening the stream. Contenders are interleaved inside every round and each
// figure is the median over rounds; docs/benchmarks.md explains the output.
#include "bench_util.hpp"

#include <libpmemstream.h>

#include <libpmem2.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace bench;

namespace {

[[noreturn]] void die_stream(const std::string &what)
{
	die(what + ": " + pmemstream_errormsg());
}

struct options {
	unsigned rounds = 7;
	std::vector<uint64_t> sizes = {64, 1024};
	uint64_t region_mib = 256;
	std::string dir = "/dev/shm";
	std::string out;
};

void usage()
{
	std::printf("usage: iterate [--rounds N] [--sizes a,b] [--region-mib N] [--dir DIR] [--out results.json]\n");
}

options parse_args(int argc, char **argv)
{
	options o;
	parse_options(argc, argv, usage, [&](const std::string &a, const std::string &v) {
		if (a == "--rounds") {
			o.rounds = static_cast<unsigned>(parse_u64(a, v));
		} else if (a == "--region-mib") {
			o.region_mib = parse_u64(a, v);
			if (o.region_mib < 2 || o.region_mib > 2048)
				die("--region-mib must be between 2 and 2048");
		} else if (a == "--dir") {
			o.dir = v;
		} else if (a == "--out") {
			o.out = v;
		} else if (a == "--sizes") {
			o.sizes = parse_list(a, v);
		} else {
			return false;
		}
		return true;
	});
	return o;
}

// The read every contender does with a payload: every byte, as 8-byte words where possible.
// Both contenders inline this same function, so they differ only in how they find the bytes.
inline uint64_t touch(const unsigned char *p, size_t n)
{
	uint64_t sum = 0;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		std::memcpy(&w, p + i, 8);
		sum += w;
	}
	for (; i < n; ++i)
		sum += p[i];
	return sum;
}

volatile uint64_t sink;

struct sums {
	uint64_t entries = 0;
	uint64_t payload = 0;	 // sum of touch() over every payload
	uint64_t timestamps = 0; // stream reader only
};

// One region as the stream reader sees it (stream + region) and as the ceiling sees it
// (offsets of each payload from `base`, collected beforehand by an untimed walk).
struct region_view {
	struct pmemstream *stream = nullptr;
	struct pmemstream_region region{};
	const unsigned char *base = nullptr;
	std::vector<uint32_t> offsets;
	size_t size = 0; // every entry's payload size
	sums expect;
};

// Reads every entry through the C entry iterator and the C entry accessors.
sums read_stream(const region_view &v)
{
	struct pmemstream_entry_iterator *it;
	if (pmemstream_entry_iterator_new(&it, v.stream, v.region) != 0)
		die_stream("pmemstream_entry_iterator_new");
	sums s;
	for (pmemstream_entry_iterator_seek_first(it); pmemstream_entry_iterator_is_valid(it) == 0;
	     pmemstream_entry_iterator_next(it)) {
		const struct pmemstream_entry e = pmemstream_entry_iterator_get(it);
		const auto *data = static_cast<const unsigned char *>(pmemstream_entry_data(v.stream, e));
		const size_t size = pmemstream_entry_size(v.stream, e);
		s.timestamps += pmemstream_entry_timestamp(v.stream, e);
		s.payload += touch(data, size);
		++s.entries;
	}
	pmemstream_entry_iterator_delete(&it);
	sink = s.payload;
	return s;
}

// The ceiling: the same touch of the same addresses, found from a precomputed offset list.
sums read_ceiling(const region_view &v)
{
	sums s;
	const unsigned char *base = v.base;
	const size_t size = v.size;
	for (uint32_t off : v.offsets)
		s.payload += touch(base + off, size);
	s.entries = v.offsets.size();
	sink = s.payload;
	return s;
}

void check(const char *who, const region_view &v, const sums &s, bool stream)
{
	if (s.entries != v.expect.entries || s.payload != v.expect.payload ||
	    (stream && s.timestamps != v.expect.timestamps))
		die(std::string(who) + ": read back other entries than were appended");
}

// Runs `a` and `b` on two threads released together; returns the wall-clock nanoseconds from
// the release to the end of the slower one.
double run_pair(const std::function<void()> &a, const std::function<void()> &b)
{
	std::atomic<int> ready{0};
	std::atomic<bool> go{false};
	auto body = [&](const std::function<void()> &f) {
		ready.fetch_add(1);
		while (!go.load(std::memory_order_acquire))
			;
		f();
	};
	std::thread ta(body, std::cref(a)), tb(body, std::cref(b));
	while (ready.load() != 2)
		std::this_thread::yield();
	auto t0 = clock_type::now();
	go.store(true, std::memory_order_release);
	ta.join();
	tb.join();
	return ns_since(t0);
}

// A stream file holding one or more regions filled with entries of one size.
class stream_file {
public:
	stream_file(const std::string &path, const std::vector<uint64_t> &region_bytes, size_t entry_size)
		: path_(path), entry_size_(entry_size)
	{
		::unlink(path.c_str());
		uint64_t total = 1ull << 20; // the header area and slack for region headers
		for (uint64_t b : region_bytes)
			total += b + 4096;
		if (pmemstream_create(&stream_, path.c_str(), total, 4096) != 0)
			die_stream("pmemstream_create " + path);
		std::vector<unsigned char> payload(entry_size);
		uint64_t seq = 0;
		for (uint64_t b : region_bytes) {
			struct pmemstream_region r;
			struct pmemstream_region_runtime *rt;
			if (pmemstream_region_allocate(stream_, b, &r) != 0 ||
			    pmemstream_region_runtime_initialize(stream_, r, &rt) != 0)
				die_stream("pmemstream_region_allocate");
			for (;;) {
				// Payloads differ from entry to entry, so the check sums are not trivially equal.
				for (size_t i = 0; i < payload.size(); ++i)
					payload[i] = static_cast<unsigned char>((seq * 131 + i * 7) & 0xff);
				++seq;
				int rc = pmemstream_append(stream_, r, rt, payload.data(), payload.size(), nullptr);
				if (rc != 0 && pmemstream_errno() == PMEMSTREAM_E_REGION_FULL)
					break;
				if (rc != 0)
					die_stream("pmemstream_append");
			}
			regions_.push_back(r);
		}
		build_views();
	}
	~stream_file()
	{
		pmemstream_delete(&stream_);
		::unlink(path_.c_str());
	}
	stream_file(const stream_file &) = delete;
	stream_file &operator=(const stream_file &) = delete;

	const region_view &view(size_t i) const
	{
		return views_[i];
	}
	uint64_t entries() const
	{
		uint64_t n = 0;
		for (const auto &v : views_)
			n += v.expect.entries;
		return n;
	}

	struct reopen_ns {
		double close, open_read_only, open;
	};
	// Closes the stream, opens it read-only and closes it again (untimed), then opens it
	// writable, as an application restarting would; the read-only open does the same walk
	// without writing anything, which tells the walk from what a writable open adds.
	reopen_ns reopen()
	{
		reopen_ns r{};
		auto t0 = clock_type::now();
		pmemstream_delete(&stream_);
		r.close = ns_since(t0);
		t0 = clock_type::now();
		if (pmemstream_open(&stream_, path_.c_str(), 0, PMEMSTREAM_OPEN_READ_ONLY) != 0)
			die_stream("pmemstream_open read-only " + path_);
		r.open_read_only = ns_since(t0);
		pmemstream_delete(&stream_);
		t0 = clock_type::now();
		if (pmemstream_open(&stream_, path_.c_str(), 0, 0) != 0)
			die_stream("pmemstream_open " + path_);
		r.open = ns_since(t0);
		build_views();
		return r;
	}

private:
	// Walks each region once (untimed) to collect what the ceiling reads and what every reader
	// must find.
	void build_views()
	{
		views_.clear();
		for (const auto &r : regions_) {
			region_view v;
			v.stream = stream_;
			v.region = r;
			v.size = entry_size_;
			struct pmemstream_entry_iterator *it;
			if (pmemstream_entry_iterator_new(&it, stream_, r) != 0)
				die_stream("pmemstream_entry_iterator_new");
			for (pmemstream_entry_iterator_seek_first(it); pmemstream_entry_iterator_is_valid(it) == 0;
			     pmemstream_entry_iterator_next(it)) {
				const struct pmemstream_entry e = pmemstream_entry_iterator_get(it);
				const auto *data = static_cast<const unsigned char *>(pmemstream_entry_data(stream_, e));
				if (!data || pmemstream_entry_size(stream_, e) != entry_size_)
					die("an entry of another size than was appended");
				if (!v.base)
					v.base = data;
				if (data < v.base || static_cast<uint64_t>(data - v.base) > UINT32_MAX)
					die("entries out of order or region above 4 GiB");
				v.offsets.push_back(static_cast<uint32_t>(data - v.base));
				v.expect.payload += touch(data, entry_size_);
				v.expect.timestamps += pmemstream_entry_timestamp(stream_, e);
				++v.expect.entries;
			}
			pmemstream_entry_iterator_delete(&it);
			if (v.expect.entries == 0)
				die("a region holds no entry");
			views_.push_back(std::move(v));
		}
	}

	std::string path_;
	size_t entry_size_;
	struct pmemstream *stream_ = nullptr;
	std::vector<struct pmemstream_region> regions_;
	std::vector<region_view> views_;
};

// The contenders of one round, in the order they are listed in the output.
enum contender_id : size_t {
	stream_1t,	      // one thread, the whole region
	ceiling_1t,	      // the same bytes, straight
	halves_stream_1t,     // one thread over both half regions, one after the other
	halves_stream_2t,     // two threads, one half region each
	halves_ceiling_1t,
	halves_ceiling_2t,
	same_stream_2t,	      // two threads, each over the whole region
	same_ceiling_2t,
	n_contenders
};

const char *const contender_names[n_contenders] = {
	"stream",	  "ceiling",	     "halves_stream_1t", "halves_stream_2t",
	"halves_ceiling_1t", "halves_ceiling_2t", "same_stream_2t",	 "same_ceiling_2t",
};

struct size_result {
	uint64_t size = 0;
	uint64_t entries = 0, halves_entries = 0;
	std::vector<double> ns[n_contenders]; // per round, wall-clock ns of the contender's pass
	std::vector<double> open_ns, open_ro_ns, close_ns;
	double med[n_contenders] = {};
	// Payload bytes each contender reads in one pass.
	double bytes[n_contenders] = {};
	double gbps(size_t c) const
	{
		return bytes[c] / med[c];
	}
	double ratio(size_t num, size_t den) const
	{
		return gbps(num) / gbps(den);
	}
	// Ratio measured inside each round (min and max over rounds).
	std::pair<double, double> ratio_range(size_t num, size_t den) const
	{
		double lo = 1e300, hi = 0;
		for (size_t r = 0; r < ns[num].size(); ++r) {
			double x = (bytes[num] / ns[num][r]) / (bytes[den] / ns[den][r]);
			lo = std::min(lo, x);
			hi = std::max(hi, x);
		}
		return {lo, hi};
	}
};

size_result measure(const options &opt, uint64_t size, const std::string &prefix)
{
	const uint64_t region_bytes = opt.region_mib << 20;
	size_result res;
	res.size = size;
	std::printf("# %llu-byte entries: filling a %llu MiB region and two of %llu MiB...\n",
		    static_cast<unsigned long long>(size), static_cast<unsigned long long>(opt.region_mib),
		    static_cast<unsigned long long>(opt.region_mib / 2));
	std::fflush(stdout);
	stream_file whole(prefix + "whole", {region_bytes}, size);
	stream_file halves(prefix + "halves", {region_bytes / 2, region_bytes / 2}, size);
	res.entries = whole.entries();
	res.halves_entries = halves.entries();

	const region_view &w = whole.view(0);
	const region_view &h0 = halves.view(0), &h1 = halves.view(1);
	const double wb = static_cast<double>(res.entries * size), hb = static_cast<double>(res.halves_entries * size);
	const double bytes[n_contenders] = {wb, wb, hb, hb, hb, hb, 2 * wb, 2 * wb};
	std::copy(std::begin(bytes), std::end(bytes), res.bytes);

	auto timed = [](auto &&f) {
		auto t0 = clock_type::now();
		f();
		return ns_since(t0);
	};
	auto stream_pass = [](const region_view &v) { check("stream", v, read_stream(v), true); };
	auto ceiling_pass = [](const region_view &v) { check("ceiling", v, read_ceiling(v), false); };
	std::function<double()> runs[n_contenders] = {
		[&] { return timed([&] { stream_pass(w); }); },
		[&] { return timed([&] { ceiling_pass(w); }); },
		[&] { return timed([&] { stream_pass(h0);
				       stream_pass(h1); }); },
		[&] { return run_pair([&] { stream_pass(h0); }, [&] { stream_pass(h1); }); },
		[&] { return timed([&] { ceiling_pass(h0);
				       ceiling_pass(h1); }); },
		[&] { return run_pair([&] { ceiling_pass(h0); }, [&] { ceiling_pass(h1); }); },
		[&] { return run_pair([&] { stream_pass(w); }, [&] { stream_pass(w); }); },
		[&] { return run_pair([&] { ceiling_pass(w); }, [&] { ceiling_pass(w); }); },
	};

	// Warm-up, not reported: every contender once.
	for (auto &f : runs)
		(void)f();
	for (unsigned round = 0; round < opt.rounds; ++round) {
		// Rotate the order so that no contender always runs first or right after another.
		for (size_t k = 0; k < n_contenders; ++k) {
			size_t c = (k + round) % n_contenders;
			res.ns[c].push_back(runs[c]());
		}
	}
	for (size_t c = 0; c < n_contenders; ++c)
		res.med[c] = median(res.ns[c]);

	// The reopen cost, after the reads (a reopen remaps the file: its first reads would pay the
	// page faults again).
	for (unsigned round = 0; round < opt.rounds; ++round) {
		auto t = whole.reopen();
		res.close_ns.push_back(t.close);
		res.open_ro_ns.push_back(t.open_read_only);
		res.open_ns.push_back(t.open);
	}
	stream_pass(whole.view(0));
	return res;
}

// Targets the project set for iteration (docs/benchmarks.md); 0 where none is set.
double target_vs_ceiling(uint64_t size)
{
	return size == 64 ? 0.5 : size == 1024 ? 0.8 : 0;
}
constexpr double target_two_threads = 1.8;

const char *verdict(double got, double want)
{
	return want == 0 ? "-" : got >= want ? "met" : "MISSED";
}

// Below this, the ceiling itself did not get two cores' worth from two threads (other load,
// or one thread already saturates memory), and a two-reader verdict says nothing about the
// library.
constexpr double ceiling_scaling_needed = 1.5;

std::string verdict_2t(double got, double ceiling_2t_1t)
{
	std::string v = verdict(got, target_two_threads);
	if (ceiling_2t_1t < ceiling_scaling_needed) {
		char buf[96];
		std::snprintf(buf, sizeof buf, ", not a verdict: the ceiling scaled %.2f", ceiling_2t_1t);
		v += buf;
	}
	return v;
}

void write_json(const options &opt, const std::string &cpu, const std::string &gran, const std::string &load,
		const std::vector<size_result> &results)
{
	FILE *f = open_out(opt.out);
	std::fprintf(f,
		     "{\n  \"config\": {\"rounds\": %u, \"region_bytes\": %llu, \"dir\": \"%s\", \"cpu\": \"%s\", "
		     "\"online_cpus\": %ld, \"loadavg_start_end\": \"%s\", \"pmem2_granularity\": \"%s\", "
		     "\"PMEM2_FORCE_GRANULARITY\": \"%s\"},\n  \"results\": [\n",
		     opt.rounds, static_cast<unsigned long long>(opt.region_mib << 20), opt.dir.c_str(), cpu.c_str(),
		     ::sysconf(_SC_NPROCESSORS_ONLN), load.c_str(), gran.c_str(), env_or("PMEM2_FORCE_GRANULARITY", "").c_str());
	for (size_t i = 0; i < results.size(); ++i) {
		const size_result &r = results[i];
		auto range = r.ratio_range(stream_1t, ceiling_1t);
		std::fprintf(f,
			     "    {\"size\": %llu, \"entries\": %llu, \"halves_entries\": %llu,\n"
			     "     \"ratio_stream_ceiling\": %.4f, \"ratio_stream_ceiling_rounds_min\": %.4f, "
			     "\"ratio_stream_ceiling_rounds_max\": %.4f,\n"
			     "     \"ratio_halves_2t_1t\": %.4f, \"ratio_same_2t_1t\": %.4f, "
			     "\"ratio_halves_ceiling_2t_1t\": %.4f, \"ratio_same_ceiling_2t_1t\": %.4f,\n"
			     "     \"target_stream_ceiling\": %.2f, \"target_2t_1t\": %.2f,\n",
			     static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(r.entries),
			     static_cast<unsigned long long>(r.halves_entries), r.ratio(stream_1t, ceiling_1t), range.first,
			     range.second, r.ratio(halves_stream_2t, halves_stream_1t), r.ratio(same_stream_2t, stream_1t),
			     r.ratio(halves_ceiling_2t, halves_ceiling_1t), r.ratio(same_ceiling_2t, ceiling_1t),
			     target_vs_ceiling(r.size), target_two_threads);
		std::fprintf(f, "     \"reopen\": {\"open_median_ms\": %.3f, \"open_read_only_median_ms\": %.3f, "
			     "\"close_median_ms\": %.3f",
			     median(r.open_ns) / 1e6, median(r.open_ro_ns) / 1e6, median(r.close_ns) / 1e6);
		const std::pair<const char *, const std::vector<double> *> series[] = {
			{"open_rounds_ms", &r.open_ns}, {"open_read_only_rounds_ms", &r.open_ro_ns}, {"close_rounds_ms", &r.close_ns}};
		for (const auto &[name, v] : series) {
			std::fprintf(f, ", \"%s\": ", name);
			write_array(f, *v, "%.3f", 1e6);
		}
		std::fprintf(f, "},\n     \"contenders\": [\n");
		for (size_t c = 0; c < n_contenders; ++c) {
			std::fprintf(f, "       {\"name\": \"%s\", \"payload_bytes\": %.0f, \"median_ns\": %.0f, \"gbps\": %.4f, \"rounds_ns\": ",
				     contender_names[c], r.bytes[c], r.med[c], r.gbps(c));
			write_array(f, r.ns[c], "%.0f");
			std::fprintf(f, "}%s\n", c + 1 < n_contenders ? "," : "");
		}
		std::fprintf(f, "     ]}%s\n", i + 1 < results.size() ? "," : "");
	}
	std::fprintf(f, "  ]\n}\n");
	close_out(f, opt.out);
}

} // namespace

int main(int argc, char **argv)
{
	program_name = "iterate";
	options opt = parse_args(argc, argv);
	// libpmem2 reads it at every mapping; a value the user set is kept.
	setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);

	const std::string cpu = cpu_model();
	const std::string load_start = loadavg();
	const std::string gran = probe_granularity(opt.dir);
	const std::string prefix = opt.dir + "/pmemstream_iterate_" + std::to_string(::getpid()) + "_";
	std::printf("# iterate: %u rounds; a %llu MiB region per entry size, files in %s\n", opt.rounds,
		    static_cast<unsigned long long>(opt.region_mib), opt.dir.c_str());
	std::printf("# CPU: %s (%ld online)\n# PMEM2_FORCE_GRANULARITY=%s (pmem2 store granularity: %s)\n", cpu.c_str(),
		    ::sysconf(_SC_NPROCESSORS_ONLN), env_or("PMEM2_FORCE_GRANULARITY", "").c_str(), gran.c_str());

	std::vector<size_result> results;
	for (uint64_t size : opt.sizes)
		results.push_back(measure(opt, size, prefix));

	std::printf("\nOne reader, the whole region; GB/s of payload (1e9 bytes), medians of %u rounds:\n\n", opt.rounds);
	std::printf("| entry (B) | entries | stream GB/s | ns/entry | ceiling GB/s | ns/entry | stream/ceiling | "
		    "(min-max in rounds) |\n|---:|---:|---:|---:|---:|---:|---:|---|\n");
	for (const auto &r : results) {
		auto range = r.ratio_range(stream_1t, ceiling_1t);
		const double n = static_cast<double>(r.entries);
		std::printf("| %llu | %llu | %.2f | %.1f | %.2f | %.1f | %.3f | %.3f-%.3f |\n",
			    static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(r.entries),
			    r.gbps(stream_1t), r.med[stream_1t] / n, r.gbps(ceiling_1t), r.med[ceiling_1t] / n,
			    r.ratio(stream_1t, ceiling_1t), range.first, range.second);
	}

	std::printf("\nTwo readers; aggregate GB/s of payload, and 2 threads over 1 thread:\n\n");
	std::printf("| entry (B) | layout | stream 1T | stream 2T | stream 2T/1T | ceiling 1T | ceiling 2T | "
		    "ceiling 2T/1T |\n|---:|---|---:|---:|---:|---:|---:|---:|\n");
	for (const auto &r : results) {
		std::printf("| %llu | two regions of %llu MiB | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
			    static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(opt.region_mib / 2),
			    r.gbps(halves_stream_1t), r.gbps(halves_stream_2t), r.ratio(halves_stream_2t, halves_stream_1t),
			    r.gbps(halves_ceiling_1t), r.gbps(halves_ceiling_2t),
			    r.ratio(halves_ceiling_2t, halves_ceiling_1t));
		std::printf("| %llu | both over one %llu MiB region | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
			    static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(opt.region_mib),
			    r.gbps(stream_1t), r.gbps(same_stream_2t), r.ratio(same_stream_2t, stream_1t),
			    r.gbps(ceiling_1t), r.gbps(same_ceiling_2t), r.ratio(same_ceiling_2t, ceiling_1t));
	}

	std::printf("\nReopen of the %llu MiB stream (pmemstream_delete; pmemstream_open writable, and read-only), "
		    "medians of %u:\n\n| entry (B) | entries | open ms | open read-only ms | close ms |\n"
		    "|---:|---:|---:|---:|---:|\n",
		    static_cast<unsigned long long>(opt.region_mib), opt.rounds);
	for (const auto &r : results)
		std::printf("| %llu | %llu | %.1f | %.1f | %.2f |\n", static_cast<unsigned long long>(r.size),
			    static_cast<unsigned long long>(r.entries), median(r.open_ns) / 1e6, median(r.open_ro_ns) / 1e6,
			    median(r.close_ns) / 1e6);

	std::printf("\nTargets: stream/ceiling >= 0.5 at 64 B and >= 0.8 at 1 KiB; two readers >= %.1f x one.\n",
		    target_two_threads);
	for (const auto &r : results) {
		const double t = target_vs_ceiling(r.size);
		const double sc = r.ratio(stream_1t, ceiling_1t);
		const double h = r.ratio(halves_stream_2t, halves_stream_1t), s = r.ratio(same_stream_2t, stream_1t);
		std::printf("- %llu B: vs ceiling %.3f (%s); two regions %.2f (%s); one region %.2f (%s)\n",
			    static_cast<unsigned long long>(r.size), sc, verdict(sc, t), h,
			    verdict_2t(h, r.ratio(halves_ceiling_2t, halves_ceiling_1t)).c_str(), s,
			    verdict_2t(s, r.ratio(same_ceiling_2t, ceiling_1t)).c_str());
	}
	const std::string load_end = loadavg();
	std::printf("\n# load average: %s at the start, %s at the end (%ld CPUs)\n", load_start.c_str(), load_end.c_str(),
		    ::sysconf(_SC_NPROCESSORS_ONLN));

	if (!opt.out.empty())
		write_json(opt, cpu, gran, load_start + " / " + load_end, results);
	return 0;
}
