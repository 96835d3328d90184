// SPDX-License-Identifier: BSD-3-Clause
// The C++ API of truncation (issue 14): region clear, prefix and suffix truncation. The work
// is in src/engine/region_truncate.cpp.
#include "engine/stream_impl.hpp"

namespace pmemstream {

namespace {

template <typename T>
result<T> failed_media(stream::impl &s, result<T> r)
{
	if (!r && r.code() == errc::media_failed)
		s.gate_.fail(errc::media_failed);
	return r;
}

} // namespace

result<uint64_t> stream::region_clear(region r)
{
	impl &s = *impl_;
	auto rt = s.writable(r, nullptr);
	if (!rt)
		return rt.err();
	return failed_media(s, s.catalog_.clear(*rt, r.id, *s.state_, *s.tracker_));
}

result<uint64_t> stream::region_truncate_before(region r, const entry &e)
{
	impl &s = *impl_;
	auto rt = s.writable(r, nullptr);
	if (!rt)
		return rt.err();
	if (e.region_id != 0 && e.region_id != (*rt)->id.load(std::memory_order_relaxed))
		return error(errc::invalid_handle, "the entry belongs to another region");
	return failed_media(s, s.catalog_.truncate_before(*rt, r.id, e.offset, false, 0, *s.state_, *s.tracker_));
}

result<uint64_t> stream::region_truncate_before_timestamp(region r, uint64_t ts)
{
	impl &s = *impl_;
	auto rt = s.writable(r, nullptr);
	if (!rt)
		return rt.err();
	return failed_media(s, s.catalog_.truncate_before(*rt, r.id, 0, true, ts, *s.state_, *s.tracker_));
}

result<uint64_t> stream::region_truncate_after(region r, const entry &e)
{
	impl &s = *impl_;
	auto rt = s.writable(r, nullptr);
	if (!rt)
		return rt.err();
	if (e.region_id != 0 && e.region_id != (*rt)->id.load(std::memory_order_relaxed))
		return error(errc::invalid_handle, "the entry belongs to another region");
	return failed_media(s, s.catalog_.truncate_after(*rt, r.id, e.offset, *s.state_, *s.tracker_));
}

} // namespace pmemstream
