// SPDX-License-Identifier: BSD-3-Clause
// pmemstream(1): create, inspect, append to, read, follow and check stream files through the
// public C++ API. Subcommands live in cmd_*.cpp; this file holds the command table and main().
#include "commands.hpp"
#include "mapping_guard.hpp"
#include "version.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace cli {
namespace {

const option_spec json_opt = {"json", 0, nullptr, "machine-readable output (JSON)"};
const option_spec salvage_opt = {"salvage", 0, nullptr, "open in salvage mode: show what precedes damage"};
// Skip-corrupt salvage (issue 14, docs/format.md 8.7).
const option_spec skip_opt = {"skip-corrupt", 0, nullptr, "open in skip-corrupt mode: show every valid entry, behind damage too"};

const std::vector<command_spec> &commands()
{
	static const std::vector<command_spec> table = {
		{"create", "FILE --size SIZE", "Create a stream file of SIZE bytes (K, M, G, T suffixes).",
		 {{"size", 's', "SIZE", "total file size, header included (required)"},
		  {"block-size", 'b', "SIZE", "allocation unit of regions (default 4K)"},
		  {"verbose", 'v', nullptr, "print what was created"}},
		 1, 1, run_create,
		 "Fails if FILE exists and holds any non-zero byte (an all-zero file is initialised)."},
		{"info", "FILE", "Show the format version, sizes, space use and timestamps of a stream.",
		 {json_opt, salvage_opt, skip_opt}, 1, 1, run_info, nullptr, true},
		{"region add", "FILE --size SIZE", "Allocate a region of at least SIZE usable bytes; print its offset.",
		 {{"size", 's', "SIZE", "usable bytes (rounded up to whole blocks) (required)"}, json_opt}, 1, 1, run_region_add,
		 nullptr},
		{"region ls", "FILE", "List regions: offset, usable size, used and free bytes, entries.", {json_opt}, 1, 1,
		 run_region_ls, nullptr, true},
		{"region rm", "FILE REGION", "Free the region at offset REGION (decimal or 0x hex) and all its entries.", {}, 2, 2,
		 run_region_rm, nullptr},
		// Truncation (issue 14, cmd_truncate.cpp).
		{"region clear", "FILE REGION", "Remove every entry of the region in O(1); it keeps its offset, size and place.",
		 {{"verbose", 'v', nullptr, "print how many entries were removed"}, json_opt}, 2, 2, run_region_clear,
		 "The region gets a new checksum epoch (its bytes are not zeroed) and its whole space is\n"
		 "free for appends again. Crash-safe: the region shows all its entries or none."},
		{"truncate", "FILE REGION [--before ENTRY | --before-timestamp TS | --after ENTRY]",
		 "Remove the entries of a region before an entry or timestamp, or after an entry.",
		 {{"before", 0, "ENTRY", "remove every entry before the entry at offset ENTRY"},
		  {"before-timestamp", 0, "TS", "remove every entry with a timestamp below TS (all: the region is cleared)"},
		  {"after", 0, "ENTRY", "remove every entry after the entry at offset ENTRY"},
		  {"verbose", 'v', nullptr, "print how many entries were removed"},
		  json_opt},
		 2, 2, run_truncate,
		 "ENTRY is an entry offset as printed by 'append -v', 'cat --hex' or 'dump' (decimal or\n"
		 "0x hex). The removed timestamps are never handed out again; other regions are\n"
		 "untouched. Crash-safe: the region shows all its entries or exactly the ones kept.\n"
		 "An ENTRY that is not a committed entry of REGION exits with 5."},
		{"append", "FILE REGION [DATA...]", "Append entries to a region.",
		 {{"lines", 'l', nullptr, "one entry per line of standard input (newlines not stored)"},
		  {"verbose", 'v', nullptr, "print offset, size and timestamp of each new entry"},
		  json_opt},
		 2, SIZE_MAX, run_append,
		 "Each DATA argument becomes one entry. Without DATA, standard input becomes one entry\n"
		 "(or one per line with --lines, each appended as soon as its newline arrives). Every\n"
		 "entry is persisted before the next is written; when the region fills up, the entries\n"
		 "before the failing one stay appended. While input pauses for a second the stream is\n"
		 "closed, so other writers can open it. SIGINT/SIGTERM stop after the current entry\n"
		 "(exit 6)."},
		{"cat", "FILE REGION", "Print the payloads of a region's entries, in append order.",
		 {{"raw", 0, nullptr, "payloads one after another, unseparated (the default)"},
		  {"lines", 'l', nullptr, "end every payload with a newline"},
		  {"hex", 'x', nullptr, "a header and a hexdump per entry"},
		  {"json", 0, nullptr, "a JSON array of {offset, size, timestamp, hex}"},
		  {"base64", 0, nullptr, "with --json: payload as base64 instead of hex"},
		  salvage_opt,
		  skip_opt},
		 2, 2, run_cat, "Without an option the payloads are written raw, one after another.", true},
		{"dump", "FILE", "Show the whole stream as a tree: regions and their entries.",
		 {{"bytes", 0, "N", "leading payload bytes shown per entry (default 8)"}, json_opt, salvage_opt, skip_opt}, 1, 1, run_dump,
		 nullptr, true},
		{"tail", "FILE [REGION]", "Print a region's entries (all regions merged in timestamp order without REGION); with -f keep printing new ones.",
		 {{"follow", 'f', nullptr, "wait for new entries until interrupted (SIGINT/SIGTERM: exit 0)"},
		  {"entries", 'n', "N", "start with the last N existing entries only"},
		  {"interval", 0, "MS", "with -f: look for a new writer every MS milliseconds when there is none (default 100)"},
		  {"raw", 0, nullptr, "payloads without separators"},
		  {"hex", 'x', nullptr, "a header and a hexdump per entry"},
		  {"json", 0, nullptr, "one JSON object per line per entry"},
		  {"base64", 0, nullptr, "with --json: payload as base64 instead of hex"}},
		 1, 2, run_tail,
		 "By default each payload is printed followed by a newline. With -f the stream follows its\n"
		 "writer process in place and sleeps until it commits (no polling); it is reopened when the\n"
		 "writer goes or restarts. A freed REGION ends it with exit 5, a file that shrinks below the\n"
		 "stream's size with exit 2.",
		 true},
		{"check", "FILE", "Verify a stream: open strictly, then walk every region and entry in salvage mode.",
		 {json_opt, {"quiet", 'q', nullptr, "print nothing; only the exit code tells"},
		  {"repair", 0, nullptr, "point-in-time repair: cut the stream back to before its first damage"},
		  {"yes", 'y', nullptr, "with --repair: do not ask for confirmation"},
		  {"skip-corrupt", 0, nullptr, "walk in skip-corrupt mode: count every valid entry, behind damage too"}},
		 1, 1, run_check,
		 "Exit status 0 when clean, 3 when damage was found; every problem is reported with its\n"
		 "region and entry offset. A progress bar is drawn on stderr when it is a terminal.\n"
		 "--repair lists what a point-in-time repair drops (each region cut at its first damage,\n"
		 "every entry above the last timestamp known to precede it), asks, repairs, and verifies.\n"
		 "--skip-corrupt walks past each damaged range and reports it (region, offset, bytes).",
		 true},
		{"bench", "FILE", "Measure appends and iteration for a few entry sizes.",
		 {{"count", 'c', "N", "entries per size (default 10000)"},
		  {"size", 's', "SIZES", "comma-separated entry sizes (default 64,1K,4K)"},
		  {"async", 0, nullptr, "asynchronous appends (async_append) instead of synchronous ones"},
		  {"wait-every", 0, "N", "with --async: wait_persisted after every N appends (default 32; 0: never)"},
		  {"keep", 0, nullptr, "keep FILE when bench created it"},
		  json_opt},
		 1, 1, run_bench,
		 "Uses FILE if it is a stream (its regions are untouched: bench frees what it allocates),\n"
		 "otherwise creates it and removes it afterwards. Put FILE on the medium to measure.\n"
		 "The report starts with the persistence path (PMEM2_FORCE_GRANULARITY, the file\n"
		 "system and whether it is mounted with DAX), the CPU model and the append mode; p50\n"
		 "and p99 are the times from an append's submit to its entry being persisted."},
	};
	return table;
}

void print_main_help()
{
	std::string s = "usage: pmemstream COMMAND [ARGS] [OPTIONS]\n\n"
			"Create, inspect and check pmemstream files.\n\ncommands:\n";
	for (auto &c : commands()) {
		std::string left = std::string("  ") + c.name + " " + c.args;
		if (left.size() < 40)
			left.resize(40, ' ');
		else
			left += "  ";
		s += left + c.summary + "\n";
	}
	s += "\nSIZE accepts K, M, G and T suffixes (powers of 1024); REGION is the offset printed by\n"
	     "'region add' or 'region ls', in decimal or 0x hex.\n"
	     "Run 'pmemstream COMMAND --help' for a command's options.\n\n"
	     "Offsets are printed in hex (0x1000) by every command; JSON output gives them as numbers.\n\n"
	     "exit status: 0 ok, 1 usage error, 2 file unusable (missing, not a stream, I/O error,\n"
	     "shrank while read), 3 corruption found, 4 out of space (region full, stream full, entry\n"
	     "too large), 5 no such region, 6 append interrupted by SIGINT/SIGTERM.\n";
	out(s);
}

int print_region_help()
{
	out("usage: pmemstream region add|ls|rm|clear ...\n");
	for (auto &c : commands())
		if (std::string(c.name).rfind("region ", 0) == 0)
			out(std::string("  pmemstream ") + c.name + " " + c.args + "\n      " + c.summary + "\n");
	return exit_ok;
}

int dispatch(int argc, char **argv)
{
	if (argc < 2)
		fail(exit_usage, "missing command (see 'pmemstream --help')");
	std::string name = argv[1];
	if (name == "--help" || name == "-h" || name == "help") {
		if (argc > 2) {
			std::string topic = argv[2];
			if (topic == "region" && argc > 3)
				topic += std::string(" ") + argv[3];
			else if (topic == "region")
				return print_region_help();
			for (auto &c : commands())
				if (topic == c.name) {
					print_command_help(c);
					return exit_ok;
				}
			fail(exit_usage, "help: unknown command '" + topic + "' (see 'pmemstream --help')");
		}
		print_main_help();
		return exit_ok;
	}
	if (name == "--version" || name == "-V") {
		if (argc > 2)
			fail(exit_usage, name + ": unexpected argument '" + argv[2] + "' (see 'pmemstream --help')");
		out(std::string("pmemstream ") + PMEMSTREAM_VERSION_STRING + "\nlibrary version: " + PMEMSTREAM_VERSION_STRING +
		    " (linked statically)\nformat version: " + PMEMSTREAM_FORMAT_VERSION_STRING +
		    " (written, and the only one read)\n");
		return exit_ok;
	}
	int consumed = 2;
	if (name == "region") {
		if (argc < 3 || argv[2][0] == '-') {
			if (argc >= 3 && (std::strcmp(argv[2], "--help") == 0 || std::strcmp(argv[2], "-h") == 0))
				return print_region_help();
			fail(exit_usage, "region: missing subcommand: add, ls, rm or clear (see 'pmemstream region --help')");
		}
		name += std::string(" ") + argv[2];
		consumed = 3;
	}
	for (auto &c : commands()) {
		if (name != c.name)
			continue;
		auto args = parse_args(c, argc - consumed, argv + consumed);
		if (args.flags.count("help")) {
			print_command_help(c);
			return exit_ok;
		}
		if (c.guard_mapping)
			return guarded_read(args.positional[0], [&] { return c.run(c, args); });
		return c.run(c, args);
	}
	fail(exit_usage, "unknown command '" + name + "' (see 'pmemstream --help')");
}

} // namespace
} // namespace cli

int main(int argc, char **argv)
{
	int code;
	try {
		code = cli::dispatch(argc, argv);
		if (std::fflush(stdout) != 0 || std::ferror(stdout))
			cli::fail(cli::exit_file, std::string("writing to standard output: ") + std::strerror(errno));
	} catch (const cli::failure &f) {
		std::fflush(stdout);
		std::string msg = f.message;
		// One line, whatever the library's message holds.
		for (auto &c : msg)
			if (c == '\n' || c == '\r')
				c = ' ';
		std::fprintf(stderr, "pmemstream: %s\n", msg.c_str());
		return f.code;
	} catch (const std::bad_alloc &) {
		std::fprintf(stderr, "pmemstream: out of memory\n");
		return cli::exit_file;
	}
	return code;
}
