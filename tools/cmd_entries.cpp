// SPDX-License-Identifier: BSD-3-Clause
// Entry subcommands: append, cat, tail.
#include "commands.hpp"
#include "output.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace cli {

using pmemstream::recovery_mode;

namespace {

std::string read_stdin()
{
	std::string data;
	char buf[65536];
	for (;;) {
		size_t n = std::fread(buf, 1, sizeof(buf), stdin);
		data.append(buf, n);
		if (n < sizeof(buf)) {
			if (std::ferror(stdin))
				fail(exit_file, std::string("reading standard input: ") + std::strerror(errno));
			break;
		}
	}
	return data;
}

// One entry per line; the newline is not stored, and a final newline ends the last line
// rather than starting an empty one.
std::vector<std::string> split_lines(const std::string &text)
{
	std::vector<std::string> lines;
	size_t start = 0;
	while (start < text.size()) {
		size_t nl = text.find('\n', start);
		if (nl == std::string::npos) {
			lines.push_back(text.substr(start));
			break;
		}
		lines.push_back(text.substr(start, nl - start));
		start = nl + 1;
	}
	return lines;
}

enum class entry_format { raw, lines, hex, json };

entry_format format_of(const parsed_args &a, entry_format fallback, const char *command)
{
	int n = 0;
	entry_format f = fallback;
	for (auto [name, fmt] : {std::pair{"raw", entry_format::raw}, std::pair{"lines", entry_format::lines},
				 std::pair{"hex", entry_format::hex}, std::pair{"json", entry_format::json}})
		if (a.has(name)) {
			f = fmt;
			n++;
		}
	if (n > 1)
		fail(exit_usage, std::string(command) + ": --raw, --lines, --hex and --json exclude each other");
	if (a.has("base64") && f != entry_format::json)
		fail(exit_usage, std::string(command) + ": --base64 applies to --json output only");
	return f;
}

void json_entry(json &j, const entry_view &e, bool base64)
{
	j.begin_object()
		.field("offset", e.offset)
		.field("size", static_cast<uint64_t>(e.data.size()))
		.field("timestamp", e.timestamp)
		.field(base64 ? "base64" : "hex", base64 ? to_base64(e.data) : to_hex(e.data))
		.end_object();
}

// Prints one entry in a per-entry format (everything but a JSON array).
void print_entry(const entry_view &e, entry_format f, bool base64)
{
	switch (f) {
	case entry_format::raw: out_bytes(e.data.data(), e.data.size()); break;
	case entry_format::lines:
		out_bytes(e.data.data(), e.data.size());
		out("\n");
		break;
	case entry_format::hex:
		out("entry " + hex(e.offset) + ": " + std::to_string(e.data.size()) + " bytes, timestamp " + std::to_string(e.timestamp) +
		    "\n" + hexdump(e.data, "  "));
		break;
	case entry_format::json: {
		json j;
		json_entry(j, e, base64);
		out(j.str() + "\n");
		break;
	}
	}
}

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void on_stop_signal(int)
{
	stop_requested = 1;
}

void install_stop_handlers()
{
	struct sigaction sa;
	std::memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	// No SA_RESTART: the signal must cut the sleep short.
	sigaction(SIGINT, &sa, nullptr);
	sigaction(SIGTERM, &sa, nullptr);
}

void sleep_ms(uint64_t ms)
{
	struct timespec ts;
	ts.tv_sec = static_cast<time_t>(ms / 1000);
	ts.tv_nsec = static_cast<long>((ms % 1000) * 1000000);
	while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

} // namespace

int run_append(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	uint64_t offset = parse_offset(a.positional[1], "append: REGION");
	bool lines = a.has("lines");
	std::vector<std::string> payloads(a.positional.begin() + 2, a.positional.end());
	if (!payloads.empty() && lines)
		fail(exit_usage, "append: --lines reads standard input; it cannot be combined with DATA arguments");
	if (a.has("verbose") && a.has("json"))
		fail(exit_usage, "append: choose one of --verbose, --json");

	auto s = open_stream(path, true);
	auto r = find_region(*s, path, offset);
	auto rt = check(s->get_region_runtime(r), path + ": region " + hex(offset));
	if (payloads.empty()) {
		std::string in = read_stdin();
		if (lines)
			payloads = split_lines(in);
		else
			payloads.push_back(std::move(in));
	}

	json j;
	j.begin_array();
	for (size_t k = 0; k < payloads.size(); k++) {
		auto &p = payloads[k];
		auto e = s->append(r, p.data(), p.size(), rt);
		if (!e) {
			std::string ctx = path + ": region " + hex(offset) + ": entry " + std::to_string(k + 1) + " of " +
				std::to_string(payloads.size()) + " (" + std::to_string(p.size()) + " bytes, " + std::to_string(k) +
				" appended before it)";
			fail_with(e.err(), ctx);
		}
		uint64_t ts = check(s->entry_timestamp(*e), path);
		if (a.has("json")) {
			j.begin_object().field("offset", e->offset).field("size", static_cast<uint64_t>(p.size())).field("timestamp", ts).end_object();
		} else if (a.has("verbose")) {
			char buf[96];
			std::snprintf(buf, sizeof(buf), "%s %zu bytes, timestamp %" PRIu64 "\n", hex(e->offset).c_str(), p.size(), ts);
			out(buf);
		}
	}
	j.end_array();
	if (a.has("json"))
		out(j.str() + "\n");
	return exit_ok;
}

int run_cat(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	uint64_t offset = parse_offset(a.positional[1], "cat: REGION");
	auto f = format_of(a, entry_format::raw, "cat");
	bool base64 = a.has("base64");
	auto s = open_stream(path, false, a.has("salvage") ? recovery_mode::salvage : recovery_mode::strict);
	auto r = find_region(*s, path, offset);
	auto entries = read_entries(*s, r, path);
	if (f == entry_format::json) {
		json j;
		j.begin_array();
		for (auto &e : entries)
			json_entry(j, e, base64);
		j.end_array();
		out(j.str() + "\n");
		return exit_ok;
	}
	for (auto &e : entries)
		print_entry(e, f, base64);
	return exit_ok;
}

int run_tail(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	uint64_t offset = parse_offset(a.positional[1], "tail: REGION");
	auto f = format_of(a, entry_format::lines, "tail");
	bool base64 = a.has("base64");
	bool follow = a.has("follow");
	uint64_t interval = 100;
	if (auto v = a.get("interval")) {
		interval = parse_uint(*v, "tail: --interval");
		if (interval == 0)
			fail(exit_usage, "tail: --interval must be at least 1 millisecond");
	}
	std::optional<uint64_t> last_n;
	if (auto v = a.get("entries"))
		last_n = parse_uint(*v, "tail: -n");
	if (follow)
		install_stop_handlers();

	uint64_t last_ts = 0;
	{
		auto s = open_stream(path, false);
		auto entries = read_entries(*s, find_region(*s, path, offset), path);
		size_t first = last_n && *last_n < entries.size() ? entries.size() - static_cast<size_t>(*last_n) : 0;
		for (size_t k = 0; k < entries.size(); k++) {
			if (k >= first)
				print_entry(entries[k], f, base64);
			last_ts = std::max(last_ts, entries[k].timestamp);
		}
		std::fflush(stdout);
	}
	if (!follow)
		return exit_ok;

	// Each poll reopens read-only: the mapping then shows what the writer has persisted.
	std::string last_warning;
	while (!stop_requested) {
		sleep_ms(interval);
		if (stop_requested)
			break;
		std::unique_ptr<pmemstream::stream> s;
		std::vector<entry_view> entries;
		try {
			s = open_stream(path, false);
			bool found = false;
			for (auto r : s->regions()) {
				if (r.offset != offset)
					continue;
				found = true;
				// Only entries not printed yet are read; timestamps rise along a region.
				for (auto e : check(s->entries(r), path + ": region " + hex(offset)))
					if (check(s->entry_timestamp(e), path) > last_ts)
						entries.push_back(read_entry(*s, e, path));
			}
			if (!found)
				fail(exit_no_region, path + ": region " + hex(offset) + " was freed");
			last_warning.clear();
		} catch (const failure &err) {
			if (err.code == exit_no_region)
				throw;
			// A writer may be between two states of the file; report once and keep polling.
			if (err.message != last_warning)
				std::fprintf(stderr, "pmemstream: tail: warning: %s (retrying)\n", err.message.c_str());
			last_warning = err.message;
			continue;
		}
		for (auto &e : entries) {
			print_entry(e, f, base64);
			last_ts = e.timestamp;
		}
		if (std::fflush(stdout) != 0)
			fail(exit_file, std::string("writing to standard output: ") + std::strerror(errno));
	}
	return exit_ok;
}

} // namespace cli
