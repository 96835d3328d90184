// SPDX-License-Identifier: BSD-3-Clause
// The C recovery report (pmemstream_recovery_get_*, issue 14) equals the C++
// stream::recovery() of the same stream, field by field and range by range, on images that
// exercise every field: a clean close (checkpoints), a crash image (torn tail, trimmed
// entries), a read-only open beside a live writer, salvage, skip-corrupt with several gaps,
// and point-in-time repair (dry run and writable).
#include "two_region_image.hpp"

#include "format/format.hpp"
#include "media/media.hpp"

#include "c_api/c_api.hpp" // libpmemstream.h with the C handle renamed, and the C++ API

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

void damage_payload(std::vector<std::byte> &img, const entry &e)
{
	img[e.offset + sizeof(format::entry_header) + 5] ^= std::byte{0x5a};
}

class file {
public:
	explicit file(const std::vector<std::byte> &bytes)
	    : path_("/dev/shm/pmemstream_recovery_report_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++))
	{
		FILE *f = std::fopen(path_.c_str(), "wb");
		EXPECT_TRUE(f);
		if (f) {
			EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
			std::fclose(f);
		}
	}
	~file()
	{
		::unlink(path_.c_str());
	}
	const char *path() const
	{
		return path_.c_str();
	}

private:
	static inline int counter_ = 0;
	std::string path_;
};

// Opens `path` through the C API with `flags` and checks its report against the C++ one of
// the very same stream (the C handle is the C++ stream). Returns the C++ report's copy for
// the caller's own checks of the scenario.
recovery_report compare(const char *path, unsigned flags)
{
	pmemstream_c_handle *h = nullptr;
	const int rc = pmemstream_open_errc(&h, path, 0, flags);
	EXPECT_EQ(rc, 0) << pmemstream_errormsg();
	if (rc != 0)
		return {};
	const recovery_report &want = pmemstream::c_api::cpp(h)->recovery();

	pmemstream_recovery_report got;
	std::memset(&got, 0xa5, sizeof(got));
	got.size = sizeof(got);
	EXPECT_EQ(pmemstream_recovery_get_report_errc(h, &got), 0) << pmemstream_errormsg();
	EXPECT_EQ(got.size, sizeof(got));
	EXPECT_EQ(got.regions, want.regions);
	EXPECT_EQ(got.entries, want.entries);
	EXPECT_EQ(got.torn_tails, want.torn_tails);
	EXPECT_EQ(got.trimmed_entries, want.trimmed_entries);
	EXPECT_EQ(got.checkpointed_regions, want.checkpointed_regions);
	EXPECT_EQ(got.repair_cut, want.repair_cut);
	EXPECT_EQ(got.live_writer, want.live_writer ? 1u : 0u);
	EXPECT_EQ(got.reserved32, 0u);
	EXPECT_EQ(got.problem_count, want.problems.size());
	EXPECT_EQ(got.dropped_count, want.dropped.size());
	EXPECT_EQ(got.skipped_count, want.skipped.size());

	for (uint64_t i = 0; i < want.problems.size(); ++i) {
		pmemstream_recovery_problem p{};
		p.size = sizeof(p);
		if (pmemstream_recovery_get_problem_errc(h, i, &p) != 0) {
			ADD_FAILURE() << pmemstream_errormsg();
			continue;
		}
		EXPECT_EQ(p.size, sizeof(p));
		EXPECT_EQ(p.region_offset, want.problems[i].region_offset) << "problem " << i;
		EXPECT_EQ(p.entry_offset, want.problems[i].entry_offset) << "problem " << i;
		EXPECT_EQ(p.what, want.problems[i].what.c_str()) << "problem " << i; // the stream's own string
	}
	for (uint64_t i = 0; i < want.dropped.size(); ++i) {
		const dropped_entries &w = want.dropped[i];
		pmemstream_recovery_dropped d{};
		d.size = sizeof(d);
		if (pmemstream_recovery_get_dropped_errc(h, i, &d) != 0) {
			ADD_FAILURE() << pmemstream_errormsg();
			continue;
		}
		EXPECT_EQ(d.size, sizeof(d));
		EXPECT_EQ(d.region_offset, w.region_offset) << "dropped " << i;
		EXPECT_EQ(d.offset, w.offset) << "dropped " << i;
		EXPECT_EQ(d.entries, w.entries) << "dropped " << i;
		EXPECT_EQ(d.first_timestamp, w.first_timestamp) << "dropped " << i;
		EXPECT_EQ(d.last_timestamp, w.last_timestamp) << "dropped " << i;
		EXPECT_EQ(d.damaged, w.damaged ? 1u : 0u) << "dropped " << i;
		EXPECT_EQ(d.reserved32, 0u);
		EXPECT_EQ(d.why, w.why.c_str()) << "dropped " << i;
	}
	for (uint64_t i = 0; i < want.skipped.size(); ++i) {
		const skipped_range &w = want.skipped[i];
		pmemstream_recovery_skipped k{};
		k.size = sizeof(k);
		if (pmemstream_recovery_get_skipped_errc(h, i, &k) != 0) {
			ADD_FAILURE() << pmemstream_errormsg();
			continue;
		}
		EXPECT_EQ(k.size, sizeof(k));
		EXPECT_EQ(k.region_offset, w.region_offset) << "skipped " << i;
		EXPECT_EQ(k.offset, w.offset) << "skipped " << i;
		EXPECT_EQ(k.bytes, w.bytes) << "skipped " << i;
		EXPECT_EQ(k.why, w.why.c_str()) << "skipped " << i;
	}
	// One past each list is refused, with a message that says so.
	pmemstream_recovery_problem p{};
	p.size = sizeof(p);
	EXPECT_EQ(pmemstream_recovery_get_problem_errc(h, want.problems.size(), &p), PMEMSTREAM_E_INVALID_ARGUMENT);
	EXPECT_NE(std::string(pmemstream_errormsg()).find("out of range (the report has " + std::to_string(want.problems.size())),
		  std::string::npos)
		<< pmemstream_errormsg();
	pmemstream_recovery_dropped d{};
	d.size = sizeof(d);
	EXPECT_EQ(pmemstream_recovery_get_dropped(h, want.dropped.size(), &d), -1);
	EXPECT_EQ(pmemstream_errno(), PMEMSTREAM_E_INVALID_ARGUMENT);
	EXPECT_EQ(errno, EINVAL);
	pmemstream_recovery_skipped k{};
	k.size = sizeof(k);
	EXPECT_EQ(pmemstream_recovery_get_skipped_errc(h, want.skipped.size(), &k), PMEMSTREAM_E_INVALID_ARGUMENT);

	recovery_report copy = want;
	pmemstream_delete(&h);
	return copy;
}

constexpr unsigned ro = PMEMSTREAM_OPEN_READ_ONLY;
constexpr unsigned full = PMEMSTREAM_OPEN_VERIFY_FULL;

} // namespace

TEST(recovery_report_c, clean_close_reports_checkpoints)
{
	file f(alternate(6).bytes);
	auto r = compare(f.path(), ro);
	EXPECT_EQ(r.checkpointed_regions, 2u);
	EXPECT_EQ(r.entries, 12u);
	r = compare(f.path(), ro | full);
	EXPECT_EQ(r.checkpointed_regions, 0u);
	compare(f.path(), 0);
}

// Garbage after a region's last entry is a torn tail; a crash image may leave more.
TEST(recovery_report_c, torn_tail_and_crash_image)
{
	auto img = alternate(6);
	const uint64_t after = img.eb[5].offset + format::entry_footprint(40);
	img.bytes[after + 3] = std::byte{0x77};
	{
		file f(img.bytes);
		auto r = compare(f.path(), ro | full);
		EXPECT_EQ(r.torn_tails, 1u);
		EXPECT_EQ(r.entries, 12u);
	}
	file g(alternate(5, true).bytes);
	compare(g.path(), ro);
	compare(g.path(), 0);
}

// A read-only open while a writer holds the file.
TEST(recovery_report_c, live_writer)
{
	file f(alternate(3).bytes);
	auto w = stream::open(f.path(), {});
	ASSERT_TRUE(w) << w.err().message();
	auto r = compare(f.path(), ro);
	EXPECT_TRUE(r.live_writer);
}

TEST(recovery_report_c, salvage_lists_problems)
{
	auto img = alternate(6);
	damage_payload(img.bytes, img.ea[2]);
	file f(img.bytes);
	auto r = compare(f.path(), ro | PMEMSTREAM_OPEN_SALVAGE | full);
	EXPECT_FALSE(r.problems.empty());
	EXPECT_EQ(r.entries, 8u); // a: 1 3, b: every entry
}

TEST(recovery_report_c, skip_corrupt_ranges)
{
	auto img = alternate(8);
	damage_payload(img.bytes, img.ea[1]);
	damage_payload(img.bytes, img.ea[5]);
	damage_payload(img.bytes, img.ea[6]); // adjacent: one range with ea[5]
	damage_payload(img.bytes, img.eb[3]);
	file f(img.bytes);
	auto r = compare(f.path(), ro | PMEMSTREAM_OPEN_SKIP_CORRUPT | full);
	EXPECT_EQ(r.skipped.size(), 3u);
	EXPECT_GE(r.problems.size(), 3u);
	EXPECT_EQ(r.entries, 12u);
}

TEST(recovery_report_c, point_in_time_dry_run_and_repair)
{
	auto img = alternate(6);
	damage_payload(img.bytes, img.ea[2]);
	file f(img.bytes);
	auto dry = compare(f.path(), ro | PMEMSTREAM_OPEN_POINT_IN_TIME | full);
	EXPECT_EQ(dry.dropped.size(), 2u);
	EXPECT_EQ(dry.repair_cut, 4u);
	auto rep = compare(f.path(), PMEMSTREAM_OPEN_POINT_IN_TIME | full);
	EXPECT_EQ(rep.dropped.size(), 2u);
	EXPECT_EQ(rep.repair_cut, 4u);
	auto after = compare(f.path(), full);
	EXPECT_TRUE(after.dropped.empty());
	EXPECT_EQ(after.entries, 4u);
}
