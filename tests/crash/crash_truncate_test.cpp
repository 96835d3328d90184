// SPDX-License-Identifier: BSD-3-Clause
// Simulated power failure during region clear, prefix and suffix truncation (issue 14), and
// during the appends that follow them in the reused space: at every fence and flush, many
// images each (lines lost, kept or torn word by word), every image recovered by the real open
// path and checked against exactly what the operation promises: the region shows all of its
// entries as before or exactly the ones the operation keeps, other regions are untouched, and
// no timestamp handed out before is handed out again. Some recoveries are crashed again at
// each of their fences (nested), and followed by an append that is crashed too.
// PMEMSTREAM_CRASH_IMAGES sets the images per crash point (default 24).
#include "sim_media.hpp"
#include "stream_factory.hpp"

#include <pmemstream/stream.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

constexpr uint64_t stream_bytes = 32 * 1024;
constexpr uint64_t block = 256;

struct item {
	uint64_t ts = 0; // 0 in an expectation: a new entry, any timestamp above the bound
	std::vector<std::byte> data;
};
using contents = std::vector<item>;

struct view {
	contents a, b;
};

contents read_region(const stream &s, region r)
{
	contents out;
	auto it = s.entries(r);
	if (!it)
		return out;
	for (auto e : *it) {
		auto d = s.entry_data(e);
		out.push_back({*s.entry_timestamp(e), {d->begin(), d->end()}});
	}
	return out;
}

std::vector<std::byte> payload(uint64_t n, uint64_t size)
{
	std::vector<std::byte> v(size);
	for (uint64_t i = 0; i < size; ++i)
		v[i] = std::byte((n * 31 + i * 7 + 1) & 0xFF);
	return v;
}

bool matches(const contents &got, const contents &want, uint64_t bound)
{
	if (got.size() != want.size())
		return false;
	for (size_t i = 0; i < got.size(); ++i) {
		if (got[i].data != want[i].data)
			return false;
		if (want[i].ts ? got[i].ts != want[i].ts : got[i].ts <= bound)
			return false;
	}
	return true;
}

std::string describe(const contents &c)
{
	std::string s = "[";
	for (auto &i : c)
		s += std::to_string(i.ts) + ":" + std::to_string(i.data.size()) + " ";
	return s + "]";
}

struct figures {
	uint64_t points = 0, images = 0, nested_images = 0, probes = 0;
};
figures total;

class truncate_explorer {
public:
	truncate_explorer(sim_media::fence_model f, uint64_t seed) : fence_(f), rng_(seed)
	{
		if (const char *e = std::getenv("PMEMSTREAM_CRASH_IMAGES"))
			images_ = std::max<uint64_t>(1, std::strtoull(e, nullptr, 10) / 25);
	}

	// The live stream, on a medium whose hook explores while `allowed_` is set.
	void start(const std::vector<std::byte> *image)
	{
		s_.reset();
		auto sm = image ? std::make_unique<sim_media>(*image, false, fence_) : std::make_unique<sim_media>(stream_bytes, false, fence_);
		m_ = sm.get();
		closed_ = std::make_shared<std::vector<std::byte>>();
		m_->keep_on_destroy(closed_);
		m_->set_hook([this](sim_media &m, sim_event) {
			if (exploring_)
				explore(m);
		});
		auto r = detail::open_on_media(std::move(sm), block, {});
		ASSERT_TRUE(r.has_value()) << r.err().message();
		s_ = std::move(*r);
	}
	// Clean close and reopen of what it left.
	void reopen()
	{
		s_.reset();
		auto img = *closed_;
		start(&img);
	}

	// Runs op with the hook exploring: every image must show one of `allowed` (for region a;
	// b must equal `b`), and an append after recovery must get a timestamp above `bound`.
	void during(const std::vector<contents> &allowed, uint64_t bound, const std::function<void()> &op)
	{
		allowed_ = allowed;
		bound_ = bound;
		exploring_ = true;
		op();
		exploring_ = false;
	}
	// A crash right now: `want` exactly.
	void now(const contents &want, uint64_t bound)
	{
		allowed_ = {want};
		bound_ = bound;
		explore(*m_);
	}

	stream &s()
	{
		return *s_;
	}
	region a, b;
	contents b_want;
	figures fig;

private:
	void explore(sim_media &m)
	{
		++fig.points;
		std::vector<std::byte> img;
		for (uint64_t i = 0; i < images_; ++i) {
			m.crash_image(rng_, img);
			check(img, 0);
		}
	}

	// Recovers `img`; depth 0 images are sometimes crashed again during that recovery and
	// during a probing append after it.
	void check(const std::vector<std::byte> &img, int depth)
	{
		++(depth ? fig.nested_images : fig.images);
		const bool nest = depth == 0 && (++counter_ % 16) == 0;
		auto sm = std::make_unique<sim_media>(img, false, fence_);
		sim_media *rm = sm.get();
		std::vector<std::vector<std::byte>> nested;
		bool collecting = nest;
		rm->set_hook([&](sim_media &mm, sim_event) {
			if (!collecting)
				return;
			std::vector<std::byte> n;
			mm.crash_image(rng_, n);
			nested.push_back(std::move(n));
		});
		auto r = detail::open_on_media(std::move(sm), block, {});
		collecting = false;
		ASSERT_TRUE(r.has_value()) << "image does not open: " << r.err().message();
		auto &s = **r;
		ASSERT_TRUE(s.recovery().problems.empty()) << s.recovery().problems.front().what;
		const contents got_a = read_region(s, a), got_b = read_region(s, b);
		EXPECT_TRUE(matches(got_b, b_want, bound_)) << "region b changed: " << describe(got_b);
		bool ok = false;
		for (const auto &w : allowed_)
			ok = ok || matches(got_a, w, bound_);
		ASSERT_TRUE(ok) << "region a shows " << describe(got_a) << ", allowed: " << describe(allowed_.front())
				<< (allowed_.size() > 1 ? " or " + describe(allowed_.back()) : std::string());
		// Nested crashes inside this recovery must show what it showed.
		const auto saved = allowed_;
		allowed_ = {got_a};
		for (auto &n : nested)
			check(n, depth + 1);
		allowed_ = saved;
		if (depth != 0)
			return;
		// The next append (in the reused space) gets a timestamp never handed out before.
		++fig.probes;
		nested.clear();
		collecting = nest;
		auto p = s.append(a, payload(999, 13));
		collecting = false;
		ASSERT_TRUE(p.has_value() || p.code() == errc::region_full) << p.err().message();
		if (!p)
			return;
		EXPECT_GT(p->timestamp, bound_) << "a timestamp handed out before the crash came back";
		contents with = got_a;
		with.push_back({0, payload(999, 13)});
		allowed_ = {got_a, with};
		for (auto &n : nested)
			check(n, depth + 1);
		allowed_ = saved;
	}

	sim_media::fence_model fence_;
	std::mt19937_64 rng_;
	uint64_t images_ = 24;
	std::unique_ptr<stream> s_;
	sim_media *m_ = nullptr;
	std::shared_ptr<std::vector<std::byte>> closed_;
	bool exploring_ = false;
	std::vector<contents> allowed_;
	uint64_t bound_ = 0;
	uint64_t counter_ = 0;
};

// The ring (issue 14, docs/design.md 5.5) too: region a filled, its oldest entries cut, then
// an append that wraps it (wrap), and cuts of a wrapped region: a prefix cut into the second
// lap (which unwraps it), suffix cuts in the head lap and in the second lap, and a prefix cut
// past everything (a clear).
enum class op_kind {
	clear,
	before_entry,
	before_ts,
	before_all,
	after_entry,
	wrap,
	wrap_before_second,
	wrap_after_head,
	wrap_after_second,
	wrap_before_all
};

void run(op_kind op, bool checkpoint, sim_media::fence_model f, uint64_t seed)
{
	truncate_explorer x(f, seed);
	x.start(nullptr);
	if (::testing::Test::HasFatalFailure())
		return;
	x.a = *x.s().region_allocate(2000);
	x.b = *x.s().region_allocate(1000);
	contents a_now;
	std::vector<appended> ap;
	const uint64_t sizes[] = {0, 7, 64, 65, 9, 100, 48};
	for (uint64_t i = 0; i < 7; ++i) {
		auto e = x.s().append(x.a, payload(i, sizes[i]));
		ASSERT_TRUE(e.has_value());
		ap.push_back(*e);
		a_now.push_back({e->timestamp, payload(i, sizes[i])});
		auto eb = x.s().append(x.b, payload(100 + i, 5 + i));
		ASSERT_TRUE(eb.has_value());
		x.b_want.push_back({eb->timestamp, payload(100 + i, 5 + i)});
	}
	const bool ring = op >= op_kind::wrap;
	std::vector<appended> second; // a wrapped region's second lap
	contents second_now;
	if (ring) {
		// Fill a, then drop the seven entries above: the space before head holds what follows.
		for (uint64_t i = 0;; ++i) {
			auto e = x.s().append(x.a, payload(200 + i, 100));
			if (!e) {
				ASSERT_EQ(e.code(), errc::region_full) << e.err().message();
				break;
			}
			ap.push_back(*e);
			a_now.push_back({e->timestamp, payload(200 + i, 100)});
		}
		ASSERT_EQ(*x.s().region_truncate_before(x.a, entry{ap[7].offset, ap[7].region_id, 0}), 7u);
		ap.erase(ap.begin(), ap.begin() + 7);
		a_now.erase(a_now.begin(), a_now.begin() + 7);
		if (op != op_kind::wrap) { // wrapped, with two entries in the second lap
			for (uint64_t i = 0; i < 2; ++i) {
				auto e = x.s().append(x.a, payload(300 + i, 60));
				ASSERT_TRUE(e.has_value()) << e.err().message();
				ASSERT_LT(e->offset, ap.front().offset) << "the append did not wrap";
				second.push_back(*e);
				second_now.push_back({e->timestamp, payload(300 + i, 60)});
			}
		}
	}
	if (checkpoint)
		x.reopen(); // the checkpoint (sealed_*) now covers every entry of a
	const uint64_t bound = x.s().committed_timestamp();

	contents after;
	std::function<void()> cut;
	const size_t k = 3;
	contents whole = a_now;
	whole.insert(whole.end(), second_now.begin(), second_now.end());
	switch (op) {
	case op_kind::clear:
		cut = [&] { ASSERT_EQ(*x.s().region_clear(x.a), 7u); };
		break;
	case op_kind::before_entry:
		after.assign(a_now.begin() + k, a_now.end());
		cut = [&] { ASSERT_EQ(*x.s().region_truncate_before(x.a, entry{ap[k].offset, ap[k].region_id, 0}), k); };
		break;
	case op_kind::before_ts:
		after.assign(a_now.begin() + 5, a_now.end());
		cut = [&] { ASSERT_EQ(*x.s().region_truncate_before_timestamp(x.a, ap[5].timestamp - 1), 5u); };
		break;
	case op_kind::before_all:
		cut = [&] { ASSERT_EQ(*x.s().region_truncate_before_timestamp(x.a, bound + 1), 7u); };
		break;
	case op_kind::after_entry:
		after.assign(a_now.begin(), a_now.begin() + k + 1);
		cut = [&] { ASSERT_EQ(*x.s().region_truncate_after(x.a, entry{ap[k].offset, ap[k].region_id, 0}), 7 - k - 1); };
		break;
	case op_kind::wrap: // the append that does not fit after the tail
		after = a_now;
		after.push_back({0, payload(400, 100)});
		cut = [&] {
			auto e = x.s().append(x.a, payload(400, 100));
			ASSERT_TRUE(e.has_value()) << e.err().message();
			ASSERT_LT(e->offset, ap.front().offset) << "the append did not wrap";
			after.back().ts = e->timestamp;
		};
		break;
	case op_kind::wrap_before_second:
		after = second_now;
		after.erase(after.begin());
		cut = [&] { ASSERT_EQ(*x.s().region_truncate_before(x.a, entry{second[1].offset, second[1].region_id, 0}), ap.size() + 1); };
		break;
	case op_kind::wrap_after_head:
		after.assign(a_now.begin(), a_now.begin() + k + 1);
		cut = [&] {
			ASSERT_EQ(*x.s().region_truncate_after(x.a, entry{ap[k].offset, ap[k].region_id, 0}), ap.size() - k - 1 + 2);
		};
		break;
	case op_kind::wrap_after_second:
		after = a_now;
		after.push_back(second_now[0]);
		cut = [&] { ASSERT_EQ(*x.s().region_truncate_after(x.a, entry{second[0].offset, second[0].region_id, 0}), 1u); };
		break;
	case op_kind::wrap_before_all:
		cut = [&] { ASSERT_EQ(*x.s().region_truncate_before_timestamp(x.a, bound + 1), ap.size() + 2); };
		break;
	}
	x.during({whole, after}, bound, cut);
	if (::testing::Test::HasFatalFailure())
		return;
	x.now(after, bound);
	ASSERT_TRUE(matches(read_region(x.s(), x.a), after, bound)) << "live: " << describe(read_region(x.s(), x.a));

	// Appends in the space the operation gave back (or right after the cut).
	uint64_t last = bound;
	for (uint64_t i = 0; i < 3 && !::testing::Test::HasFatalFailure(); ++i) {
		const auto data = payload(50 + i, i == 1 ? 120 : 3);
		contents more = after;
		more.push_back({0, data});
		x.during({after, more}, last, [&] {
			auto e = x.s().append(x.a, data);
			ASSERT_TRUE(e.has_value()) << e.err().message();
			EXPECT_GT(e->timestamp, bound);
			more.back().ts = e->timestamp;
			last = e->timestamp;
		});
		after = more;
		x.now(after, last);
	}
	x.reopen();
	EXPECT_TRUE(matches(read_region(x.s(), x.a), after, last));
	EXPECT_TRUE(matches(read_region(x.s(), x.b), x.b_want, last));
	total.points += x.fig.points;
	total.images += x.fig.images;
	total.nested_images += x.fig.nested_images;
	total.probes += x.fig.probes;
}

struct param {
	op_kind op;
	bool checkpoint;
	sim_media::fence_model fence;
};

class crash_truncate : public ::testing::TestWithParam<param> {
};

TEST_P(crash_truncate, every_fence_shows_before_or_after)
{
	const auto p = GetParam();
	run(p.op, p.checkpoint, p.fence, 1 + static_cast<uint64_t>(p.op) * 7 + p.checkpoint);
}

std::vector<param> params()
{
	std::vector<param> v;
	for (auto op : {op_kind::clear, op_kind::before_entry, op_kind::before_ts, op_kind::before_all, op_kind::after_entry, op_kind::wrap,
			op_kind::wrap_before_second, op_kind::wrap_after_head, op_kind::wrap_after_second, op_kind::wrap_before_all})
		for (bool cp : {false, true})
			for (auto f : {sim_media::fence_model::per_thread, sim_media::fence_model::range_sync})
				v.push_back({op, cp, f});
	return v;
}

std::string name_of(const ::testing::TestParamInfo<param> &i)
{
	static const char *ops[] = {"clear",	  "before_entry",	"before_ts",	     "before_all",	  "after_entry",
				    "wrap", "wrap_before_second", "wrap_after_head", "wrap_after_second", "wrap_before_all"};
	return std::string(ops[static_cast<int>(i.param.op)]) + (i.param.checkpoint ? "_checkpoint" : "_fresh") +
	       (i.param.fence == sim_media::fence_model::per_thread ? "_pmem" : "_msync");
}

INSTANTIATE_TEST_SUITE_P(ops, crash_truncate, ::testing::ValuesIn(params()), name_of);

class figures_printer : public ::testing::Environment {
public:
	void TearDown() override
	{
		std::printf("crash[truncate]: %llu crash points, %llu images checked, %llu nested images, %llu probing appends\n",
			    static_cast<unsigned long long>(total.points), static_cast<unsigned long long>(total.images),
			    static_cast<unsigned long long>(total.nested_images), static_cast<unsigned long long>(total.probes));
	}
};
const auto *printer = ::testing::AddGlobalTestEnvironment(new figures_printer);

} // namespace
