// SPDX-License-Identifier: BSD-3-Clause
// Whole-stream subcommands: create, info, dump, check.
#include "commands.hpp"
#include "output.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>

namespace cli {

using pmemstream::errc;
using pmemstream::recovery_mode;
using pmemstream::stream;

entry_view read_entry(const stream &s, pmemstream::entry e, const std::string &context)
{
	std::string ctx = context + ": entry " + hex(e.offset);
	auto data = check(s.entry_data(e), ctx);
	auto ts = check(s.entry_timestamp(e), ctx);
	return {e.offset, ts, data, check(s.entry_tx(e), ctx)};
}

std::vector<entry_view> read_entries(const stream &s, pmemstream::region r, const std::string &context)
{
	std::vector<entry_view> v;
	auto it = check(s.entries(r), context + ": region " + hex(r.offset));
	for (auto e : it)
		v.push_back(read_entry(s, e, context));
	return v;
}

region_view describe_region(const stream &s, pmemstream::region r, const std::string &context)
{
	std::string ctx = context + ": region " + hex(r.offset);
	region_view v;
	v.offset = r.offset;
	v.size = check(s.region_size(r), ctx);
	uint64_t free_bytes = check(s.region_usable_size(r), ctx);
	v.used = v.size - std::min(free_bytes, v.size);
	v.entries = check(s.region_entry_count(r), ctx);
	return v;
}

int run_create(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	auto size = a.get("size");
	if (!size)
		fail(exit_usage, "create: --size SIZE is required (see 'pmemstream create --help')");
	pmemstream::create_options o;
	o.size = parse_size(*size, "create: --size");
	if (auto bs = a.get("block-size"))
		o.block_size = parse_size(*bs, "create: --block-size");
	auto s = check(stream::create(path, o), path);
	if (a.has("verbose")) {
		auto i = s->info();
		out(path + ": created, " + std::to_string(i.size) + " bytes, block size " + std::to_string(i.block_size) + ", " +
		    std::to_string(i.largest_free) + " bytes for regions\n");
	}
	return exit_ok;
}

namespace {

uint64_t total_entries(const stream &s, const std::string &path)
{
	uint64_t n = 0;
	for (auto r : s.regions())
		n += check(s.region_entry_count(r), path + ": region " + hex(r.offset));
	return n;
}

recovery_mode mode_of(const parsed_args &a)
{
	if (a.has("skip-corrupt")) { // issue 14, docs/format.md 8.7
		if (a.has("salvage"))
			fail(exit_usage, "--salvage and --skip-corrupt exclude each other");
		return recovery_mode::skip_corrupt;
	}
	return a.has("salvage") ? recovery_mode::salvage : recovery_mode::strict;
}

// The fields `info --json` and `dump --json` share.
json &stream_fields(json &j, const std::string &path, const pmemstream::stream_info &i)
{
	return j.field("file", path)
		.field("format_version", i.format_version)
		.field("size", i.size)
		.field("block_size", i.block_size)
		.field("committed_timestamp", i.committed_timestamp)
		.field("persisted_timestamp", i.persisted_timestamp);
}

} // namespace

int run_info(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	auto s = open_stream(path, false, mode_of(a));
	auto i = s->info();
	const auto &rec = s->recovery();
	uint64_t entries = total_entries(*s, path);
	if (a.has("json")) {
		json j;
		j.begin_object();
		stream_fields(j, path, i)
			.field("arena_offset", i.arena_offset)
			.field("arena_size", i.arena_size)
			.field("regions", i.region_count)
			.field("entries", entries)
			.field("allocated_bytes", i.allocated_bytes)
			.field("free_bytes", i.free_bytes)
			.field("largest_free", i.largest_free)
			.key("recovery")
			.begin_object()
			.field("torn_tails", rec.torn_tails)
			.field("trimmed_entries", rec.trimmed_entries)
			.field("damaged_regions", damaged_regions(rec))
			.field("problems", static_cast<uint64_t>(rec.problems.size()))
			.field("live_writer", rec.live_writer)
			.end_object()
			.end_object();
		out(j.str() + "\n");
		return exit_ok;
	}
	auto line = [](const char *label, const std::string &value) {
		char buf[32];
		std::snprintf(buf, sizeof(buf), "%-21s", label);
		out(std::string(buf) + value + "\n");
	};
	auto bytes = [](uint64_t v) { return std::to_string(v) + " (" + human_size(v) + ")"; };
	line("file:", path);
	line("format version:", std::to_string(i.format_version));
	line("size:", bytes(i.size));
	line("block size:", std::to_string(i.block_size));
	line("arena:", "offset " + hex(i.arena_offset) + ", " + bytes(i.arena_size));
	line("regions:", std::to_string(i.region_count));
	line("entries:", std::to_string(entries));
	line("allocated:", bytes(i.allocated_bytes));
	line("free:", bytes(i.free_bytes));
	line("largest free region:", bytes(i.largest_free));
	line("committed timestamp:", std::to_string(i.committed_timestamp));
	line("persisted timestamp:", std::to_string(i.persisted_timestamp));
	std::string r = "clean";
	if (rec.torn_tails || rec.trimmed_entries || !rec.problems.empty())
		r = std::to_string(rec.torn_tails) + " torn tail(s), " + std::to_string(rec.trimmed_entries) + " entries trimmed, " +
			std::to_string(damaged_regions(rec)) + " damaged region(s), " + std::to_string(rec.problems.size()) + " problem(s)";
	line("recovery:", r);
	if (rec.live_writer)
		line("writer:", "live (the figures are those of the moment this command opened the stream)");
	return exit_ok;
}

int run_dump(const command_spec &, const parsed_args &a)
{
	const std::string &path = a.positional[0];
	size_t nbytes = 8;
	if (auto b = a.get("bytes"))
		nbytes = static_cast<size_t>(parse_uint(*b, "dump: --bytes"));
	auto s = open_stream(path, false, mode_of(a));
	auto i = s->info();
	std::vector<pmemstream::region> regions;
	for (auto r : s->regions())
		regions.push_back(r);

	// Transactions (issue 13): each member is shown with the first timestamp of its
	// transaction, found over the whole stream (members of one are consecutive timestamps).
	std::map<uint64_t, pmemstream::tx_membership> by_ts;
	for (auto r : regions)
		for (auto &e : read_entries(*s, r, path))
			by_ts[e.timestamp] = e.tx;
	std::map<uint64_t, uint64_t> tx_of; // member timestamp -> its transaction's first timestamp
	uint64_t open_tx = 0, prev = 0;
	for (auto [ts, m] : by_ts) {
		if (!m.member) {
			open_tx = 0;
		} else {
			if (open_tx == 0 || ts != prev + 1)
				open_tx = ts;
			tx_of[ts] = open_tx;
			if (m.last)
				open_tx = 0;
		}
		prev = ts;
	}
	auto tx_label = [&](const entry_view &e) {
		if (!e.tx.member)
			return std::string();
		return " tx@" + std::to_string(tx_of[e.timestamp]) + (e.tx.last ? " end" : "");
	};

	if (a.has("json")) {
		json j;
		j.begin_object();
		stream_fields(j, path, i).key("regions").begin_array();
		for (auto r : regions) {
			auto rv = describe_region(*s, r, path);
			j.begin_object()
				.field("offset", rv.offset)
				.field("size", rv.size)
				.field("used", rv.used)
				.field("entries", rv.entries)
				.key("items")
				.begin_array();
			for (auto &e : read_entries(*s, r, path)) {
				j.begin_object()
					.field("offset", e.offset)
					.field("size", static_cast<uint64_t>(e.data.size()))
					.field("timestamp", e.timestamp)
					.field("head", to_hex(e.data.first(std::min(nbytes, e.data.size()))));
				if (e.tx.member)
					j.field("tx", tx_of[e.timestamp]).field("tx_end", e.tx.last);
				j.end_object();
			}
			j.end_array().end_object();
		}
		j.end_array().end_object();
		out(j.str() + "\n");
		return exit_ok;
	}

	out(path + ": format " + std::to_string(i.format_version) + ", " + std::to_string(i.size) + " bytes, block size " +
	    std::to_string(i.block_size) + ", " + std::to_string(regions.size()) + " region(s), committed timestamp " +
	    std::to_string(i.committed_timestamp) + "\n");
	for (size_t k = 0; k < regions.size(); k++) {
		bool last_region = k + 1 == regions.size();
		auto rv = describe_region(*s, regions[k], path);
		out(std::string(last_region ? "└── " : "├── ") + "region " + hex(rv.offset) + ": " + std::to_string(rv.size) + " bytes, " +
		    std::to_string(rv.used) + " used, " + std::to_string(rv.entries) + " entries\n");
		std::string indent = last_region ? "    " : "│   ";
		auto entries = read_entries(*s, regions[k], path);
		for (size_t n = 0; n < entries.size(); n++) {
			auto &e = entries[n];
			char buf[96];
			std::snprintf(buf, sizeof(buf), "%-10s %6zu bytes  ts %-6" PRIu64 " ", hex(e.offset).c_str(), e.data.size(),
				      e.timestamp);
			std::string line = indent + (n + 1 == entries.size() ? "└── " : "├── ") + buf + leading_bytes(e.data, nbytes) +
					   tx_label(e);
			while (line.back() == ' ')
				line.pop_back();
			out(line + "\n");
		}
	}
	return exit_ok;
}

namespace {

struct problem {
	uint64_t region;
	uint64_t entry;
	std::string what;
};

// The library's messages usually name the region and entry already; add what they do not.
std::string describe(const problem &p)
{
	std::string where;
	if (p.region && p.what.find(hex(p.region)) == std::string::npos)
		where = "region " + hex(p.region);
	if (p.entry && p.what.find(hex(p.entry)) == std::string::npos)
		where += (where.empty() ? "" : ", ") + std::string("entry ") + hex(p.entry);
	return where.empty() ? p.what : where + ": " + p.what;
}

struct walk_totals {
	uint64_t regions = 0;
	uint64_t entries = 0;
};

// Walks every region and entry through the accessors, as a reader would, and adds what it finds
// wrong to `problems`. `total` (the entries recovery found) scales the progress bar.
walk_totals walk(const stream &s, uint64_t total, bool recovery_clean, const std::string &path, std::vector<problem> &problems)
{
	uint64_t committed = s.committed_timestamp();
	uint64_t done = 0, regions = 0;
	std::vector<uint64_t> timestamps;
	progress bar("checking " + path, total);
	for (auto r : s.regions()) {
		regions++;
		auto size = s.region_size(r);
		auto free_bytes = s.region_usable_size(r);
		auto count = s.region_entry_count(r);
		auto it = s.entries(r);
		if (!size || !free_bytes || !count || !it) {
			problems.push_back({r.offset, 0, "region listed but its accessors fail"});
			continue;
		}
		uint64_t n = 0, footprint = 0, prev_ts = 0, end = 0;
		for (auto e : *it) {
			n++;
			auto data = s.entry_data(e);
			auto ts = s.entry_timestamp(e);
			if (!data || !ts) {
				problems.push_back({r.offset, e.offset, "iterator yields an entry whose accessors fail: " +
										 (data ? ts.err().message() : data.err().message())});
				continue;
			}
			footprint += pmemstream::entry_footprint(data->size());
			end = e.offset + pmemstream::entry_footprint(data->size());
			if (*ts <= prev_ts)
				problems.push_back({r.offset, e.offset, "timestamp " + std::to_string(*ts) + " not above the previous entry's " +
										std::to_string(prev_ts)});
			if (*ts > committed)
				problems.push_back({r.offset, e.offset, "timestamp " + std::to_string(*ts) +
										" above the committed watermark " + std::to_string(committed)});
			prev_ts = *ts;
			timestamps.push_back(*ts);
			bar.update(++done);
		}
		if (n != *count)
			problems.push_back({r.offset, 0, "iterator yields " + std::to_string(n) + " entries, entry count says " +
								  std::to_string(*count)});
		// The used bytes end where the last entry ends; before the first one they may hold
		// entries a prefix truncation hid, and between entries padding (abandoned
		// reservations), neither of which the iterator shows.
		const uint64_t used = *size - *free_bytes, data_start = r.offset + pmemstream::region_header_size;
		if (recovery_clean && n > 0 && (end - data_start != used || footprint > used))
			problems.push_back({r.offset, 0, "entries occupy " + std::to_string(footprint) + " bytes ending at data + " +
								  std::to_string(end - data_start) + ", region says " + std::to_string(used) + " used"});
	}
	bar.finish();
	std::sort(timestamps.begin(), timestamps.end());
	if (auto d = std::adjacent_find(timestamps.begin(), timestamps.end()); d != timestamps.end())
		problems.push_back({0, 0, "timestamp " + std::to_string(*d) + " appears more than once"});
	return {regions, done};
}

} // namespace

int run_check(const command_spec &spec, const parsed_args &a)
{
	if (a.has("repair"))
		return run_check_repair(spec, a);
	const std::string &path = a.positional[0];
	bool as_json = a.has("json");
	bool quiet = a.has("quiet");

	// Strict first: its verdict is what an application opening the file would see.
	std::string strict_error;
	{
		check_file(path);
		pmemstream::open_options o;
		o.read_only = true;
		o.verify = pmemstream::verify_mode::full; // check reads every entry (fast reopen trusts checkpoints)
		auto strict = stream::open(path, o);
		if (!strict) {
			if (strict.code() != errc::corrupt)
				fail_with(strict.err(), path);
			strict_error = strict.err().message();
		}
	}

	// Salvage shows what precedes damage; damage it cannot get past (the stream's header, say)
	// is itself the finding, reported like any other problem.
	std::unique_ptr<stream> s;
	pmemstream::recovery_report rec;
	std::vector<problem> problems;
	walk_totals totals;
	// A writer that frees a region after the open may reuse its space while the walk reads
	// it (docs/format.md 8.4): with a live writer, what the walk finds counts only if it is
	// found again after a new open, three times in all.
	for (int attempt = 0;; ++attempt) {
		s.reset();
		rec = {};
		problems.clear();
		pmemstream::open_options o;
		o.read_only = true;
		o.verify = pmemstream::verify_mode::full; // check reads every entry (fast reopen trusts checkpoints)
		o.recovery = a.has("skip-corrupt") ? recovery_mode::skip_corrupt : recovery_mode::salvage; // issue 14
		auto salvaged = stream::open(path, o);
		if (salvaged) {
			s = std::move(salvaged).value();
			rec = s->recovery();
		} else if (salvaged.code() == errc::corrupt) {
			problems.push_back({0, 0, "salvage open failed: " + salvaged.err().message()});
		} else {
			fail_with(salvaged.err(), path);
		}
		for (auto &p : rec.problems)
			problems.push_back({p.region_offset, p.entry_offset, p.what});
		const size_t found_by_recovery = problems.size();

		bool recovery_clean = rec.torn_tails == 0 && rec.trimmed_entries == 0 && rec.problems.empty();
		if (s)
			totals = walk(*s, rec.entries, recovery_clean, path, problems);
		if (problems.size() == found_by_recovery || !rec.live_writer || attempt == 2)
			break;
	}

	bool corrupt = !strict_error.empty() || !problems.empty();
	if (as_json) {
		json j;
		j.begin_object().field("file", path).key("strict_open").begin_object().field("ok", strict_error.empty());
		if (!strict_error.empty())
			j.field("error", strict_error);
		j.end_object()
			.field("regions", totals.regions)
			.field("entries", totals.entries)
			.field("torn_tails", rec.torn_tails)
			.field("trimmed_entries", rec.trimmed_entries)
			.field("damaged_regions", damaged_regions(rec))
			.field("live_writer", rec.live_writer)
			.key("problems")
			.begin_array();
		for (auto &p : problems)
			j.begin_object().field("region", p.region).field("entry", p.entry).field("what", p.what).end_object();
		j.end_array().field("clean", !corrupt).end_object();
		out(j.str() + "\n");
	} else if (!quiet) {
		out(path + ": strict open: " + (strict_error.empty() ? "ok" : "failed: " + strict_error) + "\n");
		out(path + ": " + std::to_string(totals.regions) + " region(s), " + std::to_string(totals.entries) + " entries, " +
		    std::to_string(rec.torn_tails) + " torn tail(s), " + std::to_string(rec.trimmed_entries) + " trimmed entries, " +
		    std::to_string(damaged_regions(rec)) + " damaged region(s)\n");
		if (rec.live_writer)
			out(path + ": a writer has the stream open: checked as of the moment of the open\n");
		for (auto &p : problems)
			out(path + ": problem: " + describe(p) + "\n");
		out(path + ": " + (corrupt ? "CORRUPT" : "clean") + "\n");
	}
	if (corrupt) {
		std::string first = problems.empty() ? strict_error : describe(problems.front());
		fail(exit_corrupt, "check: " + path + ": " + std::to_string(std::max<size_t>(problems.size(), 1)) +
					   " problem(s), first: " + first);
	}
	return exit_ok;
}

} // namespace cli
