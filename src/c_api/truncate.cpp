// SPDX-License-Identifier: BSD-3-Clause
// Truncation (issue 14): region clear, prefix and suffix truncation over the C++ calls.
#include "c_api.hpp"

using namespace pmemstream::c_api;

namespace {

template <typename F>
int dropped_or_fail(handle *stream, const char *what, uint64_t *dropped, F &&call)
{
	if (!stream)
		return invalid_argument(what);
	return guarded([&] {
		auto r = call(*cpp(stream));
		if (!r)
			return fail(r.err());
		if (dropped)
			*dropped = *r;
		return 0;
	});
}

} // namespace

extern "C" {

int pmemstream_region_clear_errc(handle *stream, struct pmemstream_region region, uint64_t *dropped)
{
	return dropped_or_fail(stream, "pmemstream_region_clear: stream is NULL", dropped,
			       [&](pmemstream::stream &s) { return s.region_clear(cpp(region)); });
}

int pmemstream_region_clear(handle *stream, struct pmemstream_region region, uint64_t *dropped)
{
	return drop_in(pmemstream_region_clear_errc(stream, region, dropped));
}

int pmemstream_region_truncate_before_errc(handle *stream, struct pmemstream_region region, struct pmemstream_entry entry,
					   uint64_t *dropped)
{
	return dropped_or_fail(stream, "pmemstream_region_truncate_before: stream is NULL", dropped,
			       [&](pmemstream::stream &s) { return s.region_truncate_before(cpp(region), cpp(entry)); });
}

int pmemstream_region_truncate_before(handle *stream, struct pmemstream_region region, struct pmemstream_entry entry,
				      uint64_t *dropped)
{
	return drop_in(pmemstream_region_truncate_before_errc(stream, region, entry, dropped));
}

int pmemstream_region_truncate_before_timestamp_errc(handle *stream, struct pmemstream_region region, uint64_t timestamp,
						     uint64_t *dropped)
{
	return dropped_or_fail(stream, "pmemstream_region_truncate_before_timestamp: stream is NULL", dropped,
			       [&](pmemstream::stream &s) { return s.region_truncate_before_timestamp(cpp(region), timestamp); });
}

int pmemstream_region_truncate_before_timestamp(handle *stream, struct pmemstream_region region, uint64_t timestamp,
						uint64_t *dropped)
{
	return drop_in(pmemstream_region_truncate_before_timestamp_errc(stream, region, timestamp, dropped));
}

int pmemstream_region_truncate_after_errc(handle *stream, struct pmemstream_region region, struct pmemstream_entry entry,
					  uint64_t *dropped)
{
	return dropped_or_fail(stream, "pmemstream_region_truncate_after: stream is NULL", dropped,
			       [&](pmemstream::stream &s) { return s.region_truncate_after(cpp(region), cpp(entry)); });
}

int pmemstream_region_truncate_after(handle *stream, struct pmemstream_region region, struct pmemstream_entry entry,
				     uint64_t *dropped)
{
	return drop_in(pmemstream_region_truncate_after_errc(stream, region, entry, dropped));
}

} // extern "C"
