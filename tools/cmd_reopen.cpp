// SPDX-License-Identifier: BSD-3-Clause
// check --repair: a point-in-time repair (docs/format.md 8.6). A dry run (read-only open with
// recovery_mode::point_in_time) shows what the repair drops; after confirmation (or --yes)
// the writable open performs it, and a strict open with the full walk verifies the result.
#include "commands.hpp"
#include "output.hpp"

#include <pmemstream/stream.hpp>

#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace cli {

using pmemstream::errc;
using pmemstream::recovery_mode;
using pmemstream::stream;
using pmemstream::verify_mode;

namespace {

std::string describe_drop(const pmemstream::dropped_entries &d)
{
	std::string s = "region " + hex(d.region_offset) + ": drops " + std::to_string(d.entries) + " entr" +
			(d.entries == 1 ? "y" : "ies");
	if (d.entries)
		s += " (timestamps " + std::to_string(d.first_timestamp) + ".." + std::to_string(d.last_timestamp) + ")";
	s += " from " + hex(d.offset);
	if (d.damaged)
		s += ", cut at damage: " + d.why;
	return s;
}

void print_plan(const std::string &path, const pmemstream::recovery_report &rep, const char *verb)
{
	uint64_t total = 0;
	for (const auto &d : rep.dropped)
		total += d.entries;
	out(path + ": point-in-time repair " + verb + " every entry above timestamp " + std::to_string(rep.repair_cut) + ": " +
	    std::to_string(total) + " entries dropped, " + std::to_string(rep.entries) + " kept\n");
	for (const auto &d : rep.dropped)
		out(path + ": " + describe_drop(d) + "\n");
}

} // namespace

int run_check_repair(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	check_file(path);
	{
		pmemstream::open_options o;
		o.read_only = true;
		o.verify = verify_mode::full;
		auto strict = stream::open(path, o);
		if (strict && (*strict)->recovery().problems.empty()) {
			out(path + ": clean, nothing to repair\n");
			return exit_ok;
		}
		if (!strict && strict.code() != errc::corrupt)
			fail_with(strict.err(), path);
	}
	// The dry run: what the repair would keep, nothing written.
	{
		pmemstream::open_options o;
		o.read_only = true;
		o.recovery = recovery_mode::point_in_time;
		auto dry = stream::open(path, o);
		if (!dry)
			fail_with(dry.err(), "check --repair: " + path);
		for (const auto &p : (*dry)->recovery().problems)
			out(path + ": problem: " + p.what + "\n");
		print_plan(path, (*dry)->recovery(), "would drop");
	}
	if (!a.has("yes")) {
		if (::isatty(STDIN_FILENO) != 1)
			fail(exit_usage, "check --repair: " + path + ": not repaired; confirm with --yes when stdin is not a terminal");
		std::fprintf(stderr, "Repair %s, dropping these entries for good? [y/N] ", path.c_str());
		std::string answer;
		std::getline(std::cin, answer);
		if (answer != "y" && answer != "Y" && answer != "yes") {
			out(path + ": not repaired\n");
			return exit_corrupt;
		}
	}
	{
		pmemstream::open_options o;
		o.recovery = recovery_mode::point_in_time;
		auto s = stream::open(path, o);
		if (!s)
			fail_with(s.err(), "check --repair: " + path);
		print_plan(path, (*s)->recovery(), "dropped");
	}
	pmemstream::open_options o;
	o.read_only = true;
	o.verify = verify_mode::full;
	auto after = stream::open(path, o);
	if (!after)
		fail_with(after.err(), "check --repair: " + path + ": after the repair");
	out(path + ": repaired; a strict open now succeeds\n");
	return exit_ok;
}

} // namespace cli
