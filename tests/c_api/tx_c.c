/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Transactions through the C API (issue 13): commit, abort, async commit with its future,
 * allocations and frees, and the errors. Run one test with `tx_c <name>`, all without an
 * argument.
 */
#include "c_test.h"

#define FILE_SIZE ((size_t)1 << 20)
#define BLOCK 4096u

struct fixture {
	struct mapped_file file;
	struct pmemstream *s;
};

static int setup(struct fixture *fx, const char *tag)
{
	fx->s = NULL;
	if (map_new_file(&fx->file, tag, FILE_SIZE) != 0)
		return -1;
	return pmemstream_from_map(&fx->s, BLOCK, fx->file.map);
}

static void teardown(struct fixture *fx)
{
	pmemstream_delete(&fx->s);
	remove_file(&fx->file);
}

static int reopen(struct fixture *fx)
{
	pmemstream_delete(&fx->s);
	unmap_file(&fx->file);
	if (map_path(&fx->file, 0, 0, 0) != 0)
		return -1;
	return pmemstream_from_map(&fx->s, BLOCK, fx->file.map);
}

static uint64_t count_entries(struct pmemstream *s, struct pmemstream_region r)
{
	uint64_t n = 0;
	if (pmemstream_region_entry_count(s, r, &n) != 0)
		return (uint64_t)-1;
	return n;
}

static void commit_and_abort(void)
{
	struct fixture fx;
	REQUIRE_OK(setup(&fx, "txc"));
	struct pmemstream_region a, b;
	REQUIRE_OK(pmemstream_region_allocate(fx.s, 3000, &a));
	REQUIRE_OK(pmemstream_region_allocate(fx.s, 3000, &b));
	struct pmemstream_tx *tx = NULL;
	REQUIRE_OK(pmemstream_tx_begin(&tx, fx.s));
	for (uint64_t i = 0; i < 8; i++)
		REQUIRE_OK(pmemstream_tx_append(tx, i % 2 ? a : b, &i, sizeof(i)));
	CHECK_EQ(count_entries(fx.s, a), 0);
	uint64_t last = 0;
	REQUIRE_OK(pmemstream_tx_commit(tx, &last));
	CHECK_EQ(last, 8);
	CHECK_EQ(pmemstream_persisted_timestamp(fx.s), 8);
	CHECK_EQ(count_entries(fx.s, a), 4);

	REQUIRE_OK(pmemstream_tx_begin(&tx, fx.s));
	uint64_t v = 99;
	REQUIRE_OK(pmemstream_tx_append(tx, a, &v, sizeof(v)));
	pmemstream_tx_abort(tx);
	pmemstream_tx_abort(NULL);
	CHECK_EQ(count_entries(fx.s, a), 4);
	CHECK_EQ(pmemstream_last_timestamp(fx.s), 8);

	REQUIRE_OK(reopen(&fx));
	CHECK_EQ(count_entries(fx.s, a), 4);
	CHECK_EQ(count_entries(fx.s, b), 4);
	teardown(&fx);
}

static void async_commit_future(void)
{
	struct fixture fx;
	REQUIRE_OK(setup(&fx, "txc_async"));
	struct pmemstream_region a;
	REQUIRE_OK(pmemstream_region_allocate(fx.s, 3000, &a));
	struct pmemstream_tx *tx = NULL;
	REQUIRE_OK(pmemstream_tx_begin(&tx, fx.s));
	for (uint64_t i = 0; i < 3; i++)
		REQUIRE_OK(pmemstream_tx_append(tx, a, &i, sizeof(i)));
	struct pmemstream_async_publish_fut f = pmemstream_tx_async_commit(tx);
	CHECK_EQ(pmemstream_future_poll(PMEMSTREAM_FUTURE(&f)), PMEMSTREAM_FUTURE_STATE_COMPLETE);
	CHECK_EQ(f.output.error_code, 0);
	CHECK_EQ(f.output.timestamp, 3);
	CHECK(pmemstream_committed_timestamp(fx.s) >= 3);
	REQUIRE_OK(pmemstream_wait_persisted(fx.s, f.output.timestamp, PMEMSTREAM_WAIT_FOREVER));
	/* A failing async commit: a complete future holding the code. */
	struct pmemstream_async_publish_fut bad = pmemstream_tx_async_commit(NULL);
	CHECK_EQ(pmemstream_future_poll(PMEMSTREAM_FUTURE(&bad)), PMEMSTREAM_FUTURE_STATE_COMPLETE);
	CHECK_EQ(bad.output.error_code, PMEMSTREAM_E_INVALID_ARGUMENT);
	teardown(&fx);
}

static void checkpoint_allocates_and_frees(void)
{
	struct fixture fx;
	REQUIRE_OK(setup(&fx, "txc_regions"));
	struct pmemstream_region old1, old2, fresh;
	REQUIRE_OK(pmemstream_region_allocate(fx.s, 3000, &old1));
	REQUIRE_OK(pmemstream_region_allocate(fx.s, 3000, &old2));
	uint64_t v = 1;
	REQUIRE_OK(pmemstream_append(fx.s, old1, NULL, &v, sizeof(v), NULL));
	struct pmemstream_tx *tx = NULL;
	REQUIRE_OK(pmemstream_tx_begin(&tx, fx.s));
	REQUIRE_OK(pmemstream_tx_region_allocate(tx, 5000, &fresh));
	/* Not a region outside the transaction before the commit. */
	CHECK_ERR(pmemstream_append(fx.s, fresh, NULL, &v, sizeof(v), NULL), PMEMSTREAM_E_INVALID_HANDLE);
	REQUIRE_OK(pmemstream_tx_append(tx, fresh, &v, sizeof(v)));
	REQUIRE_OK(pmemstream_tx_region_free(tx, old1));
	REQUIRE_OK(pmemstream_tx_region_free(tx, old2));
	CHECK_ERR(pmemstream_tx_region_free(tx, old2), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_tx_append(tx, old1, &v, sizeof(v)), PMEMSTREAM_E_INVALID_ARGUMENT);
	REQUIRE_OK(pmemstream_tx_commit(tx, NULL));
	CHECK_EQ(count_entries(fx.s, fresh), 1);
	REQUIRE_OK(reopen(&fx));
	CHECK_EQ(count_entries(fx.s, fresh), 1);
	uint64_t n = 0;
	CHECK_ERR(pmemstream_region_entry_count(fx.s, old1, &n), PMEMSTREAM_E_INVALID_HANDLE);
	struct pmemstream_info info;
	REQUIRE_OK(pmemstream_stream_get_info(fx.s, &info));
	CHECK_EQ(info.region_count, 1);
	teardown(&fx);
}

static void tx_errors(void)
{
	struct fixture fx;
	REQUIRE_OK(setup(&fx, "txc_errors"));
	struct pmemstream_region a, gone = {12345};
	REQUIRE_OK(pmemstream_region_allocate(fx.s, 100, &a));
	struct pmemstream_tx *tx = NULL;
	CHECK_ERR(pmemstream_tx_begin(NULL, fx.s), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_tx_begin(&tx, NULL), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_tx_append(NULL, a, "x", 1), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_tx_commit(NULL, NULL), PMEMSTREAM_E_INVALID_ARGUMENT);
	REQUIRE_OK(pmemstream_tx_begin(&tx, fx.s));
	CHECK_ERR(pmemstream_tx_append(tx, a, NULL, 1), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_tx_append(tx, gone, "x", 1), PMEMSTREAM_E_INVALID_HANDLE);
	CHECK_ERR(pmemstream_tx_region_free(tx, gone), PMEMSTREAM_E_INVALID_HANDLE);
	CHECK_ERR(pmemstream_tx_region_allocate(tx, 0, &gone), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_tx_region_allocate(tx, 100, NULL), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_tx_region_allocate(tx, FILE_SIZE, &gone), PMEMSTREAM_E_OUT_OF_SPACE);
	/* A member that does not fit is refused; the transaction keeps the others. */
	static char big[3900];
	REQUIRE_OK(pmemstream_tx_append(tx, a, big, 3000));
	CHECK_ERR(pmemstream_tx_append(tx, a, big, 900), PMEMSTREAM_E_REGION_FULL);
	/* The room goes to a plain append: the commit is refused whole, and deletes tx. */
	REQUIRE_OK(pmemstream_append(fx.s, a, NULL, big, 1000, NULL));
	CHECK_ERR(pmemstream_tx_commit(tx, NULL), PMEMSTREAM_E_REGION_FULL);
	CHECK_EQ(count_entries(fx.s, a), 1);
	struct pmemstream_region wide;
	REQUIRE_OK(pmemstream_region_allocate(fx.s, 16 * PMEMSTREAM_TX_MAX_MEMBERS, &wide));
	for (uint64_t i = 0; i < PMEMSTREAM_TX_MAX_MEMBERS + 1; i++) {
		if (i == 0)
			REQUIRE_OK(pmemstream_tx_begin(&tx, fx.s));
		int rc = pmemstream_tx_append(tx, wide, NULL, 0);
		if (i < PMEMSTREAM_TX_MAX_MEMBERS)
			continue;
		CHECK_EQ(rc, C_TEST_RETURN_OF(PMEMSTREAM_E_TX_TOO_LARGE));
		CHECK_EQ(pmemstream_errno(), PMEMSTREAM_E_TX_TOO_LARGE);
	}
	pmemstream_tx_abort(tx);
	CHECK(strcmp(pmemstream_strerror(PMEMSTREAM_E_TX_TOO_LARGE), "transaction too large") == 0);
	CHECK(strcmp(pmemstream_strerror(PMEMSTREAM_E_TX_FINISHED), "transaction already finished") == 0);
	teardown(&fx);
}

int main(int argc, char **argv)
{
	static const struct c_test_case cases[] = {
		{"commit_and_abort", commit_and_abort},
		{"async_commit_future", async_commit_future},
		{"checkpoint_allocates_and_frees", checkpoint_allocates_and_frees},
		{"tx_errors", tx_errors},
	};
	return c_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
