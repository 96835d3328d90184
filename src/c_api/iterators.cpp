// SPDX-License-Identifier: BSD-3-Clause
// The region iterator (live regions in allocation order) and the entry iterator (committed
// entries of one region in append order).
#include "c_api.hpp"

#include <utility>

using namespace pmemstream::c_api;

struct pmemstream_region_iterator {
	pmemstream::region_iterator it;
};

struct pmemstream_entry_iterator {
	pmemstream::entry_iterator it;
};

extern "C" {

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
	return iterator->it.is_valid() ? 0 : to_c_code(pmemstream::errc::invalid_handle);
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
	return iterator->it.is_valid() ? 0 : to_c_code(pmemstream::errc::invalid_handle);
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
