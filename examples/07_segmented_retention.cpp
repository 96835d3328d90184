// SPDX-License-Identifier: BSD-3-Clause
// 07_segmented_retention (C++): an event journal with retention, in four segment regions
// used in rotation, with the three truncations of issue 14:
// - when the current segment is full, the oldest one is cleared (region_clear, O(1): no byte
//   is zeroed) and becomes the current one, so the journal keeps the newest events in bounded
//   space;
// - tentative events are rolled back with a suffix cut (region_truncate_after), as a raft
//   follower drops a diverged suffix;
// - "keep only the newest N events" is a prefix cut by timestamp in every segment
//   (region_truncate_before_timestamp; a segment with nothing newer is cleared).
// A cleared region keeps its place in region order, so the journal is read back in timestamp
// order with stream::reader(), which merges the segments.
// usage: 07_segmented_retention [file]   (the file is created if missing and kept; run it
// again on the same file and it goes on from the newest event it finds)
#include <pmemstream/stream.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

namespace ps = pmemstream;

constexpr size_t segments = 4;
constexpr uint64_t segment_size = 16 * 1024;
constexpr uint64_t events = 3000; // per run
constexpr uint64_t keep = 500;	  // the newest events kept at the end of a run

int failed(const char *what, const ps::error &e)
{
	std::fprintf(stderr, "%s: %s\n", what, e.message().c_str());
	return 1;
}

std::string text(const ps::stream &s, ps::entry e)
{
	auto d = s.entry_data(e).value();
	return std::string(reinterpret_cast<const char *>(d.data()), d.size());
}

// The event number of "event N ...", or -1 for anything else.
long long event_number(const std::string &t)
{
	return t.rfind("event ", 0) == 0 ? std::stoll(t.substr(6)) : -1;
}

// The timestamp of a segment's first entry; 0 when it is empty (the best one to reuse).
uint64_t first_timestamp(const ps::stream &s, ps::region r)
{
	auto it = s.entries(r).value();
	return it.is_valid() ? s.entry_timestamp(it.get()).value() : 0;
}

// The segment to reuse when the current one is full: the one whose entries are the oldest.
size_t oldest(const ps::stream &s, const std::vector<ps::region> &seg)
{
	size_t best = 0;
	for (size_t i = 1; i < seg.size(); ++i)
		if (first_timestamp(s, seg[i]) < first_timestamp(s, seg[best]))
			best = i;
	return best;
}

} // namespace

int main(int argc, char **argv)
{
	const bool temporary = argc < 2;
	const std::string path = temporary ? "/dev/shm/pmemstream_example_07_" + std::to_string(getpid()) : argv[1];
	auto opened = std::filesystem::exists(path) ? ps::stream::open(path)
						    : ps::stream::create(path, {.size = 1 << 20, .block_size = 4096});
	if (!opened)
		return failed(path.c_str(), opened.err());
	ps::stream &s = *opened.value();

	std::vector<ps::region> seg;
	for (ps::region r : s.regions())
		seg.push_back(r);
	if (seg.empty()) {
		for (size_t i = 0; i < segments; ++i) {
			auto r = s.region_allocate(segment_size);
			if (!r)
				return failed("region_allocate", r.err());
			seg.push_back(*r);
		}
	} else if (seg.size() != segments) {
		std::fprintf(stderr, "%s: not a journal of this example (%zu regions)\n", path.c_str(), seg.size());
		return 1;
	}

	// Go on from the newest event found, in the segment that holds it.
	long long next = 0;
	size_t cur = 0;
	uint64_t newest_ts = 0;
	auto rd = s.reader();
	for (rd.seek_first(); rd.is_valid(); rd.next()) {
		next = std::max(next, event_number(text(s, rd.get())) + 1);
		newest_ts = rd.timestamp();
		for (size_t i = 0; i < seg.size(); ++i)
			if (seg[i] == rd.get_region())
				cur = i;
	}
	const long long first_new = next;

	// Rotation: the oldest segment becomes the current one, cleared (an unused one needs no
	// clear). An event that does not fit in the current segment goes to the next one.
	uint64_t clears = 0, dropped = 0;
	auto rotate = [&]() -> bool {
		cur = oldest(s, seg);
		if (first_timestamp(s, seg[cur]) == 0)
			return true;
		auto c = s.region_clear(seg[cur]);
		if (!c) {
			failed("region_clear", c.err());
			return false;
		}
		++clears;
		dropped += *c;
		return true;
	};
	char buf[64];
	auto append_event = [&]() -> bool {
		const int n = std::snprintf(buf, sizeof(buf), "event %lld payload", next);
		auto a = s.append(seg[cur], buf, static_cast<size_t>(n));
		if (!a && a.code() == ps::errc::region_full) {
			if (!rotate())
				return false;
			a = s.append(seg[cur], buf, static_cast<size_t>(n));
		}
		if (!a) {
			failed("append", a.err());
			return false;
		}
		newest_ts = a->timestamp;
		++next;
		return true;
	};
	for (uint64_t k = 0; k < events; ++k)
		if (!append_event())
			return 1;
	std::printf("wrote %llu events into %zu segments of %llu bytes; %llu segment clears dropped %llu older events\n",
		    static_cast<unsigned long long>(events), seg.size(), static_cast<unsigned long long>(segment_size),
		    static_cast<unsigned long long>(clears), static_cast<unsigned long long>(dropped));

	// Tentative events (room for them made first: a rotation and one real event in the new
	// segment, so that the last real event is in the current one), then rolled back.
	const uint64_t tentative = 3;
	if (*s.region_usable_size(seg[cur]) < tentative * ps::entry_footprint(sizeof(buf)))
		if (!rotate() || !append_event())
			return 1;
	ps::entry last_real{};
	auto in_cur = s.entries(seg[cur]); // kept in a variable: the range-for reads from it
	if (!in_cur)
		return failed("entries", in_cur.err());
	for (ps::entry e : *in_cur)
		last_real = e;
	for (uint64_t k = 0; k < tentative; ++k) {
		const int n = std::snprintf(buf, sizeof(buf), "tentative %llu", static_cast<unsigned long long>(k));
		if (auto a = s.append(seg[cur], buf, static_cast<size_t>(n)); !a)
			return failed("append", a.err());
	}
	auto rolled = s.region_truncate_after(seg[cur], last_real);
	if (!rolled)
		return failed("region_truncate_after", rolled.err());
	std::printf("rolled back %llu tentative events\n", static_cast<unsigned long long>(*rolled));

	// Retention: keep the newest `keep` events. Their timestamps are the last ones handed out
	// to events (the rolled back ones are gone), so the cut is the timestamp `keep` events back
	// in the merged order.
	std::vector<uint64_t> ts;
	for (rd.seek_first(); rd.is_valid(); rd.next())
		ts.push_back(rd.timestamp());
	uint64_t cut_events = 0;
	if (ts.size() > keep) {
		const uint64_t cut = ts[ts.size() - keep];
		for (ps::region r : seg) {
			auto c = s.region_truncate_before_timestamp(r, cut);
			if (!c)
				return failed("region_truncate_before_timestamp", c.err());
			cut_events += *c;
		}
	}
	std::printf("kept the newest %llu events: cut %llu older ones\n", static_cast<unsigned long long>(keep),
		    static_cast<unsigned long long>(cut_events));

	// Read back in timestamp order: consecutive event numbers, increasing timestamps, ending
	// with the newest event written.
	long long first = -1, prev = -1;
	uint64_t count = 0, gaps = 0, prev_ts = 0;
	for (rd.seek_first(); rd.is_valid(); rd.next()) {
		const long long e = event_number(text(s, rd.get()));
		if (e < 0 || (prev >= 0 && e != prev + 1) || rd.timestamp() <= prev_ts)
			++gaps;
		if (first < 0)
			first = e;
		prev = e;
		prev_ts = rd.timestamp();
		++count;
	}
	std::printf("replay in timestamp order: %llu events, %lld..%lld, %llu gaps%s\n", static_cast<unsigned long long>(count),
		    first, prev, static_cast<unsigned long long>(gaps),
		    prev == next - 1 && prev_ts == newest_ts && first_new <= prev ? "; ends with the newest event" : "; WRONG END");
	opened.value().reset();
	if (temporary)
		std::filesystem::remove(path);
	return gaps == 0 && prev == next - 1 ? 0 : 1;
}
