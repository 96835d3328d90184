/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 01_basic_iterate: create a stream over a libpmem2 mapping, allocate a region, append a few
 * entries and iterate over every region and entry.
 * usage: 01_basic_iterate [file]   (the file is created if missing and kept)
 */
#include "examples_helpers.h"

#include <libpmemstream.h>

#include <string.h>

int main(int argc, char **argv)
{
	struct example_file file;
	example_choose_path(&file, argc, argv, "01_basic_iterate");
	if (example_map(&file) != 0)
		return 1;

	/* An all-zero mapping becomes a new stream; a mapping holding one is reopened. */
	struct pmemstream *stream;
	int ret = pmemstream_from_map(&stream, 4096, file.map);
	if (ret != 0) {
		fprintf(stderr, "pmemstream_from_map: %s (%s)\n", pmemstream_strerror(pmemstream_errno()),
			pmemstream_errormsg());
		example_unmap(&file);
		return 1;
	}

	struct pmemstream_region region;
	ret = pmemstream_region_allocate(stream, 4096, &region);
	if (ret != 0) {
		fprintf(stderr, "pmemstream_region_allocate: %s\n", pmemstream_errormsg());
		goto out;
	}

	const char *words[] = {"first", "second", "third"};
	for (size_t i = 0; i < 3; i++) {
		/* Returns once the entry is persisted. */
		ret = pmemstream_append(stream, region, NULL, words[i], strlen(words[i]), NULL);
		if (ret != 0) {
			fprintf(stderr, "pmemstream_append: %s\n", pmemstream_errormsg());
			goto out;
		}
	}

	struct pmemstream_region_iterator *riter;
	ret = pmemstream_region_iterator_new(&riter, stream);
	if (ret != 0)
		goto out;
	for (pmemstream_region_iterator_seek_first(riter); pmemstream_region_iterator_is_valid(riter) == 0;
	     pmemstream_region_iterator_next(riter)) {
		struct pmemstream_region r = pmemstream_region_iterator_get(riter);
		printf("region 0x%llx: %zu bytes, %zu free\n", (unsigned long long)r.offset,
		       pmemstream_region_size(stream, r), pmemstream_region_usable_size(stream, r));

		struct pmemstream_entry_iterator *eiter;
		ret = pmemstream_entry_iterator_new(&eiter, stream, r);
		if (ret != 0)
			break;
		for (pmemstream_entry_iterator_seek_first(eiter); pmemstream_entry_iterator_is_valid(eiter) == 0;
		     pmemstream_entry_iterator_next(eiter)) {
			struct pmemstream_entry e = pmemstream_entry_iterator_get(eiter);
			printf("  entry 0x%llx timestamp %llu: %.*s\n", (unsigned long long)e.offset,
			       (unsigned long long)pmemstream_entry_timestamp(stream, e),
			       (int)pmemstream_entry_size(stream, e), (const char *)pmemstream_entry_data(stream, e));
		}
		pmemstream_entry_iterator_delete(&eiter);
	}
	pmemstream_region_iterator_delete(&riter);
	printf("persisted timestamp %llu\n", (unsigned long long)pmemstream_persisted_timestamp(stream));

out:
	pmemstream_delete(&stream);
	example_unmap(&file);
	return ret == 0 ? 0 : 1;
}
