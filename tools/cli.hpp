// SPDX-License-Identifier: BSD-3-Clause
// Shared pieces of the pmemstream command-line tool: exit codes, the failure type every
// command throws, the argument parser, number parsing and helpers over the public API.
#ifndef PMEMSTREAM_TOOLS_CLI_HPP
#define PMEMSTREAM_TOOLS_CLI_HPP

#include <pmemstream/stream.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cli {

// Documented in docs/cli.md and pmemstream(1); never renumber.
enum exit_code : int {
	exit_ok = 0,
	exit_usage = 1,	      // bad command line: unknown subcommand/option, value that does not parse
	exit_file = 2,	      // cannot use the file: missing, not a stream, other version, I/O error
	exit_corrupt = 3,     // damage found (check, or a strict open)
	exit_space = 4,	      // region full, stream out of space, entry too large
	exit_no_region = 5,   // REGION names no live region
	exit_interrupted = 6, // append stopped by SIGINT/SIGTERM before its input ended (what it appended stays)
};

// Thrown by commands, caught in main(): printed as one line on stderr, then exit(code).
struct failure {
	int code;
	std::string message;
};

[[noreturn]] void fail(int code, std::string message);
// Maps a library error to an exit code and throws it, prefixed with `context`.
[[noreturn]] void fail_with(const pmemstream::error &e, const std::string &context);
int exit_code_of(pmemstream::errc e) noexcept;

struct option_spec {
	const char *long_name; // without the dashes
	char short_name;       // 0 when none
	const char *value_name; // nullptr for a flag
	const char *help;
};

struct parsed_args {
	std::vector<std::string> positional;
	std::map<std::string, std::string> values;
	std::set<std::string> flags;

	bool has(const std::string &name) const
	{
		return flags.count(name) != 0 || values.count(name) != 0;
	}
	std::optional<std::string> get(const std::string &name) const
	{
		auto it = values.find(name);
		if (it == values.end())
			return std::nullopt;
		return it->second;
	}
};

struct command_spec {
	const char *name; // "create", "region add", ...
	const char *args; // positional synopsis: "FILE REGION [DATA...]"
	const char *summary;
	std::vector<option_spec> options;
	size_t min_positional;
	size_t max_positional; // SIZE_MAX for no limit
	int (*run)(const command_spec &, const parsed_args &);
	const char *details; // extra help text, may be nullptr
	// Only reads FILE (the first positional): runs under guarded_read(), so a SIGBUS from a
	// file that shrank under its mapping is an error (exit_file), not a crash.
	bool guard_mapping = false;
};

// Parses argv (after the subcommand words) against the spec; throws failure(exit_usage).
// Accepts --name value, --name=value, -x value, -xVALUE, bundled flags (-fv) and "--".
parsed_args parse_args(const command_spec &spec, int argc, char **argv);
void print_command_help(const command_spec &spec);

// Numbers. Sizes accept K, M, G, T suffixes (powers of 1024, optional "B"/"iB").
uint64_t parse_size(const std::string &text, const std::string &what);
uint64_t parse_uint(const std::string &text, const std::string &what);
// A region offset: decimal or 0x hex.
uint64_t parse_offset(const std::string &text, const std::string &what);
std::string hex(uint64_t v);
std::string human_size(uint64_t bytes);

// Fails with exit_file when `path` is missing or a directory.
void check_file(const std::string &path);
// Opening and looking up. Errors are thrown with the path as context.
std::unique_ptr<pmemstream::stream> open_stream(const std::string &path, bool writable,
						 pmemstream::recovery_mode mode = pmemstream::recovery_mode::strict);
// The stream of an open's result, or the failure open_stream() would report for it.
std::unique_ptr<pmemstream::stream> opened(pmemstream::result<std::unique_ptr<pmemstream::stream>> s, const std::string &path);
// Fails with exit_no_region unless `offset` names a live region.
pmemstream::region find_region(const pmemstream::stream &s, const std::string &path, uint64_t offset);

template <typename T>
T check(pmemstream::result<T> r, const std::string &context)
{
	if (!r)
		fail_with(r.err(), context);
	return std::move(r).value();
}
void check(const pmemstream::status &s, const std::string &context);

// Regions with a problem tied to one of their entries (recovery counts them apart from torn
// tails).
uint64_t damaged_regions(const pmemstream::recovery_report &rec);

// Writes to stdout; a failed write (disk full, closed pipe) fails with exit_file.
void out(const std::string &s);
void out_bytes(const void *data, size_t n);

} // namespace cli

#endif // PMEMSTREAM_TOOLS_CLI_HPP
