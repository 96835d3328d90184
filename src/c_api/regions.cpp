// SPDX-License-Identifier: BSD-3-Clause
// Regions: allocation, free, sizes, counts and runtimes.
#include "c_api.hpp"

using namespace pmemstream::c_api;

extern "C" {

int pmemstream_region_allocate_errc(handle *stream, size_t size, struct pmemstream_region *region)
{
	if (!stream)
		return invalid_argument("pmemstream_region_allocate: stream is NULL");
	return guarded([&] {
		auto r = cpp(stream)->region_allocate(size);
		if (!r)
			return fail(r.err());
		if (region)
			region->offset = r->offset;
		return 0;
	});
}

int pmemstream_region_allocate(handle *stream, size_t size, struct pmemstream_region *region)
{
	return drop_in(pmemstream_region_allocate_errc(stream, size, region));
}

int pmemstream_region_free_errc(handle *stream, struct pmemstream_region region)
{
	if (!stream)
		return invalid_argument("pmemstream_region_free: stream is NULL");
	return guarded([&] {
		auto r = cpp(stream)->region_free(cpp(region));
		return r ? 0 : fail(r.err());
	});
}

int pmemstream_region_free(handle *stream, struct pmemstream_region region)
{
	return drop_in(pmemstream_region_free_errc(stream, region));
}

size_t pmemstream_region_size(handle *stream, struct pmemstream_region region)
{
	uint64_t size = 0;
	if (!stream) {
		invalid_argument("pmemstream_region_size: stream is NULL");
		return 0;
	}
	guarded([&] {
		auto r = cpp(stream)->region_size(cpp(region));
		if (!r)
			return fail(r.err());
		size = *r;
		return 0;
	});
	return size;
}

size_t pmemstream_region_usable_size(handle *stream, struct pmemstream_region region)
{
	uint64_t size = 0;
	if (!stream) {
		invalid_argument("pmemstream_region_usable_size: stream is NULL");
		return 0;
	}
	guarded([&] {
		auto r = cpp(stream)->region_usable_size(cpp(region));
		if (!r)
			return fail(r.err());
		size = *r;
		return 0;
	});
	return size;
}

int pmemstream_region_runtime_initialize_errc(handle *stream, struct pmemstream_region region,
					      struct pmemstream_region_runtime **runtime)
{
	if (!stream)
		return invalid_argument("pmemstream_region_runtime_initialize: stream is NULL");
	return guarded([&] {
		auto r = cpp(stream)->get_region_runtime(cpp(region));
		if (!r)
			return fail(r.err());
		if (runtime)
			*runtime = reinterpret_cast<pmemstream_region_runtime *>(*r);
		return 0;
	});
}

int pmemstream_region_runtime_initialize(handle *stream, struct pmemstream_region region,
					 struct pmemstream_region_runtime **runtime)
{
	return drop_in(pmemstream_region_runtime_initialize_errc(stream, region, runtime));
}

int pmemstream_region_entry_count_errc(handle *stream, struct pmemstream_region region, uint64_t *count)
{
	if (!stream)
		return invalid_argument("pmemstream_region_entry_count: stream is NULL");
	if (!count)
		return invalid_argument("pmemstream_region_entry_count: count is NULL");
	return guarded([&] {
		auto r = cpp(stream)->region_entry_count(cpp(region));
		if (!r)
			return fail(r.err());
		*count = *r;
		return 0;
	});
}

int pmemstream_region_entry_count(handle *stream, struct pmemstream_region region, uint64_t *count)
{
	return drop_in(pmemstream_region_entry_count_errc(stream, region, count));
}

int pmemstream_region_get_info_errc(handle *stream, struct pmemstream_region region, struct pmemstream_region_info *info)
{
	if (!stream)
		return invalid_argument("pmemstream_region_get_info: stream is NULL");
	if (!info)
		return invalid_argument("pmemstream_region_get_info: info is NULL");
	return guarded([&] {
		auto s = cpp(stream);
		auto size = s->region_size(cpp(region));
		if (!size)
			return fail(size.err());
		auto usable = s->region_usable_size(cpp(region));
		if (!usable)
			return fail(usable.err());
		auto count = s->region_entry_count(cpp(region));
		if (!count)
			return fail(count.err());
		*info = pmemstream_region_info{};
		info->size = *size;
		info->usable_size = *usable;
		info->entry_count = *count;
		return 0;
	});
}

int pmemstream_region_get_info(handle *stream, struct pmemstream_region region, struct pmemstream_region_info *info)
{
	return drop_in(pmemstream_region_get_info_errc(stream, region, info));
}

} // extern "C"
