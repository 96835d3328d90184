/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny test framework for the C API tests, in C99: CHECK macros that count and report
 * failures, a runner that picks a test by name, and helpers that map files in /dev/shm with
 * libpmem2 the way users of the original library do.
 */
#ifndef PMEMSTREAM_C_TEST_H
#define PMEMSTREAM_C_TEST_H

#include <libpmemstream.h>

#include <fcntl.h>
#include <libpmem2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int c_test_passed;
static int c_test_failed;

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (cond) {                                                                                            \
			c_test_passed++;                                                                               \
		} else {                                                                                               \
			c_test_failed++;                                                                               \
			fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, #cond,      \
				pmemstream_errormsg());                                                                \
		}                                                                                                      \
	} while (0)

/* Compares two integer values (printed as long long). */
#define CHECK_EQ(actual, expected)                                                                                     \
	do {                                                                                                           \
		long long c_test_a = (long long)(actual);                                                              \
		long long c_test_e = (long long)(expected);                                                            \
		if (c_test_a == c_test_e) {                                                                            \
			c_test_passed++;                                                                               \
		} else {                                                                                               \
			c_test_failed++;                                                                               \
			fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld; last error: %s\n", __FILE__,  \
				__LINE__, #actual, #expected, c_test_a, c_test_e, pmemstream_errormsg());              \
		}                                                                                                      \
	} while (0)

/* A call that must succeed; stops the test when it does not (later checks would be noise). */
#define REQUIRE_OK(call)                                                                                               \
	do {                                                                                                           \
		int c_test_rc = (call);                                                                                \
		if (c_test_rc != 0) {                                                                                  \
			c_test_failed++;                                                                               \
			fprintf(stderr, "%s:%d: %s returned %d (%s): %s\n", __FILE__, __LINE__, #call, c_test_rc,    \
				pmemstream_strerror(c_test_rc), pmemstream_errormsg());                                \
			return;                                                                                        \
		}                                                                                                      \
		c_test_passed++;                                                                                       \
	} while (0)

#define REQUIRE(cond)                                                                                                  \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			c_test_failed++;                                                                               \
			fprintf(stderr, "%s:%d: REQUIRE(%s) failed; last error: %s\n", __FILE__, __LINE__, #cond,     \
				pmemstream_errormsg());                                                                \
			return;                                                                                        \
		}                                                                                                      \
		c_test_passed++;                                                                                       \
	} while (0)

struct c_test_case {
	const char *name;
	void (*fn)(void);
};

/* Every file a test created, removed at the end even when a test stopped early. */
#define C_TEST_MAX_FILES 256
static char c_test_files[C_TEST_MAX_FILES][256];
static int c_test_file_count;

/* Runs the test named by argv[1], or every test without an argument. */
static inline int c_test_main(int argc, char **argv, const struct c_test_case *cases, size_t count)
{
	int found = 0;
	for (size_t i = 0; i < count; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		found = 1;
		int failed_before = c_test_failed;
		cases[i].fn();
		printf("[%s] %s\n", c_test_failed == failed_before ? "ok" : "FAILED", cases[i].name);
	}
	if (!found) {
		fprintf(stderr, "no test named %s\n", argv[1]);
		return 2;
	}
	for (int i = 0; i < c_test_file_count; i++)
		unlink(c_test_files[i]);
	printf("%d passed, %d failed\n", c_test_passed, c_test_failed);
	return c_test_failed == 0 ? 0 : 1;
}

/* A file in /dev/shm mapped with libpmem2. */
struct mapped_file {
	char path[256];
	int fd;
	struct pmem2_map *map;
};

/* Builds a unique path for a test file. */
static inline void test_path(char *buf, size_t len, const char *tag)
{
	static int counter;
	snprintf(buf, len, "/dev/shm/pmemstream_c_api_%s_%ld_%d", tag, (long)getpid(), counter++);
	if (c_test_file_count < C_TEST_MAX_FILES)
		snprintf(c_test_files[c_test_file_count++], sizeof(c_test_files[0]), "%s", buf);
}

/* Maps f->path (created with `size` zero bytes when create is set). Returns 0 on success. */
static inline int map_path(struct mapped_file *f, size_t size, int create, int read_only)
{
	f->map = NULL;
	f->fd = open(f->path, (read_only ? O_RDONLY : O_RDWR) | (create ? O_CREAT | O_EXCL : 0), 0600);
	if (f->fd < 0) {
		perror(f->path);
		return -1;
	}
	if (create && ftruncate(f->fd, (off_t)size) != 0) {
		perror("ftruncate");
		return -1;
	}
	struct pmem2_config *cfg = NULL;
	struct pmem2_source *src = NULL;
	int ret = -1;
	if (pmem2_config_new(&cfg) != 0 || pmem2_source_from_fd(&src, f->fd) != 0 ||
	    pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE) != 0) {
		fprintf(stderr, "pmem2: %s\n", pmem2_errormsg());
		goto out;
	}
	if (read_only && pmem2_config_set_protection(cfg, PMEM2_PROT_READ) != 0) {
		fprintf(stderr, "pmem2: %s\n", pmem2_errormsg());
		goto out;
	}
	if (pmem2_map_new(&f->map, cfg, src) != 0) {
		fprintf(stderr, "pmem2_map_new: %s\n", pmem2_errormsg());
		goto out;
	}
	ret = 0;
out:
	pmem2_source_delete(&src);
	pmem2_config_delete(&cfg);
	return ret;
}

/* Creates a new zero-filled file of `size` bytes and maps it. */
static inline int map_new_file(struct mapped_file *f, const char *tag, size_t size)
{
	test_path(f->path, sizeof(f->path), tag);
	return map_path(f, size, 1, 0);
}

static inline void unmap_file(struct mapped_file *f)
{
	if (f->map)
		pmem2_map_delete(&f->map);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

static inline void remove_file(struct mapped_file *f)
{
	unmap_file(f);
	unlink(f->path);
}

#endif /* PMEMSTREAM_C_TEST_H */
