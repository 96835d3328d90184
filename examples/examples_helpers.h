/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every C example needs and nothing about pmemstream itself: choosing a file and
 * mapping it with libpmem2 (as with the original pmemstream, the application owns the
 * mapping and hands it to pmemstream_from_map()).
 */
#ifndef EXAMPLES_HELPERS_H
#define EXAMPLES_HELPERS_H

#include <fcntl.h>
#include <libpmem2.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXAMPLE_FILE_SIZE ((off_t)4 << 20)

struct example_file {
	char path[512];
	int temporary; /* no path given: remove the file at the end */
	int fd;
	struct pmem2_map *map;
};

/* Uses argv[1], or a new file in /dev/shm (or the current directory) named after the example. */
static inline void example_choose_path(struct example_file *f, int argc, char **argv, const char *name)
{
	f->temporary = argc < 2;
	if (!f->temporary)
		snprintf(f->path, sizeof(f->path), "%s", argv[1]);
	else
		snprintf(f->path, sizeof(f->path), "%s/pmemstream_example_%s_%ld",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : ".", name, (long)getpid());
}

/* Maps the file, creating it with EXAMPLE_FILE_SIZE zero bytes when it does not exist. */
static inline int example_map(struct example_file *f)
{
	struct pmem2_config *cfg = NULL;
	struct pmem2_source *src = NULL;
	struct stat st;
	f->map = NULL;
	f->fd = open(f->path, O_RDWR | O_CREAT, 0644);
	if (f->fd < 0 || fstat(f->fd, &st) != 0) {
		perror(f->path);
		return -1;
	}
	if (st.st_size == 0 && ftruncate(f->fd, EXAMPLE_FILE_SIZE) != 0) {
		perror("ftruncate");
		return -1;
	}
	int ret = -1;
	if (pmem2_config_new(&cfg) == 0 && pmem2_source_from_fd(&src, f->fd) == 0 &&
	    pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE) == 0 &&
	    pmem2_map_new(&f->map, cfg, src) == 0)
		ret = 0;
	else
		fprintf(stderr, "libpmem2: %s\n", pmem2_errormsg());
	pmem2_source_delete(&src);
	pmem2_config_delete(&cfg);
	return ret;
}

static inline void example_unmap(struct example_file *f)
{
	if (f->map)
		pmem2_map_delete(&f->map);
	if (f->fd >= 0)
		close(f->fd);
	if (f->temporary)
		unlink(f->path);
}

#endif /* EXAMPLES_HELPERS_H */
