// SPDX-License-Identifier: BSD-3-Clause
// bench: a quick append and iterate measurement, for a first look at a machine or a file.
// The numbers are for orientation; bench/ holds the real benchmarks.
#include "commands.hpp"
#include "output.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace cli {

namespace {

struct bench_result {
	uint64_t entry_size;
	uint64_t count;
	double append_seconds;
	double iterate_seconds;
	double persist_p50_us; // from submit to persisted
	double persist_p99_us;
};

// How appends are submitted and made durable.
struct bench_mode {
	bool async = false;
	uint64_t wait_every = 0; // async: wait_persisted after every N appends; 0: never
};

using bench_clock = std::chrono::steady_clock;

// The time from each append's submit to the moment it was seen persisted. Entries are
// recorded in timestamp order (one thread appends), so those a watermark covers are a prefix
// of the ones still pending.
class persist_latency {
public:
	explicit persist_latency(uint64_t count)
	{
		pending_.reserve(count);
		micros_.reserve(count);
	}
	void submitted(uint64_t ts, bench_clock::time_point t)
	{
		pending_.push_back({ts, t});
	}
	// The lowest timestamp not seen persisted yet (UINT64_MAX when none is pending).
	uint64_t oldest_pending() const
	{
		return next_ < pending_.size() ? pending_[next_].first : UINT64_MAX;
	}
	void persisted_up_to(uint64_t watermark, bench_clock::time_point now)
	{
		for (; next_ < pending_.size() && pending_[next_].first <= watermark; next_++)
			micros_.push_back(std::chrono::duration<double, std::micro>(now - pending_[next_].second).count());
	}
	// The p-th percentile (0 < p < 1) of what persisted_up_to() saw, nearest rank.
	double percentile(double p)
	{
		if (micros_.empty())
			return 0;
		auto k = static_cast<size_t>(p * static_cast<double>(micros_.size() - 1) + 0.5);
		std::nth_element(micros_.begin(), micros_.begin() + static_cast<std::ptrdiff_t>(k), micros_.end());
		return micros_[k];
	}

private:
	std::vector<std::pair<uint64_t, bench_clock::time_point>> pending_;
	size_t next_ = 0;
	std::vector<double> micros_;
};

std::string mode_text(const bench_mode &m)
{
	if (!m.async)
		return "sync (append: each entry persisted before the next)";
	if (m.wait_every > 0)
		return "async (async_append, wait_persisted every " + std::to_string(m.wait_every) + " entries)";
	return "async (async_append, no waits: the commit worker or back-pressure persists, persist() at the end)";
}

std::vector<uint64_t> parse_size_list(const std::string &text)
{
	std::vector<uint64_t> sizes;
	size_t start = 0;
	for (;;) {
		size_t comma = text.find(',', start);
		sizes.push_back(parse_size(text.substr(start, comma - start), "bench: --size"));
		if (comma == std::string::npos)
			break;
		start = comma + 1;
	}
	return sizes;
}

double seconds_since(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double per_second(double n, double seconds)
{
	return seconds > 0 ? n / seconds : 0;
}

// What a figure was measured on: the persistence path and the CPU.
struct bench_environment {
	std::optional<std::string> force_granularity; // PMEM2_FORCE_GRANULARITY, when set
	std::string file_system = "unknown";
	std::string dax = "no"; // "yes", "no", or the mount's dax= value ("inode": per file)
	std::string persistence;
	std::string cpu = "unknown";
};

bool has_option(const std::string &options, const std::string &name, std::string *value)
{
	std::stringstream ss(options);
	std::string o;
	while (std::getline(ss, o, ',')) {
		if (o == name) {
			*value = "";
			return true;
		}
		if (o.rfind(name + "=", 0) == 0) {
			*value = o.substr(name.size() + 1);
			return true;
		}
	}
	return false;
}

// The file system holding `path` and its DAX setting, from the mount whose device is the file's.
void describe_file_system(const std::string &path, bench_environment &env)
{
	struct stat st;
	if (::stat(path.c_str(), &st) != 0)
		return;
	std::ifstream mi("/proc/self/mountinfo");
	std::string line;
	std::string dev = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
	while (std::getline(mi, line)) {
		// ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
		std::stringstream ss(line);
		std::vector<std::string> f;
		for (std::string w; ss >> w;)
			f.push_back(w);
		auto sep = std::find(f.begin(), f.end(), "-");
		if (f.size() < 6 || f[2] != dev || sep == f.end() || f.end() - sep < 4)
			continue;
		env.file_system = sep[1];
		std::string v;
		if (has_option(sep[3], "dax", &v) || has_option(f[5], "dax", &v))
			env.dax = v.empty() || v == "always" ? "yes" : v == "never" ? "no" : v;
		return;
	}
	struct statfs fs;
	if (::statfs(path.c_str(), &fs) == 0) {
		char buf[32];
		std::snprintf(buf, sizeof(buf), "magic 0x%lx", static_cast<unsigned long>(fs.f_type));
		env.file_system = buf;
	}
}

std::string cpu_model()
{
	std::ifstream in("/proc/cpuinfo");
	std::string line;
	for (const char *key : {"model name", "Hardware", "cpu model", "Processor"}) {
		in.clear();
		in.seekg(0);
		while (std::getline(in, line)) {
			auto colon = line.find(':');
			if (line.rfind(key, 0) != 0 || colon == std::string::npos)
				continue;
			auto v = line.substr(colon + 1);
			v.erase(0, v.find_first_not_of(" \t"));
			if (!v.empty())
				return v;
		}
	}
	return "unknown";
}

// The store granularity the library reports for its mapping, when its stream_info has it.
template <typename Info>
std::optional<std::string> reported_granularity(const Info &i)
{
	if constexpr (requires { std::string(i.store_granularity); })
		return std::string(i.store_granularity);
	else
		return std::nullopt;
}

// libpmem2 persists by msync for page granularity, by cache-line flushes and a fence for cache
// line, by a fence alone for byte; PMEM2_FORCE_GRANULARITY overrides what it detects.
std::string persistence_of(const std::string &granularity, const char *why, const std::string &per)
{
	std::string g = granularity;
	for (auto &c : g)
		c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	if (g == "PAGE")
		return "msync " + per + " (page granularity, " + why + ")";
	if (g == "CACHE_LINE")
		return "CPU cache flushes and a fence " + per + " (cache-line granularity, " + why + ")";
	if (g == "BYTE")
		return "a fence " + per + " (byte granularity, " + why + ")";
	return "granularity '" + granularity + "' (" + why + ")";
}

bench_environment describe_environment(const std::string &path, const pmemstream::stream_info &info, const bench_mode &mode)
{
	const std::string per = !mode.async ? "per append" : mode.wait_every > 0 ? "per wait" : "per batch";
	bench_environment env;
	if (const char *v = std::getenv("PMEM2_FORCE_GRANULARITY"))
		env.force_granularity = v;
	describe_file_system(path, env);
	env.cpu = cpu_model();
	if (auto g = reported_granularity(info))
		env.persistence = persistence_of(*g, "reported by the library", per);
	else if (env.force_granularity)
		env.persistence = persistence_of(*env.force_granularity, "forced by PMEM2_FORCE_GRANULARITY", per);
	else if (env.dax == "no")
		env.persistence = persistence_of("PAGE", "libpmem2's choice on a file system without DAX", per);
	else
		env.persistence = "cache-line flushes and a fence " + per + ", or a fence alone on a platform with eADR "
				  "(libpmem2 detects which on a DAX file system)";
	return env;
}

} // namespace

int run_bench(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	uint64_t count = 10000;
	if (auto v = a.get("count"))
		count = parse_uint(*v, "bench: --count");
	if (count == 0)
		fail(exit_usage, "bench: --count must be at least 1");
	bench_mode mode;
	mode.async = a.has("async");
	if (auto v = a.get("wait-every")) {
		if (!mode.async)
			fail(exit_usage, "bench: --wait-every needs --async");
		mode.wait_every = parse_uint(*v, "bench: --wait-every");
	} else if (mode.async) {
		mode.wait_every = 32;
	}
	std::vector<uint64_t> sizes = parse_size_list(a.get("size").value_or("64,1K,4K"));
	for (auto sz : sizes)
		if (sz > pmemstream::max_entry_size)
			fail(exit_usage, "bench: --size: " + std::to_string(sz) + " is above the largest entry size");

	// Each size gets its own region, freed afterwards, so an existing stream is left as it was.
	std::vector<uint64_t> region_sizes;
	uint64_t needed = 0;
	for (auto sz : sizes) {
		uint64_t fp = pmemstream::entry_footprint(sz);
		if (fp != 0 && count > UINT64_MAX / 2 / fp)
			fail(exit_usage, "bench: --count times --size does not fit in 64 bits");
		region_sizes.push_back(count * fp);
		needed += count * fp + pmemstream::region_header_size + 2 * 4096;
	}

	bool created = false;
	if (::access(path.c_str(), F_OK) != 0) {
		pmemstream::create_options o;
		o.size = needed + 64 * 1024;
		check(pmemstream::stream::create(path, o), path).reset();
		created = true;
	}
	struct remove_on_exit {
		const std::string &path;
		bool active;
		~remove_on_exit()
		{
			if (active)
				::unlink(path.c_str());
		}
	} cleanup{path, created && !a.has("keep")};

	auto s = open_stream(path, true);
	auto env = describe_environment(path, s->info(), mode);
	std::vector<bench_result> results;
	progress bar("bench", count * sizes.size() * 2);
	uint64_t done = 0;
	for (size_t k = 0; k < sizes.size(); k++) {
		uint64_t sz = sizes[k];
		auto r = check(s->region_allocate(region_sizes[k]), path + ": bench region of " + std::to_string(region_sizes[k]) + " bytes");
		auto rt = check(s->get_region_runtime(r), path);
		std::vector<std::byte> payload(sz);
		for (size_t i = 0; i < payload.size(); i++)
			payload[i] = static_cast<std::byte>(i * 31 + 7);

		persist_latency latency(count);
		auto t0 = bench_clock::now();
		for (uint64_t i = 0; i < count; i++) {
			if (!payload.empty())
				payload[0] = static_cast<std::byte>(i);
			const auto submit = bench_clock::now();
			if (!mode.async) {
				auto e = check(s->append(r, payload, rt), path + ": bench append");
				latency.submitted(e.timestamp, submit);
				latency.persisted_up_to(e.timestamp, bench_clock::now());
			} else {
				auto e = check(s->async_append(r, payload, rt), path + ": bench async_append");
				latency.submitted(e.timestamp, submit);
				if (mode.wait_every > 0 && (i + 1) % mode.wait_every == 0)
					check(s->wait_persisted(e.timestamp), path + ": bench wait_persisted");
				// Entries persisted by the worker (or back-pressure) are seen here, at the
				// latest at the next submit.
				if (s->persisted_timestamp() >= latency.oldest_pending())
					latency.persisted_up_to(s->persisted_timestamp(), bench_clock::now());
			}
			if ((i & 255) == 0)
				bar.update(done + i);
		}
		if (mode.async)
			latency.persisted_up_to(check(s->persist(), path + ": bench persist"), bench_clock::now());
		double append_s = seconds_since(t0);
		done += count;

		t0 = std::chrono::steady_clock::now();
		uint64_t seen = 0, checksum = 0;
		for (auto e : check(s->entries(r), path)) {
			auto data = check(s->entry_data(e), path);
			for (auto b : data)
				checksum += static_cast<uint64_t>(b);
			if ((++seen & 255) == 0)
				bar.update(done + seen);
		}
		double iterate_s = seconds_since(t0);
		done += count;
		if (seen != count)
			fail(exit_corrupt, path + ": bench: appended " + std::to_string(count) + " entries but iterated " + std::to_string(seen));
		// Reading every byte keeps the MB/s honest; the test keeps the reads from being optimised away.
		if (checksum == UINT64_MAX)
			std::fputc(' ', stderr);
		check(s->region_free(r), path + ": bench region " + hex(r.offset));
		results.push_back({sz, count, append_s, iterate_s, latency.percentile(0.5), latency.percentile(0.99)});
	}
	bar.finish();
	s.reset();

	if (a.has("json")) {
		json j;
		j.begin_object().field("file_system", env.file_system).field("dax", env.dax).key("force_granularity");
		if (env.force_granularity)
			j.value(*env.force_granularity);
		else
			j.value(nullptr);
		j.field("persistence", env.persistence).field("cpu", env.cpu).field("mode", std::string(mode.async ? "async" : "sync"));
		j.key("wait_every");
		if (mode.async)
			j.value(mode.wait_every);
		else
			j.value(nullptr);
		j.key("results").begin_array();
		for (auto &r : results) {
			double n = static_cast<double>(r.count), bytes = n * static_cast<double>(r.entry_size);
			j.begin_object()
				.field("entry_size", r.entry_size)
				.field("count", r.count)
				.field("append_per_second", per_second(n, r.append_seconds))
				.field("append_mb_per_second", per_second(bytes, r.append_seconds) / 1e6)
				.field("append_latency_us", r.append_seconds / n * 1e6)
				.field("persist_latency_p50_us", r.persist_p50_us)
				.field("persist_latency_p99_us", r.persist_p99_us)
				.field("iterate_per_second", per_second(n, r.iterate_seconds))
				.field("iterate_mb_per_second", per_second(bytes, r.iterate_seconds) / 1e6)
				.end_object();
		}
		j.end_array().end_object();
		out(j.str() + "\n");
		return exit_ok;
	}
	out("file system:  " + env.file_system + (env.dax == "no" ? " (no DAX)" : " (DAX: " + env.dax + ")") + "\n");
	out("granularity:  " + (env.force_granularity ? "PMEM2_FORCE_GRANULARITY=" + *env.force_granularity : "PMEM2_FORCE_GRANULARITY unset") +
	    "\n");
	out("persistence:  " + env.persistence + "\n");
	out("cpu:          " + env.cpu + "\n");
	out("mode:         " + mode_text(mode) + "\n\n");
	char buf[200];
	std::snprintf(buf, sizeof(buf), "%10s %10s %12s %10s %11s %9s %9s %14s %12s\n", "entry size", "count", "appends/s",
		      "append MB/s", "append us", "p50 us", "p99 us", "iterate ent/s", "iterate MB/s");
	out(buf);
	for (auto &r : results) {
		double n = static_cast<double>(r.count), bytes = n * static_cast<double>(r.entry_size);
		std::snprintf(buf, sizeof(buf), "%10" PRIu64 " %10" PRIu64 " %12.0f %11.1f %11.2f %9.1f %9.1f %14.0f %12.1f\n", r.entry_size,
			      r.count, per_second(n, r.append_seconds), per_second(bytes, r.append_seconds) / 1e6,
			      r.append_seconds / n * 1e6, r.persist_p50_us, r.persist_p99_us, per_second(n, r.iterate_seconds),
			      per_second(bytes, r.iterate_seconds) / 1e6);
		out(buf);
	}
	out("\nappend us: wall time per append (submit rate); p50/p99: from submit to persisted\n");
	return exit_ok;
}

} // namespace cli
