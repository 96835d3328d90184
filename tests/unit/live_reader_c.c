/* SPDX-License-Identifier: BSD-3-Clause */
/* The C replay of live_reader_test.cpp, in C (the C header and the C++ namespace share the
 * name pmemstream, so they cannot meet in one translation unit). */
#include <libpmemstream.h>

#include <stdio.h>

/* Opens `path` read-only and replays every entry in timestamp order through the entry
 * accessors. Returns 0 and sets *shown, or 1 with a reason in `why`. */
int live_reader_c_replay(const char *path, uint64_t *shown, char *why, size_t why_size)
{
	struct pmemstream *s = NULL;
	struct pmemstream_stream_reader *rd = NULL;
	uint64_t n = 0, prev = 0;
	int ret = 0;
	*shown = 0;
	if (pmemstream_open(&s, path, 0, PMEMSTREAM_OPEN_READ_ONLY) != 0) {
		snprintf(why, why_size, "pmemstream_open: %s", pmemstream_errormsg());
		return 1;
	}
	if (pmemstream_stream_reader_new(&rd, s) != 0) {
		snprintf(why, why_size, "stream reader: %s", pmemstream_errormsg());
		pmemstream_delete(&s);
		return 1;
	}
	for (; pmemstream_stream_reader_is_valid(rd) == 0; pmemstream_stream_reader_next(rd)) {
		struct pmemstream_entry e = pmemstream_stream_reader_get(rd);
		struct pmemstream_entry_info info;
		uint64_t ts = pmemstream_stream_reader_get_timestamp(rd);
		if (pmemstream_entry_get_info(s, e, &info) != 0) {
			snprintf(why, why_size, "entry info of timestamp %llu: %s", (unsigned long long)ts, pmemstream_errormsg());
			ret = 1;
			break;
		}
		if (ts != prev + 1) {
			snprintf(why, why_size, "replay skips from %llu to %llu", (unsigned long long)prev, (unsigned long long)ts);
			ret = 1;
			break;
		}
		prev = ts;
		n++;
	}
	if (ret == 0 && n != pmemstream_committed_timestamp(s)) {
		snprintf(why, why_size, "replay yields %llu entries, committed timestamp %llu", (unsigned long long)n,
			 (unsigned long long)pmemstream_committed_timestamp(s));
		ret = 1;
	}
	pmemstream_stream_reader_delete(&rd);
	pmemstream_delete(&s);
	*shown = n;
	return ret;
}
