// SPDX-License-Identifier: BSD-3-Clause
// Micro benchmarks (Google Benchmark) of single operations: append, append in a ring (a
// retention loop that cuts and wraps one region), reserve + publish, entry
// iteration, CRC-32C, region allocate + free (also with many regions in place), and appends
// from two threads to separate regions. They run on one stream file in $PMEMSTREAM_BENCH_DIR
// (default /dev/shm), the crowded allocation on a second one, mapped with cache-line
// granularity unless PMEM2_FORCE_GRANULARITY says otherwise.
#include "crc32c.hpp"

#include <pmemstream/stream.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace pmemstream;

constexpr uint64_t stream_bytes = 256ull << 20;
constexpr uint64_t region_bytes = 32ull << 20;

std::unique_ptr<stream> the_stream;
std::string the_path;

std::vector<std::byte> make_payload(uint64_t size)
{
	std::vector<std::byte> p(size);
	for (size_t i = 0; i < p.size(); ++i)
		p[i] = static_cast<std::byte>((i * 37 + 11) & 0xff);
	return p;
}

// A region of the shared stream, freed on destruction; renew() swaps it for an empty one.
class bench_region {
public:
	explicit bench_region(uint64_t size = region_bytes) : size_(size)
	{
		allocate();
	}
	~bench_region()
	{
		if (ok_)
			(void)the_stream->region_free(region_);
	}
	bench_region(const bench_region &) = delete;
	bench_region &operator=(const bench_region &) = delete;

	bool ok() const
	{
		return ok_;
	}
	region get() const
	{
		return region_;
	}
	region_runtime *runtime() const
	{
		return runtime_;
	}
	void renew()
	{
		if (ok_ && !the_stream->region_free(region_))
			ok_ = false;
		allocate();
	}

private:
	void allocate()
	{
		ok_ = false;
		auto r = the_stream->region_allocate(size_);
		if (!r)
			return;
		region_ = *r;
		auto rt = the_stream->get_region_runtime(region_);
		if (!rt)
			return;
		runtime_ = *rt;
		ok_ = true;
	}

	uint64_t size_;
	region region_;
	region_runtime *runtime_ = nullptr;
	bool ok_ = false;
};

// Appends in the benchmark loop, renewing the region (untimed) when it is full.
void append_loop(benchmark::State &state, bench_region &reg, const std::vector<std::byte> &payload)
{
	for (auto _ : state) {
		auto e = the_stream->append(reg.get(), payload.data(), payload.size(), reg.runtime());
		if (!e) [[unlikely]] {
			if (e.code() != errc::region_full) {
				state.SkipWithError(e.err().message().c_str());
				return;
			}
			state.PauseTiming();
			reg.renew();
			state.ResumeTiming();
			if (!reg.ok() || !the_stream->append(reg.get(), payload.data(), payload.size(), reg.runtime())) {
				state.SkipWithError("append into a renewed region failed");
				return;
			}
		}
	}
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
}

void bm_append(benchmark::State &state)
{
	bench_region reg;
	if (!reg.ok()) {
		state.SkipWithError("region_allocate failed");
		return;
	}
	append_loop(state, reg, make_payload(static_cast<uint64_t>(state.range(0))));
}
BENCHMARK(bm_append)->Arg(8)->Arg(64)->Arg(256)->Arg(1024)->Arg(4096);

// The ring (issue 14): a retention loop in one bounded region of 1 MiB: append, and now and
// then cut everything but the newest quarter of it (a prefix cut by timestamp); the region
// wraps into the space the cuts free about every lap. Everything is timed, the cuts and wraps
// included: the figure to set beside bm_append's, whose region never wraps.
void bm_append_ring(benchmark::State &state)
{
	bench_region reg(1 << 20);
	if (!reg.ok()) {
		state.SkipWithError("region_allocate failed");
		return;
	}
	const auto payload = make_payload(static_cast<uint64_t>(state.range(0)));
	// Keep about a quarter of the region; cut each time another sixteenth was appended.
	const uint64_t keep = (uint64_t{1} << 20) / (4 * (16 + ((payload.size() + 7) & ~uint64_t{7})));
	const uint64_t every = std::max<uint64_t>(keep / 4, 1);
	uint64_t n = 0, last_ts = 0;
	for (auto _ : state) {
		auto e = the_stream->append(reg.get(), payload.data(), payload.size(), reg.runtime());
		if (!e) [[unlikely]] {
			state.SkipWithError(e.err().message().c_str());
			return;
		}
		last_ts = e->timestamp;
		if (++n % every == 0 && n > keep) {
			auto c = the_stream->region_truncate_before_timestamp(reg.get(), last_ts - keep);
			if (!c) [[unlikely]] {
				state.SkipWithError(c.err().message().c_str());
				return;
			}
		}
	}
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(bm_append_ring)->Arg(64)->Arg(1024);

void bm_reserve_publish(benchmark::State &state)
{
	const auto payload = make_payload(static_cast<uint64_t>(state.range(0)));
	bench_region reg;
	if (!reg.ok()) {
		state.SkipWithError("region_allocate failed");
		return;
	}
	for (auto _ : state) {
		auto res = the_stream->reserve(reg.get(), payload.size(), reg.runtime());
		if (!res) [[unlikely]] {
			if (res.code() != errc::region_full) {
				state.SkipWithError(res.err().message().c_str());
				return;
			}
			state.PauseTiming();
			reg.renew();
			state.ResumeTiming();
			res = the_stream->reserve(reg.get(), payload.size(), reg.runtime());
			if (!reg.ok() || !res) {
				state.SkipWithError("reserve in a renewed region failed");
				return;
			}
		}
		std::memcpy(res->data, payload.data(), payload.size());
		if (auto st = the_stream->publish(reg.get(), res->ent, payload.size(), reg.runtime()); !st) [[unlikely]] {
			state.SkipWithError(st.err().message().c_str());
			return;
		}
	}
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(bm_reserve_publish)->Arg(64)->Arg(1024)->Arg(4096);

// Walks every entry of a region and reads its payload.
void bm_iterate(benchmark::State &state)
{
	const uint64_t count = static_cast<uint64_t>(state.range(0));
	const auto payload = make_payload(64);
	bench_region reg;
	if (!reg.ok()) {
		state.SkipWithError("region_allocate failed");
		return;
	}
	for (uint64_t i = 0; i < count; ++i)
		if (!the_stream->append(reg.get(), payload.data(), payload.size(), reg.runtime())) {
			state.SkipWithError("append failed while filling the region");
			return;
		}
	for (auto _ : state) {
		auto it = the_stream->entries(reg.get());
		if (!it) [[unlikely]] {
			state.SkipWithError(it.err().message().c_str());
			return;
		}
		uint64_t seen = 0, sum = 0;
		for (entry e : *it) {
			auto data = the_stream->entry_data(e);
			if (data) [[likely]]
				sum += static_cast<uint64_t>(data->back());
			++seen;
		}
		benchmark::DoNotOptimize(sum);
		if (seen != count) [[unlikely]] {
			state.SkipWithError("iteration saw a wrong number of entries");
			return;
		}
	}
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * count));
}
BENCHMARK(bm_iterate)->Arg(10000);

void bm_crc32c(benchmark::State &state)
{
	const auto data = make_payload(static_cast<uint64_t>(state.range(0)));
	for (auto _ : state) {
		uint32_t c = detail::crc32c(data.data(), data.size());
		benchmark::DoNotOptimize(c);
	}
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(bm_crc32c)->Arg(16)->Arg(64)->Arg(1024)->Arg(4096)->Arg(65536);

void bm_region_allocate_free(benchmark::State &state)
{
	const uint64_t size = static_cast<uint64_t>(state.range(0));
	for (auto _ : state) {
		auto r = the_stream->region_allocate(size);
		if (!r) [[unlikely]] {
			state.SkipWithError(r.err().message().c_str());
			return;
		}
		if (auto st = the_stream->region_free(*r); !st) [[unlikely]] {
			state.SkipWithError(st.err().message().c_str());
			return;
		}
	}
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(bm_region_allocate_free)->Arg(4096 - 128)->Arg(1 << 20);

// Region allocate + free when `n` regions already exist (hardening item 18: allocation slows as
// regions accumulate). One stream of its own, block size 4096, holds the n small regions; it
// grows (or shrinks) between arguments instead of being rebuilt, so 10, 1,000, 10,000 and
// 100,000 cost one fill to 100,000. The fill is timed and reported as the `fill_s` counter.
struct crowded_stream {
	std::unique_ptr<stream> s;
	std::string path;
	std::vector<region> regions;
	double fill_s = 0; // seconds the last change of size took

	static constexpr uint64_t max_regions = 100000;
	static constexpr uint64_t region_size = 64; // one 4 KiB block with its header

	~crowded_stream()
	{
		if (s) {
			s.reset();
			::unlink(path.c_str());
		}
	}
	// Brings the number of regions to n; returns an error message or "".
	std::string resize(uint64_t n)
	{
		if (!s) {
			path = the_path + "-crowded";
			auto c = stream::create(path, {.size = (max_regions + 16) * 4096 + (1 << 20), .block_size = 4096});
			if (!c)
				return c.err().message();
			s = std::move(*c);
		}
		if (regions.size() == n)
			return "";
		const auto t0 = std::chrono::steady_clock::now();
		while (regions.size() > n) {
			if (auto st = s->region_free(regions.back()); !st)
				return st.err().message();
			regions.pop_back();
		}
		while (regions.size() < n) {
			auto r = s->region_allocate(region_size);
			if (!r)
				return r.err().message();
			regions.push_back(*r);
		}
		fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
		return "";
	}
};
crowded_stream the_crowded;

void bm_region_allocate_free_crowded(benchmark::State &state)
{
	const uint64_t n = static_cast<uint64_t>(state.range(0));
	if (n > crowded_stream::max_regions) {
		state.SkipWithError("more regions than the crowded stream holds");
		return;
	}
	bool grew = the_crowded.regions.size() != n;
	if (std::string e = the_crowded.resize(n); !e.empty()) {
		state.SkipWithError(e.c_str());
		return;
	}
	if (grew)
		std::fprintf(stderr, "bm_region_allocate_free_crowded: %llu regions in place after %.2f s\n",
			     static_cast<unsigned long long>(n), the_crowded.fill_s);
	for (auto _ : state) {
		auto r = the_crowded.s->region_allocate(crowded_stream::region_size);
		if (!r) [[unlikely]] {
			state.SkipWithError(r.err().message().c_str());
			return;
		}
		if (auto st = the_crowded.s->region_free(*r); !st) [[unlikely]] {
			state.SkipWithError(st.err().message().c_str());
			return;
		}
	}
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
	state.counters["regions"] = static_cast<double>(n);
	state.counters["fill_s"] = the_crowded.fill_s;
}

// Each thread appends to its own region: measures how well appends to different regions
// run in parallel (shared timestamp tracker, no shared lock).
void bm_append_threads(benchmark::State &state)
{
	bench_region reg;
	if (!reg.ok()) {
		state.SkipWithError("region_allocate failed");
		return;
	}
	append_loop(state, reg, make_payload(static_cast<uint64_t>(state.range(0))));
}
BENCHMARK(bm_append_threads)->Arg(64)->Arg(1024)->Threads(2)->UseRealTime();

// Open (recovery) of a stream that holds 64 MiB of 1 KiB entries, read-only: open walks and
// checksums every entry, so this is the cost of reopening per byte of log.
void bm_reopen(benchmark::State &state)
{
	const std::string path = the_path + "-reopen";
	uint64_t entries = 0;
	{
		auto s = stream::create(path, {.size = 65ull << 20, .block_size = 4096});
		if (!s) {
			state.SkipWithError(s.err().message().c_str());
			return;
		}
		auto r = (*s)->region_allocate(64ull << 20);
		if (!r) {
			state.SkipWithError(r.err().message().c_str());
			return;
		}
		const auto payload = make_payload(1024);
		while ((*s)->append(*r, payload))
			++entries;
	}
	for (auto _ : state) {
		auto s = stream::open(path, {.read_only = true});
		if (!s || (*s)->recovery().entries != entries) [[unlikely]] {
			state.SkipWithError("reopen failed or lost entries");
			break;
		}
	}
	::unlink(path.c_str());
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * entries * entry_footprint(1024)));
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * entries));
}
BENCHMARK(bm_reopen)->Unit(benchmark::kMillisecond);

// Creates the shared stream and touches every page of it once, so that no benchmark pays
// first-touch page faults.
bool setup_stream()
{
	const char *dir = std::getenv("PMEMSTREAM_BENCH_DIR");
	the_path = std::string(dir ? dir : "/dev/shm") + "/pmemstream_micro_" + std::to_string(::getpid());
	auto s = stream::create(the_path, {.size = stream_bytes, .block_size = 4096});
	if (!s) {
		std::fprintf(stderr, "pmemstream_micro: cannot create %s: %s\n", the_path.c_str(), s.err().message().c_str());
		return false;
	}
	the_stream = std::move(*s);
	auto r = the_stream->region_allocate(the_stream->info().largest_free);
	if (!r) {
		std::fprintf(stderr, "pmemstream_micro: region_allocate: %s\n", r.err().message().c_str());
		return false;
	}
	const auto page = make_payload(4096);
	while (the_stream->append(*r, page.data(), page.size()))
		;
	return static_cast<bool>(the_stream->region_free(*r));
}

// Registers bm_region_allocate_free_crowded for the region counts in
// $PMEMSTREAM_BENCH_REGIONS (comma-separated; default 10,1000,10000,100000), in ascending
// order so that the crowded stream only grows. Today the fill to 100,000 takes minutes (each
// allocation walks every span), so a quick run can leave it out.
bool register_crowded()
{
	const char *env = std::getenv("PMEMSTREAM_BENCH_REGIONS");
	const std::string list = env ? env : "10,1000,10000,100000";
	std::vector<int64_t> counts;
	size_t pos = 0;
	while (pos < list.size()) {
		size_t comma = list.find(',', pos);
		if (comma == std::string::npos)
			comma = list.size();
		char *end = nullptr;
		const std::string item = list.substr(pos, comma - pos);
		long long v = std::strtoll(item.c_str(), &end, 10);
		if (item.empty() || *end != '\0' || v < 0 || static_cast<uint64_t>(v) > crowded_stream::max_regions) {
			std::fprintf(stderr, "pmemstream_micro: PMEMSTREAM_BENCH_REGIONS: bad count '%s' (0 to %llu)\n",
				     item.c_str(), static_cast<unsigned long long>(crowded_stream::max_regions));
			return false;
		}
		counts.push_back(v);
		pos = comma + 1;
	}
	std::sort(counts.begin(), counts.end());
	auto *b = benchmark::RegisterBenchmark("bm_region_allocate_free_crowded", bm_region_allocate_free_crowded);
	for (int64_t c : counts)
		b->Arg(c);
	b->Unit(benchmark::kMicrosecond);
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	bool ok = setup_stream() && register_crowded();
	if (ok)
		benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	if (the_crowded.s) {
		the_crowded.s.reset();
		::unlink(the_crowded.path.c_str());
	}
	the_stream.reset();
	::unlink(the_path.c_str());
	return ok ? 0 : 1;
}
