// SPDX-License-Identifier: BSD-3-Clause
// The recovery report (stream::recovery()) for C callers (issue 14): the scalars in one
// structure, the problems, dropped cuts and skipped ranges by index. Every structure starts
// with the caller's size so that it can grow: a caller built against an older header gets
// what it knows of, a newer one learns from size what this library filled.
#include "c_api.hpp"

#include <cstddef>
#include <cstring>
#include <string>

using namespace pmemstream::c_api;

// The first versions' sizes, which the header promises as minimums: never change them.
static_assert(sizeof(pmemstream_recovery_report) == 88);
static_assert(sizeof(pmemstream_recovery_problem) == 32);
static_assert(sizeof(pmemstream_recovery_dropped) == 64);
static_assert(sizeof(pmemstream_recovery_skipped) == 40);

namespace {

// Checks the common arguments; on success the caller fills a zeroed `T` and calls deliver().
// (The messages allocate: the callers run under guarded().)
template <typename T>
int check(const char *fn, handle *stream, const T *out)
{
	if (!stream)
		return invalid_argument((std::string(fn) + ": stream is NULL").c_str());
	if (!out)
		return invalid_argument((std::string(fn) + ": the output structure is NULL").c_str());
	if (out->size < sizeof(T))
		return invalid_argument((std::string(fn) + ": size is " + std::to_string(out->size) + ", below " +
					 std::to_string(sizeof(T)) + " (sizeof the structure's first version)")
						.c_str());
	return 0;
}

int index_check(const char *fn, uint64_t index, size_t count, const char *what)
{
	if (index < count)
		return 0;
	return invalid_argument((std::string(fn) + ": index " + std::to_string(index) + " is out of range (the report has " +
				 std::to_string(count) + " " + what + ")")
					.c_str());
}

// Copies `v` (its size set to what this library fills) into the caller's structure and zeroes
// the caller's bytes beyond it.
template <typename T>
int deliver(T *out, T v)
{
	const uint64_t caller = out->size;
	v.size = sizeof(T);
	std::memcpy(out, &v, sizeof(T));
	if (caller > sizeof(T))
		std::memset(reinterpret_cast<unsigned char *>(out) + sizeof(T), 0, caller - sizeof(T));
	return 0;
}

} // namespace

extern "C" {

int pmemstream_recovery_get_report_errc(handle *stream, struct pmemstream_recovery_report *report)
{
	return guarded([&] {
		if (int rc = check("pmemstream_recovery_get_report", stream, report))
			return rc;
		const auto &r = cpp(stream)->recovery();
		pmemstream_recovery_report v{};
		v.regions = r.regions;
		v.entries = r.entries;
		v.torn_tails = r.torn_tails;
		v.trimmed_entries = r.trimmed_entries;
		v.checkpointed_regions = r.checkpointed_regions;
		v.repair_cut = r.repair_cut;
		v.problem_count = r.problems.size();
		v.dropped_count = r.dropped.size();
		v.skipped_count = r.skipped.size();
		v.live_writer = r.live_writer ? 1 : 0;
		return deliver(report, v);
	});
}

int pmemstream_recovery_get_report(handle *stream, struct pmemstream_recovery_report *report)
{
	return drop_in(pmemstream_recovery_get_report_errc(stream, report));
}

int pmemstream_recovery_get_problem_errc(handle *stream, uint64_t index, struct pmemstream_recovery_problem *problem)
{
	return guarded([&] {
		constexpr const char *fn = "pmemstream_recovery_get_problem";
		if (int rc = check(fn, stream, problem))
			return rc;
		const auto &all = cpp(stream)->recovery().problems;
		if (int rc = index_check(fn, index, all.size(), "problems"))
			return rc;
		const auto &p = all[index];
		pmemstream_recovery_problem v{};
		v.region_offset = p.region_offset;
		v.entry_offset = p.entry_offset;
		v.what = p.what.c_str();
		return deliver(problem, v);
	});
}

int pmemstream_recovery_get_problem(handle *stream, uint64_t index, struct pmemstream_recovery_problem *problem)
{
	return drop_in(pmemstream_recovery_get_problem_errc(stream, index, problem));
}

int pmemstream_recovery_get_dropped_errc(handle *stream, uint64_t index, struct pmemstream_recovery_dropped *dropped)
{
	return guarded([&] {
		constexpr const char *fn = "pmemstream_recovery_get_dropped";
		if (int rc = check(fn, stream, dropped))
			return rc;
		const auto &all = cpp(stream)->recovery().dropped;
		if (int rc = index_check(fn, index, all.size(), "dropped regions"))
			return rc;
		const auto &d = all[index];
		pmemstream_recovery_dropped v{};
		v.region_offset = d.region_offset;
		v.offset = d.offset;
		v.entries = d.entries;
		v.first_timestamp = d.first_timestamp;
		v.last_timestamp = d.last_timestamp;
		v.damaged = d.damaged ? 1 : 0;
		v.why = d.why.c_str();
		return deliver(dropped, v);
	});
}

int pmemstream_recovery_get_dropped(handle *stream, uint64_t index, struct pmemstream_recovery_dropped *dropped)
{
	return drop_in(pmemstream_recovery_get_dropped_errc(stream, index, dropped));
}

int pmemstream_recovery_get_skipped_errc(handle *stream, uint64_t index, struct pmemstream_recovery_skipped *skipped)
{
	return guarded([&] {
		constexpr const char *fn = "pmemstream_recovery_get_skipped";
		if (int rc = check(fn, stream, skipped))
			return rc;
		const auto &all = cpp(stream)->recovery().skipped;
		if (int rc = index_check(fn, index, all.size(), "skipped ranges"))
			return rc;
		const auto &k = all[index];
		pmemstream_recovery_skipped v{};
		v.region_offset = k.region_offset;
		v.offset = k.offset;
		v.bytes = k.bytes;
		v.why = k.why.c_str();
		return deliver(skipped, v);
	});
}

int pmemstream_recovery_get_skipped(handle *stream, uint64_t index, struct pmemstream_recovery_skipped *skipped)
{
	return drop_in(pmemstream_recovery_get_skipped_errc(stream, index, skipped));
}

} // extern "C"
