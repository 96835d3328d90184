// SPDX-License-Identifier: BSD-3-Clause
// The region iterator (live regions in allocation order), the entry iterator (committed
// entries of one region in append order) and the stream reader (committed entries of all
// regions in timestamp order).
#include "c_api.hpp"

#include <cstdio>
#include <utility>

using namespace pmemstream::c_api;

struct pmemstream_region_iterator {
	pmemstream::region_iterator it;
};

// The stream is kept so that is_valid() can say why the iterator is not valid.
struct pmemstream_entry_iterator {
	pmemstream::entry_iterator it;
	const pmemstream::stream *s;
};

// The C++ reader may throw (bad_alloc) part way through a move and then be left anywhere, so
// the C reader keeps its position itself, as the C++ reader defines it (the first live
// committed entry with a timestamp >= floor), and rebuilds the C++ reader there after a
// failure.
struct pmemstream_stream_reader {
	pmemstream::stream_reader r;
	const pmemstream::stream *s;
	uint64_t floor = 0;
	bool rebuild = false;
};

namespace {

int not_on_a_region() noexcept
{
	return fail(pmemstream::errc::invalid_handle,
		    "pmemstream_region_iterator_is_valid: the iterator is past the last region (or its region was freed)");
}

// The iterator's own region (its id too): not a region allocated at the same offset since.
bool region_is_live(const pmemstream_entry_iterator &iterator) noexcept
{
	return guarded([&] { return iterator.s->region_size(iterator.it.get_region()) ? 0 : 1; }) == 0;
}

int region_was_freed(const char *name, const pmemstream_entry_iterator &iterator) noexcept
{
	char text[128];
	std::snprintf(text, sizeof(text), "%s: the iterator's region 0x%llx was freed", name,
		      static_cast<unsigned long long>(iterator.it.get_region().offset));
	return fail(pmemstream::errc::invalid_handle, text);
}

int not_on_an_entry(const pmemstream_entry_iterator &iterator) noexcept
{
	const char *name = "pmemstream_entry_iterator_is_valid";
	if (!region_is_live(iterator))
		return region_was_freed(name, iterator);
	char text[128];
	if (auto st = iterator.it.position_status(); !st) { // issue 14: a clear or truncation cut the position
		std::snprintf(text, sizeof(text), "%s: a clear or truncation of region 0x%llx removed the iterator's position", name,
			      static_cast<unsigned long long>(iterator.it.get_region().offset));
		return fail(st.code(), text);
	}
	std::snprintf(text, sizeof(text), "%s: the iterator is past the last entry of region 0x%llx", name,
		      static_cast<unsigned long long>(iterator.it.get_region().offset));
	return fail(pmemstream::errc::invalid_handle, text);
}

// 0 when the iterator is on an entry, 1 when not, or a failure code.
int settle(pmemstream_entry_iterator &iterator) noexcept
{
	return guarded([&] { return iterator.it.is_valid() ? 0 : 1; });
}

// Puts the reader on a live entry at or above its floor: 0 when there is one, 1 when the
// reader is past the end, or a failure code (the reader is then rebuilt at its floor).
int settle(pmemstream_stream_reader &reader) noexcept
{
	const int code = guarded([&] {
		if (reader.rebuild) {
			reader.r.seek_timestamp(reader.floor);
			reader.rebuild = false;
		}
		return reader.r.is_valid() ? 0 : 1;
	});
	if (code < 0)
		reader.rebuild = true;
	return code;
}

// settle() for the accessors: true on an entry, otherwise the failure is recorded for `name`.
bool reader_on_entry(pmemstream_stream_reader *reader, const char *name) noexcept
{
	char text[128];
	if (!reader) {
		std::snprintf(text, sizeof(text), "%s: reader is NULL", name);
		invalid_argument(text);
		return false;
	}
	const int code = settle(*reader);
	if (code == 1) {
		std::snprintf(text, sizeof(text), "%s: the reader is not on an entry", name);
		fail(pmemstream::errc::invalid_handle, text);
	}
	return code == 0;
}

} // namespace

extern "C" {

int pmemstream_region_iterator_new_errc(struct pmemstream_region_iterator **iterator, handle *stream)
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

int pmemstream_region_iterator_new(struct pmemstream_region_iterator **iterator, handle *stream)
{
	return drop_in(pmemstream_region_iterator_new_errc(iterator, stream));
}

int pmemstream_region_iterator_is_valid_errc(struct pmemstream_region_iterator *iterator)
{
	if (!iterator)
		return invalid_argument("pmemstream_region_iterator_is_valid: iterator is NULL");
	return iterator->it.is_valid() ? 0 : not_on_a_region();
}

int pmemstream_region_iterator_is_valid(struct pmemstream_region_iterator *iterator)
{
	return drop_in(pmemstream_region_iterator_is_valid_errc(iterator));
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
	if (!iterator) {
		invalid_argument("pmemstream_region_iterator_get: iterator is NULL");
		return pmemstream_region{PMEMSTREAM_INVALID_OFFSET};
	}
	if (!iterator->it.is_valid()) {
		fail(pmemstream::errc::invalid_handle, "pmemstream_region_iterator_get: the iterator is not on a region");
		return pmemstream_region{PMEMSTREAM_INVALID_OFFSET};
	}
	return pmemstream_region{iterator->it.get().offset};
}

void pmemstream_region_iterator_delete(struct pmemstream_region_iterator **iterator)
{
	if (!iterator)
		return;
	delete *iterator;
	*iterator = nullptr;
}

int pmemstream_entry_iterator_new_errc(struct pmemstream_entry_iterator **iterator, handle *stream,
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
		*iterator = new pmemstream_entry_iterator{std::move(r).value(), cpp(stream)};
		(*iterator)->it.seek_first();
		return 0;
	});
}

int pmemstream_entry_iterator_new(struct pmemstream_entry_iterator **iterator, handle *stream,
				  struct pmemstream_region region)
{
	return drop_in(pmemstream_entry_iterator_new_errc(iterator, stream, region));
}

int pmemstream_entry_iterator_is_valid_errc(struct pmemstream_entry_iterator *iterator)
{
	if (!iterator)
		return invalid_argument("pmemstream_entry_iterator_is_valid: iterator is NULL");
	const int code = settle(*iterator);
	return code == 1 ? not_on_an_entry(*iterator) : code;
}

int pmemstream_entry_iterator_is_valid(struct pmemstream_entry_iterator *iterator)
{
	return drop_in(pmemstream_entry_iterator_is_valid_errc(iterator));
}

void pmemstream_entry_iterator_seek_first(struct pmemstream_entry_iterator *iterator)
{
	if (!iterator)
		return;
	iterator->it.seek_first();
}

void pmemstream_entry_iterator_next(struct pmemstream_entry_iterator *iterator)
{
	// Moving an invalid (tailing) iterator would skip the entry that makes it valid again.
	if (iterator && settle(*iterator) == 0)
		iterator->it.next();
}

struct pmemstream_entry pmemstream_entry_iterator_get(struct pmemstream_entry_iterator *iterator)
{
	if (!iterator) {
		invalid_argument("pmemstream_entry_iterator_get: iterator is NULL");
		return pmemstream_entry{PMEMSTREAM_INVALID_OFFSET};
	}
	if (const int code = settle(*iterator); code != 0) {
		if (code == 1)
			fail(pmemstream::errc::invalid_handle, "pmemstream_entry_iterator_get: the iterator is not on an entry");
		return pmemstream_entry{PMEMSTREAM_INVALID_OFFSET};
	}
	return pmemstream_entry{iterator->it.get().offset};
}

void pmemstream_entry_iterator_delete(struct pmemstream_entry_iterator **iterator)
{
	if (!iterator)
		return;
	delete *iterator;
	*iterator = nullptr;
}

int pmemstream_entry_iterator_seek_errc(struct pmemstream_entry_iterator *iterator, struct pmemstream_entry entry)
{
	if (!iterator)
		return invalid_argument("pmemstream_entry_iterator_seek: iterator is NULL");
	return guarded([&] {
		if (auto st = iterator->it.seek(cpp(entry)); !st) {
			char text[160];
			std::snprintf(text, sizeof(text),
				      "pmemstream_entry_iterator_seek: 0x%llx is not a committed entry of region 0x%llx",
				      static_cast<unsigned long long>(entry.offset),
				      static_cast<unsigned long long>(iterator->it.get_region().offset));
			return fail(st.code(), text);
		}
		return 0;
	});
}

int pmemstream_entry_iterator_seek(struct pmemstream_entry_iterator *iterator, struct pmemstream_entry entry)
{
	return drop_in(pmemstream_entry_iterator_seek_errc(iterator, entry));
}

int pmemstream_entry_iterator_seek_timestamp_errc(struct pmemstream_entry_iterator *iterator, uint64_t timestamp)
{
	if (!iterator)
		return invalid_argument("pmemstream_entry_iterator_seek_timestamp: iterator is NULL");
	if (!region_is_live(*iterator))
		return region_was_freed("pmemstream_entry_iterator_seek_timestamp", *iterator);
	iterator->it.seek_timestamp(timestamp);
	return 0;
}

int pmemstream_entry_iterator_seek_timestamp(struct pmemstream_entry_iterator *iterator, uint64_t timestamp)
{
	return drop_in(pmemstream_entry_iterator_seek_timestamp_errc(iterator, timestamp));
}

int pmemstream_stream_reader_new_errc(struct pmemstream_stream_reader **reader, handle *stream)
{
	if (!reader)
		return invalid_argument("pmemstream_stream_reader_new: reader is NULL");
	*reader = nullptr;
	if (!stream)
		return invalid_argument("pmemstream_stream_reader_new: stream is NULL");
	return guarded([&] {
		*reader = new pmemstream_stream_reader{cpp(stream)->reader(), cpp(stream)};
		return 0;
	});
}

int pmemstream_stream_reader_new(struct pmemstream_stream_reader **reader, handle *stream)
{
	return drop_in(pmemstream_stream_reader_new_errc(reader, stream));
}

int pmemstream_stream_reader_is_valid_errc(struct pmemstream_stream_reader *reader)
{
	if (!reader)
		return invalid_argument("pmemstream_stream_reader_is_valid: reader is NULL");
	const int code = settle(*reader);
	if (code != 1)
		return code;
	return fail(pmemstream::errc::invalid_handle,
		    "pmemstream_stream_reader_is_valid: the reader is past the last committed entry");
}

int pmemstream_stream_reader_is_valid(struct pmemstream_stream_reader *reader)
{
	return drop_in(pmemstream_stream_reader_is_valid_errc(reader));
}

int pmemstream_stream_reader_seek_timestamp_errc(struct pmemstream_stream_reader *reader, uint64_t timestamp)
{
	if (!reader)
		return invalid_argument("pmemstream_stream_reader_seek_timestamp: reader is NULL");
	reader->floor = timestamp;
	reader->rebuild = false;
	const int code = guarded([&] {
		reader->r.seek_timestamp(timestamp);
		return 0;
	});
	if (code != 0)
		reader->rebuild = true;
	return code;
}

int pmemstream_stream_reader_seek_timestamp(struct pmemstream_stream_reader *reader, uint64_t timestamp)
{
	return drop_in(pmemstream_stream_reader_seek_timestamp_errc(reader, timestamp));
}

void pmemstream_stream_reader_seek_first(struct pmemstream_stream_reader *reader)
{
	// The failure (only -ENOMEM) is recorded; the reader tries again at its next use.
	(void)pmemstream_stream_reader_seek_timestamp_errc(reader, 0);
}

void pmemstream_stream_reader_next(struct pmemstream_stream_reader *reader)
{
	if (!reader || settle(*reader) != 0)
		return;
	reader->floor = reader->r.timestamp() + 1;
	if (guarded([&] {
		    reader->r.next();
		    return 0;
	    }) != 0)
		reader->rebuild = true;
}

struct pmemstream_entry pmemstream_stream_reader_get(struct pmemstream_stream_reader *reader)
{
	if (!reader_on_entry(reader, "pmemstream_stream_reader_get"))
		return pmemstream_entry{PMEMSTREAM_INVALID_OFFSET};
	return pmemstream_entry{reader->r.get().offset};
}

struct pmemstream_region pmemstream_stream_reader_get_region(struct pmemstream_stream_reader *reader)
{
	if (!reader_on_entry(reader, "pmemstream_stream_reader_get_region"))
		return pmemstream_region{PMEMSTREAM_INVALID_OFFSET};
	return pmemstream_region{reader->r.get_region().offset};
}

uint64_t pmemstream_stream_reader_get_timestamp(struct pmemstream_stream_reader *reader)
{
	if (!reader_on_entry(reader, "pmemstream_stream_reader_get_timestamp"))
		return 0;
	return reader->r.timestamp();
}

void pmemstream_stream_reader_delete(struct pmemstream_stream_reader **reader)
{
	if (!reader)
		return;
	delete *reader;
	*reader = nullptr;
}

} // extern "C"

// ---- live readers (issue 12): waits of iterators and readers (the stream's: c_api/live.cpp)

namespace {

std::chrono::nanoseconds live_timeout(uint64_t ns) noexcept
{
	if (ns >= static_cast<uint64_t>(pmemstream::stream::forever.count()))
		return pmemstream::stream::forever;
	return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

} // namespace

extern "C" {

int pmemstream_entry_iterator_wait_errc(struct pmemstream_entry_iterator *iterator, uint64_t timeout_ns)
{
	if (!iterator)
		return invalid_argument("pmemstream_entry_iterator_wait: iterator is NULL");
	return guarded([&] {
		auto st = iterator->it.wait_for(live_timeout(timeout_ns));
		return st ? 0 : fail(st.err());
	});
}

int pmemstream_entry_iterator_wait(struct pmemstream_entry_iterator *iterator, uint64_t timeout_ns)
{
	return drop_in(pmemstream_entry_iterator_wait_errc(iterator, timeout_ns));
}

int pmemstream_stream_reader_wait_errc(struct pmemstream_stream_reader *reader, uint64_t timeout_ns)
{
	if (!reader)
		return invalid_argument("pmemstream_stream_reader_wait: reader is NULL");
	const int code = settle(*reader);
	if (code <= 0)
		return code;
	return guarded([&] {
		auto st = reader->r.wait_for(live_timeout(timeout_ns));
		return st ? 0 : fail(st.err());
	});
}

int pmemstream_stream_reader_wait(struct pmemstream_stream_reader *reader, uint64_t timeout_ns)
{
	return drop_in(pmemstream_stream_reader_wait_errc(reader, timeout_ns));
}

} // extern "C"
