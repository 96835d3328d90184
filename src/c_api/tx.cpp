// SPDX-License-Identifier: BSD-3-Clause
// Transactions (issue 13): a thin wrapper of pmemstream::transaction.
#include "c_api.hpp"

#include <memory>

using namespace pmemstream::c_api;

struct pmemstream_tx {
	pmemstream::transaction t;
};

extern "C" {

int pmemstream_tx_begin_errc(pmemstream_tx **tx, handle *stream)
{
	if (!tx)
		return invalid_argument("pmemstream_tx_begin: tx is NULL");
	if (!stream)
		return invalid_argument("pmemstream_tx_begin: stream is NULL");
	return guarded([&] {
		auto t = cpp(stream)->begin_transaction();
		if (!t)
			return fail(t.err());
		*tx = new pmemstream_tx{std::move(*t)};
		return 0;
	});
}

int pmemstream_tx_begin(pmemstream_tx **tx, handle *stream)
{
	return drop_in(pmemstream_tx_begin_errc(tx, stream));
}

int pmemstream_tx_append_errc(pmemstream_tx *tx, struct pmemstream_region region, const void *data, size_t size)
{
	if (!tx)
		return invalid_argument("pmemstream_tx_append: tx is NULL");
	if (!data && size > 0)
		return invalid_argument("pmemstream_tx_append: data is NULL and size is not 0");
	return guarded([&] {
		auto st = tx->t.append(cpp(region), data, size);
		return st ? 0 : fail(st.err());
	});
}

int pmemstream_tx_append(pmemstream_tx *tx, struct pmemstream_region region, const void *data, size_t size)
{
	return drop_in(pmemstream_tx_append_errc(tx, region, data, size));
}

int pmemstream_tx_region_allocate_errc(pmemstream_tx *tx, size_t size, struct pmemstream_region *region)
{
	if (!tx)
		return invalid_argument("pmemstream_tx_region_allocate: tx is NULL");
	if (!region)
		return invalid_argument("pmemstream_tx_region_allocate: region is NULL");
	return guarded([&] {
		auto r = tx->t.region_allocate(size);
		if (!r)
			return fail(r.err());
		region->offset = r->offset;
		return 0;
	});
}

int pmemstream_tx_region_allocate(pmemstream_tx *tx, size_t size, struct pmemstream_region *region)
{
	return drop_in(pmemstream_tx_region_allocate_errc(tx, size, region));
}

int pmemstream_tx_region_free_errc(pmemstream_tx *tx, struct pmemstream_region region)
{
	if (!tx)
		return invalid_argument("pmemstream_tx_region_free: tx is NULL");
	return guarded([&] {
		auto st = tx->t.region_free(cpp(region));
		return st ? 0 : fail(st.err());
	});
}

int pmemstream_tx_region_free(pmemstream_tx *tx, struct pmemstream_region region)
{
	return drop_in(pmemstream_tx_region_free_errc(tx, region));
}

int pmemstream_tx_commit_errc(pmemstream_tx *tx, uint64_t *timestamp)
{
	if (!tx)
		return invalid_argument("pmemstream_tx_commit: tx is NULL");
	std::unique_ptr<pmemstream_tx> owned(tx);
	return guarded([&] {
		auto r = owned->t.commit();
		if (!r)
			return fail(r.err());
		if (timestamp)
			*timestamp = *r;
		return 0;
	});
}

int pmemstream_tx_commit(pmemstream_tx *tx, uint64_t *timestamp)
{
	return drop_in(pmemstream_tx_commit_errc(tx, timestamp));
}

struct pmemstream_async_publish_fut pmemstream_tx_async_commit(pmemstream_tx *tx)
{
	if (!tx)
		return completed_publish_future(invalid_argument("pmemstream_tx_async_commit: tx is NULL"), 0);
	std::unique_ptr<pmemstream_tx> owned(tx);
	uint64_t ts = 0;
	const int code = guarded([&] {
		auto r = owned->t.async_commit();
		if (!r)
			return fail(r.err());
		ts = *r;
		return 0;
	});
	return completed_publish_future(code, ts);
}

void pmemstream_tx_abort(pmemstream_tx *tx)
{
	delete tx; // the transaction's destructor aborts it
}

} // extern "C"
