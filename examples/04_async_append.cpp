// SPDX-License-Identifier: BSD-3-Clause
// 04_async_append (C++): group commit by hand. async_append() returns once the entry is
// committed (visible to iterators and readers) and hands back its timestamp; wait_persisted(ts)
// then makes every entry up to ts durable with one drain (or msync) for the whole batch.
// Entries go to several regions; one timestamp order spans them all, so one wait covers them.
// usage: 04_async_append_cpp [file]   (the file is created if missing and kept)
#include <pmemstream/stream.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

constexpr int regions = 3;
constexpr int appends = 300;
constexpr int batch = 32; // entries per wait

int failed(const char *what, const pmemstream::error &e)
{
	std::fprintf(stderr, "%s: %s\n", what, e.message().c_str());
	return 1;
}

} // namespace

int main(int argc, char **argv)
{
	const bool temporary = argc < 2;
	const std::string path = temporary ? "/dev/shm/pmemstream_example_04_" + std::to_string(getpid()) : argv[1];
	auto opened = std::filesystem::exists(path) ? pmemstream::stream::open(path)
						    : pmemstream::stream::create(path, {.size = 1 << 20, .block_size = 4096});
	if (!opened)
		return failed(path.c_str(), opened.err());
	auto &stream = *opened.value();

	std::vector<pmemstream::region> rs;
	for (int i = 0; i < regions; i++) {
		auto r = stream.region_allocate(16 * 1024);
		if (!r)
			return failed("region_allocate", r.err());
		rs.push_back(*r);
	}

	uint64_t waits = 0, last = 0;
	for (int i = 0; i < appends; i++) {
		const uint64_t value = static_cast<uint64_t>(i);
		auto a = stream.async_append(rs[i % regions], &value, sizeof(value));
		if (!a)
			return failed("async_append", a.err());
		last = a->timestamp;
		// Visible at once, durable later.
		if (i % batch == batch - 1) {
			if (auto s = stream.wait_persisted(last); !s)
				return failed("wait_persisted", s.err());
			waits++;
		}
	}
	// The tail of the last batch: poll_persisted() never blocks, and starts the work when
	// nobody else does; persist() finishes it.
	const bool already = stream.poll_persisted(last);
	auto persisted = stream.persist();
	if (!persisted)
		return failed("persist", persisted.err());
	std::printf("%d async appends to %d regions, %llu waits; tail persisted before persist(): %s\n", appends, regions,
		    static_cast<unsigned long long>(waits), already ? "yes" : "not yet");
	std::printf("committed timestamp %llu, persisted timestamp %llu\n",
		    static_cast<unsigned long long>(stream.committed_timestamp()),
		    static_cast<unsigned long long>(*persisted));

	for (auto r : rs) {
		std::printf("region 0x%llx: %llu entries\n", static_cast<unsigned long long>(r.offset),
			    static_cast<unsigned long long>(*stream.region_entry_count(r)));
		if (auto s = stream.region_free(r); !s)
			return failed("region_free", s.err());
	}
	opened.value().reset();
	if (temporary)
		std::filesystem::remove(path);
	return 0;
}
