/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The truncation calls of the C API (issue 14), compiled as C99 against the shared library:
 * region clear, prefix cuts by entry and by timestamp, suffix cuts, what a reopen shows, an
 * iterator on a removed entry (PMEMSTREAM_E_TRUNCATED), and bad input.
 */
#include "c_test.h"

#define FILE_SIZE (1 << 20)
#define BLOCK 4096

struct fixture {
	struct mapped_file file;
	struct pmemstream *s;
	struct pmemstream_region r;
	struct pmemstream_entry e[6];
	uint64_t ts[6];
};

static int setup(struct fixture *fx, const char *tag)
{
	fx->s = NULL;
	if (map_new_file(&fx->file, tag, FILE_SIZE) != 0)
		return -1;
	if (pmemstream_from_map(&fx->s, BLOCK, fx->file.map) != 0)
		return -1;
	if (pmemstream_region_allocate(fx->s, 2000, &fx->r) != 0)
		return -1;
	for (int i = 0; i < 6; i++) {
		char v = (char)('a' + i);
		if (pmemstream_append_with_timestamp(fx->s, fx->r, NULL, &v, 1, &fx->e[i], &fx->ts[i]) != 0)
			return -1;
	}
	return 0;
}

static int reopen(struct fixture *fx)
{
	pmemstream_delete(&fx->s);
	unmap_file(&fx->file);
	if (map_path(&fx->file, 0, 0, 0) != 0)
		return -1;
	return pmemstream_from_map(&fx->s, BLOCK, fx->file.map);
}

static void teardown(struct fixture *fx)
{
	pmemstream_delete(&fx->s);
	remove_file(&fx->file);
}

/* The first byte of each entry of the region, as a string. */
static void contents(struct fixture *fx, char *out, size_t n)
{
	size_t k = 0;
	struct pmemstream_entry_iterator *it = NULL;
	if (pmemstream_entry_iterator_new(&it, fx->s, fx->r) != 0) {
		out[0] = 0;
		return;
	}
	for (pmemstream_entry_iterator_seek_first(it); pmemstream_entry_iterator_is_valid(it) == 0 && k + 1 < n;
	     pmemstream_entry_iterator_next(it)) {
		const char *d = pmemstream_entry_data(fx->s, pmemstream_entry_iterator_get(it));
		out[k++] = d ? d[0] : '?';
	}
	out[k] = 0;
	pmemstream_entry_iterator_delete(&it);
}

static void clear_region(void)
{
	struct fixture fx;
	char got[16];
	REQUIRE_OK(setup(&fx, "tclear"));
	uint64_t dropped = 0;
	const size_t room = pmemstream_region_size(fx.s, fx.r);
	REQUIRE_OK(pmemstream_region_clear(fx.s, fx.r, &dropped));
	CHECK_EQ(dropped, 6);
	CHECK_EQ(pmemstream_region_usable_size(fx.s, fx.r), room);
	uint64_t ts = 0;
	REQUIRE_OK(pmemstream_append_with_timestamp(fx.s, fx.r, NULL, "z", 1, NULL, &ts));
	CHECK(ts > fx.ts[5]);
	REQUIRE_OK(reopen(&fx));
	contents(&fx, got, sizeof(got));
	CHECK(strcmp(got, "z") == 0);
	REQUIRE_OK(pmemstream_region_clear(fx.s, fx.r, NULL)); /* out param optional */
	teardown(&fx);
}

static void truncate_prefix_and_suffix(void)
{
	struct fixture fx;
	char got[16];
	REQUIRE_OK(setup(&fx, "tcut"));
	uint64_t dropped = 0;
	REQUIRE_OK(pmemstream_region_truncate_before(fx.s, fx.r, fx.e[2], &dropped));
	CHECK_EQ(dropped, 2);
	REQUIRE_OK(pmemstream_region_truncate_after(fx.s, fx.r, fx.e[4], &dropped));
	CHECK_EQ(dropped, 1);
	contents(&fx, got, sizeof(got));
	CHECK(strcmp(got, "cde") == 0);
	REQUIRE_OK(pmemstream_region_truncate_before_timestamp(fx.s, fx.r, fx.ts[3], &dropped));
	CHECK_EQ(dropped, 1);
	REQUIRE_OK(reopen(&fx));
	contents(&fx, got, sizeof(got));
	CHECK(strcmp(got, "de") == 0);
	uint64_t count = 0;
	REQUIRE_OK(pmemstream_region_entry_count(fx.s, fx.r, &count));
	CHECK_EQ(count, 2);
	teardown(&fx);
}

static void iterator_on_removed_entry(void)
{
	struct fixture fx;
	REQUIRE_OK(setup(&fx, "titer"));
	struct pmemstream_entry_iterator *it = NULL;
	REQUIRE_OK(pmemstream_entry_iterator_new(&it, fx.s, fx.r));
	REQUIRE_OK(pmemstream_entry_iterator_seek(it, fx.e[5]));
	REQUIRE_OK(pmemstream_region_truncate_after(fx.s, fx.r, fx.e[1], NULL));
	CHECK_ERR(pmemstream_entry_iterator_is_valid(it), PMEMSTREAM_E_TRUNCATED);
	CHECK(strstr(pmemstream_errormsg(), "truncation") != NULL);
	pmemstream_entry_iterator_seek_first(it);
	REQUIRE_OK(pmemstream_entry_iterator_is_valid(it));
	pmemstream_entry_iterator_delete(&it);
	teardown(&fx);
}

static void truncate_errors(void)
{
	struct fixture fx;
	REQUIRE_OK(setup(&fx, "terr"));
	struct pmemstream_entry bad = {fx.e[1].offset + 8};
	CHECK_ERR(pmemstream_region_clear(NULL, fx.r, NULL), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_region_truncate_before(NULL, fx.r, fx.e[1], NULL), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_region_truncate_after(fx.s, fx.r, bad, NULL), PMEMSTREAM_E_INVALID_HANDLE);
	CHECK_ERR(pmemstream_region_truncate_before(fx.s, fx.r, bad, NULL), PMEMSTREAM_E_INVALID_HANDLE);
	struct pmemstream_region none = {fx.r.offset + BLOCK};
	CHECK_ERR(pmemstream_region_clear(fx.s, none, NULL), PMEMSTREAM_E_INVALID_HANDLE);
	struct pmemstream_entry res;
	void *data;
	REQUIRE_OK(pmemstream_reserve(fx.s, fx.r, NULL, 4, &res, &data));
	CHECK_ERR(pmemstream_region_truncate_before_timestamp(fx.s, fx.r, 3, NULL), PMEMSTREAM_E_BUSY);
	CHECK_EQ(pmemstream_strerror(PMEMSTREAM_E_TRUNCATED) != NULL, 1);
	CHECK(strcmp(pmemstream_strerror(PMEMSTREAM_E_TRUNCATED), "unknown error") != 0);
	teardown(&fx);
}

int main(int argc, char **argv)
{
	static const struct c_test_case cases[] = {
		{"clear_region", clear_region},
		{"truncate_prefix_and_suffix", truncate_prefix_and_suffix},
		{"iterator_on_removed_entry", iterator_on_removed_entry},
		{"truncate_errors", truncate_errors},
	};
	return c_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
