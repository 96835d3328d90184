// SPDX-License-Identifier: BSD-3-Clause
// The stream engine: opening and recovery, the region allocator, and the append path.
// docs/format.md describes the bytes and the recovery rules; docs/design.md the reasoning.
#include "dual_slot.hpp"
#include "entry_codec.hpp"
#include "format.hpp"
#include "media.hpp"
#include "stream_factory.hpp"
#include "timestamp_tracker.hpp"

#include <pmemstream/stream.hpp>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <shared_mutex>
#include <vector>

namespace pmemstream {

using detail::entry_state;
using format::entry_header;

namespace {

std::string hex(uint64_t v)
{
	char buf[24];
	std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
	return buf;
}

bool all_zero(const std::byte *p, uint64_t n) noexcept
{
	uint64_t i = 0;
	for (; i + 64 <= n; i += 64) {
		uint64_t acc = 0, w[8];
		std::memcpy(w, p + i, 64);
		for (uint64_t x : w)
			acc |= x;
		if (acc)
			return false;
	}
	for (; i < n; ++i)
		if (p[i] != std::byte{0})
			return false;
	return true;
}

uint32_t header_checksum(const format::stream_header &h) noexcept
{
	// The magic is excluded: turning "initialising" into "ready" is one atomic 8-byte store.
	return detail::crc32c(reinterpret_cast<const std::byte *>(&h) + 8, offsetof(format::stream_header, checksum) - 8);
}

error corrupt(std::string what)
{
	return error(errc::corrupt, std::move(what));
}

} // namespace

// Volatile state of one region. Owned by the stream for its whole life and reused when a
// region is allocated again at the same offset, so pointers handed out never dangle.
class region_runtime {
public:
	explicit region_runtime(uint64_t off) : offset(off)
	{
	}

	const uint64_t offset;
	std::atomic<uint64_t> generation{0};
	std::atomic<bool> live{false};
	std::atomic<uint64_t> data_begin{0};
	std::atomic<uint64_t> data_end{0};
	// End of the last committed entry (absolute offset). Stored with release after the
	// entry's bytes, so a reader that loads it with acquire sees whole entries.
	std::atomic<uint64_t> tail{0};
	std::atomic<uint64_t> count{0};

	// Serialises writers of this region. Everything below is guarded by it.
	std::mutex lock;
	bool reserved = false;
	uint64_t reserve_pos = 0;
	uint64_t reserve_size = 0;
	uint64_t sealed_tail = 0; // persisted in the span header (bytes after data_begin)
	detail::tail_line line;	  // bytes of the tail's cache line before the tail
};

class stream::impl {
public:
	struct span {
		uint64_t size;
		uint32_t state;
		uint64_t generation;
		detail::slot_read<format::span_slot> rec;
	};

	impl(std::unique_ptr<detail::media> m, const format::stream_header &h)
	    : m_(std::move(m)),
	      base_(m_->base()),
	      read_only_(m_->read_only()),
	      block_size_(h.block_size),
	      stream_size_(h.stream_size),
	      arena_off_(h.arena_offset),
	      arena_size_(h.arena_size)
	{
	}

	static std::unique_ptr<stream> wrap(std::unique_ptr<impl> p)
	{
		return std::unique_ptr<stream>(new stream(std::move(p)));
	}

	~impl()
	{
		if (!read_only_ && tracker_ && !failed_.load())
			close_cleanly();
	}

	// ---------------------------------------------------------------- recovery
	status recover(const open_options &o);
	void close_cleanly();

	// ---------------------------------------------------------------- helpers
	error region_full(region r, uint64_t left, uint64_t need) const
	{
		return error(errc::region_full, "region " + hex(r.offset) + " has " + std::to_string(left) +
							" bytes left; the entry needs " + std::to_string(need));
	}

	// After 2^56 timestamps the format has no more: the stream stops taking writes.
	error timestamps_exhausted(uint64_t ts)
	{
		tracker_->complete(ts);
		failed_ = true;
		return error(errc::media_failed, "timestamps exhausted (2^56 entries)");
	}

	bool writable() const noexcept
	{
		return !read_only_ && !failed_.load(std::memory_order_relaxed);
	}
	// Why a write is refused; only when !writable().
	error not_writable() const
	{
		if (read_only_)
			return error(errc::read_only, "the stream was opened read-only");
		return error(errc::media_failed, "an earlier media error stopped all writes; reopen the stream");
	}

	result<region_runtime *> resolve(region r, region_runtime *rt) const
	{
		if (!rt) {
			std::shared_lock lk(regions_mutex_);
			auto it = live_.find(r.offset);
			if (it != live_.end())
				rt = it->second;
		}
		if (!rt || rt->offset != r.offset || !rt->live.load(std::memory_order_acquire))
			return error(errc::invalid_handle, "no live region at offset " + hex(r.offset));
		return rt;
	}

	void set_floor(uint64_t ts)
	{
		std::lock_guard lk(state_mutex_);
		if (ts <= state_.value.ts_floor)
			return;
		format::state_slot s = state_.value;
		s.ts_floor = ts;
		state_ = detail::write_dual(*m_, format::state_slot_offset[0], format::state_slot_offset[1], s, state_);
	}

	format::span_slot make_span_slot(uint64_t size, uint32_t state, uint64_t gen, uint64_t sealed) const
	{
		format::span_slot s{};
		s.span_size = size;
		s.generation = gen;
		s.state = state;
		s.sealed_tail = sealed;
		return s;
	}

	detail::slot_read<format::span_slot> write_span(uint64_t off, const format::span_slot &v, const detail::slot_read<format::span_slot> &cur)
	{
		return detail::write_dual(*m_, off, off + 64, v, cur);
	}

	region_runtime *runtime_for(uint64_t off)
	{
		auto &p = runtimes_[off];
		if (!p)
			p = std::make_unique<region_runtime>(off);
		return p.get();
	}

	void load_tail_line(region_runtime *rt)
	{
		const uint64_t tail = rt->tail.load(std::memory_order_relaxed);
		const uint64_t line = tail & ~(format::cache_line - 1);
		std::memcpy(rt->line.bytes, base_ + line, tail - line);
	}

	void activate(region_runtime *rt, const span &s, uint64_t tail, uint64_t count, uint64_t sealed)
	{
		rt->data_begin.store(rt->offset + format::span_header_size, std::memory_order_relaxed);
		rt->data_end.store(rt->offset + s.size, std::memory_order_relaxed);
		rt->generation.store(s.generation, std::memory_order_relaxed);
		rt->tail.store(tail, std::memory_order_relaxed);
		load_tail_line(rt);
		rt->count.store(count, std::memory_order_relaxed);
		rt->reserved = false;
		rt->sealed_tail = sealed;
		rt->live.store(true, std::memory_order_release);
	}

	// The committed entry at `e`, or invalid_handle. Never reads outside the region.
	result<entry_header> committed_entry(entry e, const region_runtime **out = nullptr) const
	{
		std::shared_lock lk(regions_mutex_);
		auto it = live_.upper_bound(e.offset);
		if (it != live_.begin()) {
			const region_runtime *rt = std::prev(it)->second;
			const uint64_t begin = rt->data_begin.load(std::memory_order_relaxed);
			const uint64_t tail = rt->tail.load(std::memory_order_acquire);
			if (e.offset >= begin && e.offset < tail && (e.offset - begin) % format::entry_alignment == 0 &&
			    tail - e.offset >= sizeof(entry_header)) {
				entry_header h;
				std::memcpy(&h, base_ + e.offset, sizeof(h));
				if (h.timestamp != 0 && h.timestamp <= tracker_->watermark() &&
				    format::entry_footprint(h.size) <= tail - e.offset) {
					if (out)
						*out = rt;
					return h;
				}
			}
		}
		return error(errc::invalid_handle, "no committed entry at offset " + hex(e.offset));
	}

	std::unique_ptr<detail::media> m_;
	std::byte *base_;
	const bool read_only_;
	const uint64_t block_size_;
	const uint64_t stream_size_;
	const uint64_t arena_off_;
	const uint64_t arena_size_;

	std::mutex state_mutex_;
	detail::slot_read<format::state_slot> state_{};

	// Serialises region allocation and free (the only writers of span headers).
	std::mutex alloc_mutex_;
	// Guards the maps below for readers; writers also hold alloc_mutex_.
	mutable std::shared_mutex regions_mutex_;
	std::map<uint64_t, span> spans_;				 // every span, by offset
	std::map<uint64_t, region_runtime *> live_;			 // live regions, by offset
	std::map<uint64_t, region_runtime *> by_generation_;		 // live regions, allocation order
	std::map<uint64_t, std::unique_ptr<region_runtime>> runtimes_; // never erased
	uint64_t next_generation_ = 1;

	std::unique_ptr<detail::timestamp_tracker> tracker_;
	std::atomic<bool> failed_{false};
	recovery_report report_;
};

namespace {

struct region_scan {
	region_runtime *rt = nullptr;
	uint64_t stop = 0; // offset where the walk stopped
	uint64_t valid_entries = 0;
	uint64_t last_ts = 0;
	uint64_t penultimate_ts = 0;
	std::vector<std::pair<uint64_t, uint64_t>> above_floor; // (offset, timestamp) with ts > floor
	bool torn = false;
	uint64_t sealed = 0;
};

} // namespace

status stream::impl::recover(const open_options &o)
{
	const bool salvage = o.recovery == recovery_mode::salvage;
	auto problem = [&](uint64_t reg, uint64_t ent, std::string what) -> status {
		if (!salvage)
			return corrupt(std::move(what));
		report_.problems.push_back({reg, ent, std::move(what)});
		return {};
	};

	auto st = detail::read_dual<format::state_slot>(base_, format::state_slot_offset[0], format::state_slot_offset[1]);
	if (!st)
		return corrupt("stream state record at offset 0x100: both copies damaged");
	state_ = *st;
	const uint64_t floor = state_.value.ts_floor;
	if (floor > format::max_timestamp)
		return corrupt("stream state record: timestamp floor " + std::to_string(floor) + " beyond the format's limit");

	// Spans must tile the arena exactly (rules S1-S4).
	const uint64_t arena_end = arena_off_ + arena_size_;
	const uint64_t min_span = format::min_span(block_size_);
	uint64_t max_gen = 0;
	for (uint64_t off = arena_off_; off < arena_end;) {
		auto s = detail::read_dual<format::span_slot>(base_, off, off + 64);
		if (!s) {
			if (auto p = problem(0, 0, "span header at " + hex(off) + ": both copies damaged"); !p)
				return p;
			break;
		}
		const auto &v = s->value;
		const char *why = nullptr;
		if (v.span_size < min_span || v.span_size % block_size_ != 0)
			why = "size is not a whole number of blocks";
		else if (v.span_size > arena_end - off)
			why = "runs past the end of the stream";
		else if (v.state != format::span_free && v.state != format::span_region)
			why = "unknown state";
		else if (v.state == format::span_region && v.sealed_tail > v.span_size - format::span_header_size)
			why = "sealed tail beyond the region";
		else if ((v.state == format::span_region && v.generation == 0) || v.generation >= format::max_generation)
			why = "generation out of range";
		if (why) {
			if (auto p = problem(0, 0, "span header at " + hex(off) + ": " + why); !p)
				return p;
			break;
		}
		spans_[off] = span{v.span_size, v.state, v.generation, *s};
		max_gen = std::max(max_gen, v.generation);
		off += v.span_size;
	}
	next_generation_ = max_gen + 1;

	// Walk each region's entries (rules E1-E5).
	std::vector<region_scan> scans;
	std::map<uint64_t, uint64_t> gens;
	for (auto &[off, s] : spans_) {
		if (s.state != format::span_region)
			continue;
		if (!gens.emplace(s.generation, off).second) {
			if (auto p = problem(off, 0, "region at " + hex(off) + " repeats generation " + std::to_string(s.generation)); !p)
				return p;
			continue;
		}
		region_scan sc;
		sc.rt = runtime_for(off);
		sc.sealed = s.rec.value.sealed_tail;
		const uint64_t end = off + s.size;
		uint64_t pos = off + format::span_header_size;
		for (;;) {
			auto c = detail::check_entry(base_, pos, end, s.generation, sc.last_ts);
			if (c.state != entry_state::valid) {
				if (c.state == entry_state::invalid) {
					sc.torn = true;
					// Rule R2: damage followed by a valid, newer entry is not a torn tail.
					if (c.header.size <= end - pos - sizeof(entry_header)) {
						const uint64_t next = pos + format::entry_footprint(c.header.size);
						if (next < end) {
							auto n = detail::check_entry(base_, next, end, s.generation, sc.last_ts);
							if (n.state == entry_state::valid && n.header.timestamp > floor) {
								if (auto p = problem(off, pos, "region " + hex(off) + ": entry at " + hex(pos) + " is damaged (" + c.why + ") and followed by valid entries"); !p)
									return p;
							}
						}
					}
				}
				if (pos < off + format::span_header_size + sc.sealed) {
					if (auto p = problem(off, pos,
							     "region " + hex(off) + ": entry at " + hex(pos) + " is damaged (" +
								     (c.why ? c.why : "missing") + ") inside data sealed at the last clean close");
					    !p)
						return p;
				}
				break;
			}
			sc.penultimate_ts = sc.last_ts;
			sc.last_ts = c.header.timestamp;
			if (c.header.timestamp > floor)
				sc.above_floor.emplace_back(pos, c.header.timestamp);
			++sc.valid_entries;
			pos += format::entry_footprint(c.header.size);
		}
		sc.stop = pos;
		scans.push_back(std::move(sc));
	}

	// Rule R1: the visible entries are a timestamp prefix. Timestamps above the floor must be
	// contiguous; the first gap ends the prefix.
	std::vector<uint64_t> above;
	uint64_t max_seen = floor, acknowledged = floor;
	for (auto &sc : scans) {
		for (auto &e : sc.above_floor)
			above.push_back(e.second);
		max_seen = std::max(max_seen, sc.last_ts);
		acknowledged = std::max(acknowledged, sc.penultimate_ts);
	}
	std::sort(above.begin(), above.end());
	if (std::adjacent_find(above.begin(), above.end()) != above.end()) {
		if (auto p = problem(0, 0, "two entries carry the same timestamp"); !p)
			return p;
	}
	uint64_t prefix = floor;
	for (uint64_t t : above) {
		if (t == prefix + 1)
			prefix = t;
		else if (t > prefix + 1)
			break;
	}
	// Rule R3: an entry followed by another in its region was acknowledged before the next
	// append began, and with it every smaller timestamp. A gap below that is lost data.
	if (prefix < acknowledged) {
		std::string where;
		for (auto &sc : scans)
			if (sc.torn)
				where += (where.empty() ? "" : ", ") + hex(sc.stop);
		if (auto p = problem(0, 0,
				     "entry with timestamp " + std::to_string(prefix + 1) + " is missing although entries up to " +
					     std::to_string(acknowledged) + " were acknowledged" +
					     (where.empty() ? std::string() : " (damaged entries at " + where + ")"));
		    !p)
			return p;
	}
	if (salvage)
		prefix = max_seen;

	// Trim: each region's visible tail is its first entry above the prefix.
	std::vector<std::pair<const region_runtime *, uint64_t>> tails;
	for (auto &sc : scans) {
		uint64_t tail = sc.stop, count = sc.valid_entries;
		for (size_t i = 0; i < sc.above_floor.size(); ++i) {
			if (sc.above_floor[i].second > prefix) {
				tail = sc.above_floor[i].first;
				const uint64_t cut = sc.above_floor.size() - i;
				count -= cut;
				report_.trimmed_entries += cut;
				break;
			}
		}
		if (sc.torn)
			++report_.torn_tails;
		tails.emplace_back(sc.rt, tail);
		const span &s = spans_[sc.rt->offset];
		activate(sc.rt, s, tail, count, sc.sealed);
		live_[sc.rt->offset] = sc.rt;
		by_generation_[s.generation] = sc.rt;
		report_.entries += count;
	}
	report_.regions = scans.size();

	uint64_t last_issued = prefix;
	if (!read_only_) {
		bool repaired = false;
		if (!state_.agree) {
			detail::repair_dual_nodrain(*m_, format::state_slot_offset[0], format::state_slot_offset[1], state_);
			repaired = true;
		}
		for (auto &[off, sp] : spans_) {
			if (!sp.rec.agree) {
				detail::repair_dual_nodrain(*m_, off, off + 64, sp.rec);
				repaired = true;
			}
		}
		if (repaired)
			m_->drain();

		// Make the result final (step 9 of docs/format.md). Zero the header at every region's
		// tail: a trimmed entry there must never validate again, and the halves of a torn one
		// must not combine with the first bytes of the next append (which may reuse its
		// timestamp, since a torn entry's timestamp cannot be read) into a valid entry. Then
		// never hand out a timestamp that was found on media again.
		bool zeroed = false;
		for (auto [rt, pos] : tails) {
			if (rt->data_end.load() - pos >= sizeof(entry_header) && !all_zero(base_ + pos, sizeof(entry_header))) {
				m_->set_nodrain(base_ + pos, 0, sizeof(entry_header));
				zeroed = true;
			}
		}
		if (zeroed)
			m_->drain();
		set_floor(max_seen);
		last_issued = std::max(max_seen, state_.value.ts_floor);
	}
	tracker_ = std::make_unique<detail::timestamp_tracker>(last_issued);
	return {};
}

void stream::impl::close_cleanly()
{
	std::lock_guard al(alloc_mutex_);
	for (auto &[off, rt] : live_) {
		std::lock_guard lk(rt->lock);
		const uint64_t used = rt->tail.load() - rt->data_begin.load();
		if (used == rt->sealed_tail)
			continue;
		auto &s = spans_[off];
		s.rec = write_span(off, make_span_slot(s.size, format::span_region, s.generation, used), s.rec);
		rt->sealed_tail = used;
	}
	set_floor(tracker_->watermark());
}

// ==================================================================== opening

namespace detail {

namespace {

// Creation is crash-safe: the "initialising" magic is persisted alone first, so a file with
// any non-zero byte always carries our magic; until "ready" replaces it nothing but creation
// ever wrote to the file, and an interrupted creation is simply done again.
void initialise(media &m, uint64_t block_size)
{
	const uint64_t initialising = format::magic_initialising;
	m.copy_nodrain(m.base(), &initialising, sizeof(initialising));
	m.drain();

	format::stream_header h{};
	h.magic = format::magic_initialising;
	h.version = format::version;
	h.block_size = block_size;
	h.stream_size = m.size();
	h.arena_offset = format::arena_offset(block_size);
	h.arena_size = (m.size() - h.arena_offset) & ~(block_size - 1);
	h.checksum = header_checksum(h);
	m.copy_nodrain(m.base() + 8, reinterpret_cast<const std::byte *>(&h) + 8, sizeof(h) - 8);
	format::state_slot st{};
	write_fresh_nodrain(m, format::state_slot_offset[0], format::state_slot_offset[1], st);
	format::span_slot sp{};
	sp.span_size = h.arena_size;
	sp.state = format::span_free;
	write_fresh_nodrain(m, h.arena_offset, h.arena_offset + 64, sp);
	m.drain();

	const uint64_t ready = format::magic_ready;
	m.copy_nodrain(m.base(), &ready, sizeof(ready));
	m.drain();
}

status check_room(const media &m, uint64_t bs)
{
	if (m.size() < format::arena_offset(bs) + format::min_span(bs))
		return error(errc::invalid_argument, "a stream with block size " + std::to_string(bs) + " needs at least " +
							     std::to_string(format::arena_offset(bs) + format::min_span(bs)) +
							     " bytes; the file has " + std::to_string(m.size()));
	return {};
}

} // namespace

result<std::unique_ptr<stream>> open_on_media(std::unique_ptr<media> m, uint64_t block_size, const open_options &o)
{
	if (block_size != 0 && !format::valid_block_size(block_size))
		return error(errc::invalid_argument,
			     "block size " + std::to_string(block_size) + " is not a power of two of at least 64");
	if (o.recovery == recovery_mode::salvage && !m->read_only())
		return error(errc::invalid_argument, "salvage recovery needs a read-only stream");
	if (m->size() < sizeof(format::stream_header))
		return error(errc::not_a_stream, "the file is too small (" + std::to_string(m->size()) + " bytes) to hold a stream");

	format::stream_header h;
	std::memcpy(&h, m->base(), sizeof(h));
	if (h.magic == 0 && all_zero(m->base(), m->size())) {
		if (m->read_only())
			return error(errc::not_a_stream, "the file is empty (all zero bytes); open it writable to create a stream");
		const uint64_t bs = block_size ? block_size : 4096;
		if (auto room = check_room(*m, bs); !room)
			return room.err();
		initialise(*m, bs);
		std::memcpy(&h, m->base(), sizeof(h));
	} else if (h.magic == format::magic_initialising) {
		// Creation was interrupted; nothing but creation ever wrote here. Do it again, with
		// the block size it was using when the header survived.
		if (m->read_only())
			return error(errc::not_a_stream, "stream creation was interrupted; open it writable to finish it");
		const bool header_ok = h.checksum == header_checksum(h) && format::valid_block_size(h.block_size);
		if (header_ok && block_size != 0 && block_size != h.block_size)
			return error(errc::parameter_mismatch, "the stream was being created with block size " +
								       std::to_string(h.block_size) + ", not " + std::to_string(block_size));
		const uint64_t bs = header_ok ? h.block_size : (block_size ? block_size : 4096);
		if (auto room = check_room(*m, bs); !room)
			return room.err();
		initialise(*m, bs);
		std::memcpy(&h, m->base(), sizeof(h));
	} else if (h.magic != format::magic_ready) {
		return error(errc::not_a_stream, "no pmemstream header (bad magic) and the file is not all zero bytes");
	}

	if (h.checksum != header_checksum(h))
		return error(errc::corrupt, "stream header checksum mismatch");
	if (h.version != format::version)
		return error(errc::version_mismatch, "stream format version " + std::to_string(h.version) +
							     ", this library reads version " + std::to_string(format::version));
	if (!format::valid_block_size(h.block_size) || h.arena_offset != format::arena_offset(h.block_size) ||
	    h.arena_size % h.block_size != 0 || h.arena_size < format::min_span(h.block_size) ||
	    h.arena_offset > h.stream_size || h.arena_size > h.stream_size - h.arena_offset)
		return error(errc::corrupt, "stream header holds inconsistent sizes");
	if (h.stream_size > m->size())
		return error(errc::corrupt, "the stream needs " + std::to_string(h.stream_size) + " bytes but the file has " +
						    std::to_string(m->size()) + " (truncated?)");
	if (block_size != 0 && block_size != h.block_size)
		return error(errc::parameter_mismatch, "the stream has block size " + std::to_string(h.block_size) + ", not " +
							       std::to_string(block_size));

	auto p = std::make_unique<stream::impl>(std::move(m), h);
	if (auto s = p->recover(o); !s)
		return s.err();
	if (o.prefault && !p->read_only_)
		p->m_->prefault(p->base_ + h.arena_offset, h.arena_size);
	return stream::impl::wrap(std::move(p));
}

} // namespace detail

stream::stream(std::unique_ptr<impl> p) : impl_(std::move(p))
{
}

stream::~stream() = default;

result<std::unique_ptr<stream>> stream::create(const std::string &path, const create_options &o)
{
	if (!format::valid_block_size(o.block_size))
		return error(errc::invalid_argument,
			     "block size " + std::to_string(o.block_size) + " is not a power of two of at least 64");
	const uint64_t min = format::arena_offset(o.block_size) + format::min_span(o.block_size);
	if (o.size < min)
		return error(errc::invalid_argument, "size " + std::to_string(o.size) + " is below the minimum of " +
							     std::to_string(min) + " bytes for block size " + std::to_string(o.block_size));
	// Exclusive, preallocated, locked, and checked to hold only zeroes (without faulting it in).
	auto file = detail::create_file_media(path, o.size);
	if (!file)
		return std::move(file).err();
	// Begun as format.md's interrupted creation, which open_on_media finishes without
	// scanning the whole mapping for zeroes again.
	detail::media &m = *file->medium;
	const uint64_t initialising = format::magic_initialising;
	m.copy_nodrain(m.base(), &initialising, sizeof(initialising));
	m.drain();
	auto s = detail::open_on_media(std::move(file->medium), o.block_size, {.prefault = o.prefault});
	if (!s)
		return s;
	if (auto p = file->publish(); !p)
		return p.err();
	return s;
}

result<std::unique_ptr<stream>> stream::open(const std::string &path, const open_options &o)
{
	auto m = detail::open_file_media(path, o.read_only);
	if (!m)
		return std::move(m).err();
	return detail::open_on_media(std::move(*m), o.block_size, o);
}

result<std::unique_ptr<stream>> stream::from_map(struct pmem2_map *map, uint64_t block_size, const open_options &o)
{
	if (!map)
		return error(errc::invalid_argument, "map is null");
	if (!format::valid_block_size(block_size))
		return error(errc::invalid_argument,
			     "block size " + std::to_string(block_size) + " is not a power of two of at least 64");
	return detail::open_on_media(detail::make_pmem2_media(map, o.read_only), block_size, o);
}

// ==================================================================== regions

result<region> stream::region_allocate(uint64_t size)
{
	impl &s = *impl_;
	if (!s.writable())
		return s.not_writable();
	if (size == 0)
		return error(errc::invalid_argument, "region size 0");
	if (size > s.arena_size_)
		return error(errc::out_of_space, "region of " + std::to_string(size) + " bytes exceeds the stream's " +
							 std::to_string(s.arena_size_) + "-byte region space");
	const uint64_t need = format::align_up(size + format::span_header_size, s.block_size_);
	const uint64_t min_span = format::min_span(s.block_size_);

	std::lock_guard al(s.alloc_mutex_);
	auto it = std::find_if(s.spans_.begin(), s.spans_.end(),
			       [&](auto &kv) { return kv.second.state == format::span_free && kv.second.size >= need; });
	if (it == s.spans_.end())
		return error(errc::out_of_space, "no free space for a region of " + std::to_string(size) + " bytes");

	if (s.next_generation_ >= format::max_generation)
		return error(errc::out_of_space, "region generations exhausted (2^62 allocations)");
	const uint64_t off = it->first;
	const impl::span old = it->second;
	const uint64_t gen = s.next_generation_++;
	uint64_t rsize = need;
	std::optional<impl::span> rest;
	if (old.size - need >= min_span) {
		// The remainder's header is unreachable until the region's header below is in force.
		auto rec = detail::write_fresh_nodrain(*s.m_, off + need, off + need + 64,
						       s.make_span_slot(old.size - need, format::span_free, old.generation, 0));
		rest = impl::span{old.size - need, format::span_free, old.generation, rec};
	} else {
		rsize = old.size;
	}
	// Stale bytes would only ever fail to validate (other generation); zeroing the first entry
	// header keeps a fresh region from looking torn.
	s.m_->set_nodrain(s.base_ + off + format::span_header_size, 0,
			  std::min<uint64_t>(sizeof(entry_header), rsize - format::span_header_size));
	s.m_->drain();
	auto rec = s.write_span(off, s.make_span_slot(rsize, format::span_region, gen, 0), old.rec);
	if (!s.m_->healthy()) {
		s.failed_ = true;
		return error(errc::media_failed, "the medium failed while allocating a region");
	}

	impl::span reg{rsize, format::span_region, gen, rec};
	region_runtime *rt = s.runtime_for(off); // runtimes_ is only touched under alloc_mutex_
	{
		std::lock_guard rl(rt->lock);
		s.activate(rt, reg, off + format::span_header_size, 0, 0);
	}
	// Lock order everywhere: alloc_mutex_, then a region's lock, then regions_mutex_.
	std::unique_lock lk(s.regions_mutex_);
	s.spans_[off] = reg;
	if (rest)
		s.spans_[off + need] = *rest;
	s.live_[off] = rt;
	s.by_generation_[gen] = rt;
	return region{off};
}

status stream::region_free(region r)
{
	impl &s = *impl_;
	if (!s.writable())
		return s.not_writable();
	std::lock_guard al(s.alloc_mutex_);
	auto rt_r = s.resolve(r, nullptr);
	if (!rt_r)
		return rt_r.err();
	region_runtime *rt = *rt_r;
	std::lock_guard rl(rt->lock); // waits for an append in progress
	if (!rt->live.load())
		return error(errc::invalid_handle, "no live region at offset " + hex(r.offset));
	if (rt->reserved)
		return error(errc::busy, "region " + hex(r.offset) + " has an outstanding reservation; publish it first");
	{
		std::unique_lock lk(s.regions_mutex_);
		rt->live.store(false, std::memory_order_release);
		s.live_.erase(r.offset);
		s.by_generation_.erase(rt->generation.load());
	}
	// Every entry of the region has completed, so the watermark covers them: raising the floor
	// to it makes their timestamps legitimately absent (rule R1).
	s.set_floor(s.tracker_->watermark());

	auto it = s.spans_.find(r.offset);
	assert(it != s.spans_.end());
	impl::span cur = it->second;
	cur.state = format::span_free;
	cur.rec = s.write_span(r.offset, s.make_span_slot(cur.size, format::span_free, cur.generation, 0), cur.rec);

	// Coalesce with free neighbours; each step is one atomic header write.
	auto next = std::next(it);
	if (next != s.spans_.end() && next->second.state == format::span_free) {
		cur.size += next->second.size;
		cur.generation = std::max(cur.generation, next->second.generation);
		cur.rec = s.write_span(r.offset, s.make_span_slot(cur.size, format::span_free, cur.generation, 0), cur.rec);
		std::unique_lock lk(s.regions_mutex_);
		s.spans_.erase(next);
	}
	{
		std::unique_lock lk(s.regions_mutex_);
		it->second = cur;
	}
	if (it != s.spans_.begin()) {
		auto prev = std::prev(it);
		if (prev->second.state == format::span_free) {
			impl::span p = prev->second;
			p.size += cur.size;
			p.generation = std::max(p.generation, cur.generation);
			p.rec = s.write_span(prev->first, s.make_span_slot(p.size, format::span_free, p.generation, 0), p.rec);
			std::unique_lock lk(s.regions_mutex_);
			prev->second = p;
			s.spans_.erase(it);
		}
	}
	if (!s.m_->healthy()) {
		s.failed_ = true;
		return error(errc::media_failed, "the medium failed while freeing a region");
	}
	return {};
}

result<uint64_t> stream::region_size(region r) const
{
	auto rt = impl_->resolve(r, nullptr);
	if (!rt)
		return rt.err();
	return (*rt)->data_end.load() - (*rt)->data_begin.load();
}

result<uint64_t> stream::region_usable_size(region r) const
{
	auto rt = impl_->resolve(r, nullptr);
	if (!rt)
		return rt.err();
	return (*rt)->data_end.load() - (*rt)->tail.load(std::memory_order_acquire);
}

result<uint64_t> stream::region_entry_count(region r) const
{
	auto rt = impl_->resolve(r, nullptr);
	if (!rt)
		return rt.err();
	return (*rt)->count.load(std::memory_order_acquire);
}

result<region_runtime *> stream::get_region_runtime(region r)
{
	return impl_->resolve(r, nullptr);
}

region_iterator stream::regions() const
{
	return region_iterator(this);
}

// ==================================================================== entries

result<entry> stream::append(region r, std::span<const std::byte> data, region_runtime *rt_hint)
{
	impl &s = *impl_;
	if (!s.writable())
		return s.not_writable();
	if (data.size() > format::max_payload)
		return error(errc::entry_too_large, "entry of " + std::to_string(data.size()) + " bytes; the limit is " +
							    std::to_string(format::max_payload));
	auto rt_r = s.resolve(r, rt_hint);
	if (!rt_r)
		return rt_r.err();
	region_runtime *rt = *rt_r;

	std::unique_lock lk(rt->lock);
	if (!rt->live.load(std::memory_order_relaxed))
		return error(errc::invalid_handle, "no live region at offset " + hex(r.offset));
	if (rt->reserved)
		return error(errc::busy, "region " + hex(r.offset) + " has an outstanding reservation; publish it first");
	const uint64_t pos = rt->tail.load(std::memory_order_relaxed);
	const uint64_t need = format::entry_footprint(data.size());
	if (need > rt->data_end.load(std::memory_order_relaxed) - pos)
		return s.region_full(r, rt->data_end.load() - pos, need);

	const uint64_t ts = s.tracker_->acquire();
	if (ts > format::max_timestamp)
		return s.timestamps_exhausted(ts);
	detail::write_entry_nodrain(*s.m_, s.base_, pos, rt->generation.load(std::memory_order_relaxed), ts, data.data(),
				    static_cast<uint32_t>(data.size()), rt->line);
	s.m_->drain(); // the one fence of an append
	const bool ok = s.m_->healthy();
	if (ok) {
		// Written under the region lock only; readers load it.
		rt->count.store(rt->count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
		rt->tail.store(pos + need, std::memory_order_release);
	} else {
		s.failed_ = true;
	}
	s.tracker_->complete(ts);
	if (!ok)
		return error(errc::media_failed, "the medium failed while persisting an entry");
	// Acknowledge only when every smaller timestamp is persisted too (the prefix rule). The
	// region stays locked until then: an entry followed by another in its region is always
	// an acknowledged one, which recovery relies on (rule R3).
	s.tracker_->wait(ts);
	return entry{pos};
}

result<reservation> stream::reserve(region r, uint64_t size, region_runtime *rt_hint)
{
	impl &s = *impl_;
	if (!s.writable())
		return s.not_writable();
	if (size > format::max_payload)
		return error(errc::entry_too_large, "entry of " + std::to_string(size) + " bytes; the limit is " +
							    std::to_string(format::max_payload));
	auto rt_r = s.resolve(r, rt_hint);
	if (!rt_r)
		return rt_r.err();
	region_runtime *rt = *rt_r;
	std::lock_guard lk(rt->lock);
	if (!rt->live.load(std::memory_order_relaxed))
		return error(errc::invalid_handle, "no live region at offset " + hex(r.offset));
	const uint64_t pos = rt->tail.load(std::memory_order_relaxed);
	const uint64_t need = format::entry_footprint(size);
	if (need > rt->data_end.load(std::memory_order_relaxed) - pos)
		return s.region_full(r, rt->data_end.load() - pos, need);
	rt->reserved = true;
	rt->reserve_pos = pos;
	rt->reserve_size = size;
	return reservation{entry{pos}, s.base_ + pos + sizeof(entry_header), size};
}

status stream::publish(region r, entry e, uint64_t size, region_runtime *rt_hint)
{
	impl &s = *impl_;
	if (!s.writable())
		return s.not_writable();
	auto rt_r = s.resolve(r, rt_hint);
	if (!rt_r)
		return rt_r.err();
	region_runtime *rt = *rt_r;
	std::unique_lock lk(rt->lock);
	if (!rt->live.load(std::memory_order_relaxed) || !rt->reserved || rt->reserve_pos != e.offset)
		return error(errc::invalid_handle, "entry " + hex(e.offset) + " is not the outstanding reservation of region " +
							   hex(r.offset));
	if (size > rt->reserve_size)
		return error(errc::invalid_argument, "publishing " + std::to_string(size) + " bytes of a " +
							     std::to_string(rt->reserve_size) + "-byte reservation");
	const uint64_t pos = e.offset;
	const uint64_t ts = s.tracker_->acquire();
	if (ts > format::max_timestamp)
		return s.timestamps_exhausted(ts);
	const auto sz = static_cast<uint32_t>(size);
	std::byte *dst = s.base_ + pos;
	entry_header h{ts, sz, detail::entry_checksum(rt->generation.load(std::memory_order_relaxed), ts, sz, dst + sizeof(entry_header))};
	std::memcpy(dst, &h, sizeof(h));
	s.m_->flush(dst, sizeof(h) + size);
	s.m_->drain();
	const bool ok = s.m_->healthy();
	rt->reserved = false;
	if (ok) {
		rt->count.store(rt->count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
		rt->tail.store(pos + format::entry_footprint(size), std::memory_order_release);
		s.load_tail_line(rt);
	} else {
		s.failed_ = true;
	}
	s.tracker_->complete(ts);
	if (!ok)
		return error(errc::media_failed, "the medium failed while persisting an entry");
	s.tracker_->wait(ts); // under the region lock, as in append()
	return {};
}

result<std::span<const std::byte>> stream::entry_data(entry e) const
{
	auto h = impl_->committed_entry(e);
	if (!h)
		return h.err();
	return std::span<const std::byte>(impl_->base_ + e.offset + sizeof(entry_header), h->size);
}

result<uint64_t> stream::entry_size(entry e) const
{
	auto h = impl_->committed_entry(e);
	if (!h)
		return h.err();
	return uint64_t{h->size};
}

result<uint64_t> stream::entry_timestamp(entry e) const
{
	auto h = impl_->committed_entry(e);
	if (!h)
		return h.err();
	return uint64_t{h->timestamp};
}

result<region> stream::entry_region(entry e) const
{
	const region_runtime *rt = nullptr;
	auto h = impl_->committed_entry(e, &rt);
	if (!h)
		return h.err();
	return region{rt->offset};
}

result<entry_iterator> stream::entries(region r) const
{
	auto rt = impl_->resolve(r, nullptr);
	if (!rt)
		return rt.err();
	return entry_iterator(this, *rt, (*rt)->generation.load());
}

uint64_t stream::committed_timestamp() const noexcept
{
	return impl_->tracker_->watermark();
}

uint64_t stream::persisted_timestamp() const noexcept
{
	// Every append persists before it commits, so the two watermarks coincide for now;
	// docs/design.md describes how asynchronous appends separate them.
	return impl_->tracker_->watermark();
}

stream_info stream::info() const
{
	const impl &s = *impl_;
	stream_info i;
	i.format_version = format::version;
	i.size = s.stream_size_;
	i.block_size = s.block_size_;
	i.arena_offset = s.arena_off_;
	i.arena_size = s.arena_size_;
	std::shared_lock lk(s.regions_mutex_);
	i.region_count = s.live_.size(); // salvage may have refused some region spans
	for (auto &[off, rt] : s.live_)
		i.allocated_bytes += rt->data_end.load() - off;
	for (auto &[off, sp] : s.spans_) {
		if (sp.state != format::span_region) {
			i.free_bytes += sp.size;
			i.largest_free = std::max(i.largest_free, sp.size - format::span_header_size);
		}
	}
	i.committed_timestamp = committed_timestamp();
	i.persisted_timestamp = persisted_timestamp();
	i.read_only = s.read_only_;
	return i;
}

const recovery_report &stream::recovery() const noexcept
{
	return impl_->report_;
}

bool stream::read_only() const noexcept
{
	return impl_->read_only_;
}

// ==================================================================== iterators

entry_iterator::entry_iterator(const stream *s, const region_runtime *rt, uint64_t generation)
    : s_(s), rt_(rt), generation_(generation)
{
	seek_first();
}

void entry_iterator::seek_first()
{
	offset_ = rt_->data_begin.load(std::memory_order_relaxed);
}

bool entry_iterator::is_valid() const
{
	if (!rt_->live.load(std::memory_order_acquire) || rt_->generation.load(std::memory_order_relaxed) != generation_)
		return false;
	if (offset_ >= rt_->tail.load(std::memory_order_acquire))
		return false;
	entry_header h;
	std::memcpy(&h, s_->impl_->base_ + offset_, sizeof(h));
	return h.timestamp <= s_->impl_->tracker_->watermark();
}

void entry_iterator::next()
{
	if (!is_valid())
		return;
	entry_header h;
	std::memcpy(&h, s_->impl_->base_ + offset_, sizeof(h));
	offset_ += format::entry_footprint(h.size);
}

entry entry_iterator::get() const
{
	return entry{offset_};
}

region_iterator::region_iterator(const stream *s) : s_(s)
{
	seek_first();
}

void region_iterator::seek_first()
{
	std::shared_lock lk(s_->impl_->regions_mutex_);
	auto &m = s_->impl_->by_generation_;
	generation_ = m.empty() ? 0 : m.begin()->first;
	current_ = m.empty() ? region{} : region{m.begin()->second->offset};
}

bool region_iterator::is_valid() const
{
	if (generation_ == 0)
		return false;
	std::shared_lock lk(s_->impl_->regions_mutex_);
	return s_->impl_->by_generation_.count(generation_) != 0;
}

void region_iterator::next()
{
	if (generation_ == 0)
		return;
	std::shared_lock lk(s_->impl_->regions_mutex_);
	auto &m = s_->impl_->by_generation_;
	auto it = m.upper_bound(generation_);
	generation_ = it == m.end() ? 0 : it->first;
	current_ = it == m.end() ? region{} : region{it->second->offset};
}

region region_iterator::get() const
{
	return current_;
}

} // namespace pmemstream
