// SPDX-License-Identifier: BSD-3-Clause
// The C API: a thin wrapper over the C++ API. Errors become codes in to_c_code() only; no
// exception crosses into C.

// struct pmemstream (C) and namespace pmemstream (C++) cannot share one scope, so this file
// sees the C handle under another tag. The functions are extern "C": their symbols do not
// depend on the tag.
#define pmemstream pmemstream_c_handle
#include <libpmemstream.h>
#undef pmemstream

#include <pmemstream/stream.hpp>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <system_error>
#include <utility>

struct pmemstream_c_handle;

struct pmemstream_region_iterator {
	pmemstream::region_iterator it;
};

struct pmemstream_entry_iterator {
	pmemstream::entry_iterator it;
};

namespace {

using handle = pmemstream_c_handle;
using pmemstream::errc;

constexpr int c_code(errc e)
{
	return -(PMEMSTREAM_E_BASE + static_cast<int>(e));
}
// The header's codes must follow errc, which is never renumbered.
static_assert(c_code(errc::invalid_argument) == PMEMSTREAM_E_INVALID_ARGUMENT);
static_assert(c_code(errc::invalid_handle) == PMEMSTREAM_E_INVALID_HANDLE);
static_assert(c_code(errc::region_full) == PMEMSTREAM_E_REGION_FULL);
static_assert(c_code(errc::out_of_space) == PMEMSTREAM_E_OUT_OF_SPACE);
static_assert(c_code(errc::corrupt) == PMEMSTREAM_E_CORRUPT);
static_assert(c_code(errc::version_mismatch) == PMEMSTREAM_E_VERSION_MISMATCH);
static_assert(c_code(errc::not_a_stream) == PMEMSTREAM_E_NOT_A_STREAM);
static_assert(c_code(errc::parameter_mismatch) == PMEMSTREAM_E_PARAMETER_MISMATCH);
static_assert(c_code(errc::io_error) == PMEMSTREAM_E_IO);
static_assert(c_code(errc::read_only) == PMEMSTREAM_E_READ_ONLY);
static_assert(c_code(errc::busy) == PMEMSTREAM_E_BUSY);
static_assert(c_code(errc::entry_too_large) == PMEMSTREAM_E_ENTRY_TOO_LARGE);
static_assert(c_code(errc::exists) == PMEMSTREAM_E_EXISTS);
static_assert(c_code(errc::media_failed) == PMEMSTREAM_E_MEDIA_FAILED);
// The public structures are ABI: their sizes never change (new facts use reserved fields).
static_assert(sizeof(pmemstream_region) == 8 && sizeof(pmemstream_entry) == 8);
static_assert(sizeof(pmemstream_region_info) == 64);
static_assert(sizeof(pmemstream_entry_info) == 64);
static_assert(sizeof(pmemstream_info) == 160);

thread_local std::string last_message;

void record_message(const char *text) noexcept
{
	try {
		last_message = text;
	} catch (...) {
		last_message.clear();
	}
}

void record_message(const std::string &text) noexcept
{
	record_message(text.c_str());
}

int to_c_code(errc code) noexcept
{
	return c_code(code);
}

int fail(const pmemstream::error &err) noexcept
{
	record_message(err.message().empty() ? pmemstream::errc_name(err.code()) : err.message());
	return to_c_code(err.code());
}

int fail(errc code, const char *text) noexcept
{
	record_message(text);
	return to_c_code(code);
}

int invalid_argument(const char *text) noexcept
{
	return fail(errc::invalid_argument, text);
}

// Runs f, turning anything thrown (only allocation failure is expected) into a code.
template <typename F>
int guarded(F &&f) noexcept
{
	try {
		return f();
	} catch (const std::bad_alloc &) {
		record_message("out of memory");
		return -ENOMEM;
	} catch (const std::exception &e) {
		record_message(e.what());
		return PMEMSTREAM_E_INTERNAL;
	} catch (...) {
		record_message("unknown exception");
		return PMEMSTREAM_E_INTERNAL;
	}
}

pmemstream::stream *cpp(handle *s) noexcept
{
	return reinterpret_cast<pmemstream::stream *>(s);
}

handle *c(pmemstream::stream *s) noexcept
{
	return reinterpret_cast<handle *>(s);
}

pmemstream::region_runtime *cpp(pmemstream_region_runtime *rt) noexcept
{
	return reinterpret_cast<pmemstream::region_runtime *>(rt);
}

pmemstream::region cpp(pmemstream_region r) noexcept
{
	return pmemstream::region{r.offset};
}

pmemstream::entry cpp(pmemstream_entry e) noexcept
{
	return pmemstream::entry{e.offset};
}

int adopt(handle **out, pmemstream::result<std::unique_ptr<pmemstream::stream>> &&r) noexcept
{
	if (!r)
		return fail(r.err());
	*out = c(std::move(r).value().release());
	return 0;
}

} // namespace

extern "C" {

const char *pmemstream_strerror(int code)
{
	if (code == 0)
		return "success";
	if (code <= -(PMEMSTREAM_E_BASE + 1) && code >= -(PMEMSTREAM_E_BASE + static_cast<int>(errc::media_failed)))
		return pmemstream::errc_name(static_cast<errc>(-code - PMEMSTREAM_E_BASE));
	if (code == PMEMSTREAM_E_INTERNAL)
		return "internal error";
	if (code < 0 && code > -PMEMSTREAM_E_BASE) {
		thread_local std::string text;
		try {
			text = std::generic_category().message(-code);
			return text.c_str();
		} catch (...) {
			return "unknown system error";
		}
	}
	return "unknown error";
}

const char *pmemstream_errormsg(void)
{
	return last_message.c_str();
}

int pmemstream_from_map(handle **stream, size_t block_size, struct pmem2_map *map)
{
	if (!stream)
		return invalid_argument("pmemstream_from_map: stream is NULL");
	*stream = nullptr;
	if (!map)
		return invalid_argument("pmemstream_from_map: map is NULL");
	return guarded([&] { return adopt(stream, pmemstream::stream::from_map(map, block_size)); });
}

int pmemstream_create(handle **stream, const char *path, uint64_t size, uint64_t block_size)
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

int pmemstream_open(handle **stream, const char *path, uint64_t block_size, unsigned flags)
{
	if (!stream)
		return invalid_argument("pmemstream_open: stream is NULL");
	*stream = nullptr;
	if (!path)
		return invalid_argument("pmemstream_open: path is NULL");
	if (flags & ~(PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_SALVAGE))
		return invalid_argument("pmemstream_open: unknown flag");
	if ((flags & PMEMSTREAM_OPEN_SALVAGE) && !(flags & PMEMSTREAM_OPEN_READ_ONLY))
		return invalid_argument("pmemstream_open: PMEMSTREAM_OPEN_SALVAGE needs PMEMSTREAM_OPEN_READ_ONLY");
	return guarded([&] {
		pmemstream::open_options options;
		options.block_size = block_size;
		options.read_only = (flags & PMEMSTREAM_OPEN_READ_ONLY) != 0;
		options.recovery = (flags & PMEMSTREAM_OPEN_SALVAGE) ? pmemstream::recovery_mode::salvage
								     : pmemstream::recovery_mode::strict;
		return adopt(stream, pmemstream::stream::open(path, options));
	});
}

void pmemstream_delete(handle **stream)
{
	if (!stream || !*stream)
		return;
	delete cpp(*stream);
	*stream = nullptr;
}

int pmemstream_region_allocate(handle *stream, size_t size, struct pmemstream_region *region)
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

int pmemstream_region_free(handle *stream, struct pmemstream_region region)
{
	if (!stream)
		return invalid_argument("pmemstream_region_free: stream is NULL");
	return guarded([&] {
		auto r = cpp(stream)->region_free(cpp(region));
		return r ? 0 : fail(r.err());
	});
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

int pmemstream_region_runtime_initialize(handle *stream, struct pmemstream_region region,
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

int pmemstream_region_entry_count(handle *stream, struct pmemstream_region region, uint64_t *count)
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

int pmemstream_region_get_info(handle *stream, struct pmemstream_region region, struct pmemstream_region_info *info)
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

int pmemstream_append(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
		      const void *data, size_t size, struct pmemstream_entry *new_entry)
{
	if (!stream)
		return invalid_argument("pmemstream_append: stream is NULL");
	if (!data && size > 0)
		return invalid_argument("pmemstream_append: data is NULL and size is not 0");
	return guarded([&] {
		auto r = cpp(stream)->append(cpp(region), data, size, cpp(runtime));
		if (!r)
			return fail(r.err());
		if (new_entry)
			new_entry->offset = r->offset;
		return 0;
	});
}

int pmemstream_reserve(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
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

int pmemstream_publish(handle *stream, struct pmemstream_region region, struct pmemstream_region_runtime *runtime,
		       struct pmemstream_entry entry, size_t size)
{
	if (!stream)
		return invalid_argument("pmemstream_publish: stream is NULL");
	return guarded([&] {
		auto r = cpp(stream)->publish(cpp(region), cpp(entry), size, cpp(runtime));
		return r ? 0 : fail(r.err());
	});
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

int pmemstream_entry_get_info(handle *stream, struct pmemstream_entry entry, struct pmemstream_entry_info *info)
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

int pmemstream_stream_get_info(handle *stream, struct pmemstream_info *info)
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

int pmemstream_region_iterator_new(struct pmemstream_region_iterator **iterator, handle *stream)
{
	if (!iterator)
		return invalid_argument("pmemstream_region_iterator_new: iterator is NULL");
	*iterator = nullptr;
	if (!stream)
		return invalid_argument("pmemstream_region_iterator_new: stream is NULL");
	return guarded([&] {
		*iterator = new pmemstream_region_iterator{cpp(stream)->regions()};
		(*iterator)->it.seek_first();
		return 0;
	});
}

int pmemstream_region_iterator_is_valid(struct pmemstream_region_iterator *iterator)
{
	if (!iterator)
		return invalid_argument("pmemstream_region_iterator_is_valid: iterator is NULL");
	return iterator->it.is_valid() ? 0 : to_c_code(errc::invalid_handle);
}

void pmemstream_region_iterator_seek_first(struct pmemstream_region_iterator *iterator)
{
	if (iterator)
		iterator->it.seek_first();
}

void pmemstream_region_iterator_next(struct pmemstream_region_iterator *iterator)
{
	if (iterator && iterator->it.is_valid())
		iterator->it.next();
}

struct pmemstream_region pmemstream_region_iterator_get(struct pmemstream_region_iterator *iterator)
{
	if (!iterator || !iterator->it.is_valid())
		return pmemstream_region{0};
	return pmemstream_region{iterator->it.get().offset};
}

void pmemstream_region_iterator_delete(struct pmemstream_region_iterator **iterator)
{
	if (!iterator)
		return;
	delete *iterator;
	*iterator = nullptr;
}

int pmemstream_entry_iterator_new(struct pmemstream_entry_iterator **iterator, handle *stream,
				  struct pmemstream_region region)
{
	if (!iterator)
		return invalid_argument("pmemstream_entry_iterator_new: iterator is NULL");
	*iterator = nullptr;
	if (!stream)
		return invalid_argument("pmemstream_entry_iterator_new: stream is NULL");
	return guarded([&] {
		auto r = cpp(stream)->entries(cpp(region));
		if (!r)
			return fail(r.err());
		*iterator = new pmemstream_entry_iterator{std::move(r).value()};
		(*iterator)->it.seek_first();
		return 0;
	});
}

int pmemstream_entry_iterator_is_valid(struct pmemstream_entry_iterator *iterator)
{
	if (!iterator)
		return invalid_argument("pmemstream_entry_iterator_is_valid: iterator is NULL");
	return iterator->it.is_valid() ? 0 : to_c_code(errc::invalid_handle);
}

void pmemstream_entry_iterator_seek_first(struct pmemstream_entry_iterator *iterator)
{
	if (iterator)
		iterator->it.seek_first();
}

void pmemstream_entry_iterator_next(struct pmemstream_entry_iterator *iterator)
{
	// Moving an invalid (tailing) iterator would skip the entry that makes it valid again.
	if (iterator && iterator->it.is_valid())
		iterator->it.next();
}

struct pmemstream_entry pmemstream_entry_iterator_get(struct pmemstream_entry_iterator *iterator)
{
	if (!iterator || !iterator->it.is_valid())
		return pmemstream_entry{0};
	return pmemstream_entry{iterator->it.get().offset};
}

void pmemstream_entry_iterator_delete(struct pmemstream_entry_iterator **iterator)
{
	if (!iterator)
		return;
	delete *iterator;
	*iterator = nullptr;
}

} // extern "C"
