/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The recovery report of the C API (issue 14), compiled as C99 against the shared library:
 * what a point-in-time repair (dry run and writable) dropped and what a skip-corrupt open
 * stepped over, on a stream this test builds and damages itself; a healthy stream's report;
 * the size field that lets the structures grow; and bad input. (recovery_report_cxx.cpp
 * compares the same calls with the C++ stream::recovery() on more images.)
 */
#include "c_test.h"

#define FILE_SIZE (1 << 20)
#define ENTRY_HEADER 16 /* docs/format.md: timestamp word, size, checksum */

/* Regions a and b appended in turn (a: 1 3 5 7 9 11, b: 2 4 6 8 10 12), closed cleanly. */
struct image {
	char path[256];
	struct pmemstream_region a, b;
	struct pmemstream_entry ea[6], eb[6];
};

static int build(struct image *img, const char *tag)
{
	struct pmemstream *s = NULL;
	test_path(img->path, sizeof(img->path), tag);
	if (pmemstream_create(&s, img->path, FILE_SIZE, 4096) != 0)
		return -1;
	int rc = pmemstream_region_allocate(s, 6000, &img->a) | pmemstream_region_allocate(s, 6000, &img->b);
	for (int k = 0; k < 6 && rc == 0; k++) {
		char d[40];
		memset(d, 0x40 + k, sizeof(d));
		rc = pmemstream_append(s, img->a, NULL, d, sizeof(d), &img->ea[k]) |
		     pmemstream_append(s, img->b, NULL, d, sizeof(d), &img->eb[k]);
	}
	pmemstream_delete(&s);
	return rc;
}

/* Flips a payload byte of entry e in the file: its checksum no longer matches. */
static int damage(const struct image *img, struct pmemstream_entry e)
{
	int fd = open(img->path, O_RDWR);
	unsigned char c;
	int ok = fd >= 0 && pread(fd, &c, 1, (off_t)(e.offset + ENTRY_HEADER + 5)) == 1;
	c ^= 0x5a;
	ok = ok && pwrite(fd, &c, 1, (off_t)(e.offset + ENTRY_HEADER + 5)) == 1;
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

static void report_init(struct pmemstream_recovery_report *r)
{
	memset(r, 0xee, sizeof(*r));
	r->size = sizeof(*r);
}

static void healthy_stream(void)
{
	struct image img;
	REQUIRE_OK(build(&img, "rec_healthy"));
	struct pmemstream *s = NULL;
	REQUIRE_OK(pmemstream_open(&s, img.path, 0, 0));
	struct pmemstream_recovery_report r;
	report_init(&r);
	REQUIRE_OK(pmemstream_recovery_get_report(s, &r));
	CHECK_EQ(r.size, 88);
	CHECK_EQ(r.regions, 2);
	CHECK_EQ(r.entries, 12);
	CHECK_EQ(r.torn_tails, 0);
	CHECK_EQ(r.trimmed_entries, 0);
	CHECK_EQ(r.checkpointed_regions, 2); /* clean close: both walks start at the checkpoint */
	CHECK_EQ(r.repair_cut, 0);
	CHECK_EQ(r.problem_count, 0);
	CHECK_EQ(r.dropped_count, 0);
	CHECK_EQ(r.skipped_count, 0);
	CHECK_EQ(r.live_writer, 0);
	CHECK_EQ(r.reserved32, 0);
	pmemstream_delete(&s);
}

static void check_point_in_time(struct pmemstream *s, const struct image *img)
{
	struct pmemstream_recovery_report r;
	report_init(&r);
	REQUIRE_OK(pmemstream_recovery_get_report(s, &r));
	CHECK_EQ(r.repair_cut, 4); /* 5 is damaged, 4 is known to precede it */
	CHECK_EQ(r.entries, 4);
	CHECK_EQ(r.regions, 2);
	CHECK_EQ(r.skipped_count, 0);
	CHECK(r.problem_count >= 1);
	REQUIRE(r.dropped_count == 2);
	struct pmemstream_recovery_dropped d;
	d.size = sizeof(d);
	REQUIRE_OK(pmemstream_recovery_get_dropped(s, 0, &d));
	CHECK_EQ(d.size, 64);
	CHECK_EQ(d.region_offset, img->a.offset);
	CHECK_EQ(d.offset, img->ea[2].offset);
	CHECK_EQ(d.entries, 3); /* 7 9 11, behind the damaged entry */
	CHECK_EQ(d.first_timestamp, 7);
	CHECK_EQ(d.last_timestamp, 11);
	CHECK_EQ(d.damaged, 1);
	CHECK_EQ(d.reserved32, 0);
	CHECK(d.why != NULL && d.why[0] != 0);
	REQUIRE_OK(pmemstream_recovery_get_dropped(s, 1, &d));
	CHECK_EQ(d.region_offset, img->b.offset);
	CHECK_EQ(d.offset, img->eb[2].offset);
	CHECK_EQ(d.entries, 4); /* 6 8 10 12: above the cut */
	CHECK_EQ(d.first_timestamp, 6);
	CHECK_EQ(d.last_timestamp, 12);
	CHECK_EQ(d.damaged, 0);
	CHECK(d.why != NULL && d.why[0] == 0); /* no damage to name */
	struct pmemstream_recovery_problem p;
	p.size = sizeof(p);
	REQUIRE_OK(pmemstream_recovery_get_problem(s, 0, &p));
	CHECK_EQ(p.size, 32);
	CHECK(p.what != NULL && p.what[0] != 0);
	CHECK_ERR(pmemstream_recovery_get_dropped(s, 2, &d), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strstr(pmemstream_errormsg(), "index 2 is out of range (the report has 2 dropped regions)") != NULL);
}

static void point_in_time_repair(void)
{
	struct image img;
	REQUIRE_OK(build(&img, "rec_pit"));
	REQUIRE_OK(damage(&img, img.ea[2]));
	struct pmemstream *s = NULL;
	/* The dry run reports what the repair will drop, and changes nothing. */
	REQUIRE_OK(pmemstream_open(&s, img.path, 0,
				   PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_POINT_IN_TIME | PMEMSTREAM_OPEN_VERIFY_FULL));
	check_point_in_time(s, &img);
	pmemstream_delete(&s);
	REQUIRE_OK(pmemstream_open(&s, img.path, 0, PMEMSTREAM_OPEN_POINT_IN_TIME | PMEMSTREAM_OPEN_VERIFY_FULL));
	check_point_in_time(s, &img);
	pmemstream_delete(&s);
	/* Repaired: the next open reports nothing dropped. */
	REQUIRE_OK(pmemstream_open(&s, img.path, 0, PMEMSTREAM_OPEN_VERIFY_FULL));
	struct pmemstream_recovery_report r;
	report_init(&r);
	REQUIRE_OK(pmemstream_recovery_get_report(s, &r));
	CHECK_EQ(r.dropped_count, 0);
	CHECK_EQ(r.problem_count, 0);
	CHECK_EQ(r.entries, 4);
	pmemstream_delete(&s);
}

static void skip_corrupt(void)
{
	struct image img;
	REQUIRE_OK(build(&img, "rec_skip"));
	REQUIRE_OK(damage(&img, img.ea[2]));
	REQUIRE_OK(damage(&img, img.eb[4]));
	struct pmemstream *s = NULL;
	REQUIRE_OK(pmemstream_open(&s, img.path, 0,
				   PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_SKIP_CORRUPT | PMEMSTREAM_OPEN_VERIFY_FULL));
	struct pmemstream_recovery_report r;
	report_init(&r);
	REQUIRE_OK(pmemstream_recovery_get_report(s, &r));
	CHECK_EQ(r.entries, 10);
	CHECK_EQ(r.dropped_count, 0);
	CHECK_EQ(r.repair_cut, 0);
	CHECK(r.problem_count >= 2);
	REQUIRE(r.skipped_count == 2);
	struct pmemstream_recovery_skipped k[2];
	for (int i = 0; i < 2; i++) {
		k[i].size = sizeof(k[i]);
		REQUIRE_OK(pmemstream_recovery_get_skipped(s, (uint64_t)i, &k[i]));
		CHECK_EQ(k[i].size, 40);
		CHECK(k[i].why != NULL && strcmp(k[i].why, "checksum mismatch") == 0);
	}
	/* One range per region, in either order. */
	const int ia = k[0].region_offset == img.a.offset ? 0 : 1;
	CHECK_EQ(k[ia].region_offset, img.a.offset);
	CHECK_EQ(k[ia].offset, img.ea[2].offset);
	CHECK_EQ(k[ia].bytes, img.ea[3].offset - img.ea[2].offset);
	CHECK_EQ(k[1 - ia].region_offset, img.b.offset);
	CHECK_EQ(k[1 - ia].offset, img.eb[4].offset);
	CHECK_EQ(k[1 - ia].bytes, img.eb[5].offset - img.eb[4].offset);
	/* Each range is a problem too, naming its region and entry. */
	int listed = 0;
	for (uint64_t i = 0; i < r.problem_count; i++) {
		struct pmemstream_recovery_problem p;
		p.size = sizeof(p);
		REQUIRE_OK(pmemstream_recovery_get_problem(s, i, &p));
		listed += p.region_offset == img.a.offset && p.entry_offset == img.ea[2].offset;
	}
	CHECK(listed >= 1);
	/* The strings live as long as the stream: the same pointer every time. */
	struct pmemstream_recovery_skipped again;
	again.size = sizeof(again);
	REQUIRE_OK(pmemstream_recovery_get_skipped(s, 0, &again));
	CHECK(again.why == k[0].why);
	pmemstream_delete(&s);
}

/* A caller built against a later header passes a larger size: the library fills what it
 * knows, zeroes the rest and says how much it filled. */
static void larger_structure_from_a_newer_caller(void)
{
	struct image img;
	REQUIRE_OK(build(&img, "rec_grow"));
	struct pmemstream *s = NULL;
	REQUIRE_OK(pmemstream_open(&s, img.path, 0, PMEMSTREAM_OPEN_READ_ONLY));
	struct {
		struct pmemstream_recovery_report r;
		uint64_t later[3];
		uint64_t guard;
	} big;
	memset(&big, 0xee, sizeof(big));
	big.r.size = sizeof(big.r) + sizeof(big.later);
	REQUIRE_OK(pmemstream_recovery_get_report(s, &big.r));
	CHECK_EQ(big.r.size, sizeof(struct pmemstream_recovery_report));
	CHECK_EQ(big.r.entries, 12);
	CHECK_EQ(big.later[0], 0);
	CHECK_EQ(big.later[2], 0);
	CHECK(big.guard == UINT64_C(0xeeeeeeeeeeeeeeee)); /* nothing beyond the caller's size */
	pmemstream_delete(&s);
}

static void report_errors(void)
{
	struct image img;
	REQUIRE_OK(build(&img, "rec_err"));
	struct pmemstream *s = NULL;
	REQUIRE_OK(pmemstream_open(&s, img.path, 0, PMEMSTREAM_OPEN_READ_ONLY));
	struct pmemstream_recovery_report r;
	report_init(&r);
	CHECK_ERR(pmemstream_recovery_get_report(NULL, &r), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strcmp(pmemstream_errormsg(), "pmemstream_recovery_get_report: stream is NULL") == 0);
	CHECK_ERR(pmemstream_recovery_get_report(s, NULL), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strcmp(pmemstream_errormsg(), "pmemstream_recovery_get_report: the output structure is NULL") == 0);
	r.size = 87;
	CHECK_ERR(pmemstream_recovery_get_report(s, &r), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strcmp(pmemstream_errormsg(),
		     "pmemstream_recovery_get_report: size is 87, below 88 (sizeof the structure's first version)") == 0);
	CHECK_EQ(r.size, 87); /* a failure writes nothing */
	CHECK(r.entries == UINT64_C(0xeeeeeeeeeeeeeeee));
	r.size = 0;
	CHECK_ERR(pmemstream_recovery_get_report(s, &r), PMEMSTREAM_E_INVALID_ARGUMENT);

	struct pmemstream_recovery_problem p;
	struct pmemstream_recovery_dropped d;
	struct pmemstream_recovery_skipped k;
	p.size = sizeof(p);
	d.size = sizeof(d);
	k.size = sizeof(k);
	/* A healthy stream has none of them: index 0 is out of range. */
	CHECK_ERR(pmemstream_recovery_get_problem(s, 0, &p), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strcmp(pmemstream_errormsg(),
		     "pmemstream_recovery_get_problem: index 0 is out of range (the report has 0 problems)") == 0);
	CHECK_ERR(pmemstream_recovery_get_dropped(s, 0, &d), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_recovery_get_skipped(s, UINT64_MAX, &k), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strstr(pmemstream_errormsg(), "index 18446744073709551615 is out of range") != NULL);
	CHECK_ERR(pmemstream_recovery_get_problem(NULL, 0, &p), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_recovery_get_dropped(NULL, 0, &d), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_recovery_get_skipped(NULL, 0, &k), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strcmp(pmemstream_errormsg(), "pmemstream_recovery_get_skipped: stream is NULL") == 0);
	CHECK_ERR(pmemstream_recovery_get_problem(s, 0, NULL), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_recovery_get_dropped(s, 0, NULL), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK_ERR(pmemstream_recovery_get_skipped(s, 0, NULL), PMEMSTREAM_E_INVALID_ARGUMENT);
	p.size = 31;
	d.size = 63;
	k.size = 8;
	CHECK_ERR(pmemstream_recovery_get_problem(s, 0, &p), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strstr(pmemstream_errormsg(), "size is 31, below 32") != NULL);
	CHECK_ERR(pmemstream_recovery_get_dropped(s, 0, &d), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strstr(pmemstream_errormsg(), "size is 63, below 64") != NULL);
	CHECK_ERR(pmemstream_recovery_get_skipped(s, 0, &k), PMEMSTREAM_E_INVALID_ARGUMENT);
	CHECK(strstr(pmemstream_errormsg(), "size is 8, below 40") != NULL);
	pmemstream_delete(&s);
}

int main(int argc, char **argv)
{
	static const struct c_test_case cases[] = {
		{"healthy_stream", healthy_stream},
		{"point_in_time_repair", point_in_time_repair},
		{"skip_corrupt", skip_corrupt},
		{"larger_structure_from_a_newer_caller", larger_structure_from_a_newer_caller},
		{"report_errors", report_errors},
	};
	return c_test_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
