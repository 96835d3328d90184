// SPDX-License-Identifier: BSD-3-Clause
// `make demo`: creates a stream in a file, allocates regions of different sizes, appends
// entries, and prints the stream as a tree, then reopens it and prints what recovery saw.
#include <pmemstream/stream.hpp>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

using namespace pmemstream;

namespace {

int fail(const char *what, const error &e)
{
	std::fprintf(stderr, "demo: %s: %s (%s)\n", what, e.message().c_str(), errc_name(e.code()));
	return 1;
}

void print_tree(const stream &s)
{
	for (auto r : s.regions()) {
		std::printf("├── region 0x%" PRIx64 ": %" PRIu64 " bytes, %" PRIu64 " entries, %" PRIu64 " bytes free\n", r.offset,
			    *s.region_size(r), *s.region_entry_count(r), *s.region_usable_size(r));
		for (auto e : *s.entries(r)) {
			auto data = *s.entry_data(e);
			std::printf("│   ├── 0x%-6" PRIx64 " ts %-3" PRIu64 " %4zu bytes ", e.offset, *s.entry_timestamp(e), data.size());
			for (size_t i = 0; i < data.size() && i < 8; ++i)
				std::printf(" %02x", static_cast<unsigned>(data[i]));
			std::printf("%s\n", data.size() > 8 ? " ..." : "");
		}
	}
}

} // namespace

int main(int argc, char **argv)
{
	const std::string path = argc > 1 ? argv[1] : "/dev/shm/pmemstream-demo.pmem";
	::unlink(path.c_str());

	auto created = stream::create(path, {.size = 1 << 20, .block_size = 4096});
	if (!created)
		return fail("create", created.err());
	auto s = std::move(*created);
	std::printf("created %s: %" PRIu64 " bytes, block size %" PRIu64 "\n\n", path.c_str(), s->info().size,
		    s->info().block_size);

	const uint64_t sizes[] = {4000, 8000, 12000, 3000};
	region regions[4];
	for (int i = 0; i < 4; ++i) {
		auto r = s->region_allocate(sizes[i]);
		if (!r)
			return fail("region_allocate", r.err());
		regions[i] = *r;
	}
	// Entries round-robin over the regions, 8-byte counters as in the original's README, and a
	// text entry and an empty one to show arbitrary sizes.
	for (uint64_t n = 1; n <= 7; ++n)
		for (int i = 0; i < 4; ++i)
			if (n <= static_cast<uint64_t>(7 - i))
				if (auto e = s->append(regions[i], &n, sizeof(n)); !e)
					return fail("append", e.err());
	const char text[] = "hello, persistent world";
	if (auto e = s->append(regions[1], text, sizeof(text) - 1); !e)
		return fail("append", e.err());
	if (auto e = s->append(regions[2], nullptr, 0); !e)
		return fail("append", e.err());
	if (auto f = s->region_free(regions[3]); !f)
		return fail("region_free", f.err());

	print_tree(*s);
	s.reset();

	auto reopened = stream::open(path, {.read_only = true});
	if (!reopened)
		return fail("open", reopened.err());
	const auto &rep = (*reopened)->recovery();
	const auto info = (*reopened)->info();
	std::printf("\nreopened read-only: %" PRIu64 " regions, %" PRIu64 " entries, committed timestamp %" PRIu64
		    ", persisted timestamp %" PRIu64 ", %" PRIu64 " bytes free\n",
		    rep.regions, rep.entries, info.committed_timestamp, info.persisted_timestamp, info.free_bytes);
	return 0;
}
