// SPDX-License-Identifier: BSD-3-Clause
// 01_basic_iterate (C++): the same as the C example with the C++ API. The library opens the
// file itself (no libpmem2 code here), errors are typed values, and iterators are ranges.
// usage: 01_basic_iterate_cpp [file]   (the file is created if missing and kept)
#include <pmemstream/stream.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <unistd.h>

int main(int argc, char **argv)
{
	const bool temporary = argc < 2;
	const std::string path = temporary ? "/dev/shm/pmemstream_example_01_cpp_" + std::to_string(getpid()) : argv[1];

	auto opened = std::filesystem::exists(path)
		? pmemstream::stream::open(path)
		: pmemstream::stream::create(path, {.size = 4 << 20, .block_size = 4096});
	if (!opened) {
		std::fprintf(stderr, "%s: %s\n", path.c_str(), opened.err().message().c_str());
		return 1;
	}
	auto &stream = *opened.value();

	auto region = stream.region_allocate(4096);
	if (!region) {
		std::fprintf(stderr, "region_allocate: %s\n", region.err().message().c_str());
		return 1;
	}
	for (std::string_view word : {"first", "second", "third"}) {
		if (auto e = stream.append(*region, word.data(), word.size()); !e) {
			std::fprintf(stderr, "append: %s\n", e.err().message().c_str());
			return 1;
		}
	}
	// Errors say what went wrong: this entry cannot fit.
	auto too_big = stream.append(*region, nullptr, 1 << 20);
	std::printf("appending 1 MiB: %s (%s)\n", pmemstream::errc_name(too_big.code()),
		    too_big ? "" : too_big.err().message().c_str());

	for (pmemstream::region r : stream.regions()) {
		std::printf("region 0x%llx: %llu bytes, %llu entries\n", static_cast<unsigned long long>(r.offset),
			    static_cast<unsigned long long>(*stream.region_size(r)),
			    static_cast<unsigned long long>(*stream.region_entry_count(r)));
		// Keep the iterator in a variable: a range-for over *stream.entries(r) would iterate a
		// destroyed temporary.
		auto entries = stream.entries(r);
		for (pmemstream::entry e : *entries) {
			auto data = *stream.entry_data(e);
			std::printf("  entry 0x%llx timestamp %llu: %.*s\n", static_cast<unsigned long long>(e.offset),
				    static_cast<unsigned long long>(*stream.entry_timestamp(e)), static_cast<int>(data.size()),
				    reinterpret_cast<const char *>(data.data()));
		}
	}
	std::printf("persisted timestamp %llu\n", static_cast<unsigned long long>(stream.persisted_timestamp()));
	opened.value().reset();
	if (temporary)
		std::filesystem::remove(path);
	return 0;
}
