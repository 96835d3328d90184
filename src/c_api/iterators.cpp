// SPDX-License-Identifier: BSD-3-Clause
// The region iterator (live regions in allocation order) and the entry iterator (committed
// entries of one region in append order).
#include "c_api.hpp"

#include <cstdio>
#include <utility>

using namespace pmemstream::c_api;

struct pmemstream_region_iterator {
	pmemstream::region_iterator it;
};

// The stream and region are kept so that is_valid() can say why the iterator is not valid.
struct pmemstream_entry_iterator {
	pmemstream::entry_iterator it;
	const pmemstream::stream *s;
	pmemstream::region r;
};

namespace {

int not_on_a_region() noexcept
{
	return fail(pmemstream::errc::invalid_handle,
		    "pmemstream_region_iterator_is_valid: the iterator is past the last region (or its region was freed)");
}

int not_on_an_entry(const pmemstream_entry_iterator &iterator) noexcept
{
	char text[128];
	const bool live = guarded([&] { return iterator.s->region_size(iterator.r) ? 0 : 1; }) == 0;
	std::snprintf(text, sizeof(text),
		      live ? "pmemstream_entry_iterator_is_valid: the iterator is past the last entry of region 0x%llx"
			   : "pmemstream_entry_iterator_is_valid: the iterator's region 0x%llx was freed",
		      static_cast<unsigned long long>(iterator.r.offset));
	return fail(pmemstream::errc::invalid_handle, text);
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
		*iterator = new pmemstream_entry_iterator{std::move(r).value(), cpp(stream), cpp(region)};
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
	return iterator->it.is_valid() ? 0 : not_on_an_entry(*iterator);
}

int pmemstream_entry_iterator_is_valid(struct pmemstream_entry_iterator *iterator)
{
	return drop_in(pmemstream_entry_iterator_is_valid_errc(iterator));
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
	if (!iterator) {
		invalid_argument("pmemstream_entry_iterator_get: iterator is NULL");
		return pmemstream_entry{PMEMSTREAM_INVALID_OFFSET};
	}
	if (!iterator->it.is_valid()) {
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

} // extern "C"
