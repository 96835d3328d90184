// SPDX-License-Identifier: BSD-3-Clause
#include "raft_store.hpp"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace pmemstream::replication {

namespace {

constexpr uint32_t meta_magic = 0x56544652; // "RFTV"
constexpr uint32_t snap_magic = 0x53544652; // "RFTS"
constexpr uint64_t meta_record_size = 24;
constexpr uint64_t snap_header_size = 48;
constexpr unsigned fixed_regions = 4;

void put_u32(std::byte *p, uint32_t v) noexcept
{
	std::memcpy(p, &v, 4); // little-endian hosts only (the stream's format is too)
}
void put_u64(std::byte *p, uint64_t v) noexcept
{
	std::memcpy(p, &v, 8);
}
uint32_t get_u32(const std::byte *p) noexcept
{
	uint32_t v;
	std::memcpy(&v, p, 4);
	return v;
}
uint64_t get_u64(const std::byte *p) noexcept
{
	uint64_t v;
	std::memcpy(&v, p, 8);
	return v;
}

error corrupt(const std::string &what)
{
	return error(errc::corrupt, "raft store: " + what);
}

std::vector<std::byte> encode_snapshot(const snapshot_record &s)
{
	uint64_t n = snap_header_size;
	for (const auto &m : s.conf)
		n += 16 + m.address.size();
	n += s.data.size();
	std::vector<std::byte> out(n);
	std::byte *p = out.data();
	put_u32(p, snap_magic);
	put_u32(p + 4, static_cast<uint32_t>(s.conf.size()));
	put_u64(p + 8, s.index);
	put_u64(p + 16, s.term);
	put_u64(p + 24, s.conf_index);
	put_u64(p + 32, s.data.size());
	put_u64(p + 40, 0);
	p += snap_header_size;
	for (const auto &m : s.conf) {
		put_u64(p, m.id);
		put_u32(p + 8, m.role);
		put_u32(p + 12, static_cast<uint32_t>(m.address.size()));
		std::memcpy(p + 16, m.address.data(), m.address.size());
		p += 16 + m.address.size();
	}
	if (!s.data.empty())
		std::memcpy(p, s.data.data(), s.data.size());
	return out;
}

std::optional<snapshot_record> decode_snapshot(std::span<const std::byte> b)
{
	if (b.size() < snap_header_size || get_u32(b.data()) != snap_magic)
		return std::nullopt;
	snapshot_record s;
	uint32_t members = get_u32(b.data() + 4);
	s.index = get_u64(b.data() + 8);
	s.term = get_u64(b.data() + 16);
	s.conf_index = get_u64(b.data() + 24);
	uint64_t data_len = get_u64(b.data() + 32);
	uint64_t at = snap_header_size;
	for (uint32_t i = 0; i < members; i++) {
		if (b.size() - at < 16)
			return std::nullopt;
		member m;
		m.id = get_u64(b.data() + at);
		m.role = get_u32(b.data() + at + 8);
		uint32_t len = get_u32(b.data() + at + 12);
		at += 16;
		if (b.size() - at < len)
			return std::nullopt;
		m.address.assign(reinterpret_cast<const char *>(b.data() + at), len);
		at += len;
		s.conf.push_back(std::move(m));
	}
	if (b.size() - at != data_len)
		return std::nullopt;
	s.data.assign(b.begin() + static_cast<std::ptrdiff_t>(at), b.end());
	return s;
}

} // namespace

void encode_frame(const log_record &r, std::byte out[log_frame_size]) noexcept
{
	put_u64(out, r.index);
	put_u64(out + 8, r.term);
	put_u32(out + 16, r.type);
	put_u32(out + 20, log_frame_magic);
}

std::optional<log_record> decode_frame(std::span<const std::byte> b) noexcept
{
	if (b.size() < log_frame_size || get_u32(b.data() + 20) != log_frame_magic)
		return std::nullopt;
	uint32_t type = get_u32(b.data() + 16);
	if (type > 0xffff)
		return std::nullopt;
	log_record r;
	r.index = get_u64(b.data());
	r.term = get_u64(b.data() + 8);
	r.type = static_cast<uint16_t>(type);
	r.data = b.subspan(log_frame_size);
	return r;
}

result<std::unique_ptr<raft_store>> raft_store::create(const std::string &path, const store_options &o)
{
	if (::access(path.c_str(), F_OK) == 0)
		return error(errc::exists, "raft store: " + path + " exists");
	std::string tmp = path + ".creating";
	::unlink(tmp.c_str()); // a leftover of a crashed create
	{
		create_options co;
		co.size = o.size;
		co.commit.worker = commit_policy::worker_mode::off;
		auto s = stream::create(tmp, co);
		if (!s)
			return std::move(s).err();
		for (uint64_t sz : {o.meta_size, o.meta_size, o.snapshot_size, o.snapshot_size}) {
			auto r = (*s)->region_allocate(sz);
			if (!r) {
				s.value().reset();
				::unlink(tmp.c_str());
				return std::move(r).err();
			}
		}
	}
	if (::rename(tmp.c_str(), path.c_str()) != 0) {
		::unlink(tmp.c_str());
		return error(errc::io_error, "raft store: rename to " + path + " failed");
	}
	std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
	if (dir.empty())
		dir = "/";
	int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		(void)::fsync(fd);
		::close(fd);
	}
	return open(path, o);
}

result<std::unique_ptr<raft_store>> raft_store::open(const std::string &path, const store_options &o)
{
	// The raft loop waits for its own appends (wait_persisted), so a commit worker would only
	// add a thread hand-off.
	open_options oo;
	oo.commit.worker = commit_policy::worker_mode::off;
	auto s = stream::open(path, oo);
	if (!s)
		return std::move(s).err();
	std::unique_ptr<raft_store> st(new raft_store());
	st->s_ = std::move(s).value();
	st->o_ = o;
	if (auto rc = st->load(); !rc)
		return rc.err();
	return st;
}

status raft_store::load()
{
	std::vector<region> rs;
	for (region r : s_->regions())
		rs.push_back(r);
	if (rs.size() < fixed_regions)
		return error(errc::invalid_argument, "raft store: the stream lacks the meta and snapshot regions");
	meta_[0] = rs[0];
	meta_[1] = rs[1];
	snap_[0] = rs[2];
	snap_[1] = rs[3];

	// (term, vote): the newest record over both meta regions.
	uint64_t best_ts = 0;
	for (unsigned k = 0; k < 2; k++) {
		auto it = s_->entries(meta_[k]);
		if (!it)
			return it.err();
		for (pmemstream::entry e : *it) {
			auto d = s_->entry_data(e);
			auto ts = s_->entry_timestamp(e);
			if (!d || !ts)
				return corrupt("meta entry unreadable");
			if (d->size() != meta_record_size || get_u32(d->data()) != meta_magic)
				return corrupt("not a (term, vote) record in a meta region");
			if (*ts > best_ts) {
				best_ts = *ts;
				term_ = get_u64(d->data() + 8);
				vote_ = get_u64(d->data() + 16);
				meta_active_ = k;
			}
		}
	}

	// The snapshot written last (each region holds at most one; the stream's timestamps order
	// the writes).
	uint64_t snap_ts = 0;
	for (unsigned k = 0; k < 2; k++) {
		auto it = s_->entries(snap_[k]);
		if (!it)
			return it.err();
		for (pmemstream::entry e : *it) {
			auto d = s_->entry_data(e);
			if (!d)
				return corrupt("snapshot entry unreadable");
			auto snap = decode_snapshot(*d);
			if (!snap)
				return corrupt("bad snapshot record");
			auto ts = s_->entry_timestamp(e);
			if (!ts)
				return corrupt("snapshot entry unreadable");
			if (*ts > snap_ts) {
				snap_ts = *ts;
				snapshot_ = std::move(snap);
				snap_newest_ = k;
			}
		}
	}

	// The log: segments in allocation order, indexes contiguous across them.
	bool have_first = false;
	for (size_t k = fixed_regions; k < rs.size(); k++) {
		segment seg;
		seg.r = rs[k];
		auto rt = s_->get_region_runtime(seg.r);
		if (!rt)
			return rt.err();
		seg.rt = *rt;
		auto it = s_->entries(seg.r);
		if (!it)
			return it.err();
		for (pmemstream::entry e : *it) {
			auto d = s_->entry_data(e);
			if (!d)
				return corrupt("log entry unreadable");
			auto rec = decode_frame(*d);
			if (!rec)
				return corrupt("not a framed raft entry in a log segment");
			if (!have_first) {
				first_index_ = rec->index;
				have_first = true;
			} else if (rec->index != first_index_ + entries_.size()) {
				return corrupt("raft index " + std::to_string(rec->index) + " where " +
					       std::to_string(first_index_ + entries_.size()) + " was expected");
			}
			if (seg.count == 0)
				seg.first = rec->index;
			seg.count++;
			entries_.push_back(e);
		}
		if (seg.count == 0) {
			// An empty segment: left by a crash right after its allocation, or emptied.
			// Only the last one may stay (it takes the next appends).
			if (k + 1 < rs.size()) {
				if (auto rc = s_->region_free(seg.r); !rc)
					return rc;
				continue;
			}
			seg.first = first_index_ + entries_.size();
		}
		segs_.push_back(seg);
	}
	if (!have_first)
		first_index_ = snapshot_ ? snapshot_->index + 1 : 1;

	if (snapshot_) {
		bool drop = false;
		if (entries_.empty())
			first_index_ = std::max(first_index_, snapshot_->index + 1);
		else if (last_index() < snapshot_->index)
			drop = true; // the log ends before the snapshot: it is all superseded
		else if (first_index_ > snapshot_->index + 1)
			return corrupt("the log starts after the snapshot's index + 1");
		else if (first_index_ <= snapshot_->index) {
			auto at = entry(snapshot_->index);
			if (!at)
				return at.err();
			drop = at->term != snapshot_->term; // an install interrupted by a crash
		}
		if (drop) {
			if (auto rc = drop_prefix(last_index() + 1); !rc)
				return rc;
			first_index_ = snapshot_->index + 1;
		}
	}
	return status::ok();
}

result<log_record> raft_store::entry(uint64_t i) const
{
	if (i < first_index_ || i > last_index())
		return error(errc::invalid_argument, "raft store: index " + std::to_string(i) + " not in the log");
	auto d = s_->entry_data(entries_[i - first_index_]);
	if (!d)
		return std::move(d).err();
	auto rec = decode_frame(*d);
	if (!rec || rec->index != i)
		return corrupt("entry " + std::to_string(i) + " lost its frame");
	return *rec;
}

status raft_store::set_term_vote(uint64_t term, uint64_t vote)
{
	std::byte rec[meta_record_size];
	put_u32(rec, meta_magic);
	put_u32(rec + 4, 0);
	put_u64(rec + 8, term);
	put_u64(rec + 16, vote);
	auto a = s_->append(meta_[meta_active_], rec, sizeof rec);
	if (!a && a.code() == errc::region_full) {
		// The other region's record is older; the full one keeps the newest until the
		// append below is persisted.
		unsigned other = 1 - meta_active_;
		if (auto c = s_->region_clear(meta_[other]); !c)
			return c.err();
		a = s_->append(meta_[other], rec, sizeof rec);
		if (a)
			meta_active_ = other;
	}
	if (!a)
		return std::move(a).err();
	term_ = term;
	vote_ = vote;
	return status::ok();
}

result<raft_store::segment> raft_store::new_segment(uint64_t min_bytes)
{
	auto r = s_->region_allocate(std::max(o_.segment_size, min_bytes));
	if (!r)
		return std::move(r).err();
	auto rt = s_->get_region_runtime(*r);
	if (!rt)
		return std::move(rt).err();
	segment seg;
	seg.r = *r;
	seg.rt = *rt;
	seg.first = last_index() + 1;
	return seg;
}

status raft_store::append(std::span<const log_record> records)
{
	auto ts = append_nowait(records);
	if (!ts)
		return std::move(ts).err();
	return persist_through(*ts);
}

status raft_store::persist_through(uint64_t ts)
{
	if (ts == 0)
		return status::ok();
	return s_->wait_persisted(ts);
}

result<uint64_t> raft_store::append_nowait(std::span<const log_record> records)
{
	uint64_t last_ts = 0;
	for (const auto &rec : records) {
		if (rec.index != last_index() + 1)
			return error(errc::invalid_argument, "raft store: append of index " + std::to_string(rec.index) +
								     " after " + std::to_string(last_index()));
		uint64_t size = log_frame_size + rec.data.size();
		result<reservation> res = error(errc::region_full, {});
		if (!segs_.empty())
			res = s_->reserve(segs_.back().r, size, segs_.back().rt);
		if (!res && res.code() == errc::region_full) {
			auto seg = new_segment(entry_footprint(size));
			if (!seg)
				return std::move(seg).err();
			segs_.push_back(*seg);
			res = s_->reserve(segs_.back().r, size, segs_.back().rt);
		}
		if (!res)
			return std::move(res).err();
		auto *p = static_cast<std::byte *>(res->data);
		encode_frame(rec, p);
		if (!rec.data.empty())
			std::memcpy(p + log_frame_size, rec.data.data(), rec.data.size());
		auto ts = s_->async_publish(segs_.back().r, res->ent, size, segs_.back().rt);
		if (!ts)
			return std::move(ts).err();
		last_ts = *ts;
		if (segs_.back().count == 0)
			segs_.back().first = rec.index;
		segs_.back().count++;
		entries_.push_back(res->ent);
	}
	return last_ts;
}

status raft_store::truncate(uint64_t i)
{
	if (i > last_index())
		return status::ok();
	i = std::max(i, first_index_);
	// From the back, so that a crash leaves a contiguous log.
	while (!segs_.empty() && segs_.back().first >= i) {
		if (auto rc = s_->region_free(segs_.back().r); !rc)
			return rc;
		segs_.pop_back();
	}
	if (!segs_.empty() && segs_.back().first + segs_.back().count > i) {
		auto cut = s_->region_truncate_after(segs_.back().r, entries_[i - 1 - first_index_]);
		if (!cut)
			return std::move(cut).err();
		segs_.back().count = i - segs_.back().first;
	}
	entries_.resize(i - first_index_);
	return status::ok();
}

status raft_store::drop_prefix(uint64_t keep_from)
{
	if (keep_from <= first_index_)
		return status::ok();
	if (!o_.prefix_cut && keep_from <= last_index() && keep_from > first_index_) {
		// Only whole segments go: the one holding keep_from stays whole (raft accepts a log
		// that starts before the snapshot's index + 1 - trailing).
		for (const auto &seg : segs_) {
			if (seg.count > 0 && seg.first <= keep_from && keep_from < seg.first + seg.count) {
				keep_from = seg.first;
				break;
			}
		}
		if (keep_from <= first_index_)
			return status::ok();
	}
	uint64_t end = last_index() + 1;
	// From the front, so that a crash leaves a contiguous log (the snapshot covers the gap).
	while (!segs_.empty() && segs_.front().first + segs_.front().count <= std::min(keep_from, end) &&
	       (segs_.front().count > 0 || keep_from >= end)) {
		if (auto rc = s_->region_free(segs_.front().r); !rc)
			return rc;
		segs_.pop_front();
	}
	if (keep_from < end && !segs_.empty() && segs_.front().first < keep_from) {
		auto cut = s_->region_truncate_before(segs_.front().r, entries_[keep_from - first_index_]);
		if (!cut)
			return std::move(cut).err();
		segs_.front().count -= keep_from - segs_.front().first;
		segs_.front().first = keep_from;
	}
	uint64_t drop = std::min(keep_from, end) - first_index_;
	entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(drop));
	first_index_ = keep_from;
	return status::ok();
}

status raft_store::write_snapshot(const snapshot_record &s)
{
	unsigned target = snapshot_ ? 1 - snap_newest_ : 0;
	auto bytes = encode_snapshot(s);
	if (auto c = s_->region_clear(snap_[target]); !c)
		return c.err();
	auto a = s_->append(snap_[target], bytes.data(), bytes.size());
	if (!a)
		return std::move(a).err();
	snap_newest_ = target;
	snapshot_ = s;
	return status::ok();
}

status raft_store::put_snapshot(const snapshot_record &s, uint64_t trailing)
{
	if (auto rc = write_snapshot(s); !rc)
		return rc;
	if (trailing == 0) {
		// An install: the snapshot replaces the whole log.
		if (auto rc = drop_prefix(last_index() + 1); !rc)
			return rc;
		first_index_ = s.index + 1;
		return status::ok();
	}
	if (s.index > trailing)
		return drop_prefix(s.index - trailing + 1);
	return status::ok();
}

} // namespace pmemstream::replication
