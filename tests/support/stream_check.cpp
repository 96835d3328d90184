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

std::string in_flight_text(const std::vector<pending_op> &ops)
{
	if (ops.empty())
		return "nothing";
	if (ops.size() == 1)
		return kind_text(ops[0]);
	return std::to_string(ops.size()) + " operations";
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
	auto at = std::upper_bound(mr->entries.begin(), mr->entries.end(), e.offset,
				   [](uint64_t off, const model_entry &x) { return off < x.offset; });
	mr->entries.insert(at, model_entry{e.offset, timestamp, {data.begin(), data.end()}});
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
	expectation x{m, {}, 0};
	if (op.kind != op_kind::none) {
		x.in_flight.push_back(op);
		if (op.kind == op_kind::append)
			x.in_flight.back().floor = std::max(op.floor, m.last_timestamp);
	}
	return check_stream(s, x, observed);
}

std::vector<std::string> check_stream(const stream &s, const expectation &x, stream_model *observed)
{
	const stream_model &m = x.acked;
	std::vector<std::string> v;
	stream_model seen = read_stream(s, v);

	const pending_op *allocating = nullptr, *freeing = nullptr;
	for (const auto &op : x.in_flight) {
		if (op.kind == op_kind::allocate)
			allocating = &op;
		else if (op.kind == op_kind::free)
			freeing = &op;
	}
	// Timestamps the model knows the owner of: no other operation's entry may carry one.
	std::set<uint64_t> known_ts;
	for (const auto &r : m.regions)
		for (const auto &e : r.entries)
			known_ts.insert(e.timestamp);
	for (const auto &op : x.in_flight)
		if (op.kind == op_kind::append && op.timestamp != 0)
			known_ts.insert(op.timestamp);
	std::vector<bool> used(x.in_flight.size(), false);
	const std::string flight = in_flight_text(x.in_flight);

	// An entry beyond the acknowledged ones must be an append in flight to its region: the one
	// the library put at that offset, or one not yet committed with these bytes and a
	// timestamp above its floor. Returns its index, or -1.
	auto in_flight_entry = [&](uint64_t region, const model_entry &g) -> ptrdiff_t {
		for (size_t i = 0; i < x.in_flight.size(); ++i) {
			const pending_op &op = x.in_flight[i];
			if (!used[i] && op.kind == op_kind::append && op.region == region && op.offset == g.offset)
				return op.data == g.data && op.timestamp == g.timestamp ? static_cast<ptrdiff_t>(i) : -1;
		}
		for (size_t i = 0; i < x.in_flight.size(); ++i) {
			const pending_op &op = x.in_flight[i];
			if (!used[i] && op.kind == op_kind::append && op.region == region && op.offset == 0 && op.data == g.data &&
			    g.timestamp > op.floor && !known_ts.count(g.timestamp))
				return static_cast<ptrdiff_t>(i);
		}
		return -1;
	};

	// Entries of one region present in model and stream: every acknowledged one exactly, in
	// offset order, and between or after them only appends in flight.
	auto check_entries = [&](const model_region &want, const model_region &got) {
		const auto &we = want.entries;
		const auto &ge = got.entries;
		size_t k = 0;
		for (size_t j = 0; j < ge.size(); ++j) {
			const model_entry &g = ge[j];
			if (j > 0 && g.timestamp <= ge[j - 1].timestamp) {
				v.push_back(where(got.offset, g.offset) + ": timestamp " + std::to_string(g.timestamp) +
					    " not above the previous entry's " + std::to_string(ge[j - 1].timestamp));
				return;
			}
			if (k < we.size() && we[k].offset == g.offset) {
				if (!(we[k] == g)) {
					v.push_back(where(got.offset, g.offset) + ": entry #" + std::to_string(j) +
						    " differs from the acknowledged one (ts " + std::to_string(g.timestamp) + " vs " +
						    std::to_string(we[k].timestamp) + ", offset " + hex(we[k].offset) + ", size " +
						    std::to_string(g.data.size()) + " vs " + std::to_string(we[k].data.size()) + ")");
					return;
				}
				++k;
				continue;
			}
			if (k < we.size() && we[k].offset < g.offset)
				break; // lost, reported below
			const ptrdiff_t i = in_flight_entry(got.offset, g);
			if (i < 0) {
				v.push_back(where(got.offset, g.offset) + ": " + std::to_string(ge.size() - j) +
					    " unacknowledged entries visible (ts " + std::to_string(g.timestamp) + ", size " +
					    std::to_string(g.data.size()) + "; in flight: " + flight + ", last acknowledged ts " +
					    std::to_string(m.last_timestamp) + ")");
				return;
			}
			used[static_cast<size_t>(i)] = true;
		}
		if (k < we.size())
			v.push_back(where(got.offset) + ": lost " + std::to_string(we.size() - k) + " acknowledged entries (first ts " +
				    std::to_string(we[k].timestamp) + ")");
	};

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
			check_entries(*want, *got);
			++i;
			++j;
		} else if (want && freeing && freeing->region == want->offset && (got == nullptr || got->offset != want->offset)) {
			freed_in_flight = true;
			++i;
		} else if (want) {
			v.push_back(where(want->offset) + ": acknowledged region missing or out of order");
			++i;
		} else {
			const bool may = allocating && j + 1 == seen.regions.size() && got->entries.empty() && got->size >= allocating->size;
			if (!may)
				v.push_back(where(got->offset) + ": unacknowledged region visible");
			++j;
		}
	}

	// Timestamps: visible ones plus those of freed regions are 1..T without holes, and T is at
	// least the last acknowledged one and the persisted watermark observed.
	std::set<uint64_t> gone = m.gone;
	if (freed_in_flight)
		for (const auto &e : m.find(freeing->region)->entries)
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
		for (uint64_t t = 1; t <= std::max(top, x.persisted); ++t) {
			if (k < ts.size() && ts[k] == t) {
				++k;
				continue;
			}
			if (gone.count(t))
				continue;
			if (t < top)
				v.push_back("timestamp hole: " + std::to_string(t) + " missing below " + std::to_string(top));
			else
				v.push_back("timestamp " + std::to_string(t) + " missing, but the persisted watermark " +
					    std::to_string(x.persisted) + " was observed before the crash");
			break;
		}
	}
	// Committed in flight and covered by the watermark: present at its offset (matched above).
	for (size_t k = 0; k < x.in_flight.size(); ++k) {
		const pending_op &op = x.in_flight[k];
		if (op.kind == op_kind::append && op.timestamp != 0 && op.timestamp <= x.persisted && !used[k] &&
		    seen.find(op.region) != nullptr)
			v.push_back(where(op.region, op.offset) + ": entry ts " + std::to_string(op.timestamp) +
				    " missing or altered, below the persisted watermark " + std::to_string(x.persisted));
	}
	if (s.committed_timestamp() < top)
		v.push_back("committed_timestamp " + std::to_string(s.committed_timestamp()) + " below visible " + std::to_string(top));
	if (s.committed_timestamp() < s.persisted_timestamp())
		v.push_back("committed_timestamp " + std::to_string(s.committed_timestamp()) + " below persisted_timestamp " +
			    std::to_string(s.persisted_timestamp()));

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
