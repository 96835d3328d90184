// SPDX-License-Identifier: BSD-3-Clause
// A rapidcheck state machine: random sequences of allocate, free, append, reserve/publish and
// reopen run against a simple in-memory model, and after every step everything a reader can
// observe (regions in order, sizes, space left, entries, bytes, timestamps) must match it.
#include "test_util.hpp"

#include <algorithm>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/state.h>

using namespace pmemstream;

namespace {

constexpr uint64_t block = 256;

struct model_entry {
	uint64_t ts;
	std::vector<std::byte> data;
};

struct model_region {
	uint64_t capacity;
	uint64_t used = 0;
	std::vector<model_entry> entries;
};

struct model {
	std::vector<model_region> regions; // allocation order
	uint64_t next_ts = 1;
};

struct sut {
	std::string path;
	std::unique_ptr<stream> s;
	std::vector<region> handles; // parallel to model::regions
};

uint64_t capacity_for(uint64_t request)
{
	// With blocks >= 128 bytes a split remainder is always a whole span, so a region gets
	// exactly its request plus header rounded up to blocks.
	return (request + region_header_size + block - 1) / block * block - region_header_size;
}

void check_equal(const model &m, const sut &u)
{
	const stream &s = *u.s;
	std::vector<region> order;
	for (auto r : s.regions())
		order.push_back(r);
	RC_ASSERT(order == u.handles);
	for (size_t i = 0; i < m.regions.size(); ++i) {
		const auto &mr = m.regions[i];
		RC_ASSERT(*s.region_size(u.handles[i]) == mr.capacity);
		RC_ASSERT(*s.region_usable_size(u.handles[i]) == mr.capacity - mr.used);
		RC_ASSERT(*s.region_entry_count(u.handles[i]) == mr.entries.size());
		size_t k = 0;
		for (auto e : *s.entries(u.handles[i])) {
			RC_ASSERT(k < mr.entries.size());
			RC_ASSERT(*s.entry_timestamp(e) == mr.entries[k].ts);
			RC_ASSERT(test::to_vec(*s.entry_data(e)) == mr.entries[k].data);
			++k;
		}
		RC_ASSERT(k == mr.entries.size());
	}
	RC_ASSERT(s.committed_timestamp() == m.next_ts - 1);
	RC_ASSERT(s.persisted_timestamp() == m.next_ts - 1);
}

using command = rc::state::Command<model, sut>;

struct allocate : command {
	uint64_t size = *rc::gen::inRange<uint64_t>(1, 6000);
	void checkPreconditions(const model &m) const override
	{
		RC_PRE(m.regions.size() < 40u);
	}
	void apply(model &m) const override
	{
		m.regions.push_back({capacity_for(size), 0, {}});
	}
	void run(const model &m, sut &u) const override
	{
		auto r = u.s->region_allocate(size);
		RC_ASSERT(r.has_value());
		u.handles.push_back(*r);
		model next = m;
		apply(next);
		check_equal(next, u);
	}
	void show(std::ostream &os) const override
	{
		os << "allocate(" << size << ")";
	}
};

struct free_region : command {
	size_t pick = *rc::gen::inRange<size_t>(0, 1000);
	void checkPreconditions(const model &m) const override
	{
		RC_PRE(!m.regions.empty());
	}
	void apply(model &m) const override
	{
		m.regions.erase(m.regions.begin() + static_cast<long>(pick % m.regions.size()));
	}
	void run(const model &m, sut &u) const override
	{
		const size_t i = pick % m.regions.size();
		RC_ASSERT(u.s->region_free(u.handles[i]).has_value());
		RC_ASSERT(u.s->region_size(u.handles[i]).code() == errc::invalid_handle);
		u.handles.erase(u.handles.begin() + static_cast<long>(i));
		model next = m;
		apply(next);
		check_equal(next, u);
	}
	void show(std::ostream &os) const override
	{
		os << "free(#" << pick << ")";
	}
};

struct append_entry : command {
	size_t pick = *rc::gen::inRange<size_t>(0, 1000);
	uint64_t size = *rc::gen::oneOf(rc::gen::inRange<uint64_t>(0, 80), rc::gen::inRange<uint64_t>(0, 3000));
	unsigned seed = *rc::gen::arbitrary<unsigned>();
	bool fits(const model &m) const
	{
		const auto &r = m.regions[pick % m.regions.size()];
		return entry_footprint(size) <= r.capacity - r.used;
	}
	void checkPreconditions(const model &m) const override
	{
		RC_PRE(!m.regions.empty());
	}
	void apply(model &m) const override
	{
		if (!fits(m))
			return;
		auto &r = m.regions[pick % m.regions.size()];
		r.entries.push_back({m.next_ts++, test::pattern(size, seed)});
		r.used += entry_footprint(size);
	}
	void run(const model &m, sut &u) const override
	{
		auto e = u.s->append(u.handles[pick % m.regions.size()], test::pattern(size, seed));
		if (fits(m)) {
			RC_ASSERT(e.has_value());
			RC_ASSERT(*u.s->entry_timestamp(*e) == m.next_ts);
		} else {
			RC_ASSERT(e.code() == errc::region_full);
		}
		model next = m;
		apply(next);
		check_equal(next, u);
	}
	void show(std::ostream &os) const override
	{
		os << "append(#" << pick << ", " << size << " bytes)";
	}
};

struct reserve_publish : command {
	size_t pick = *rc::gen::inRange<size_t>(0, 1000);
	uint64_t reserved = *rc::gen::inRange<uint64_t>(0, 500);
	uint64_t published = *rc::gen::inRange<uint64_t>(0, 501);
	unsigned seed = *rc::gen::arbitrary<unsigned>();
	uint64_t size() const
	{
		return std::min(reserved, published);
	}
	bool fits(const model &m) const
	{
		const auto &r = m.regions[pick % m.regions.size()];
		return entry_footprint(reserved) <= r.capacity - r.used;
	}
	void checkPreconditions(const model &m) const override
	{
		RC_PRE(!m.regions.empty());
	}
	void apply(model &m) const override
	{
		if (!fits(m))
			return;
		auto &r = m.regions[pick % m.regions.size()];
		r.entries.push_back({m.next_ts++, test::pattern(size(), seed)});
		r.used += entry_footprint(size());
	}
	void run(const model &m, sut &u) const override
	{
		const region h = u.handles[pick % m.regions.size()];
		auto res = u.s->reserve(h, reserved);
		if (!fits(m)) {
			RC_ASSERT(res.code() == errc::region_full);
		} else {
			RC_ASSERT(res.has_value());
			auto data = test::pattern(size(), seed);
			if (!data.empty())
				std::memcpy(res->data, data.data(), data.size());
			RC_ASSERT(u.s->publish(h, res->ent, size()).has_value());
		}
		model next = m;
		apply(next);
		check_equal(next, u);
	}
	void show(std::ostream &os) const override
	{
		os << "reserve(#" << pick << ", " << reserved << ") publish(" << size() << ")";
	}
};

struct reopen : command {
	bool read_only_first = *rc::gen::arbitrary<bool>();
	void apply(model &) const override
	{
	}
	void run(const model &m, sut &u) const override
	{
		u.s.reset();
		if (read_only_first) {
			auto ro = stream::open(u.path, {.read_only = true});
			RC_ASSERT(ro.has_value());
			sut view{u.path, std::move(*ro), u.handles};
			check_equal(m, view);
		}
		auto s = stream::open(u.path, {.block_size = block});
		RC_ASSERT(s.has_value());
		u.s = std::move(*s);
		RC_ASSERT(u.s->recovery().trimmed_entries == 0u);
		check_equal(m, u);
	}
	void show(std::ostream &os) const override
	{
		os << "reopen" << (read_only_first ? " (read-only first)" : "");
	}
};

} // namespace

TEST(property, stream_matches_model_under_random_operations)
{
	const bool ok = rc::check("stream matches model", [] {
		test::temp_file f("prop");
		sut u{f.path, stream::create(f.path, {2 << 20, block}).value(), {}};
		model m;
		rc::state::check(m, u,
				 rc::state::gen::execOneOfWithArgs<allocate, allocate, free_region, append_entry, append_entry,
								    append_entry, reserve_publish, reopen>());
	});
	EXPECT_TRUE(ok);
}

// The allocator in an arena that fills up: random allocations (sizes of 1 to 30 blocks) and
// frees of 64 KiB of blocks of 256 bytes, reopened now and then. An allocation must succeed
// exactly when `largest_free` says a region of its size fits (steering away from freed space
// never refuses one), fail with out_of_space otherwise; live regions never overlap, tile the
// arena with the free bytes, and come back the same after a reopen.
TEST(property, allocation_fails_only_when_no_free_span_fits)
{
	const bool ok = rc::check("allocation in a full arena", [] {
		test::temp_file f("prop_alloc");
		auto s = stream::create(f.path, {4096 + (64u << 10), block}).value();
		struct live {
			region r;
			uint64_t size; // region_size
		};
		std::vector<live> regions;
		const auto ops = *rc::gen::container<std::vector<std::pair<int, uint32_t>>>(
			rc::gen::pair(rc::gen::inRange(0, 10), rc::gen::inRange<uint32_t>(1, 30 * block)));
		for (const auto &[kind, arg] : ops) {
			if (kind < 6) {
				const uint64_t room = s->info().largest_free;
				auto r = s->region_allocate(arg);
				if (arg <= room) {
					RC_ASSERT(r.has_value());
					RC_ASSERT(*s->region_size(*r) >= arg);
					regions.push_back({*r, *s->region_size(*r)});
				} else {
					RC_ASSERT(!r.has_value());
					RC_ASSERT(r.code() == errc::out_of_space);
				}
			} else if (kind < 9) {
				if (regions.empty())
					continue;
				const size_t i = arg % regions.size();
				RC_ASSERT(s->region_free(regions[i].r).has_value());
				regions.erase(regions.begin() + static_cast<long>(i));
			} else {
				s.reset();
				s = stream::open(f.path, {.block_size = block}).value();
			}
			// Disjoint spans inside the arena, which regions and free spans tile.
			const stream_info in = s->info();
			std::vector<std::pair<uint64_t, uint64_t>> spans;
			uint64_t held = 0;
			for (const live &l : regions) {
				RC_ASSERT(*s->region_size(l.r) == l.size);
				spans.push_back({l.r.offset, l.r.offset + region_header_size + l.size});
				held += region_header_size + l.size;
			}
			std::sort(spans.begin(), spans.end());
			for (size_t i = 0; i < spans.size(); ++i) {
				RC_ASSERT(spans[i].first >= in.arena_offset);
				RC_ASSERT(spans[i].second <= in.arena_offset + in.arena_size);
				if (i > 0)
					RC_ASSERT(spans[i - 1].second <= spans[i].first);
			}
			RC_ASSERT(in.region_count == regions.size());
			RC_ASSERT(in.allocated_bytes == held);
			RC_ASSERT(in.allocated_bytes + in.free_bytes == in.arena_size);
		}
	});
	EXPECT_TRUE(ok);
}
