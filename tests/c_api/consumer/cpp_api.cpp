// SPDX-License-Identifier: BSD-3-Clause
// A C++ program built against an installed pmemstream, with find_package(pmemstream) or with
// pkg-config libpmemstream++; either way it sets no C++ standard of its own.
// usage: cpp_api <file>
#include <pmemstream/stream.hpp>

#include <cstdio>
#include <string_view>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	std::remove(argv[1]);
	auto s = pmemstream::stream::create(argv[1], {.size = 1 << 20, .block_size = 4096});
	if (!s) {
		std::fprintf(stderr, "create: %s\n", s.err().message().c_str());
		return 1;
	}
	auto r = (*s)->region_allocate(1000);
	if (!r)
		return 1;
	const std::string_view text = "appended and read back";
	if (!(*s)->append(*r, text.data(), text.size()))
		return 1;
	auto full = (*s)->append(*r, nullptr, 1 << 20);
	const bool typed = full.code() == pmemstream::errc::region_full;
	auto entries = (*s)->entries(*r);
	for (auto e : *entries) {
		auto d = *(*s)->entry_data(e);
		std::printf("%.*s\n", static_cast<int>(d.size()), reinterpret_cast<const char *>(d.data()));
	}
	std::printf("%s\n", typed ? "cpp consumer OK" : "cpp consumer FAILED");
	s->reset();
	std::remove(argv[1]);
	return typed ? 0 : 1;
}
