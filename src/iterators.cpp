// SPDX-License-Identifier: BSD-3-Clause
// Entry iterators, the region iterator and the stream-wide reader. Entry iteration is
// lock-free: a position is valid while the region keeps its id, the position is below the
// region's tail (acquire) and the entry's timestamp is committed.
#include "engine/stream_impl.hpp"

#include <algorithm>
#include <cstring>
#include <queue>
#include <vector>

namespace pmemstream {

using format::entry_header;

namespace {

constexpr uint64_t prefetch_distance = 512;

entry_header header_at(const std::byte *base, uint64_t off) noexcept
{
	entry_header h;
	std::memcpy(&h, base + off, sizeof(h));
	return h;
}

} // namespace

// ==================================================================== entry_iterator

entry_iterator::entry_iterator(const stream *s, const region_runtime *rt, uint64_t id) : s_(s), rt_(rt), id_(id)
{
	seek_first();
}

void entry_iterator::seek_first()
{
	// The first entry and the epoch of its lap (a wrapped region's head lap has its own). A
	// wrap changes neither (the new head_epoch is the old epoch); a change that drops a lap
	// bumps `rewrites` first, and the position is taken again.
	for (;;) {
		rewrites_ = rt_->rewrites.load(std::memory_order_acquire); // before the position they cover
		const uint64_t epoch = rt_->epoch.load(std::memory_order_acquire);
		const bool wrapped = rt_->wrap.load(std::memory_order_acquire) != 0;
		const uint64_t head_epoch = rt_->head_epoch.load(std::memory_order_acquire);
		offset_ = rt_->first.load(std::memory_order_acquire);
		epoch_ = wrapped ? head_epoch : epoch;
		if (rt_->rewrites_after_reads() == rewrites_)
			break;
	}
	if (rt_->gaps) [[unlikely]] // skip-corrupt salvage (format.md 8.7)
		offset_ = rt_->past_gap(offset_);
	valid_size_ = 0;
	min_ts_ = 0;
}

uint64_t entry_iterator::head_timestamp() const
{
	const stream::impl &s = *s_->impl_;
	// A read-only stream following a writer process takes in what it committed and freed
	// (issue 12): a few loads unless something moved.
	detail::follower *const f = s.follower_.get();
	if (f && !in_reader_ && !f->poll())
		return 0;
	// A position seen committed stays committed while the region keeps its id. In a follower,
	// only while no cut the writer announced is unapplied (the caller may have read the
	// payload since: this step tells it whether those bytes were the entry's).
	if (valid_size_) {
		if (f && !f->settle(rt_, !in_reader_))
			return 0;
		if (rt_->id.load(std::memory_order_acquire) != id_ || cut())
			return 0;
		if (valid_size_)
			return valid_ts_;
		// A suffix cut since left the position standing, at the cut maybe: look again.
	}
	for (;;) {
		if (rt_->id.load(std::memory_order_acquire) != id_ || cut())
			return 0;
		// The end of the position's lap: the tail, or a wrapped region's head lap end (its
		// entries are all committed), where the walk goes on at the second lap's start.
		uint64_t end = rt_->tail.load(std::memory_order_acquire);
		if (const uint64_t epoch = rt_->epoch.load(std::memory_order_acquire); epoch_ != epoch) {
			end = rt_->wrap.load(std::memory_order_acquire);
			if (offset_ == end) {
				offset_ = rt_->data_begin.load(std::memory_order_relaxed);
				epoch_ = epoch;
				continue;
			}
		}
		if (offset_ >= end)
			return 0;
		const entry_header h = header_at(s.base_, offset_);
		const uint64_t ts = h.timestamp & format::timestamp_mask;
		if (ts > s.vis_.committed.load(std::memory_order_acquire))
			return 0;
		// A follower: a cut in the writer's process since the region's view was synced may
		// have rewritten the header (docs/design.md 5.4, "Truncation"): apply it, look again.
		if (f && !f->cuts_settled_after_reads(rt_)) {
			if (!f->settle(rt_, !in_reader_))
				return 0;
			continue;
		}
		// A clear or suffix cut since the position was taken: the bytes may be a new entry's
		// (truncation, issue 14); cut() tells whether the position survived it.
		if (rt_->rewrites_after_reads() != rewrites_ || lap_gone())
			continue;
		// Padding is never shown; entries below a timestamp sought past the end are stepped
		// over when they are committed later (an append to this region made before the seek
		// can commit after it).
		if (!(h.timestamp & format::flag_padding) && ts >= min_ts_) {
			valid_size_ = format::entry_footprint(h.size);
			valid_ts_ = ts;
			return ts;
		}
		offset_ += format::entry_footprint(h.size);
		if (rt_->gaps) [[unlikely]]
			offset_ = rt_->past_gap(offset_);
	}
}

// Truncation (issue 14): a clear or suffix cut of the region since the position was taken,
// or a prefix cut past it.
bool entry_iterator::cut() const noexcept
{
	// A follower applies the writer's announced cuts to the region first (design.md 5.4).
	// One it cannot vouch for (a clear or free to be read from the layout) is gone.
	if (detail::follower *f = s_->impl_->follower_.get(); f && !f->settle(rt_, !in_reader_) && !f->gone())
		return true;
	// After the caller's reads of the entry (the reader half of the seqlock).
	const uint64_t r = rt_->rewrites_after_reads();
	if (r != rewrites_) {
		// Synchronise with the bump: the bound, the epoch and the tail stored before it are
		// visible below (region_runtime::rewrites). Under ThreadSanitizer the load above is
		// seq_cst, so already an acquire (and TSan refuses fences).
#if !defined(__SANITIZE_THREAD__)
		std::atomic_thread_fence(std::memory_order_acquire);
#endif
		if (epoch_ == rt_->epoch.load(std::memory_order_acquire)) {
			if (offset_ > rt_->survive_below.load(std::memory_order_acquire))
				return true;
		} else if (epoch_ != rt_->head_epoch.load(std::memory_order_acquire) ||
			   offset_ > rt_->wrap.load(std::memory_order_acquire)) {
			return true; // a clear, or the lap was dropped, or cut below the position
		}
		rewrites_ = r; // every suffix cut since lies at or above the position
		valid_size_ = 0; // but one at it dropped the entry there: head_timestamp() reads it again
	}
	return lap_gone();
}

// The position's lap is gone (a clear, or a prefix cut dropped the head lap) or the position
// lies before the first entry (a prefix cut). Positions of a wrapped region's second lap
// are all after `first` in walk order.
bool entry_iterator::lap_gone() const noexcept
{
	if (epoch_ == rt_->epoch.load(std::memory_order_acquire))
		return rt_->wrap.load(std::memory_order_acquire) == 0 && offset_ < rt_->first.load(std::memory_order_acquire);
	const uint64_t head_epoch = rt_->head_epoch.load(std::memory_order_acquire);
	return head_epoch == 0 || epoch_ != head_epoch || offset_ < rt_->first.load(std::memory_order_acquire) ||
	       offset_ > rt_->wrap.load(std::memory_order_acquire);
}

status entry_iterator::position_status() const
{
	if (rt_->id.load(std::memory_order_acquire) != id_)
		return error(errc::invalid_handle, "the iterator's region was freed");
	if (cut())
		return error(errc::truncated, "a clear or truncation of the region removed the iterator's position; seek again");
	return {};
}

bool entry_iterator::is_valid() const
{
	return head_timestamp() != 0;
}

void entry_iterator::next()
{
	// A position seen committed stays an entry (its bytes never change while the region
	// lives; is_valid() tells when it no longer does).
	if (!valid_size_ && !is_valid())
		return;
	offset_ += valid_size_;
	valid_size_ = 0;
	if (rt_->gaps) [[unlikely]] // skip-corrupt salvage (format.md 8.7)
		offset_ = rt_->past_gap(offset_);
	// The next position comes from the header just read, a chain of dependent loads the
	// hardware prefetcher does not run ahead of: ask for the lines a few entries on. Within
	// the mapping, and a prefetch never faults.
	__builtin_prefetch(s_->impl_->base_ + offset_ + prefetch_distance);
}

entry entry_iterator::get() const
{
	return entry{offset_, id_, 0};
}

region entry_iterator::get_region() const
{
	return region{rt_->offset, id_};
}

status entry_iterator::seek(const entry &e)
{
	const region_runtime *rt = nullptr;
	const uint64_t rewrites = rt_->rewrites.load(std::memory_order_acquire);
	uint64_t epoch = rt_->epoch.load(std::memory_order_acquire);
	// In a wrapped region, a position at or after `first` is in the head lap (the second
	// lap ends before it).
	if (rt_->wrap.load(std::memory_order_acquire) != 0 && e.offset >= rt_->first.load(std::memory_order_acquire))
		epoch = rt_->head_epoch.load(std::memory_order_acquire);
	auto h = s_->impl_->committed_entry(e, &rt);
	if (!h || rt != rt_ || rt_->id.load(std::memory_order_acquire) != id_)
		return error(errc::invalid_handle, "entry is not a committed entry of the iterator's region");
	offset_ = e.offset;
	valid_size_ = 0;
	min_ts_ = 0;
	rewrites_ = rewrites;
	epoch_ = epoch;
	return {};
}

void entry_iterator::seek_timestamp(uint64_t ts)
{
	seek_first();
	min_ts_ = ts; // head_timestamp() steps over everything below it
	(void)head_timestamp();
}

// ==================================================================== region_iterator

region_iterator::region_iterator(const stream *s) : s_(s)
{
	seek_first();
}

void region_iterator::seek_first()
{
	if (s_->impl_->follower_)
		(void)s_->impl_->follower_->poll(); // regions the writer allocated or freed (issue 12)
	uint64_t id = 0;
	const region_runtime *rt = s_->impl_->catalog_.next_by_id(0, &id);
	current_ = rt ? region{rt->offset, id} : region{};
}

bool region_iterator::is_valid() const
{
	return current_.id != 0 && s_->impl_->catalog_.live_at(current_.offset, current_.id) != nullptr;
}

void region_iterator::next()
{
	if (current_.id == 0)
		return;
	uint64_t id = 0;
	const region_runtime *rt = s_->impl_->catalog_.next_by_id(current_.id, &id);
	current_ = rt ? region{rt->offset, id} : region{};
}

region region_iterator::get() const
{
	return current_;
}

// ==================================================================== stream_reader

// One cursor per live region. Cursors whose region has a committed entry at their position
// wait in a min-heap by that entry's timestamp; the others are idle and are looked at again
// when the committed watermark moves (an entry below the watermark is always visible in its
// region, so idle cursors checked at watermark W hold nothing <= W).
struct stream_reader::state {
	const stream *s;
	std::vector<entry_iterator> cursors;
	std::vector<uint64_t> ids; // region id of each cursor
	using item = std::pair<uint64_t, size_t>; // (timestamp, cursor)
	std::priority_queue<item, std::vector<item>, std::greater<>> heap;
	std::vector<size_t> idle;
	uint64_t checked_watermark = 0;
	uint64_t layout = ~uint64_t{0};
	uint64_t floor_ts = 0; // yield only entries with timestamps >= this
	bool have_current = false;
	size_t current = 0;
	uint64_t current_ts = 0;

	explicit state(const stream *st) : s(st)
	{
	}

	// Cursors for regions allocated since, none for regions freed since.
	void sync_layout()
	{
		const stream::impl &im = *s->impl_;
		const uint64_t gen = im.vis_.layout_generation.load(std::memory_order_acquire);
		if (gen == layout)
			return;
		layout = gen;
		std::vector<entry_iterator> keep;
		std::vector<uint64_t> keep_ids;
		size_t k = 0;
		uint64_t id = 0;
		for (const region_runtime *rt = im.catalog_.next_by_id(0, &id); rt; rt = im.catalog_.next_by_id(id, &id)) {
			while (k < ids.size() && ids[k] < id)
				++k;
			if (k < ids.size() && ids[k] == id) {
				keep.push_back(cursors[k]);
				// Truncation (issue 14): a cursor whose position was cut continues at the
				// first entry it has not yielded yet.
				if (!keep.back().position_status())
					keep.back().seek_timestamp(floor_ts);
			} else {
				entry_iterator it(s, rt, id);
				it.in_reader_ = true;
				it.seek_timestamp(floor_ts);
				keep.push_back(it);
			}
			keep_ids.push_back(id);
		}
		cursors = std::move(keep);
		ids = std::move(keep_ids);
		rebuild();
	}

	void rebuild()
	{
		heap = {};
		idle.clear();
		have_current = false; // cursor indices changed; the current entry is picked again
		// Read before the cursors are looked at: a cursor found idle then holds nothing at or
		// below this value. Read after, it could cover an entry committed between a cursor's
		// look and the read, and that cursor would stay idle while a later entry of another
		// region is shown first (a following reader's looks move the watermark themselves).
		checked_watermark = s->impl_->vis_.committed.load(std::memory_order_acquire);
		for (size_t i = 0; i < cursors.size(); ++i)
			place(i);
	}

	void place(size_t i)
	{
		if (uint64_t ts = cursors[i].head_timestamp())
			heap.emplace(ts, i);
		else
			idle.push_back(i);
	}

	bool settle()
	{
		if (s->impl_->follower_ && !s->impl_->follower_->poll())
			return false; // the writer went (issue 12): check() says so
		// The watermark first, then the layout: a region holding an entry <= w was allocated
		// before that entry was appended, so its layout bump is visible now. Entries above w
		// wait for the next settle, whose layout read covers them.
		const uint64_t w = s->impl_->vis_.committed.load(std::memory_order_acquire);
		sync_layout();
		if (have_current) {
			// The current entry stays while its region lives.
			if (cursors[current].head_timestamp() == current_ts)
				return true;
			have_current = false;
			heap.pop();
			place(current);
		}
		if (w != checked_watermark) {
			checked_watermark = w;
			std::vector<size_t> was;
			was.swap(idle);
			for (size_t i : was)
				place(i);
		}
		while (!heap.empty()) {
			auto [ts, i] = heap.top();
			// The cursor may have lost its region since it was placed.
			if (cursors[i].head_timestamp() != ts) {
				heap.pop();
				place(i);
				continue;
			}
			if (ts > w)
				return false;
			have_current = true;
			current = i;
			current_ts = ts;
			return true;
		}
		return false;
	}
};

stream_reader::stream_reader(const stream *s) : st_(std::make_unique<state>(s))
{
	seek_first();
}

stream_reader::stream_reader(stream_reader &&) noexcept = default;
stream_reader &stream_reader::operator=(stream_reader &&) noexcept = default;
stream_reader::~stream_reader() = default;

void stream_reader::seek_first()
{
	seek_timestamp(0);
}

void stream_reader::seek_timestamp(uint64_t ts)
{
	st_->floor_ts = ts;
	st_->have_current = false;
	st_->layout = ~uint64_t{0};
	st_->cursors.clear();
	st_->ids.clear();
	st_->sync_layout();
}

bool stream_reader::is_valid()
{
	return st_->settle();
}

void stream_reader::next()
{
	state &st = *st_;
	const bool had = st.have_current;
	const uint64_t was = st.current_ts;
	if (!st.settle())
		return;
	// The entry the caller was on is gone (its region was freed, so settle() picked the next
	// one): the reader is now on an entry the caller has not seen; stepping past it would
	// skip it.
	if (had && st.current_ts != was) {
		st.floor_ts = std::max(st.floor_ts, was + 1);
		return;
	}
	st.heap.pop();
	st.cursors[st.current].next();
	st.floor_ts = st.current_ts + 1;
	st.place(st.current);
	st.have_current = false;
}

entry stream_reader::get() const
{
	return st_->have_current ? st_->cursors[st_->current].get() : entry{};
}

uint64_t stream_reader::timestamp() const
{
	return st_->have_current ? st_->current_ts : 0;
}

region stream_reader::get_region() const
{
	return st_->have_current ? st_->cursors[st_->current].get_region() : region{};
}

// ---- live readers (issue 12; the entry iterator's and the stream's are in live_readers.cpp)

status stream_reader::check()
{
	if (is_valid())
		return {};
	const stream::impl &s = *st_->s->impl_;
	if (s.follower_ && s.follower_->gone())
		return error(errc::writer_gone, s.not_following());
	return error(errc::invalid_handle, "the reader is past the last committed entry");
}

status stream_reader::wait_for(std::chrono::nanoseconds timeout)
{
	return st_->s->impl_->wait_until_valid([this] { return check(); }, timeout, "the reader is past the last committed entry");
}

} // namespace pmemstream
