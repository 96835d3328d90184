/* SPDX-License-Identifier: BSD-3-Clause */
/* The C API of live readers (issue 12), in C: a writer stream and a reader that follows it in
 * one process (the reader has its own lock probe, mapping and sidecar attachment, as another
 * process would). Called from live_follow_test.cpp. */
#include <libpmemstream.h>

#include <stdio.h>
#include <string.h>

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			snprintf(why, why_size, __VA_ARGS__);                                                          \
			goto out;                                                                                      \
		}                                                                                                      \
	} while (0)

int live_follow_c(const char *path, char *why, size_t why_size)
{
	struct pmemstream *w = NULL, *r = NULL;
	struct pmemstream_region a, b;
	struct pmemstream_entry_iterator *it = NULL;
	struct pmemstream_stream_reader *rd = NULL;
	int ret = 1;
	CHECK(pmemstream_create(&w, path, 4 << 20, 4096) == 0, "create: %s", pmemstream_errormsg());
	CHECK(pmemstream_region_allocate(w, 8192, &a) == 0 && pmemstream_region_allocate(w, 8192, &b) == 0, "allocate");
	CHECK(pmemstream_open(&r, path, 0, PMEMSTREAM_OPEN_FOLLOW) == -1 && pmemstream_errno() == PMEMSTREAM_E_INVALID_ARGUMENT,
	      "FOLLOW without READ_ONLY is refused");
	CHECK(pmemstream_open(&r, path, 0, PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_FOLLOW) == 0, "open follow: %s",
	      pmemstream_errormsg());
	CHECK(pmemstream_writer_state(r) == PMEMSTREAM_WRITER_FOLLOWING, "writer state %d", pmemstream_writer_state(r));
	CHECK(pmemstream_writer_state(w) == PMEMSTREAM_WRITER_SELF, "writer's own state");
	CHECK(pmemstream_writer_state(NULL) == -1, "NULL stream");
	CHECK(pmemstream_entry_iterator_new(&it, r, a) == 0 && pmemstream_stream_reader_new(&rd, r) == 0, "iterators: %s",
	      pmemstream_errormsg());
	CHECK(pmemstream_entry_iterator_wait_errc(it, 1000000) == PMEMSTREAM_E_TIMED_OUT, "an empty region times out");
	CHECK(pmemstream_wait_for(r, PMEMSTREAM_NEXT_ENTRY, 0) == -1 && pmemstream_errno() == PMEMSTREAM_E_TIMED_OUT,
	      "a zero wait checks");
	CHECK(pmemstream_append(w, a, NULL, "one", 4, NULL) == 0 && pmemstream_append(w, b, NULL, "two", 4, NULL) == 0, "append");
	CHECK(pmemstream_wait_for(r, 2, PMEMSTREAM_WAIT_FOREVER) == 0, "wait_for: %s", pmemstream_errormsg());
	CHECK(pmemstream_entry_iterator_wait(it, PMEMSTREAM_WAIT_FOREVER) == 0, "iterator wait: %s", pmemstream_errormsg());
	CHECK(strcmp(pmemstream_entry_data(r, pmemstream_entry_iterator_get(it)), "one") == 0, "the entry's bytes");
	CHECK(pmemstream_stream_reader_wait(rd, PMEMSTREAM_WAIT_FOREVER) == 0 && pmemstream_stream_reader_get_timestamp(rd) == 1,
	      "reader wait");
	pmemstream_stream_reader_next(rd);
	CHECK(pmemstream_stream_reader_wait(rd, 1000000000) == 0 && pmemstream_stream_reader_get_timestamp(rd) == 2,
	      "the reader's second entry");
	pmemstream_stream_reader_next(rd);
	CHECK(pmemstream_region_free(w, a) == 0, "free");
	pmemstream_entry_iterator_next(it);
	CHECK(pmemstream_entry_iterator_wait_errc(it, 1000000000) == PMEMSTREAM_E_REGION_FREED, "a freed region: %d %s",
	      pmemstream_errno(), pmemstream_errormsg());
	CHECK(strcmp(pmemstream_strerror(PMEMSTREAM_E_REGION_FREED), "region freed") == 0, "strerror");
	pmemstream_delete(&w);
	CHECK(pmemstream_stream_reader_wait_errc(rd, 1000000000) == PMEMSTREAM_E_WRITER_GONE, "the writer closed: %d",
	      pmemstream_errno());
	CHECK(pmemstream_writer_state(r) == PMEMSTREAM_WRITER_GONE, "writer state after close");
	CHECK(pmemstream_wait_for(r, PMEMSTREAM_NEXT_ENTRY, 1000) == -1 && pmemstream_errno() == PMEMSTREAM_E_WRITER_GONE,
	      "wait_for after close");
	ret = 0;
out:
	pmemstream_entry_iterator_delete(&it);
	pmemstream_stream_reader_delete(&rd);
	pmemstream_delete(&r);
	pmemstream_delete(&w);
	return ret;
}
