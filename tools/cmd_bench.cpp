// SPDX-License-Identifier: BSD-3-Clause
// bench: a quick append and iterate measurement, for a first look at a machine or a file.
// The numbers are for orientation; bench/ holds the real benchmarks.
#include "commands.hpp"
#include "output.hpp"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <unistd.h>

namespace cli {

namespace {

struct bench_result {
	uint64_t entry_size;
	uint64_t count;
	double append_seconds;
	double iterate_seconds;
};

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

} // namespace

int run_bench(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	uint64_t count = 10000;
	if (auto v = a.get("count"))
		count = parse_uint(*v, "bench: --count");
	if (count == 0)
		fail(exit_usage, "bench: --count must be at least 1");
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

		auto t0 = std::chrono::steady_clock::now();
		for (uint64_t i = 0; i < count; i++) {
			if (!payload.empty())
				payload[0] = static_cast<std::byte>(i);
			check(s->append(r, payload, rt), path + ": bench append");
			if ((i & 255) == 0)
				bar.update(done + i);
		}
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
		results.push_back({sz, count, append_s, iterate_s});
	}
	bar.finish();
	s.reset();

	if (a.has("json")) {
		json j;
		j.begin_array();
		for (auto &r : results) {
			double n = static_cast<double>(r.count), bytes = n * static_cast<double>(r.entry_size);
			j.begin_object()
				.field("entry_size", r.entry_size)
				.field("count", r.count)
				.field("append_per_second", per_second(n, r.append_seconds))
				.field("append_mb_per_second", per_second(bytes, r.append_seconds) / 1e6)
				.field("append_latency_us", r.append_seconds / n * 1e6)
				.field("iterate_per_second", per_second(n, r.iterate_seconds))
				.field("iterate_mb_per_second", per_second(bytes, r.iterate_seconds) / 1e6)
				.end_object();
		}
		j.end_array();
		out(j.str() + "\n");
		return exit_ok;
	}
	char buf[160];
	std::snprintf(buf, sizeof(buf), "%10s %10s %12s %10s %11s %14s %12s\n", "entry size", "count", "appends/s", "append MB/s",
		      "append us", "iterate ent/s", "iterate MB/s");
	out(buf);
	for (auto &r : results) {
		double n = static_cast<double>(r.count), bytes = n * static_cast<double>(r.entry_size);
		std::snprintf(buf, sizeof(buf), "%10" PRIu64 " %10" PRIu64 " %12.0f %11.1f %11.2f %14.0f %12.1f\n", r.entry_size, r.count,
			      per_second(n, r.append_seconds), per_second(bytes, r.append_seconds) / 1e6, r.append_seconds / n * 1e6,
			      per_second(n, r.iterate_seconds), per_second(bytes, r.iterate_seconds) / 1e6);
		out(buf);
	}
	return exit_ok;
}

} // namespace cli
