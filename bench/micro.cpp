// SPDX-License-Identifier: BSD-3-Clause
// Micro benchmarks (Google Benchmark) of single operations: append, reserve + publish, entry
// iteration, CRC-32C, region allocate + free, and appends from two threads to separate
// regions. All run on one stream file in $PMEMSTREAM_BENCH_DIR (default /dev/shm), mapped
// with cache-line granularity unless PMEM2_FORCE_GRANULARITY says otherwise.
#include "crc32c.hpp"

#include <pmemstream/stream.hpp>

#include <benchmark/benchmark.h>

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

} // namespace

int main(int argc, char **argv)
{
	setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	bool ok = setup_stream();
	if (ok)
		benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	the_stream.reset();
	::unlink(the_path.c_str());
	return ok ? 0 : 1;
}
