/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny test framework for the C API tests, in C99: CHECK macros that count and report
 * failures, a runner that picks a test by name, and helpers that map files in /dev/shm with
 * libpmem2 the way users of the original library do.
 */
#ifndef PMEMSTREAM_C_TEST_H
#define PMEMSTREAM_C_TEST_H

#include <libpmemstream.h>

#include <errno.h>
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
				pmemstream_strerror(pmemstream_errno()), pmemstream_errormsg());                       \
			return;                                                                                        \
		}                                                                                                      \
		c_test_passed++;                                                                                       \
	} while (0)

/* The errno that docs/c_api.md promises for each specific code; -1 for a code it does not
 * know. */
static inline int c_test_errno_of(int code)
{
	switch (code) {
	case PMEMSTREAM_E_INVALID_ARGUMENT: return EINVAL;
	case PMEMSTREAM_E_INVALID_HANDLE: return EINVAL;
	case PMEMSTREAM_E_REGION_FULL: return ENOSPC;
	case PMEMSTREAM_E_OUT_OF_SPACE: return ENOSPC;
	case PMEMSTREAM_E_CORRUPT: return EILSEQ;
	case PMEMSTREAM_E_VERSION_MISMATCH: return ENOTSUP;
	case PMEMSTREAM_E_NOT_A_STREAM: return EINVAL;
	case PMEMSTREAM_E_PARAMETER_MISMATCH: return EINVAL;
	case PMEMSTREAM_E_IO: return EIO;
	case PMEMSTREAM_E_READ_ONLY: return EROFS;
	case PMEMSTREAM_E_BUSY: return EBUSY;
	case PMEMSTREAM_E_ENTRY_TOO_LARGE: return EMSGSIZE;
	case PMEMSTREAM_E_EXISTS: return EEXIST;
	case PMEMSTREAM_E_MEDIA_FAILED: return EIO;
	case PMEMSTREAM_E_TIMESTAMPS_EXHAUSTED: return EOVERFLOW;
	case PMEMSTREAM_E_WRONG_PROCESS: return EBADF;
	case PMEMSTREAM_E_TIMED_OUT: return ETIMEDOUT;
	case PMEMSTREAM_E_TX_TOO_LARGE: return E2BIG;
	case PMEMSTREAM_E_TX_FINISHED: return EINVAL;
	case PMEMSTREAM_E_TRUNCATED: return ESPIPE; /* issue 14 */
	case PMEMSTREAM_E_INTERNAL: return ENOTRECOVERABLE;
	case -ENOMEM: return ENOMEM;
	default: return -1;
	}
}

/* What a function that returns an int status returns when it fails with `code`: -1, as the
 * original did, or the code itself with PMEMSTREAM_SPECIFIC_ERRORS. */
#ifdef PMEMSTREAM_SPECIFIC_ERRORS
#define C_TEST_RETURN_OF(code) (code)
#else
#define C_TEST_RETURN_OF(code) (-1)
#endif

/* Makes pmemstream_errno() hold a code other than `code`, so that a check after the next call
 * sees what that call recorded, not an older failure. */
static inline void c_test_prime(int code)
{
	if (code != PMEMSTREAM_E_INVALID_ARGUMENT) {
		pmemstream_region_free(NULL, (struct pmemstream_region){1});
	} else {
		struct pmemstream *s = NULL;
		pmemstream_open(&s, "/nonexistent/pmemstream_c_test", 0, 0);
	}
}

static inline void c_test_check_failure(long long got, long long expected, int code, const char *what, const char *file,
					int line)
{
	const int err = errno;
	const int specific = pmemstream_errno();
	if (got == expected && specific == code && err == c_test_errno_of(code)) {
		c_test_passed++;
		return;
	}
	c_test_failed++;
	fprintf(stderr,
		"%s:%d: %s: got %lld (want %lld), pmemstream_errno() %d '%s' (want %d '%s'), errno %d '%s' (want %d); "
		"last error: %s\n",
		file, line, what, got, expected, specific, pmemstream_strerror(specific), code, pmemstream_strerror(code),
		err, strerror(err), c_test_errno_of(code), pmemstream_errormsg());
}

/* A call returning an int status that must fail with `code`: it returns C_TEST_RETURN_OF(code),
 * pmemstream_errno() is `code` and errno is the code's POSIX errno. */
#define CHECK_ERR(call, code)                                                                                          \
	do {                                                                                                           \
		c_test_prime(code);                                                                                    \
		errno = 0;                                                                                             \
		long long c_test_got = (long long)(call);                                                              \
		c_test_check_failure(c_test_got, C_TEST_RETURN_OF(code), code, "CHECK_ERR(" #call ", " #code ")",      \
				     __FILE__, __LINE__);                                                              \
	} while (0)

/* A call returning a value that must return `value` and fail with `code` (errno and
 * pmemstream_errno() as CHECK_ERR). */
#define CHECK_VALUE_ERR(call, value, code)                                                                             \
	do {                                                                                                           \
		c_test_prime(code);                                                                                    \
		errno = 0;                                                                                             \
		long long c_test_got = (long long)(call);                                                              \
		c_test_check_failure(c_test_got, (long long)(value), code,                                             \
				     "CHECK_VALUE_ERR(" #call ", " #value ", " #code ")", __FILE__, __LINE__);         \
	} while (0)

/* A call returning a pointer that must return NULL and fail with `code`. */
#define CHECK_NULL_ERR(call, code)                                                                                     \
	do {                                                                                                           \
		c_test_prime(code);                                                                                    \
		errno = 0;                                                                                             \
		long long c_test_got = (call) == NULL ? 0 : 1;                                                         \
		c_test_check_failure(c_test_got, 0, code, "CHECK_NULL_ERR(" #call ", " #code ")", __FILE__, __LINE__); \
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

static inline int c_test_listed(int argc, char **argv, const char *name)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

/* Runs the test named by argv[1]; every test without an argument; with `--skip name...`
 * every test but those named. */
static inline int c_test_main(int argc, char **argv, const struct c_test_case *cases, size_t count)
{
	const int skip = argc > 1 && strcmp(argv[1], "--skip") == 0;
	int found = 0;
	for (size_t i = 0; i < count; i++) {
		if (skip ? c_test_listed(argc, argv, cases[i].name) : argc > 1 && strcmp(argv[1], cases[i].name) != 0)
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
