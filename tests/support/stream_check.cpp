// SPDX-License-Identifier: BSD-3-Clause
#include "stream_check.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

namespace pmemstream::test {
namespace {

std::string hex(uint64_t v)
{
	char buf[32];
	std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
	return buf;
}

std::string where(uint64_t region, uint64_t entry = 0)
{
	std::string s = "region " + hex(region);
	if (entry != 0)
		s += " entry " + hex(entry);
	return s;
}

std::string kind_text(const pending_op &op)
{
	switch (op.kind) {
	case op_kind::none:
		return "nothing";
	case op_kind::allocate:
		return "allocate " + std::to_string(op.size);
	case op_kind::free:
		return "free " + hex(op.region);
	case op_kind::append:
		return "append of " + std::to_string(op.data.size()) + " bytes to " + hex(op.region);
	}
	return "?";
}

} // namespace

model_region *stream_model::find(uint64_t offset)
{
	for (auto &r : regions)
		if (r.offset == offset)
			return &r;
	return nullptr;
}

const model_region *stream_model::find(uint64_t offset) const
{
	for (const auto &r : regions)
		if (r.offset == offset)
			return &r;
	return nullptr;
}

void stream_model::allocated(region r, uint64_t size)
{
	regions.push_back(model_region{r.offset, size, {}});
}

void stream_model::appended(region r, entry e, uint64_t timestamp, std::span<const std::byte> data)
{
	model_region *mr = find(r.offset);
	if (mr == nullptr)
		return;
	mr->entries.push_back(model_entry{e.offset, timestamp, {data.begin(), data.end()}});
	last_timestamp = std::max(last_timestamp, timestamp);
}

void stream_model::freed(region r)
{
	auto it = std::find_if(regions.begin(), regions.end(), [&](const model_region &x) { return x.offset == r.offset; });
	if (it == regions.end())
		return;
	for (const auto &e : it->entries)
		gone.insert(e.timestamp);
	regions.erase(it);
}

std::vector<std::byte> make_payload(std::mt19937_64 &rng, uint64_t size)
{
	std::vector<std::byte> d(size);
	for (uint64_t i = 0; i < size; i += 8) {
		const uint64_t v = rng();
		std::memcpy(d.data() + i, &v, std::min<uint64_t>(8, size - i));
	}
	return d;
}

stream_model read_stream(const stream &s, std::vector<std::string> &violations, bool salvaged)
{
	stream_model out;
	const stream_info inf = s.info();
	const uint64_t region_limit = inf.arena_size / 128 + 2;
	uint64_t n = 0;
	auto rit = s.regions();
	for (rit.seek_first(); rit.is_valid(); rit.next()) {
		if (++n > region_limit) {
			violations.push_back("region iteration does not end");
			break;
		}
		const region r = rit.get();
		model_region mr{r.offset, 0, {}};
		auto size = s.region_size(r);
		if (!size) {
			violations.push_back(where(r.offset) + ": region_size failed: " + size.err().message());
			continue;
		}
		mr.size = *size;
		auto eit = s.entries(r);
		if (!eit) {
			violations.push_back(where(r.offset) + ": entries() failed: " + eit.err().message());
			continue;
		}
		const uint64_t entry_limit = mr.size / 16 + 2;
		uint64_t k = 0;
		for (eit->seek_first(); eit->is_valid(); eit->next()) {
			if (++k > entry_limit) {
				violations.push_back(where(r.offset) + ": entry iteration does not end");
				break;
			}
			const entry e = eit->get();
			auto data = s.entry_data(e);
			auto ts = s.entry_timestamp(e);
			auto sz = s.entry_size(e);
			auto er = s.entry_region(e);
			if (!data || !ts || !sz || !er) {
				violations.push_back(where(r.offset, e.offset) + ": an accessor failed on an iterated entry");
				continue;
			}
			if (*sz != data->size() || !(*er == r))
				violations.push_back(where(r.offset, e.offset) + ": entry_size/entry_region disagree");
			if (e.offset < r.offset + region_header_size || e.offset + entry_footprint(*sz) > r.offset + region_header_size + mr.size)
				violations.push_back(where(r.offset, e.offset) + ": entry lies outside its region");
			mr.entries.push_back(model_entry{e.offset, *ts, {data->begin(), data->end()}});
			out.last_timestamp = std::max(out.last_timestamp, *ts);
		}
		auto cnt = s.region_entry_count(r);
		if (!cnt || *cnt != mr.entries.size())
			violations.push_back(where(r.offset) + ": region_entry_count disagrees with iteration");
		out.regions.push_back(std::move(mr));
	}

	// Regions lie in the arena without overlapping; the arena is regions plus free space.
	std::vector<std::pair<uint64_t, uint64_t>> spans;
	uint64_t allocated = 0;
	for (const auto &r : out.regions) {
		spans.emplace_back(r.offset, r.offset + region_header_size + r.size);
		allocated += region_header_size + r.size;
	}
	std::sort(spans.begin(), spans.end());
	for (size_t i = 0; i < spans.size(); ++i) {
		if (spans[i].first < inf.arena_offset || spans[i].second > inf.arena_offset + inf.arena_size)
			violations.push_back(where(spans[i].first) + ": region outside the arena");
		if (i > 0 && spans[i].first < spans[i - 1].second)
			violations.push_back(where(spans[i].first) + ": region overlaps " + where(spans[i - 1].first));
	}
	if (inf.region_count != out.regions.size())
		violations.push_back("info().region_count " + std::to_string(inf.region_count) + " but " +
				     std::to_string(out.regions.size()) + " regions iterated");
	if (inf.allocated_bytes != allocated)
		violations.push_back("info().allocated_bytes " + std::to_string(inf.allocated_bytes) + " but regions hold " +
				     std::to_string(allocated));
	if (!salvaged && inf.allocated_bytes + inf.free_bytes != inf.arena_size)
		violations.push_back("arena space lost: allocated " + std::to_string(inf.allocated_bytes) + " + free " +
				     std::to_string(inf.free_bytes) + " != " + std::to_string(inf.arena_size));
	return out;
}

std::vector<std::string> check_stream(const stream &s, const stream_model &m, const pending_op &op, stream_model *observed)
{
	std::vector<std::string> v;
	stream_model seen = read_stream(s, v);

	// Regions: the acknowledged ones in order, minus the one being freed (maybe), plus the
	// one being allocated (maybe, last).
	size_t i = 0, j = 0;
	bool freed_in_flight = false;
	while (i < m.regions.size() || j < seen.regions.size()) {
		const model_region *want = i < m.regions.size() ? &m.regions[i] : nullptr;
		const model_region *got = j < seen.regions.size() ? &seen.regions[j] : nullptr;
		if (want && got && want->offset == got->offset) {
			if (want->size != got->size)
				v.push_back(where(got->offset) + ": size " + std::to_string(got->size) + ", acknowledged " +
					    std::to_string(want->size));
			// Entries: the acknowledged ones exactly, then at most the one in flight.
			const auto &we = want->entries;
			const auto &ge = got->entries;
			size_t k = 0;
			for (; k < we.size() && k < ge.size(); ++k) {
				if (!(we[k] == ge[k])) {
					v.push_back(where(got->offset, ge[k].offset) + ": entry #" + std::to_string(k) +
						    " differs from the acknowledged one (ts " + std::to_string(ge[k].timestamp) +
						    " vs " + std::to_string(we[k].timestamp) + ", offset " +
						    hex(we[k].offset) + ", size " + std::to_string(ge[k].data.size()) + " vs " +
						    std::to_string(we[k].data.size()) + ")");
					break;
				}
			}
			if (k == ge.size() && k < we.size())
				v.push_back(where(got->offset) + ": lost " + std::to_string(we.size() - k) +
					    " acknowledged entries (first ts " + std::to_string(we[k].timestamp) + ")");
			if (k == we.size() && ge.size() > we.size()) {
				const bool may = op.kind == op_kind::append && op.region == got->offset && ge.size() == we.size() + 1 &&
						 ge.back().data == op.data && ge.back().timestamp > m.last_timestamp;
				if (!may)
					v.push_back(where(got->offset, ge[k].offset) + ": " + std::to_string(ge.size() - we.size()) +
						    " unacknowledged entries visible (ts " + std::to_string(ge[k].timestamp) +
						    ", size " + std::to_string(ge[k].data.size()) + "; in flight: " + kind_text(op) +
						    ", last acknowledged ts " + std::to_string(m.last_timestamp) + ")");
			}
			++i;
			++j;
		} else if (want && op.kind == op_kind::free && op.region == want->offset &&
			   (got == nullptr || got->offset != want->offset)) {
			freed_in_flight = true;
			++i;
		} else if (want) {
			v.push_back(where(want->offset) + ": acknowledged region missing or out of order");
			++i;
		} else {
			const bool may = op.kind == op_kind::allocate && j + 1 == seen.regions.size() && got->entries.empty() &&
					 got->size >= op.size;
			if (!may)
				v.push_back(where(got->offset) + ": unacknowledged region visible");
			++j;
		}
	}

	// Timestamps: visible ones plus those of freed regions are 1..T without holes, and T is at
	// least the last acknowledged one.
	std::set<uint64_t> gone = m.gone;
	if (freed_in_flight)
		for (const auto &e : m.find(op.region)->entries)
			gone.insert(e.timestamp);
	std::vector<uint64_t> ts;
	for (const auto &r : seen.regions)
		for (const auto &e : r.entries)
			ts.push_back(e.timestamp);
	std::sort(ts.begin(), ts.end());
	for (size_t k = 1; k < ts.size(); ++k)
		if (ts[k] == ts[k - 1])
			v.push_back("timestamp " + std::to_string(ts[k]) + " visible twice");
	for (uint64_t t : ts)
		if (gone.count(t))
			v.push_back("timestamp " + std::to_string(t) + " of a freed region visible");
	const uint64_t top = ts.empty() ? 0 : ts.back();
	{
		size_t k = 0;
		for (uint64_t t = 1; t <= top; ++t) {
			if (k < ts.size() && ts[k] == t) {
				++k;
				continue;
			}
			if (!gone.count(t)) {
				v.push_back("timestamp hole: " + std::to_string(t) + " missing below " + std::to_string(top));
				break;
			}
		}
	}
	if (s.committed_timestamp() < top)
		v.push_back("committed_timestamp " + std::to_string(s.committed_timestamp()) + " below visible " + std::to_string(top));

	if (observed) {
		// Recovery may retire timestamps of trimmed entries (they are never handed out again):
		// everything up to the committed watermark that is not visible is gone for good.
		for (uint64_t t = top + 1; t <= s.committed_timestamp(); ++t)
			gone.insert(t);
		*observed = std::move(seen);
		observed->gone = std::move(gone);
		observed->last_timestamp = std::max({observed->last_timestamp, m.last_timestamp, top, s.committed_timestamp()});
	}
	return v;
}

} // namespace pmemstream::test
