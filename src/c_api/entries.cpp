// SPDX-License-Identifier: BSD-3-Clause
// Entries: append, reserve, publish and cancel, and the accessors of a committed entry.
#include "c_api.hpp"

#include <cstdio>

using namespace pmemstream::c_api;

namespace {

// pmemstream_append and pmemstream_append_with_timestamp; `name` for the messages.
int append(const char *name, handle *stream, pmemstream_region region, pmemstream_region_runtime *runtime,
	   const void *data, size_t size, pmemstream_entry *new_entry, uint64_t *timestamp) noexcept
{
	char text[160];
	auto invalid = [&](const char *what) {
		std::snprintf(text, sizeof(text), "%s: %s", name, what);
		return invalid_argument(text);
	};
	if (!stream)
		return invalid("stream is NULL");
	if (!data && size > 0)
		return invalid("data is NULL and size is not 0");
	return guarded([&] {
		auto s = cpp(stream);
		auto r = s->append(cpp(region), data, size, cpp(runtime));
		if (!r)
			return fail(r.err());
		if (timestamp)
			*timestamp = r->timestamp;
		if (new_entry)
			new_entry->offset = r->offset;
		return 0;
	});
}

} // namespace

extern "C" {

int pmemstream_append_errc(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
			   const void *data, size_t size, struct pmemstream_entry *new_entry)
{
	return append("pmemstream_append", stream, region, runtime, data, size, new_entry, nullptr);
}

int pmemstream_append(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
		      const void *data, size_t size, struct pmemstream_entry *new_entry)
{
	return drop_in(pmemstream_append_errc(stream, region, runtime, data, size, new_entry));
}

int pmemstream_append_with_timestamp_errc(handle *stream, struct pmemstream_region region,
					  struct pmemstream_region_runtime *runtime, const void *data, size_t size,
					  struct pmemstream_entry *new_entry, uint64_t *timestamp)
{
	if (!timestamp)
		return invalid_argument("pmemstream_append_with_timestamp: timestamp is NULL");
	return append("pmemstream_append_with_timestamp", stream, region, runtime, data, size, new_entry, timestamp);
}

int pmemstream_append_with_timestamp(handle *stream, struct pmemstream_region region,
				     struct pmemstream_region_runtime *runtime, const void *data, size_t size,
				     struct pmemstream_entry *new_entry, uint64_t *timestamp)
{
	return drop_in(pmemstream_append_with_timestamp_errc(stream, region, runtime, data, size, new_entry, timestamp));
}

int pmemstream_reserve_errc(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
			    size_t size, struct pmemstream_entry *reserved_entry, void **data)
{
	if (!stream)
		return invalid_argument("pmemstream_reserve: stream is NULL");
	if (!reserved_entry)
		return invalid_argument("pmemstream_reserve: reserved_entry is NULL");
	if (!data)
		return invalid_argument("pmemstream_reserve: data is NULL");
	return guarded([&] {
		auto r = cpp(stream)->reserve(cpp(region), size, cpp(runtime));
		if (!r)
			return fail(r.err());
		reserved_entry->offset = r->ent.offset;
		*data = r->data;
		return 0;
	});
}

int pmemstream_reserve(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
		       size_t size, struct pmemstream_entry *reserved_entry, void **data)
{
	return drop_in(pmemstream_reserve_errc(stream, region, runtime, size, reserved_entry, data));
}

int pmemstream_publish_errc(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
			    struct pmemstream_entry entry, size_t size)
{
	if (!stream)
		return invalid_argument("pmemstream_publish: stream is NULL");
	return guarded([&] {
		auto r = cpp(stream)->publish(cpp(region), cpp(entry), size, cpp(runtime));
		return r ? 0 : fail(r.err());
	});
}

int pmemstream_publish(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
		       struct pmemstream_entry entry, size_t size)
{
	return drop_in(pmemstream_publish_errc(stream, region, runtime, entry, size));
}

int pmemstream_cancel_errc(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
			   struct pmemstream_entry entry)
{
	if (!stream)
		return invalid_argument("pmemstream_cancel: stream is NULL");
	return guarded([&] {
		auto s = cpp(stream)->cancel(cpp(region), cpp(entry), cpp(runtime));
		return s ? 0 : fail(s.err());
	});
}

int pmemstream_cancel(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
		      struct pmemstream_entry entry)
{
	return drop_in(pmemstream_cancel_errc(stream, region, runtime, entry));
}

const void *pmemstream_entry_data(handle *stream, struct pmemstream_entry entry)
{
	const void *data = nullptr;
	if (!stream) {
		invalid_argument("pmemstream_entry_data: stream is NULL");
		return nullptr;
	}
	guarded([&] {
		auto r = cpp(stream)->entry_data(cpp(entry));
		if (!r)
			return fail(r.err());
		data = r->data();
		return 0;
	});
	return data;
}

size_t pmemstream_entry_size(handle *stream, struct pmemstream_entry entry)
{
	uint64_t size = 0;
	if (!stream) {
		invalid_argument("pmemstream_entry_size: stream is NULL");
		return 0;
	}
	guarded([&] {
		auto r = cpp(stream)->entry_size(cpp(entry));
		if (!r)
			return fail(r.err());
		size = *r;
		return 0;
	});
	return size;
}

uint64_t pmemstream_entry_timestamp(handle *stream, struct pmemstream_entry entry)
{
	uint64_t ts = 0;
	if (!stream) {
		invalid_argument("pmemstream_entry_timestamp: stream is NULL");
		return 0;
	}
	guarded([&] {
		auto r = cpp(stream)->entry_timestamp(cpp(entry));
		if (!r)
			return fail(r.err());
		ts = *r;
		return 0;
	});
	return ts;
}

int pmemstream_entry_get_info_errc(handle *stream, struct pmemstream_entry entry, struct pmemstream_entry_info *info)
{
	if (!stream)
		return invalid_argument("pmemstream_entry_get_info: stream is NULL");
	if (!info)
		return invalid_argument("pmemstream_entry_get_info: info is NULL");
	return guarded([&] {
		auto s = cpp(stream);
		auto data = s->entry_data(cpp(entry));
		if (!data)
			return fail(data.err());
		auto ts = s->entry_timestamp(cpp(entry));
		if (!ts)
			return fail(ts.err());
		auto region = s->entry_region(cpp(entry));
		if (!region)
			return fail(region.err());
		*info = pmemstream_entry_info{};
		info->data = data->data();
		info->size = data->size();
		info->timestamp = *ts;
		info->region.offset = region->offset;
		return 0;
	});
}

int pmemstream_entry_get_info(handle *stream, struct pmemstream_entry entry, struct pmemstream_entry_info *info)
{
	return drop_in(pmemstream_entry_get_info_errc(stream, entry, info));
}

} // extern "C"
