/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A program written against the original pmemstream's synchronous C API only (a libpmem2
 * mapping, from_map, regions, append, reserve/publish, iterators), built against an installed
 * pmemstream with pkg-config. Prints "consumer OK" when everything reads back.
 * usage: original_api <file>
 */
#define _POSIX_C_SOURCE 200809L

#include <libpmemstream.h>

#include <fcntl.h>
#include <libpmem2.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct pmem2_map *map_file(const char *path, int *fd)
{
	struct pmem2_config *cfg = NULL;
	struct pmem2_source *src = NULL;
	struct pmem2_map *map = NULL;
	*fd = open(path, O_RDWR | O_CREAT, 0600);
	if (*fd < 0 || ftruncate(*fd, 1 << 20) != 0)
		return NULL;
	if (pmem2_config_new(&cfg) == 0 && pmem2_source_from_fd(&src, *fd) == 0 &&
	    pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE) == 0)
		pmem2_map_new(&map, cfg, src);
	pmem2_source_delete(&src);
	pmem2_config_delete(&cfg);
	return map;
}

static int sum_entries(struct pmemstream *stream, unsigned *count, unsigned *sum)
{
	struct pmemstream_region_iterator *riter;
	if (pmemstream_region_iterator_new(&riter, stream) != 0)
		return -1;
	*count = 0;
	*sum = 0;
	for (pmemstream_region_iterator_seek_first(riter); pmemstream_region_iterator_is_valid(riter) == 0;
	     pmemstream_region_iterator_next(riter)) {
		struct pmemstream_region region = pmemstream_region_iterator_get(riter);
		struct pmemstream_entry_iterator *eiter;
		if (pmemstream_entry_iterator_new(&eiter, stream, region) != 0)
			return -1;
		for (pmemstream_entry_iterator_seek_first(eiter); pmemstream_entry_iterator_is_valid(eiter) == 0;
		     pmemstream_entry_iterator_next(eiter)) {
			struct pmemstream_entry entry = pmemstream_entry_iterator_get(eiter);
			unsigned value;
			if (pmemstream_entry_size(stream, entry) != sizeof(value))
				return -1;
			memcpy(&value, pmemstream_entry_data(stream, entry), sizeof(value));
			*sum += value;
			(*count)++;
		}
		pmemstream_entry_iterator_delete(&eiter);
	}
	pmemstream_region_iterator_delete(&riter);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s file\n", argv[0]);
		return 2;
	}
	int fd;
	struct pmem2_map *map = map_file(argv[1], &fd);
	struct pmemstream *stream = NULL;
	if (!map || pmemstream_from_map(&stream, 4096, map) != 0) {
		fprintf(stderr, "cannot open %s\n", argv[1]);
		return 1;
	}
	struct pmemstream_region region;
	struct pmemstream_region_runtime *rt;
	if (pmemstream_region_allocate(stream, 4096, &region) != 0 ||
	    pmemstream_region_runtime_initialize(stream, region, &rt) != 0)
		return 1;
	for (unsigned v = 1; v <= 3; v++)
		if (pmemstream_append(stream, region, rt, &v, sizeof(v), NULL) != 0)
			return 1;
	struct pmemstream_entry reserved;
	void *data;
	unsigned four = 4;
	if (pmemstream_reserve(stream, region, NULL, sizeof(four), &reserved, &data) != 0)
		return 1;
	memcpy(data, &four, sizeof(four));
	if (pmemstream_publish(stream, region, NULL, reserved, sizeof(four)) != 0)
		return 1;
	printf("committed %llu persisted %llu region size %zu\n",
	       (unsigned long long)pmemstream_committed_timestamp(stream),
	       (unsigned long long)pmemstream_persisted_timestamp(stream), pmemstream_region_size(stream, region));
	pmemstream_delete(&stream);

	/* Reopen over the same mapping: everything is still there. */
	unsigned count, sum;
	if (pmemstream_from_map(&stream, 4096, map) != 0 || sum_entries(stream, &count, &sum) != 0)
		return 1;
	printf("%u entries, sum %u, last timestamp %llu\n", count, sum,
	       (unsigned long long)pmemstream_entry_timestamp(stream, reserved));
	int ok = count == 4 && sum == 10 && pmemstream_entry_timestamp(stream, reserved) == 4 &&
		 pmemstream_region_free(stream, region) == 0;
	pmemstream_delete(&stream);
	pmem2_map_delete(&map);
	close(fd);
	puts(ok ? "consumer OK" : "consumer FAILED");
	return ok ? 0 : 1;
}
