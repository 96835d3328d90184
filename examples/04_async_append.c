/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 04_async_append: asynchronous appends to several regions, then one wait that makes them
 * all durable. An asynchronous append returns once its entry is committed (readers see it),
 * without waiting for persistence, so a writer pays for one persist per batch instead of one
 * per entry. The futures are this library's (libpmemstream.h), not miniasync's: the
 * original's example polled miniasync futures with future_poll(); here
 * pmemstream_future_poll() and pmemstream_future_wait() do that.
 * usage: 04_async_append [file]
 */
#include "examples_helpers.h"

#include <libpmemstream.h>

#include <inttypes.h>
#include <string.h>

#define REGIONS 4
#define ROUNDS 8
#define APPENDS (REGIONS * ROUNDS)

struct record {
	uint64_t region; /* which of the example's regions */
	uint64_t round;
};

int main(int argc, char **argv)
{
	struct example_file file;
	example_choose_path(&file, argc, argv, "04_async_append");
	if (example_map(&file) != 0)
		return 1;
	struct pmemstream *stream;
	if (pmemstream_from_map(&stream, 4096, file.map) != 0) {
		fprintf(stderr, "%s\n", pmemstream_errormsg());
		example_unmap(&file);
		return 1;
	}
	int ret = 1;
	struct pmemstream_region regions[REGIONS];
	struct pmemstream_region_runtime *runtimes[REGIONS];
	for (int i = 0; i < REGIONS; i++) {
		if (pmemstream_region_allocate(stream, 4096, &regions[i]) != 0 ||
		    pmemstream_region_runtime_initialize(stream, regions[i], &runtimes[i]) != 0) {
			fprintf(stderr, "region: %s\n", pmemstream_errormsg());
			goto out;
		}
	}

	/* Submit: every call writes and commits its entry before it returns (so `rec` can be
	 * reused at once); none waits for persistence. */
	struct pmemstream_async_append_fut futures[APPENDS];
	for (uint64_t round = 0; round < ROUNDS; round++) {
		for (uint64_t i = 0; i < REGIONS; i++) {
			struct record rec = {i, round};
			futures[round * REGIONS + i] =
				pmemstream_async_append(stream, NULL, regions[i], runtimes[i], &rec, sizeof(rec), NULL);
		}
	}

	/* Collect: poll each future until it is complete (an append's future already is), as the
	 * original example did with future_poll(). */
	uint64_t last_timestamp = 0;
	int completed = 0;
	while (completed < APPENDS) {
		completed = 0;
		for (int i = 0; i < APPENDS; i++)
			if (pmemstream_future_poll(PMEMSTREAM_FUTURE(&futures[i])) == PMEMSTREAM_FUTURE_STATE_COMPLETE)
				completed++;
	}
	for (int i = 0; i < APPENDS; i++) {
		const struct pmemstream_async_append_output *o = PMEMSTREAM_FUTURE_OUTPUT(&futures[i]);
		if (o->error_code != 0) {
			fprintf(stderr, "append %d: %s\n", i, pmemstream_strerror(o->error_code));
			goto out;
		}
		if (o->timestamp > last_timestamp)
			last_timestamp = o->timestamp;
	}
	/* Committed entries are visible right away, durable or not. */
	const struct pmemstream_async_append_output *first = PMEMSTREAM_FUTURE_OUTPUT(&futures[0]);
	struct record seen;
	memcpy(&seen, pmemstream_entry_data(stream, first->new_entry), sizeof(seen));
	printf("%d entries in %d regions committed; the first reads region %" PRIu64 " round %" PRIu64
	       "; committed timestamp %" PRIu64 "\n",
	       APPENDS, REGIONS, seen.region, seen.round, pmemstream_committed_timestamp(stream));

	/* One wait makes every entry up to the last timestamp durable: a drain (or msync) for the
	 * whole batch. pmemstream_future_wait() sleeps in the kernel instead of spinning. */
	struct pmemstream_async_wait_fut durable = pmemstream_async_wait_persisted(stream, last_timestamp);
	if (pmemstream_future_wait(PMEMSTREAM_FUTURE(&durable)) != 0) {
		fprintf(stderr, "wait_persisted: %s\n", pmemstream_errormsg());
		goto out;
	}
	printf("waited for timestamp %" PRIu64 ": persisted timestamp %" PRIu64 "\n", last_timestamp,
	       pmemstream_persisted_timestamp(stream));

	for (int i = 0; i < REGIONS; i++) {
		uint64_t count = 0;
		if (pmemstream_region_entry_count(stream, regions[i], &count) == 0)
			printf("region %d: %" PRIu64 " entries\n", i, count);
		pmemstream_region_free(stream, regions[i]);
	}
	ret = 0;
out:
	pmemstream_delete(&stream);
	example_unmap(&file);
	return ret;
}
