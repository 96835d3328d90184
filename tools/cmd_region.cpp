// SPDX-License-Identifier: BSD-3-Clause
// Region subcommands: region add, region ls, region rm.
#include "commands.hpp"
#include "output.hpp"

#include <cinttypes>
#include <cstdio>

namespace cli {

int run_region_add(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	auto size_text = a.get("size");
	if (!size_text)
		fail(exit_usage, "region add: --size SIZE is required (see 'pmemstream region add --help')");
	uint64_t size = parse_size(*size_text, "region add: --size");
	auto s = open_stream(path, true);
	auto r = check(s->region_allocate(size), path);
	if (a.has("json")) {
		json j;
		j.begin_object().field("offset", r.offset).field("size", check(s->region_size(r), path)).end_object();
		out(j.str() + "\n");
	} else {
		out(hex(r.offset) + "\n");
	}
	return exit_ok;
}

int run_region_ls(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	auto s = open_stream(path, false);
	std::vector<region_view> regions;
	for (auto r : s->regions())
		regions.push_back(describe_region(*s, r, path));
	if (a.has("json")) {
		json j;
		j.begin_array();
		for (auto &r : regions)
			j.begin_object()
				.field("offset", r.offset)
				.field("size", r.size)
				.field("used", r.used)
				.field("free", r.size - r.used)
				.field("entries", r.entries)
				.end_object();
		j.end_array();
		out(j.str() + "\n");
		return exit_ok;
	}
	char buf[128];
	std::snprintf(buf, sizeof(buf), "%-14s %12s %12s %12s %10s\n", "REGION", "SIZE", "USED", "FREE", "ENTRIES");
	out(buf);
	for (auto &r : regions) {
		std::snprintf(buf, sizeof(buf), "%-14s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64 "\n", hex(r.offset).c_str(),
			      r.size, r.used, r.size - r.used, r.entries);
		out(buf);
	}
	return exit_ok;
}

int run_region_rm(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	uint64_t offset = parse_offset(a.positional[1], "region rm: REGION");
	auto s = open_stream(path, true);
	auto r = find_region(*s, path, offset);
	check(s->region_free(r), path);
	return exit_ok;
}

} // namespace cli
