// SPDX-License-Identifier: BSD-3-Clause
// Opening, creating, closing and describing a stream; its watermarks.
#include "c_api.hpp"

#include <memory>
#include <utility>

using namespace pmemstream::c_api;

namespace {

int adopt(handle **out, pmemstream::result<std::unique_ptr<pmemstream::stream>> &&r) noexcept
{
	if (!r)
		return fail(r.err());
	*out = c(std::move(r).value().release());
	return 0;
}

} // namespace

extern "C" {

int pmemstream_from_map_errc(handle **stream, size_t block_size, struct pmem2_map *map)
{
	if (!stream)
		return invalid_argument("pmemstream_from_map: stream is NULL");
	*stream = nullptr;
	if (!map)
		return invalid_argument("pmemstream_from_map: map is NULL");
	return guarded([&] { return adopt(stream, pmemstream::stream::from_map(map, block_size)); });
}

int pmemstream_from_map(handle **stream, size_t block_size, struct pmem2_map *map)
{
	return drop_in(pmemstream_from_map_errc(stream, block_size, map));
}

int pmemstream_create_errc(handle **stream, const char *path, uint64_t size, uint64_t block_size)
{
	if (!stream)
		return invalid_argument("pmemstream_create: stream is NULL");
	*stream = nullptr;
	if (!path)
		return invalid_argument("pmemstream_create: path is NULL");
	return guarded([&] {
		pmemstream::create_options options;
		options.size = size;
		if (block_size != 0)
			options.block_size = block_size;
		return adopt(stream, pmemstream::stream::create(path, options));
	});
}

int pmemstream_create(handle **stream, const char *path, uint64_t size, uint64_t block_size)
{
	return drop_in(pmemstream_create_errc(stream, path, size, block_size));
}

int pmemstream_open_errc(handle **stream, const char *path, uint64_t block_size, unsigned flags)
{
	if (!stream)
		return invalid_argument("pmemstream_open: stream is NULL");
	*stream = nullptr;
	if (!path)
		return invalid_argument("pmemstream_open: path is NULL");
	if (flags & ~(PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_SALVAGE | PMEMSTREAM_OPEN_FOLLOW | PMEMSTREAM_OPEN_POINT_IN_TIME |
		      PMEMSTREAM_OPEN_VERIFY_FULL | PMEMSTREAM_OPEN_SKIP_CORRUPT))
		return invalid_argument("pmemstream_open: unknown flag");
	if ((flags & PMEMSTREAM_OPEN_SKIP_CORRUPT) &&
	    (flags & (PMEMSTREAM_OPEN_SALVAGE | PMEMSTREAM_OPEN_POINT_IN_TIME | PMEMSTREAM_OPEN_FOLLOW))) // issue 14
		return invalid_argument("pmemstream_open: PMEMSTREAM_OPEN_SKIP_CORRUPT excludes SALVAGE, POINT_IN_TIME and FOLLOW");
	if ((flags & PMEMSTREAM_OPEN_SKIP_CORRUPT) && !(flags & PMEMSTREAM_OPEN_READ_ONLY))
		return invalid_argument("pmemstream_open: PMEMSTREAM_OPEN_SKIP_CORRUPT needs PMEMSTREAM_OPEN_READ_ONLY");
	if ((flags & PMEMSTREAM_OPEN_SALVAGE) && (flags & PMEMSTREAM_OPEN_POINT_IN_TIME))
		return invalid_argument("pmemstream_open: PMEMSTREAM_OPEN_SALVAGE and PMEMSTREAM_OPEN_POINT_IN_TIME exclude each other");
	if ((flags & PMEMSTREAM_OPEN_SALVAGE) && !(flags & PMEMSTREAM_OPEN_READ_ONLY))
		return invalid_argument("pmemstream_open: PMEMSTREAM_OPEN_SALVAGE needs PMEMSTREAM_OPEN_READ_ONLY");
	if ((flags & PMEMSTREAM_OPEN_FOLLOW) && !(flags & PMEMSTREAM_OPEN_READ_ONLY)) // live readers (issue 12)
		return invalid_argument("pmemstream_open: PMEMSTREAM_OPEN_FOLLOW needs PMEMSTREAM_OPEN_READ_ONLY");
	return guarded([&] {
		pmemstream::open_options options;
		options.block_size = block_size;
		options.read_only = (flags & PMEMSTREAM_OPEN_READ_ONLY) != 0;
		options.follow = (flags & PMEMSTREAM_OPEN_FOLLOW) != 0; // live readers (issue 12)
		options.recovery = (flags & PMEMSTREAM_OPEN_SALVAGE) ? pmemstream::recovery_mode::salvage
								     : pmemstream::recovery_mode::strict;
		if (flags & PMEMSTREAM_OPEN_POINT_IN_TIME) // issue 14
			options.recovery = pmemstream::recovery_mode::point_in_time;
		if (flags & PMEMSTREAM_OPEN_SKIP_CORRUPT) // issue 14
			options.recovery = pmemstream::recovery_mode::skip_corrupt;
		if (flags & PMEMSTREAM_OPEN_VERIFY_FULL)
			options.verify = pmemstream::verify_mode::full;
		return adopt(stream, pmemstream::stream::open(path, options));
	});
}

int pmemstream_open(handle **stream, const char *path, uint64_t block_size, unsigned flags)
{
	return drop_in(pmemstream_open_errc(stream, path, block_size, flags));
}

void pmemstream_delete(handle **stream)
{
	if (!stream || !*stream)
		return;
	delete cpp(*stream);
	*stream = nullptr;
}

uint64_t pmemstream_committed_timestamp(handle *stream)
{
	if (!stream) {
		invalid_argument("pmemstream_committed_timestamp: stream is NULL");
		return 0;
	}
	return cpp(stream)->committed_timestamp();
}

uint64_t pmemstream_persisted_timestamp(handle *stream)
{
	if (!stream) {
		invalid_argument("pmemstream_persisted_timestamp: stream is NULL");
		return 0;
	}
	return cpp(stream)->persisted_timestamp();
}

int pmemstream_stream_get_info_errc(handle *stream, struct pmemstream_info *info)
{
	if (!stream)
		return invalid_argument("pmemstream_stream_get_info: stream is NULL");
	if (!info)
		return invalid_argument("pmemstream_stream_get_info: info is NULL");
	return guarded([&] {
		auto i = cpp(stream)->info();
		*info = pmemstream_info{};
		info->format_version = i.format_version;
		info->size = i.size;
		info->block_size = i.block_size;
		info->arena_offset = i.arena_offset;
		info->arena_size = i.arena_size;
		info->region_count = i.region_count;
		info->allocated_bytes = i.allocated_bytes;
		info->free_bytes = i.free_bytes;
		info->largest_free = i.largest_free;
		info->committed_timestamp = i.committed_timestamp;
		info->persisted_timestamp = i.persisted_timestamp;
		info->read_only = i.read_only ? 1 : 0;
		return 0;
	});
}

int pmemstream_stream_get_info(handle *stream, struct pmemstream_info *info)
{
	return drop_in(pmemstream_stream_get_info_errc(stream, info));
}

} // extern "C"
