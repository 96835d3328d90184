// SPDX-License-Identifier: BSD-3-Clause
// Truncation subcommands (issue 14): region clear, truncate --before/--before-timestamp/--after.
#include "commands.hpp"
#include "output.hpp"

namespace cli {

namespace {

int report_dropped(const parsed_args &a, uint64_t dropped)
{
	if (a.has("json")) {
		json j;
		j.begin_object().field("dropped", dropped).end_object();
		out(j.str() + "\n");
	} else if (a.has("verbose")) {
		out(std::to_string(dropped) + (dropped == 1 ? " entry" : " entries") + " removed\n");
	}
	return exit_ok;
}

} // namespace

int run_region_clear(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	uint64_t offset = parse_offset(a.positional[1], "region clear: REGION");
	auto s = open_stream(path, true);
	auto r = find_region(*s, path, offset);
	return report_dropped(a, check(s->region_clear(r), path));
}

int run_truncate(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	uint64_t offset = parse_offset(a.positional[1], "truncate: REGION");
	const int given = a.has("before") + a.has("before-timestamp") + a.has("after");
	if (given != 1)
		fail(exit_usage, "truncate: give exactly one of --before ENTRY, --before-timestamp TS, --after ENTRY "
				 "(see 'pmemstream truncate --help')");
	auto s = open_stream(path, true);
	auto r = find_region(*s, path, offset);
	uint64_t dropped = 0;
	if (auto ts = a.get("before-timestamp")) {
		dropped = check(s->region_truncate_before_timestamp(r, parse_offset(*ts, "truncate: --before-timestamp")), path);
	} else {
		const bool before = a.has("before");
		const std::string what = before ? "truncate: --before" : "truncate: --after";
		const pmemstream::entry e{parse_offset(*a.get(before ? "before" : "after"), what), r.id, 0};
		dropped = check(before ? s->region_truncate_before(r, e) : s->region_truncate_after(r, e), path);
	}
	return report_dropped(a, dropped);
}

} // namespace cli
