// SPDX-License-Identifier: BSD-3-Clause
// Entry subcommands: append, cat, tail.
#include "commands.hpp"
#include "mapping_guard.hpp"
#include "output.hpp"
#include "stop_signals.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sys/stat.h>
#include <unistd.h>

namespace cli {

using pmemstream::recovery_mode;

namespace {

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
		.field(base64 ? "base64" : "hex", base64 ? to_base64(e.data) : to_hex(e.data));
	if (e.tx.member) // transactions (issue 13): the last member ends its transaction
		j.field("tx", e.tx.last ? "end" : "member");
	j.end_object();
}

// Prints one entry in a per-entry format (everything but a JSON array).
void print_entry(const entry_view &e, entry_format f, bool base64)
{
	switch (f) {
	case entry_format::raw: out_payload(e.data); break;
	case entry_format::lines:
		out_payload(e.data);
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

// The stream an append writes to. It stays open while input flows and is released (closed,
// which frees the writer lock for other processes) when input pauses; the next entry reopens it.
class region_writer {
public:
	region_writer(std::string path, uint64_t offset) : path_(std::move(path)), offset_(offset)
	{
		open(false);
	}

	// Appends one entry, persisted on return. `which` names it in an error ("entry 3 of 5").
	std::pair<pmemstream::entry, uint64_t> append(std::span<const std::byte> p, const std::string &which)
	{
		if (!s_)
			open(true);
		auto e = s_->append(region_, p, rt_);
		if (!e)
			fail_with(e.err(), where() + ": " + which + " (" + std::to_string(p.size()) + " bytes, " +
						   std::to_string(appended_) + " appended before it)");
		appended_++;
		return {*e, check(s_->entry_timestamp(*e), path_)};
	}

	void release() noexcept
	{
		s_.reset();
		rt_ = nullptr;
	}

	uint64_t appended() const noexcept
	{
		return appended_;
	}

	[[noreturn]] void interrupted() const
	{
		fail(exit_interrupted, "append: " + path_ + ": stopped by " + stop_signal_name() + " after " + std::to_string(appended_) +
					       " entries (each one persisted); the input after them was not appended");
	}

	// How long input may pause before the stream is released: a second, or longer when
	// opening (which walks every entry) is slow, so that a slow producer does not pay a reopen
	// per line.
	int64_t idle_ms() const noexcept
	{
		return std::max<int64_t>(1000, 4 * open_ms_);
	}

private:
	std::string where() const
	{
		return path_ + ": region " + hex(offset_);
	}

	void open(bool again)
	{
		auto t0 = std::chrono::steady_clock::now();
		// Reopening after a pause waits up to 10 s for another writer to close the stream.
		for (int tries = 0;; tries++) {
			check_file(path_);
			auto s = pmemstream::stream::open(path_);
			if (s || !again || s.code() != pmemstream::errc::busy || tries >= 200) {
				s_ = opened(std::move(s), path_);
				break;
			}
			if (wait_readable(-1, 50) == wait_result::stopped)
				interrupted();
		}
		if (again) {
			bool found = false;
			for (auto r : s_->regions())
				found = found || r.offset == offset_;
			if (!found)
				fail(exit_no_region, where() + " was freed while append waited for input");
		}
		region_ = find_region(*s_, path_, offset_);
		rt_ = check(s_->get_region_runtime(region_), where());
		open_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
	}

	std::string path_;
	uint64_t offset_;
	std::unique_ptr<pmemstream::stream> s_;
	pmemstream::region region_{};
	pmemstream::region_runtime *rt_ = nullptr;
	uint64_t appended_ = 0;
	int64_t open_ms_ = 0;
};

// Prints each new entry as -v or --json ask; the JSON array is written as it grows.
class append_report {
public:
	append_report(bool verbose, bool as_json) : verbose_(verbose), json_(as_json)
	{
		if (json_)
			out("[");
	}

	void entry(uint64_t offset, size_t size, uint64_t ts)
	{
		if (json_) {
			json j;
			j.begin_object().field("offset", offset).field("size", static_cast<uint64_t>(size)).field("timestamp", ts).end_object();
			out((first_ ? "" : ",") + j.str());
			first_ = false;
		} else if (verbose_) {
			char buf[96];
			std::snprintf(buf, sizeof(buf), "%s %zu bytes, timestamp %" PRIu64 "\n", hex(offset).c_str(), size, ts);
			out(buf);
		}
	}

	// Closes the JSON array, also when the append fails or is stopped: what was printed
	// stays valid JSON and lists exactly the entries appended.
	void finish()
	{
		if (json_ && !finished_)
			out("]\n");
		finished_ = true;
	}

private:
	bool verbose_, json_;
	bool first_ = true;
	bool finished_ = false;
};

// Reads what standard input has, waiting for it if need be. Returns the number of bytes read (0
// at the end of input), or nullopt when a stop signal arrived. Before it waits it flushes
// standard output (so -v and --json show every entry appended so far), and when the input has
// been quiet for idle_ms it calls on_idle once.
std::optional<size_t> read_input(char *buf, size_t size, int64_t idle_ms, const std::function<void()> &on_idle)
{
	wait_result w = wait_readable(STDIN_FILENO, 0);
	if (w == wait_result::timeout) {
		if (std::fflush(stdout) != 0)
			fail(exit_file, std::string("writing to standard output: ") + std::strerror(errno));
		w = wait_readable(STDIN_FILENO, idle_ms);
		if (w == wait_result::timeout) {
			on_idle();
			while ((w = wait_readable(STDIN_FILENO, -1)) == wait_result::timeout) {
			}
		}
	}
	if (w == wait_result::stopped)
		return std::nullopt;
	for (;;) {
		ssize_t n = ::read(STDIN_FILENO, buf, size);
		if (n >= 0)
			return static_cast<size_t>(n);
		if (errno != EINTR)
			fail(exit_file, std::string("reading standard input: ") + std::strerror(errno));
		if (stop_requested())
			return std::nullopt;
	}
}

std::span<const std::byte> bytes_of(const char *p, size_t n)
{
	return {reinterpret_cast<const std::byte *>(p), n};
}

// One entry per line of standard input, each appended as soon as its newline has been read;
// memory holds one read buffer and the longest line. The newline is not stored, and a final
// newline ends the last line rather than starting an empty one.
void append_lines(region_writer &w, append_report &report)
{
	std::vector<char> buf(65536);
	std::string partial; // the start of a line that the buffer could not hold whole
	auto add = [&](std::span<const std::byte> line) {
		auto [e, ts] = w.append(line, "entry " + std::to_string(w.appended() + 1));
		report.entry(e.offset, line.size(), ts);
	};
	while (!stop_requested()) {
		auto n = read_input(buf.data(), buf.size(), w.idle_ms(), [&] { w.release(); });
		if (!n)
			return;
		if (*n == 0) {
			if (!partial.empty())
				add(bytes_of(partial.data(), partial.size()));
			return;
		}
		const char *p = buf.data(), *end = buf.data() + *n;
		while (p < end && !stop_requested()) {
			auto nl = static_cast<const char *>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
			if (!nl) {
				partial.append(p, end);
				break;
			}
			if (partial.empty()) {
				add(bytes_of(p, static_cast<size_t>(nl - p)));
			} else {
				partial.append(p, nl);
				add(bytes_of(partial.data(), partial.size()));
				partial.clear();
			}
			p = nl + 1;
		}
	}
}

// All of standard input as one entry (held in memory until its end).
void append_all_input(region_writer &w, append_report &report)
{
	std::string data;
	std::vector<char> buf(65536);
	for (;;) {
		auto n = read_input(buf.data(), buf.size(), w.idle_ms(), [&] { w.release(); });
		if (!n)
			return;
		if (*n == 0)
			break;
		data.append(buf.data(), *n);
	}
	if (stop_requested())
		return;
	auto [e, ts] = w.append(bytes_of(data.data(), data.size()), "standard input");
	report.entry(e.offset, data.size(), ts);
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

	install_stop_handlers();
	region_writer w(path, offset);
	append_report report(a.has("verbose"), a.has("json"));
	try {
		if (lines) {
			append_lines(w, report);
		} else if (payloads.empty()) {
			append_all_input(w, report);
		} else {
			for (size_t k = 0; k < payloads.size() && !stop_requested(); k++) {
				auto &p = payloads[k];
				auto [e, ts] = w.append(bytes_of(p.data(), p.size()),
							"entry " + std::to_string(k + 1) + " of " + std::to_string(payloads.size()));
				report.entry(e.offset, p.size(), ts);
			}
		}
		report.finish();
	} catch (const failure &) {
		report.finish();
		throw;
	}
	if (stop_requested())
		w.interrupted();
	return exit_ok;
}

int run_cat(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	uint64_t offset = parse_offset(a.positional[1], "cat: REGION");
	auto f = format_of(a, entry_format::raw, "cat");
	bool base64 = a.has("base64");
	if (a.has("salvage") && a.has("skip-corrupt"))
		fail(exit_usage, "--salvage and --skip-corrupt exclude each other");
	auto s = open_stream(path, false,
			     a.has("skip-corrupt") ? recovery_mode::skip_corrupt // issue 14
			     : a.has("salvage")    ? recovery_mode::salvage
						   : recovery_mode::strict);
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
	// Without REGION: every region, merged in timestamp order (the stream reader).
	const bool whole = a.positional.size() < 2;
	const uint64_t offset = whole ? 0 : parse_offset(a.positional[1], "tail: REGION");
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

	uint64_t last_ts = 0, stream_size = 0, region_id = 0;
	{
		auto s = open_stream(path, false);
		stream_size = s->info().size;
		std::vector<entry_view> entries;
		if (whole) {
			for (auto rd = s->reader(); rd.is_valid(); rd.next())
				entries.push_back(read_entry(*s, rd.get(), path));
		} else {
			const auto region = find_region(*s, path, offset);
			region_id = region.id; // ids are never reused: a new region at the offset is another one
			entries = read_entries(*s, region, path);
		}
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

	// Following (issue 12): a read-only stream that follows the writer process walks in place
	// as the writer commits, and the wait sleeps in the kernel until it does (no reopen, no
	// re-walk per poll). The stream is reopened only when its writer goes (closed, killed,
	// replaced) or there was none; stop signals and a shrinking file are looked at between
	// waits of at most 50 ms.
	const uint64_t slice_ms = std::min<uint64_t>(interval, 50);
	std::string last_warning;
	auto warn = [&](const std::string &m) {
		if (m != last_warning)
			std::fprintf(stderr, "pmemstream: tail: warning: %s (retrying)\n", m.c_str());
		last_warning = m;
	};
	auto file_shrank = [&] {
		// A file cut below the stream's size will not heal: end instead of warning forever.
		struct stat st;
		if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < stream_size)
			fail(exit_file, path + ": the file shrank to " + std::to_string(st.st_size) + " bytes while followed; the stream has " +
						std::to_string(stream_size) + " (truncated by another process?)");
	};
	while (!stop_requested()) {
		file_shrank();
		std::unique_ptr<pmemstream::stream> s;
		try {
			s = opened(pmemstream::stream::open(path, {.read_only = true, .follow = true}), path);
		} catch (const failure &err) {
			warn(err.message); // a writer may be between two states of the file
			if (wait_readable(-1, static_cast<int64_t>(std::min<uint64_t>(interval, INT64_MAX))) == wait_result::stopped)
				break;
			continue;
		}
		last_warning.clear();
		std::optional<pmemstream::entry_iterator> it;
		std::optional<pmemstream::stream_reader> rd;
		if (whole) {
			rd.emplace(s->reader());
			rd->seek_timestamp(last_ts + 1);
		} else {
			auto r = s->entries(pmemstream::region{offset, region_id});
			if (!r && r.code() == pmemstream::errc::writer_gone) {
				// The writer went between the open and the look-up: open again.
				if (wait_readable(-1, 1) == wait_result::stopped)
					break;
				continue;
			}
			if (!r)
				fail(exit_no_region, path + ": region " + hex(offset) + " was freed");
			it.emplace(std::move(*r));
			it->seek_timestamp(last_ts + 1);
		}
		for (;;) {
			const auto slice = std::chrono::milliseconds(slice_ms);
			const auto st = whole ? rd->wait_for(slice) : it->wait_for(slice);
			if (st) {
				do {
					const auto e = whole ? rd->get() : it->get();
					auto ev = read_entry(*s, e, path);
					print_entry(ev, f, base64);
					last_ts = ev.timestamp;
					whole ? rd->next() : it->next();
				} while (whole ? rd->is_valid() : it->is_valid());
				if (std::fflush(stdout) != 0)
					fail(exit_file, std::string("writing to standard output: ") + std::strerror(errno));
			} else if (st.code() == pmemstream::errc::region_freed) {
				fail(exit_no_region, path + ": region " + hex(offset) + " was freed");
			} else if (st.code() != pmemstream::errc::timed_out) {
				break; // writer_gone: reopen (after a pause when there was no writer to follow)
			}
			// Stop signals are blocked outside ppoll(): a zero wait lets one in.
			if (wait_readable(-1, 0) == wait_result::stopped)
				return exit_ok;
			file_shrank();
		}
		const bool no_writer = s->writer() == pmemstream::stream::writer_state::none;
		s.reset();
		if (no_writer && wait_readable(-1, static_cast<int64_t>(std::min<uint64_t>(interval, INT64_MAX))) == wait_result::stopped)
			break;
	}
	return exit_ok;
}

} // namespace cli
