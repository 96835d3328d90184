// SPDX-License-Identifier: BSD-3-Clause
// Live readers that follow a writer in place (issue 12, docs/design.md 5.4).
//  - In one process (a read-only follow stream beside the writer's stream of the same file,
//    which is what another process sees too: separate lock, its own mapping, the sidecar):
//    new entries, new regions, freed regions, waits, the writer's close, snapshots.
//  - Across processes (follow_processes): a writer process that appends, allocates and frees
//    regions and is SIGKILLed and restarted, and reader processes started at every moment of
//    its life that check every entry they see against what the writer acknowledged (exact
//    bytes, timestamp order, no gap but freed regions' entries). PMEMSTREAM_LIVE_SECONDS sets
//    how long the writer runs (default 2).
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>

using namespace pmemstream;
using test::temp_file;
using namespace std::chrono_literals;

namespace {

std::vector<std::byte> bytes_of(uint64_t seed, size_t n)
{
	std::vector<std::byte> v(n);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; ++i) {
		x ^= x >> 29;
		x *= 0xBF58476D1CE4E5B9ull;
		v[i] = static_cast<std::byte>(x >> 56);
	}
	return v;
}

std::unique_ptr<stream> follow(const std::string &path)
{
	auto s = stream::open(path, {.read_only = true, .follow = true});
	EXPECT_TRUE(s) << (s ? "" : s.err().message());
	return s ? std::move(*s) : nullptr;
}

} // namespace

TEST(live_follow, iterator_sees_new_entries_without_reopening)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(r, bytes_of(1, 64)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	EXPECT_EQ(rd->writer(), stream::writer_state::following);
	auto it = *rd->entries(r);
	ASSERT_TRUE(it.is_valid());
	it.next();
	EXPECT_FALSE(it.is_valid());
	EXPECT_EQ(it.check().code(), errc::invalid_handle);
	EXPECT_EQ(it.wait_for(0ns).code(), errc::timed_out);
	EXPECT_EQ(it.wait_for(20ms).code(), errc::timed_out);
	for (uint64_t k = 2; k < 50; ++k) {
		auto a = w->append(r, bytes_of(k, k));
		ASSERT_TRUE(a);
		ASSERT_TRUE(it.wait_for(1s)) << k;
		auto d = rd->entry_data(it.get());
		ASSERT_TRUE(d);
		auto want = bytes_of(k, k);
		ASSERT_TRUE(d->size() == want.size() && std::equal(d->begin(), d->end(), want.begin())) << k;
		EXPECT_EQ(*rd->entry_timestamp(it.get()), a->timestamp);
		it.next();
	}
	EXPECT_EQ(rd->committed_timestamp(), w->committed_timestamp());
	EXPECT_EQ(*rd->region_entry_count(r), 49u);
}

TEST(live_follow, a_blocked_wait_is_woken_by_an_append)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	std::atomic<bool> woke{false};
	std::thread t([&] {
		auto st = rd->wait_for(stream::next_entry, 5s);
		EXPECT_TRUE(st) << (st ? "" : st.err().message());
		woke = true;
	});
	std::this_thread::sleep_for(30ms); // long past the spin: asleep in the kernel
	EXPECT_FALSE(woke);
	const auto t0 = std::chrono::steady_clock::now();
	ASSERT_TRUE(w->append(r, bytes_of(7, 64)));
	t.join();
	EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
	EXPECT_EQ(rd->committed_timestamp(), 1u);
}

TEST(live_follow, regions_allocated_later_appear_in_timestamp_order)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto a = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(a, bytes_of(1, 10)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto reader = rd->reader();
	ASSERT_TRUE(reader.is_valid());
	reader.next();
	auto b = *w->region_allocate(64 << 10);
	// A region allocated after the open is known at once, also before anything else polled.
	EXPECT_TRUE(rd->region_size(b));
	for (uint64_t k = 2; k <= 20; ++k)
		ASSERT_TRUE(w->append(k % 2 ? a : b, bytes_of(k, k)));
	for (uint64_t ts = 2; ts <= 20; ++ts) {
		ASSERT_TRUE(reader.wait_for(1s)) << ts;
		EXPECT_EQ(reader.timestamp(), ts);
		EXPECT_EQ(reader.get_region(), (ts % 2 ? a : b));
		auto d = rd->entry_data(reader.get());
		ASSERT_TRUE(d);
		EXPECT_EQ(d->size(), ts);
		reader.next();
	}
	int n = 0;
	for (auto x : rd->regions())
		n += x == a || x == b;
	EXPECT_EQ(n, 2);
}

TEST(live_follow, a_freed_region_ends_its_iterator_with_region_freed)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto a = *w->region_allocate(64 << 10);
	auto keep = *w->region_allocate(64 << 10);
	for (uint64_t k = 1; k <= 5; ++k)
		ASSERT_TRUE(w->append(a, bytes_of(k, 100)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto it = *rd->entries(a);
	ASSERT_TRUE(it.is_valid());
	ASSERT_TRUE(w->region_free(a));
	// The space is reused at once with other bytes; the reader must not read them.
	auto c = *w->region_allocate(4 << 20 >> 2);
	for (uint64_t k = 1; k <= 50; ++k)
		ASSERT_TRUE(w->append(c, bytes_of(k + 1000, 100)));
	EXPECT_FALSE(it.is_valid());
	EXPECT_EQ(it.check().code(), errc::region_freed);
	EXPECT_EQ(it.wait_for(1s).code(), errc::region_freed);
	EXPECT_FALSE(rd->entries(a));
	EXPECT_TRUE(rd->entries(keep));
	auto itc = rd->entries(c);
	ASSERT_TRUE(itc);
	uint64_t k = 1;
	for (auto e : *itc) {
		auto d = rd->entry_data(e);
		ASSERT_TRUE(d);
		auto want = bytes_of(k + 1000, 100);
		EXPECT_TRUE(std::equal(d->begin(), d->end(), want.begin()));
		++k;
	}
	EXPECT_EQ(k, 51u);
}

TEST(live_follow, the_writers_close_ends_waits_with_writer_gone)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(r, bytes_of(1, 8)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto it = *rd->entries(r);
	std::thread t([&] {
		it.next();
		EXPECT_EQ(it.wait_for(10s).code(), errc::writer_gone);
	});
	std::this_thread::sleep_for(30ms);
	const auto t0 = std::chrono::steady_clock::now();
	w.reset();
	t.join();
	EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
	EXPECT_EQ(rd->writer(), stream::writer_state::gone);
	EXPECT_EQ(rd->wait_for(stream::next_entry, 10ms).code(), errc::writer_gone);
	EXPECT_EQ(rd->entry_data(entry{it.get().offset, 0, 0}).code(), errc::writer_gone);
	// Reopened, it shows everything.
	auto again = stream::open(f.path, {.read_only = true, .follow = true});
	ASSERT_TRUE(again);
	EXPECT_EQ((*again)->writer(), stream::writer_state::none);
	EXPECT_EQ((*again)->committed_timestamp(), 1u);
}

TEST(live_follow, a_snapshot_does_not_follow)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(r, bytes_of(1, 8)));
	auto snap = stream::open(f.path, {.read_only = true});
	ASSERT_TRUE(snap);
	EXPECT_EQ((*snap)->writer(), stream::writer_state::none);
	ASSERT_TRUE(w->append(r, bytes_of(2, 8)));
	EXPECT_EQ((*snap)->committed_timestamp(), 1u);
	EXPECT_EQ((*snap)->wait_for(2, 10ms).code(), errc::writer_gone);
	EXPECT_EQ(w->writer(), stream::writer_state::self);
	w.reset();
	EXPECT_EQ(stream::open(f.path, {.follow = true}).code(), errc::invalid_argument);
}

TEST(live_follow, waits_in_the_writers_process)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto r = *w->region_allocate(64 << 10);
	auto it = *w->entries(r);
	EXPECT_EQ(it.wait_for(10ms).code(), errc::timed_out);
	std::thread t([&] {
		std::this_thread::sleep_for(30ms);
		EXPECT_TRUE(w->append(r, bytes_of(3, 8)));
	});
	EXPECT_TRUE(it.wait_for(5s));
	EXPECT_TRUE(w->wait_for(1, 0ns));
	EXPECT_EQ(w->wait_for(2, 10ms).code(), errc::timed_out);
	t.join();
	ASSERT_TRUE(w->region_free(r));
	EXPECT_EQ(it.wait_for(10ms).code(), errc::region_freed);
}

// The stream reader is on an entry of region a when a is freed: next() must land on the next
// entry (in b), not step past it too (it did: follow_processes found the skipped entries).
TEST(live_follow, stream_reader_next_after_its_region_is_freed_does_not_skip)
{
	temp_file f("follow");
	auto w = test::create(f.path, 4 << 20);
	auto a = *w->region_allocate(64 << 10);
	auto b = *w->region_allocate(64 << 10);
	ASSERT_TRUE(w->append(a, bytes_of(1, 8)));
	ASSERT_TRUE(w->append(b, bytes_of(2, 8)));
	ASSERT_TRUE(w->append(b, bytes_of(3, 8)));
	auto rd = follow(f.path);
	ASSERT_TRUE(rd);
	auto in_writer = w->reader(), in_follower = rd->reader();
	for (auto *r : {&in_writer, &in_follower}) {
		ASSERT_TRUE(r->is_valid());
		EXPECT_EQ(r->timestamp(), 1u);
	}
	ASSERT_TRUE(w->region_free(a));
	for (auto *r : {&in_writer, &in_follower}) {
		const char *who = r == &in_writer ? "writer" : "follower";
		r->next();
		ASSERT_TRUE(r->is_valid()) << who;
		EXPECT_EQ(r->timestamp(), 2u) << who;
		r->next();
		ASSERT_TRUE(r->is_valid()) << who;
		EXPECT_EQ(r->timestamp(), 3u) << who;
	}
}

extern "C" int live_follow_c(const char *path, char *why, size_t why_size);

TEST(live_follow, c_api)
{
	temp_file f("follow");
	char why[256] = "";
	EXPECT_EQ(live_follow_c(f.path.c_str(), why, sizeof(why)), 0) << why;
}

// ==================================================================== across processes

namespace {

constexpr uint64_t max_ts = 1 << 20;
constexpr int readers = 4;
constexpr uint64_t max_region_ids = 1 << 16;

double live_seconds()
{
	const char *v = std::getenv("PMEMSTREAM_LIVE_SECONDS");
	return v && *v ? std::atof(v) : 2.0;
}

// Everything the processes tell each other, in MAP_SHARED memory made before the forks.
struct board {
	std::atomic<uint64_t> ack_seed[max_ts + 1];   // seed of the entry the writer acknowledged with ts
	std::atomic<uint32_t> ack_region[max_ts + 1]; // its region's id
	std::atomic<uint8_t> freed[max_region_ids];   // region ids the writer freed (set before the free)
	std::atomic<uint64_t> seen[readers][max_ts + 1]; // seed reader k saw with ts
	std::atomic<uint64_t> reader_max[readers];
	std::atomic<uint64_t> reopens[readers];
	std::atomic<uint64_t> final_committed[readers]; // what the final pass's open showed
	std::atomic<uint8_t> dropped[readers][max_ts + 1];
	struct open_event {
		uint64_t last, committed, first_seen;
		int state;
	};
	open_event opens[readers][64]; // shown, then refused by an accessor (region freed)
	std::atomic<uint64_t> acked;
	std::atomic<int> stop;
	char failure[readers + 2][256];
};

board *make_board()
{
	void *p = ::mmap(nullptr, sizeof(board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? nullptr : new (p) board;
}

[[noreturn]] void fail_child(board &b, int slot, const std::string &what)
{
	std::snprintf(b.failure[slot], sizeof(b.failure[slot]), "%s", what.c_str());
	_exit(1);
}

std::vector<std::byte> entry_bytes(uint64_t seed)
{
	auto v = bytes_of(seed, 8 + seed % 97);
	std::memcpy(v.data(), &seed, 8);
	return v;
}

// One writer incarnation: appends round-robin to three regions, frees the oldest and
// allocates a new one every 150 appends, acknowledges each entry on the board after append()
// returned, until killed.
[[noreturn]] void writer_process(const std::string &path, board &b, uint64_t incarnation)
{
	std::unique_ptr<stream> s;
	for (int tries = 0; !s && tries < 2000; ++tries) {
		auto o = stream::open(path);
		if (o)
			s = std::move(*o);
		else
			std::this_thread::sleep_for(1ms);
	}
	if (!s)
		fail_child(b, readers, "the writer cannot open the stream");
	std::vector<region> live;
	for (auto r : s->regions())
		live.push_back(r);
	auto renew = [&](size_t i) {
		b.freed[live[i].id % max_region_ids].store(1);
		if (auto st = s->region_free(live[i]); !st)
			fail_child(b, readers, "region_free: " + st.err().message());
		auto r = s->region_allocate(256 << 10);
		if (!r)
			fail_child(b, readers, "region_allocate: " + r.err().message());
		live[i] = *r;
	};
	while (live.size() < 3) {
		auto r = s->region_allocate(256 << 10);
		if (!r)
			fail_child(b, readers, "region_allocate: " + r.err().message());
		live.push_back(*r);
	}
	for (uint64_t n = 1;; ++n) {
		const size_t i = n % live.size();
		const uint64_t seed = (incarnation << 40) | n;
		auto a = s->append(live[i], entry_bytes(seed));
		if (!a && a.code() == errc::region_full) {
			renew(i);
			continue;
		}
		if (!a)
			fail_child(b, readers, "append: " + a.err().message());
		if (a->timestamp > max_ts)
			for (;;)
				::pause();
		b.ack_region[a->timestamp].store(static_cast<uint32_t>(live[i].id));
		b.ack_seed[a->timestamp].store(seed, std::memory_order_release);
		b.acked.fetch_add(1);
		if (n % 150 == 0)
			renew((n / 150) % live.size());
		if (n % 8 == 0)
			std::this_thread::sleep_for(40us);
	}
}

// Reader k: follows the stream in timestamp order from where it was, reopening whenever the
// writer goes (and, for odd k, every 500 entries on purpose); checks every entry's bytes and
// that timestamps only grow; records what it saw. After `stop` it reads to the end once more.
// Reader 2 lags behind the writer.
[[noreturn]] void reader_process(const std::string &path, board &b, int k)
{
	uint64_t last = 0;
	bool final_pass = false;
	for (;;) {
		if (b.stop.load() && !final_pass)
			final_pass = true;
		auto o = stream::open(path, {.read_only = true, .follow = true});
		if (!o) {
			std::this_thread::sleep_for(1ms);
			continue;
		}
		auto &s = **o;
		b.reopens[k].fetch_add(1);
		if (final_pass)
			b.final_committed[k].store(s.committed_timestamp());
		const uint64_t ev = b.reopens[k].load() - 1;
		if (ev < 64)
			b.opens[k][ev] = {last, s.committed_timestamp(), 0, static_cast<int>(s.writer())};
		bool first_entry = true;
		auto rd = s.reader();
		rd.seek_timestamp(last + 1);
		uint64_t here = 0;
		for (;;) {
			auto st = rd.wait_for(final_pass ? 0ns : std::chrono::nanoseconds(50ms));
			if (!st) {
				if (st.code() == errc::timed_out && !final_pass && !b.stop.load())
					continue;
				if (st.code() != errc::timed_out && st.code() != errc::writer_gone)
					fail_child(b, k, "wait_for: " + st.err().message());
				break;
			}
			const uint64_t ts = rd.timestamp();
			if (first_entry && ev < 64)
				b.opens[k][ev].first_seen = ts;
			first_entry = false;
			if (ts <= last)
				fail_child(b, k, "timestamp " + std::to_string(ts) + " after " + std::to_string(last));
			const entry e = rd.get();
			auto d = s.entry_data(e);
			std::vector<std::byte> copy;
			if (d)
				copy.assign(d->begin(), d->end());
			// Still the same entry after the copy: its region was not freed meanwhile.
			auto again = s.entry_timestamp(e);
			last = ts;
			rd.next();
			if (!d || !again) {
				const errc c = d ? again.code() : d.code();
				if (c == errc::writer_gone)
					break;
				if (c != errc::invalid_handle)
					fail_child(b, k, "entry accessor: " + std::string(errc_name(c)));
				b.dropped[k][ts].store(1);
				continue; // freed under us: legitimately not seen
			}
			if (*again != ts)
				fail_child(b, k, "entry timestamp changed under the reader");
			uint64_t seed = 0;
			if (copy.size() < 8)
				fail_child(b, k, "entry " + std::to_string(ts) + " too short");
			std::memcpy(&seed, copy.data(), 8);
			if (copy != entry_bytes(seed))
				fail_child(b, k, "entry " + std::to_string(ts) + " holds other bytes");
			b.seen[k][ts].store(seed);
			b.reader_max[k].store(ts);
			// Reader 2 lags far behind, so that it reaches entries of regions freed (and their
			// space reused) since the writer appended them.
			if (k == 2 && !final_pass && ts % 8 == 0)
				std::this_thread::sleep_for(1ms);
			if (k % 2 == 1 && ++here % 500 == 0)
				break;
		}
		if (final_pass && s.writer() != stream::writer_state::following)
			_exit(0);
		if (s.writer() == stream::writer_state::none)
			std::this_thread::sleep_for(1ms); // between a writer's death and its successor
	}
}

pid_t spawn(const std::function<void()> &f)
{
	const pid_t pid = ::fork();
	if (pid == 0) {
		f();
		_exit(0);
	}
	return pid;
}

int reap(pid_t pid)
{
	int st = 0;
	::waitpid(pid, &st, 0);
	return st;
}

} // namespace

TEST(live_follow, follow_processes)
{
	temp_file f("follow");
	{
		auto s = test::create(f.path, 8 << 20);
		ASSERT_TRUE(s);
	}
	board *b = make_board();
	ASSERT_TRUE(b);
	const double total = live_seconds();
	const auto start = std::chrono::steady_clock::now();
	const auto at = [&](double frac) { return start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(total * frac)); };

	uint64_t incarnation = 1;
	pid_t writer = spawn([&] { writer_process(f.path, *b, incarnation); });
	std::vector<pid_t> rs;
	int started = 0, kills = 0;
	pid_t victim = -1; // a reader SIGKILLed mid-read
	uint64_t acked_at_victim = 0;
	while (std::chrono::steady_clock::now() < at(1.0)) {
		// Readers start at moments spread over the writer's life (one right after a restart).
		if (started < readers && std::chrono::steady_clock::now() >= at(started / double(readers))) {
			const int k = started++;
			rs.push_back(spawn([&, k] { reader_process(f.path, *b, k); }));
		}
		if (victim < 0 && std::chrono::steady_clock::now() >= at(0.3)) {
			victim = spawn([&] {
				auto o = stream::open(f.path, {.read_only = true, .follow = true});
				if (!o)
					_exit(0);
				auto rd = (*o)->reader();
				for (;;) { // reads, then blocks as a registered waiter
					while (rd.is_valid())
						rd.next();
					(void)rd.wait_for(1s);
				}
			});
			std::this_thread::sleep_for(20ms);
			::kill(victim, SIGKILL);
			reap(victim);
			acked_at_victim = b->acked.load();
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(20 + (incarnation * 37) % 60));
		// Kill the writer at a moment of its own choosing and start its successor, which
		// recovers the stream while readers follow, reopen or open for the first time.
		if (std::chrono::steady_clock::now() >= at(0.15 * (kills + 1))) {
			::kill(writer, SIGKILL);
			reap(writer);
			++kills;
			++incarnation;
			writer = spawn([&] { writer_process(f.path, *b, incarnation); });
		}
	}
	std::this_thread::sleep_for(50ms);
	const uint64_t acked_end = b->acked.load();
	::kill(writer, SIGKILL);
	const int wst = reap(writer);
	EXPECT_TRUE(WIFSIGNALED(wst)) << "the writer ended by itself: " << b->failure[readers];
	b->stop.store(1);
	for (size_t k = 0; k < rs.size(); ++k) {
		const int st = reap(rs[k]);
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "reader " << k << ": " << b->failure[k];
	}
	EXPECT_GT(acked_end, acked_at_victim + 100) << "the writer stopped after a reader was killed";
	EXPECT_GE(kills, 3);

	// What the stream holds at the end, and what each reader saw against it.
	auto fin = stream::open(f.path, {.read_only = true});
	ASSERT_TRUE(fin);
	// The last entry: the watermark itself may be above it (after a crash recovery moves it
	// past the timestamps the killed writer had leased).
	uint64_t end = 0;
	for (auto rd = (*fin)->reader(); rd.is_valid(); rd.next())
		end = rd.timestamp();
	uint64_t judged = 0, unacked = 0;
	for (int k = 0; k < readers; ++k) {
		// A reader may have seen entries past the end only in a region the last writer freed
		// as it was killed (it frees right after an acknowledged append; the flag is set first).
		uint64_t beyond_in_freed = 0;
		for (uint64_t ts = end + 1; ts <= b->reader_max[k].load() && ts < max_ts; ++ts)
			beyond_in_freed += b->ack_seed[ts].load() != 0 && b->freed[b->ack_region[ts].load() % max_region_ids].load();
		EXPECT_EQ(b->reader_max[k].load(), end + beyond_in_freed)
			<< "reader " << k << " did not reach the end, or saw past it outside a freed region; its last open showed "
			<< b->final_committed[k].load();
		for (uint64_t ts = 1; ts <= std::min(end, b->reader_max[k].load()); ++ts) {
			const uint64_t saw = b->seen[k][ts].load(), ack = b->ack_seed[ts].load();
			if (saw && ack) {
				ASSERT_EQ(saw, ack) << "reader " << k << " saw at " << ts << " an entry the writer did not acknowledge there";
				++judged;
			} else if (!saw && ack) {
				if (!b->freed[b->ack_region[ts].load() % max_region_ids].load())
					for (uint64_t e = 0; e < std::min<uint64_t>(64, b->reopens[k].load()); ++e)
						std::fprintf(stderr, "reader %d open %llu: last %llu committed %llu state %d first seen %llu\n", k,
							     (unsigned long long)e, (unsigned long long)b->opens[k][e].last,
							     (unsigned long long)b->opens[k][e].committed, b->opens[k][e].state,
							     (unsigned long long)b->opens[k][e].first_seen);
				ASSERT_TRUE(b->freed[b->ack_region[ts].load() % max_region_ids].load())
					<< "reader " << k << " missed entry " << ts << " of region id " << b->ack_region[ts].load()
					<< ", never freed; dropped by an accessor: " << int(b->dropped[k][ts].load()) << "; it saw " << b->seen[k][ts - 1].load() << " before and " << b->seen[k][ts + 1].load()
					<< " after";
			} else if (saw) {
				++unacked; // appended by a writer killed before it acknowledged the entry
			}
		}
	}
	EXPECT_GT(judged, 1000u);
	// At most the entry each killed writer had appended and not yet acknowledged, per reader.
	EXPECT_LE(unacked, static_cast<uint64_t>(readers * (kills + 1)));
	std::printf("follow_processes: %.1f s, %d writer kills, %llu entries acknowledged, %llu checked against acks, %llu "
		    "seen but not acknowledged, reopens %llu %llu %llu %llu\n",
		    total, kills, static_cast<unsigned long long>(acked_end), static_cast<unsigned long long>(judged),
		    static_cast<unsigned long long>(unacked), static_cast<unsigned long long>(b->reopens[0].load()),
		    static_cast<unsigned long long>(b->reopens[1].load()), static_cast<unsigned long long>(b->reopens[2].load()),
		    static_cast<unsigned long long>(b->reopens[3].load()));
	::munmap(b, sizeof(board));
	// The last writer was killed: its readers' sidecar stays behind (files-and-processes.md 6).
	struct stat st;
	if (::stat(f.path.c_str(), &st) == 0) {
		char name[80];
		std::snprintf(name, sizeof(name), "/pmemstream-%llx-%llx.readers", static_cast<unsigned long long>(st.st_dev),
			      static_cast<unsigned long long>(st.st_ino));
		::shm_unlink(name);
	}
}
