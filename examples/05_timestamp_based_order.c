/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 05_timestamp_based_order: several threads append concurrently, each to its own region (no
 * contention between them). Every entry gets a timestamp from one stream-wide sequence, so
 * the entries of all regions can be read back in the global order they were appended in: a
 * stream reader (pmemstream_stream_reader_*) merges the regions on timestamp.
 * usage: 05_timestamp_based_order [file]
 */
#include "examples_helpers.h"

#include <libpmemstream.h>

#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#define THREADS 4
#define ENTRIES_PER_THREAD 250

struct payload {
	uint64_t thread;
	uint64_t sequence; /* per thread */
};

struct worker {
	pthread_t tid;
	struct pmemstream *stream;
	struct pmemstream_region region;
	uint64_t id;
	int ret;
	int code; /* pmemstream_errno() of the thread's failed call: it is per thread */
};

static void *append_entries(void *arg)
{
	struct worker *w = arg;
	struct pmemstream_region_runtime *rt;
	w->ret = pmemstream_region_runtime_initialize(w->stream, w->region, &rt);
	for (uint64_t i = 0; w->ret == 0 && i < ENTRIES_PER_THREAD; i++) {
		struct payload p = {w->id, i};
		w->ret = pmemstream_append(w->stream, w->region, rt, &p, sizeof(p), NULL);
	}
	if (w->ret != 0)
		w->code = pmemstream_errno();
	return NULL;
}

/* Reads the entries of all regions in timestamp order with a stream reader, which merges the
 * regions itself. Returns the number of entries that broke the expected order. */
static int read_in_timestamp_order(struct pmemstream *stream, struct worker *workers, uint64_t *merged)
{
	struct pmemstream_stream_reader *reader;
	uint64_t next_sequence[THREADS] = {0};
	uint64_t last_ts = 0;
	uint64_t last_thread = UINT64_MAX;
	int switches = 0;
	int errors = 0;
	*merged = 0;
	if (pmemstream_stream_reader_new(&reader, stream) != 0)
		return -1;
	for (; pmemstream_stream_reader_is_valid(reader) == 0; pmemstream_stream_reader_next(reader)) {
		uint64_t ts = pmemstream_stream_reader_get_timestamp(reader);
		struct pmemstream_region region = pmemstream_stream_reader_get_region(reader);
		struct payload p;
		memcpy(&p, pmemstream_entry_data(stream, pmemstream_stream_reader_get(reader)), sizeof(p));
		/* Show where the order passes from one thread's region to another's. */
		if (p.thread != last_thread && switches++ < 8)
			printf("ts %4" PRIu64 ": thread %" PRIu64 " entry %" PRIu64 "\n", ts, p.thread, p.sequence);
		last_thread = p.thread;
		/* Timestamps are dense (n, n+1, ...), each entry is in its thread's region and each
		 * thread's entries keep their order. */
		if (p.thread >= THREADS || (*merged > 0 && ts != last_ts + 1) ||
		    region.offset != workers[p.thread].region.offset || p.sequence != next_sequence[p.thread]) {
			errors++;
		} else {
			next_sequence[p.thread]++;
		}
		last_ts = ts;
		(*merged)++;
	}
	pmemstream_stream_reader_delete(&reader);
	return errors;
}

int main(int argc, char **argv)
{
	struct example_file file;
	example_choose_path(&file, argc, argv, "05_timestamp_based_order");
	if (example_map(&file) != 0)
		return 1;
	struct pmemstream *stream;
	if (pmemstream_from_map(&stream, 4096, file.map) != 0) {
		fprintf(stderr, "%s\n", pmemstream_errormsg());
		example_unmap(&file);
		return 1;
	}
	/* Start from an empty stream so the timestamps are this run's. */
	struct pmemstream_region_iterator *riter;
	if (pmemstream_region_iterator_new(&riter, stream) != 0)
		return 1;
	while (pmemstream_region_iterator_is_valid(riter) == 0) {
		pmemstream_region_free(stream, pmemstream_region_iterator_get(riter));
		pmemstream_region_iterator_seek_first(riter);
	}
	pmemstream_region_iterator_delete(&riter);

	struct worker workers[THREADS];
	int ret = 0;
	for (uint64_t t = 0; t < THREADS && ret == 0; t++) {
		workers[t] = (struct worker){.stream = stream, .id = t};
		ret = pmemstream_region_allocate(stream, ENTRIES_PER_THREAD * (16 + sizeof(struct payload)),
						 &workers[t].region);
	}
	if (ret != 0) {
		fprintf(stderr, "pmemstream_region_allocate: %s\n", pmemstream_errormsg());
		goto out;
	}
	for (int t = 0; t < THREADS; t++) {
		if (pthread_create(&workers[t].tid, NULL, append_entries, &workers[t]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(workers[t].tid, NULL);
		if (workers[t].ret != 0) {
			fprintf(stderr, "thread %d: %s\n", t, pmemstream_strerror(workers[t].code));
			ret = workers[t].ret;
		}
	}
	if (ret != 0)
		goto out;

	uint64_t merged;
	int errors = read_in_timestamp_order(stream, workers, &merged);
	printf("merged %" PRIu64 " entries from %d regions; persisted timestamp %" PRIu64 "; %d out of order\n", merged,
	       THREADS, pmemstream_persisted_timestamp(stream), errors);
	if (errors != 0 || merged != THREADS * ENTRIES_PER_THREAD)
		ret = 1;
out:
	pmemstream_delete(&stream);
	example_unmap(&file);
	return ret == 0 ? 0 : 1;
}
