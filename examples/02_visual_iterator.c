/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 02_visual_iterator: print a stream as a tree of regions and entries, with offsets, sizes
 * and the leading bytes of each entry. Given a file that holds a stream, it prints that
 * stream (opened read-only: nothing is written); otherwise it builds a demo stream of four
 * regions holding 7, 6, 5 and 4 eight-byte counters and prints it.
 * usage: 02_visual_iterator [file]
 */
#include "examples_helpers.h"

#include <libpmemstream.h>

#include <inttypes.h>
#include <string.h>

#define LEADING_BYTES 8

static int build_demo(struct pmemstream *stream)
{
	for (uint64_t r = 0; r < 4; r++) {
		struct pmemstream_region region;
		if (pmemstream_region_allocate(stream, 8000, &region) != 0)
			return -1;
		for (uint64_t value = 1; value <= 7 - r; value++)
			if (pmemstream_append(stream, region, NULL, &value, sizeof(value), NULL) != 0)
				return -1;
	}
	return 0;
}

static void print_entry(struct pmemstream *stream, struct pmemstream_entry e)
{
	struct pmemstream_entry_info info;
	if (pmemstream_entry_get_info(stream, e, &info) != 0)
		return;
	printf("│   ├── 0x%-6" PRIx64 " %4" PRIu64 " bytes  ts %-4" PRIu64, e.offset, info.size, info.timestamp);
	const unsigned char *bytes = info.data;
	for (uint64_t i = 0; i < info.size && i < LEADING_BYTES; i++)
		printf(" %02x", bytes[i]);
	printf("%s\n", info.size > LEADING_BYTES ? " ..." : "");
}

static int print_tree(struct pmemstream *stream)
{
	struct pmemstream_info info;
	if (pmemstream_stream_get_info(stream, &info) != 0)
		return -1;
	printf("stream: %" PRIu64 " bytes, block size %" PRIu64 ", %" PRIu64 " regions, persisted timestamp %" PRIu64
	       "\n",
	       info.size, info.block_size, info.region_count, info.persisted_timestamp);

	struct pmemstream_region_iterator *riter;
	if (pmemstream_region_iterator_new(&riter, stream) != 0)
		return -1;
	int n = 0;
	for (; pmemstream_region_iterator_is_valid(riter) == 0; pmemstream_region_iterator_next(riter), n++) {
		struct pmemstream_region region = pmemstream_region_iterator_get(riter);
		struct pmemstream_region_info ri;
		if (pmemstream_region_get_info(stream, region, &ri) != 0)
			continue; /* freed meanwhile */
		printf("├── region%d @0x%" PRIx64 ": %" PRIu64 " bytes, %" PRIu64 " entries, %" PRIu64 " free\n", n,
		       region.offset, ri.size, ri.entry_count, ri.usable_size);
		struct pmemstream_entry_iterator *eiter;
		if (pmemstream_entry_iterator_new(&eiter, stream, region) != 0)
			continue;
		for (; pmemstream_entry_iterator_is_valid(eiter) == 0; pmemstream_entry_iterator_next(eiter))
			print_entry(stream, pmemstream_entry_iterator_get(eiter));
		pmemstream_entry_iterator_delete(&eiter);
	}
	pmemstream_region_iterator_delete(&riter);
	return 0;
}

int main(int argc, char **argv)
{
	struct example_file file;
	example_choose_path(&file, argc, argv, "02_visual_iterator");
	struct pmemstream *stream = NULL;
	int ret;

	struct stat st;
	if (!file.temporary && stat(file.path, &st) == 0 && st.st_size > 0) {
		ret = pmemstream_open(&stream, file.path, 0, PMEMSTREAM_OPEN_READ_ONLY);
		if (ret != 0) {
			fprintf(stderr, "%s: %s\n", file.path, pmemstream_errormsg());
			return 1;
		}
		ret = print_tree(stream);
		pmemstream_delete(&stream);
		return ret == 0 ? 0 : 1;
	}

	if (example_map(&file) != 0)
		return 1;
	ret = pmemstream_from_map(&stream, 4096, file.map);
	if (ret == 0)
		ret = build_demo(stream);
	if (ret == 0)
		ret = print_tree(stream);
	if (ret != 0)
		fprintf(stderr, "%s\n", pmemstream_errormsg());
	pmemstream_delete(&stream);
	example_unmap(&file);
	return ret == 0 ? 0 : 1;
}
