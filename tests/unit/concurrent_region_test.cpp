// SPDX-License-Identifier: BSD-3-Clause
// Several threads appending to ONE region (issue 11), through the public API only. Written
// against the mutex-serialised append path, and meant to catch what a concurrent one (claims
// in a tiny critical section, copies in parallel, a visible tail over contiguous completed
// entries) can get wrong: overlapping claims, a torn or stale entry shown before complete
// ones, an acknowledged entry missing or altered, a tail that jumps over an entry still being
// written, an append running past the region's end into its neighbour, a region_full missed
// or returned while the entry still fitted, the region's last bytes lost, a free racing the
// appends. Every test fills whole regions from 2-4 threads with entries of 0 B .. 3 KiB (many
// sized to the bytes the region has left, so that threads race for its end), then checks the
// region byte for byte against what the threads were told, and again after a reopen.
// Runs on the cache-line and on the msync (PAGE) path; `make tsan` runs it under TSan.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>

using namespace pmemstream;
using test::temp_file;

namespace {

constexpr uint64_t block = 4096;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int round_divisor = 4; // ~10x slower: fewer regions, the same schedules
#else
constexpr int round_divisor = 1;
#endif
constexpr uint64_t max_payload = 3072;

// A payload that says who wrote it and that it is whole: 8 bytes of magic, thread and
// sequence number, then bytes derived from them. Entries under 8 bytes carry a pattern of
// their size only.
std::vector<std::byte> payload(uint32_t thread, uint32_t seq, size_t size)
{
	std::vector<std::byte> v(size);
	if (size < 8) {
		for (size_t i = 0; i < size; ++i)
			v[i] = static_cast<std::byte>(0xC0 + size * 3 + i);
		return v;
	}
	const uint16_t magic = 0x5AA5;
	const auto t16 = static_cast<uint16_t>(thread);
	std::memcpy(v.data(), &magic, 2);
	std::memcpy(v.data() + 2, &t16, 2);
	std::memcpy(v.data() + 4, &seq, 4);
	uint64_t x = (uint64_t{thread} << 32 | seq) * 0x9E3779B97F4A7C15ull + size;
	for (size_t i = 8; i < size; ++i) {
		x ^= x >> 29;
		x *= 0xBF58476D1CE4E5B9ull;
		v[i] = static_cast<std::byte>(x >> 56);
	}
	return v;
}

// True when `d` is a payload() as written, whoever wrote it.
bool whole(std::span<const std::byte> d)
{
	if (d.size() < 8)
		return test::to_vec(d) == payload(0, 0, d.size());
	uint16_t magic, t;
	uint32_t q;
	std::memcpy(&magic, d.data(), 2);
	std::memcpy(&t, d.data() + 2, 2);
	std::memcpy(&q, d.data() + 4, 4);
	return magic == 0x5AA5 && test::to_vec(d) == payload(t, q, d.size());
}

// What an append was told.
struct acked {
	uint64_t offset = 0;
	uint64_t timestamp = 0;
	uint32_t thread = 0, seq = 0;
	uint64_t size = 0;
};

std::string where(const acked &a)
{
	return "entry at " + std::to_string(a.offset) + " ts " + std::to_string(a.timestamp) + " (thread " +
	       std::to_string(a.thread) + " #" + std::to_string(a.seq) + ", " + std::to_string(a.size) + " B)";
}

// What the region holds, read through the iterator and the accessors.
struct seen_entry {
	uint64_t offset = 0;
	uint64_t timestamp = 0;
	std::vector<std::byte> data;
};

std::vector<seen_entry> read_region(const stream &s, region r)
{
	std::vector<seen_entry> out;
	auto it = s.entries(r);
	EXPECT_TRUE(it.has_value());
	if (!it)
		return out;
	for (auto e : *it) {
		auto ts = s.entry_timestamp(e);
		auto d = s.entry_data(e);
		EXPECT_TRUE(ts && d) << "accessor of an iterated entry failed at " << e.offset;
		if (!ts || !d)
			break;
		out.push_back({e.offset, *ts, test::to_vec(*d)});
		if (out.size() > 1000000) {
			ADD_FAILURE() << "the iteration does not end";
			break;
		}
	}
	return out;
}

// Checks that `r` holds exactly `expect` (any order; sorted here by offset), laid out from the
// region's first byte without gaps or overlaps, timestamps increasing with offsets.
void check_region(const stream &s, region r, std::vector<acked> expect, const std::string &what)
{
	std::sort(expect.begin(), expect.end(), [](const acked &a, const acked &b) { return a.offset < b.offset; });
	const auto seen = read_region(s, r);
	EXPECT_EQ(seen.size(), expect.size()) << what << ": entries iterated vs acknowledged";
	auto count = s.region_entry_count(r);
	ASSERT_TRUE(count.has_value()) << what;
	EXPECT_EQ(*count, expect.size()) << what << ": region_entry_count";
	uint64_t expected_offset = r.offset + region_header_size;
	uint64_t reported = 0;
	for (size_t i = 0; i < std::min(seen.size(), expect.size()) && reported < 10; ++i) {
		const acked &a = expect[i];
		const seen_entry &e = seen[i];
		bool bad = false;
		if (a.offset != expected_offset) {
			ADD_FAILURE() << what << ": " << where(a) << " is not where the previous entry ends (" << expected_offset
				      << "): overlapping or lost space";
			bad = true;
		}
		if (e.offset != a.offset || e.timestamp != a.timestamp) {
			ADD_FAILURE() << what << ": iterated entry " << i << " at " << e.offset << " ts " << e.timestamp << ", acknowledged "
				      << where(a);
			bad = true;
		} else if (e.data != payload(a.thread, a.seq, a.size)) {
			ADD_FAILURE() << what << ": " << where(a) << " holds other bytes" << (whole(e.data) ? " (another entry's)" : " (torn)");
			bad = true;
		}
		if (i > 0 && seen[i].timestamp <= seen[i - 1].timestamp) {
			ADD_FAILURE() << what << ": timestamps not increasing with offsets at " << e.offset;
			bad = true;
		}
		reported += bad;
		expected_offset = a.offset + entry_footprint(a.size);
	}
	uint64_t used = 0;
	for (const acked &a : expect)
		used += entry_footprint(a.size);
	auto size = s.region_size(r);
	auto left = s.region_usable_size(r);
	ASSERT_TRUE(size && left) << what;
	EXPECT_LE(used, *size) << what << ": acknowledged entries take more than the region holds";
	EXPECT_EQ(*left, *size - std::min(used, *size)) << what << ": free space reported vs what the entries left";
}

// A neighbour: one thread fills region `n` with entries of its own until region_full.
std::vector<acked> fill_neighbour(stream &s, region n, uint32_t thread)
{
	std::vector<acked> out;
	for (uint32_t i = 0;; ++i) {
		const uint64_t size = (i * 389) % 700;
		auto e = s.append(n, payload(thread, i, size));
		if (!e) {
			EXPECT_EQ(e.code(), errc::region_full) << e.err().message();
			break;
		}
		out.push_back({e->offset, e->timestamp, thread, i, size});
	}
	return out;
}

struct stress_config {
	int threads = 3;
	int rounds = 12;		     // regions filled, one after the other
	uint64_t region_span = 96 * 1024;    // bytes of each region (header included)
	unsigned async_percent = 0;	     // appends that are asynchronous
	uint32_t max_in_flight = default_max_in_flight;
	int readers = 0;		     // threads iterating the region while it fills
	bool tailing_reader = false;	     // and one with a single iterator following the tail
	bool large = false;		     // most entries 1-3 KiB (longer copies for readers to meet)
};

// One region being filled, as readers see it.
struct shared_target {
	std::atomic<uint64_t> offset{0}, id{0};
	std::atomic<int> round{-1};
	std::atomic<bool> filling{false};
};

struct reader_figures {
	std::atomic<uint64_t> passes{0}, entries{0}, tailed{0};
};

// A reader pass over the target: nothing torn, stale or out of order; what a pass saw is a
// prefix of the next one's (counts only grow).
void reader_loop(stream &s, shared_target &tgt, std::atomic<bool> &stop, reader_figures &fig)
{
	int round = -2;
	std::vector<std::pair<uint64_t, uint64_t>> prev; // (offset, timestamp) of the last pass
	uint64_t failures = 0;
	while (!stop.load() && failures < 5) {
		// The target changes as round = -1, offset, id, round = k: a reading between two
		// equal rounds names that round's region.
		const int rd = tgt.round.load();
		const region r{tgt.offset.load(), tgt.id.load()};
		if (rd < 0 || tgt.round.load() != rd) {
			std::this_thread::yield();
			continue;
		}
		if (rd != round) {
			round = rd;
			prev.clear();
		}
		auto it = s.entries(r);
		if (!it) {
			ADD_FAILURE() << "entries() of a live region: " << it.err().message();
			++failures;
			continue;
		}
		size_t i = 0;
		uint64_t prev_ts = 0, next_offset = r.offset + region_header_size;
		for (auto e : *it) {
			auto ts = s.entry_timestamp(e);
			auto d = s.entry_data(e);
			if (!ts || !d) {
				ADD_FAILURE() << "accessor of an iterated entry at " << e.offset << " failed";
				++failures;
				break;
			}
			const uint64_t committed = s.committed_timestamp();
			if (!whole(*d) || e.offset != next_offset || *ts <= prev_ts || *ts > committed) {
				ADD_FAILURE() << "reader: entry " << i << " at " << e.offset << " (expected at " << next_offset << ") ts "
					      << *ts << " after ts " << prev_ts << ", committed watermark " << committed << ", "
					      << (whole(*d) ? "whole" : "TORN or stale") << " (" << d->size() << " B)";
				++failures;
				break;
			}
			if (i < prev.size() && (prev[i].first != e.offset || prev[i].second != *ts)) {
				ADD_FAILURE() << "reader: entry " << i << " changed between passes: was at " << prev[i].first << " ts "
					      << prev[i].second << ", now at " << e.offset << " ts " << *ts;
				++failures;
				break;
			}
			if (i >= prev.size())
				prev.emplace_back(e.offset, *ts);
			prev_ts = *ts;
			next_offset = e.offset + entry_footprint(d->size());
			++i;
		}
		if (i < prev.size() && failures == 0) {
			ADD_FAILURE() << "reader: a pass saw " << i << " entries, the one before " << prev.size();
			++failures;
		}
		// Counted after the pass: every entry the pass saw is committed, so counted.
		auto count = s.region_entry_count(r);
		if (count && *count < i) {
			ADD_FAILURE() << "reader: region_entry_count " << *count << " after a pass that saw " << i << " entries";
			++failures;
		}
		fig.passes.fetch_add(1, std::memory_order_relaxed);
		fig.entries.fetch_add(i, std::memory_order_relaxed);
	}
}

// One iterator per region that follows the tail as it grows: it must visit every entry once,
// in offset order, each whole; returns how many it visited.
uint64_t tail_region(stream &s, region r, const std::atomic<bool> &filling)
{
	auto it = s.entries(r);
	EXPECT_TRUE(it.has_value());
	if (!it)
		return 0;
	uint64_t n = 0, prev_ts = 0, next_offset = r.offset + region_header_size;
	for (;;) {
		const bool last_look = !filling.load(); // read before is_valid: nothing is missed
		while (it->is_valid()) {
			const entry e = it->get();
			auto d = s.entry_data(e);
			auto ts = s.entry_timestamp(e);
			if (!d || !ts || !whole(*d) || e.offset != next_offset || *ts <= prev_ts) {
				ADD_FAILURE() << "tailing iterator: entry " << n << " at " << e.offset << " (expected " << next_offset
					      << "), " << (d && whole(*d) ? "whole" : "torn, stale or unreadable");
				return n;
			}
			prev_ts = *ts;
			next_offset = e.offset + entry_footprint(d->size());
			++n;
			it->next();
		}
		if (last_look)
			return n;
		std::this_thread::yield();
	}
}

struct thread_result {
	std::vector<acked> entries;
	uint64_t refused_need = 0; // footprint of the append that got region_full
	bool region_full = false;
	uint64_t async = 0;
};

// One appender: mixed sizes, a third of them fitted to what the region has left (so that
// threads race for its last bytes), until its first region_full.
thread_result append_until_full(stream &s, region r, uint32_t thread, uint64_t seed, const stress_config &c)
{
	thread_result out;
	std::mt19937_64 rng(seed);
	auto rt = s.get_region_runtime(r);
	EXPECT_TRUE(rt.has_value());
	uint64_t last_ts = 0, last_async = 0;
	for (uint32_t seq = 0;; ++seq) {
		uint64_t size;
		const unsigned dice = static_cast<unsigned>(rng() % 100);
		auto left = s.region_usable_size(r);
		if (dice < 35 && left && *left < 2 * max_payload) {
			// Aim at the end: exactly what is left, or a little less or more.
			const int64_t aim = static_cast<int64_t>(*left) - 16 + static_cast<int64_t>(rng() % 5) * 8 - 16;
			size = static_cast<uint64_t>(std::max<int64_t>(0, aim)) + rng() % 3;
		} else if (dice < 55 && !c.large) {
			size = rng() % 64;
		} else if (c.large) {
			size = max_payload / 3 + rng() % (max_payload - max_payload / 3 + 1);
		} else {
			size = rng() % (max_payload + 1);
		}
		const auto data = payload(thread, seq, size);
		const bool async = rng() % 100 < c.async_percent;
		auto e = async ? s.async_append(r, data, rt ? *rt : nullptr) : s.append(r, data, rt ? *rt : nullptr);
		if (!e) {
			if (e.code() == errc::region_full) {
				out.region_full = true;
				out.refused_need = entry_footprint(size);
				// Space only shrinks: an entry 8 bytes larger than what is left now never fits.
				auto now = s.region_usable_size(r);
				if (now && *now + 8 >= entry_header_size) {
					auto over = s.append(r, payload(thread, seq + 1, *now + 8 - entry_header_size));
					EXPECT_FALSE(over.has_value()) << "thread " << thread << ": an entry of " << *now + 8
								       << " bytes was taken with " << *now << " free";
					if (!over) {
						EXPECT_EQ(over.code(), errc::region_full);
					} else {
						out.entries.push_back({over->offset, over->timestamp, thread, seq + 1, *now + 8 - entry_header_size});
					}
				}
			} else {
				ADD_FAILURE() << "thread " << thread << ": append of " << size << " B: " << errc_name(e.code()) << ": "
					      << e.err().message();
			}
			break;
		}
		const acked a{e->offset, e->timestamp, thread, seq, size};
		// What the append promises on return.
		bool ok = e->timestamp > last_ts && e->offset >= r.offset + region_header_size;
		EXPECT_GT(e->timestamp, last_ts) << "thread " << thread << ": timestamps of one thread's appends go down";
		EXPECT_GE(s.committed_timestamp(), e->timestamp) << "returned before committed: " << where(a);
		if (!async) {
			EXPECT_GE(s.persisted_timestamp(), e->timestamp) << "a synchronous append returned before persisted: " << where(a);
		} else {
			++out.async;
			last_async = e->timestamp;
		}
		auto d = s.entry_data(*e);
		auto ts = s.entry_timestamp(*e);
		if (!d || !ts || test::to_vec(*d) != data || *ts != e->timestamp) {
			ADD_FAILURE() << "thread " << thread << ": an appended entry does not read back: " << where(a)
				      << (d ? "" : (" (" + d.err().message() + ")"));
			ok = false;
		}
		out.entries.push_back(a);
		last_ts = e->timestamp;
		if (!ok)
			break;
		if (last_async != 0 && rng() % 6 == 0) {
			auto st = s.wait_persisted(last_async);
			EXPECT_TRUE(st.has_value()) << (st ? "" : st.err().message());
			EXPECT_GE(s.persisted_timestamp(), last_async);
			last_async = 0;
		}
	}
	if (last_async != 0) {
		auto st = s.wait_persisted(last_async);
		EXPECT_TRUE(st.has_value()) << (st ? "" : st.err().message());
	}
	return out;
}

// The region after its appenders stopped: exact content; each region_full was true when
// returned; what is left takes small entries until not even an empty one fits.
void check_filled(stream &s, region r, std::vector<acked> &all, const std::vector<thread_result> &res, const std::string &what)
{
	check_region(s, r, all, what);
	auto left = s.region_usable_size(r);
	ASSERT_TRUE(left.has_value());
	for (size_t t = 0; t < res.size(); ++t) {
		EXPECT_TRUE(res[t].region_full) << what << ": thread " << t << " stopped without region_full";
		// Space only shrinks: what is left now was there when the refusal came.
		EXPECT_GT(res[t].refused_need, *left)
			<< what << ": thread " << t << " got region_full for " << res[t].refused_need << " bytes, and " << *left
			<< " are still free";
	}
	// The last bytes are usable: fill them from here, the last entry to the byte.
	std::mt19937_64 rng(all.size());
	uint32_t seq = 0;
	while (*left >= entry_header_size) {
		const uint64_t size = *left <= entry_header_size + 96 ? *left - entry_header_size : rng() % 80;
		auto e = s.append(r, payload(99, seq, size));
		ASSERT_TRUE(e.has_value()) << what << ": " << size << " B with " << *left << " free: " << e.err().message();
		all.push_back({e->offset, e->timestamp, 99, seq, size});
		++seq;
		left = s.region_usable_size(r);
		ASSERT_TRUE(left.has_value());
	}
	// Less than the smallest entry (16 bytes) stays unused: 0, or 8 when the threads left 8.
	EXPECT_LT(*left, entry_header_size) << what;
	if (seq > 0) {
		EXPECT_EQ(*left, 0u) << what << ": the fill aims at the last byte";
	}
	auto e = s.append(r, nullptr, 0);
	ASSERT_FALSE(e.has_value()) << what << ": an empty entry fitted into a full region at " << e->offset;
	EXPECT_EQ(e.code(), errc::region_full);
	check_region(s, r, all, what + " (filled to the end)");
}

struct stress_figures {
	uint64_t entries = 0, async = 0, reader_passes = 0, reader_entries = 0, tailed = 0;
	double seconds = 0;
};

// A stream of `rounds` pairs of regions; each round fills the first of its pair from
// c.threads threads while another thread fills its neighbour (the region allocated right
// after it); then the stream is reopened and everything read again.
stress_figures stress(const stress_config &c, const char *name)
{
	const auto t0 = std::chrono::steady_clock::now();
	stress_figures fig;
	temp_file f("cregion");
	create_options co;
	co.size = block + static_cast<uint64_t>(c.rounds) * 2 * c.region_span + block; // room for every round
	co.block_size = block;
	co.max_in_flight = c.max_in_flight;
	auto created = stream::create(f.path, co);
	EXPECT_TRUE(created.has_value()) << (created ? "" : created.err().message());
	if (!created)
		return fig;
	auto s = std::move(*created);

	shared_target tgt;
	std::atomic<bool> stop{false};
	reader_figures rfig;
	std::vector<std::thread> readers;
	for (int k = 0; k < c.readers; ++k)
		readers.emplace_back([&] { reader_loop(*s, tgt, stop, rfig); });

	struct round_state {
		region r, n;
		std::vector<acked> entries, neighbour;
	};
	std::vector<round_state> rounds;
	const int nrounds = std::max(1, c.rounds / round_divisor);
	for (int round = 0; round < nrounds; ++round) {
		const std::string what = std::string(name) + " round " + std::to_string(round);
		auto r = s->region_allocate(c.region_span - region_header_size);
		auto n = s->region_allocate(c.region_span - region_header_size);
		EXPECT_TRUE(r && n) << what;
		if (!r || !n)
			break;
		EXPECT_EQ(n->offset, r->offset + region_header_size + s->region_size(*r).value())
			<< what << ": the neighbour is not right after the region";
		tgt.round = -1;
		tgt.offset = r->offset;
		tgt.id = r->id;
		tgt.filling = true;
		tgt.round = round;

		std::vector<thread_result> res(static_cast<size_t>(c.threads));
		std::vector<acked> neighbour;
		std::atomic<uint64_t> tailed{0};
		std::vector<std::thread> pool;
		pool.emplace_back([&] { neighbour = fill_neighbour(*s, *n, 1000 + static_cast<uint32_t>(round)); });
		if (c.tailing_reader)
			pool.emplace_back([&, rr = *r] { tailed = tail_region(*s, rr, tgt.filling); });
		std::vector<std::thread> appenders;
		std::atomic<int> ready{0};
		for (int t = 0; t < c.threads; ++t)
			appenders.emplace_back([&, t, rr = *r] {
				// All start together, so that the region fills from every thread at once.
				ready.fetch_add(1);
				while (ready.load() < c.threads)
					std::this_thread::yield();
				res[static_cast<size_t>(t)] = append_until_full(*s, rr, static_cast<uint32_t>(t),
										static_cast<uint64_t>(round) * 131 + static_cast<uint64_t>(t), c);
			});
		for (auto &th : appenders)
			th.join();
		tgt.filling = false;
		for (auto &th : pool)
			th.join();

		round_state st{*r, *n, {}, std::move(neighbour)};
		for (auto &tr : res) {
			st.entries.insert(st.entries.end(), tr.entries.begin(), tr.entries.end());
			fig.async += tr.async;
		}
		fig.entries += st.entries.size();
		if (c.tailing_reader) {
			// Every entry the appenders were told about was visited (the fill below comes later).
			EXPECT_EQ(tailed.load(), st.entries.size()) << what << ": the tailing iterator missed entries";
			fig.tailed += tailed.load();
		}
		check_filled(*s, *r, st.entries, res, what);
		check_region(*s, *n, st.neighbour, what + " neighbour");
		rounds.push_back(std::move(st));
	}
	stop = true;
	for (auto &th : readers)
		th.join();
	fig.reader_passes = rfig.passes.load();
	fig.reader_entries = rfig.entries.load();
	auto p = s->persist();
	EXPECT_TRUE(p.has_value());

	// (e) The same entries after a reopen; the regions still full, the stream still writable.
	s.reset();
	s = test::reopen(f.path);
	if (!s)
		return fig;
	EXPECT_EQ(s->recovery().torn_tails, 0u);
	EXPECT_EQ(s->recovery().trimmed_entries, 0u);
	for (size_t k = 0; k < rounds.size(); ++k) {
		const std::string what = std::string(name) + " round " + std::to_string(k) + " after reopen";
		check_region(*s, rounds[k].r, rounds[k].entries, what);
		check_region(*s, rounds[k].n, rounds[k].neighbour, what + " neighbour");
		auto e = s->append(rounds[k].r, nullptr, 0);
		EXPECT_FALSE(e.has_value()) << what << ": the full region took an entry";
		if (!e) {
			EXPECT_EQ(e.code(), errc::region_full);
		}
	}
	if (!rounds.empty()) {
		EXPECT_TRUE(s->region_free(rounds[0].r).has_value());
		auto fresh = s->region_allocate(4096);
		EXPECT_TRUE(fresh.has_value());
		if (fresh) {
			auto e = s->append(*fresh, payload(7, 7, 100));
			EXPECT_TRUE(e.has_value());
		}
	}
	fig.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	std::printf("concurrent_region[%s]: %d threads, %d regions, %llu entries (%llu async), reader passes %llu over %llu "
		    "entries, %llu tailed, %.2f s\n",
		    name, c.threads, nrounds, static_cast<unsigned long long>(fig.entries), static_cast<unsigned long long>(fig.async),
		    static_cast<unsigned long long>(fig.reader_passes), static_cast<unsigned long long>(fig.reader_entries),
		    static_cast<unsigned long long>(fig.tailed), fig.seconds);
	return fig;
}

} // namespace

// (a) Synchronous appends from 2, 3 and 4 threads filling regions to the end.
TEST(concurrent_region, threads_fill_one_region_with_mixed_sizes)
{
	for (int threads : {2, 3, 4}) {
		stress_config c;
		c.threads = threads;
		const std::string name = "sync x" + std::to_string(threads);
		const auto f = stress(c, name.c_str());
		EXPECT_GT(f.entries, 40u * static_cast<uint64_t>(c.rounds / round_divisor));
	}
}

// Small regions: the end comes quickly and often, with most appends aimed at it.
TEST(concurrent_region, threads_race_for_the_last_bytes)
{
	stress_config c;
	c.threads = 4;
	c.rounds = 120;
	c.region_span = 12 * 1024;
	const auto f = stress(c, "small regions x4");
	EXPECT_GT(f.entries, 4u * static_cast<uint64_t>(c.rounds / round_divisor));
}

// (b) Synchronous and asynchronous appends mixed, with waits for persistence, and a window
// small enough for back-pressure.
TEST(concurrent_region, sync_and_async_appends_mixed)
{
	for (uint32_t w : {4u, default_max_in_flight}) {
		stress_config c;
		c.threads = 3;
		c.async_percent = 60;
		c.max_in_flight = w;
		const std::string name = "sync+async, max_in_flight " + std::to_string(w);
		const auto f = stress(c, name.c_str());
		EXPECT_GT(f.async, 0u);
	}
}

// (c) Readers iterate the region, and a tailing iterator follows it, while threads fill it.
TEST(concurrent_region, readers_see_whole_entries_in_order_while_threads_append)
{
	stress_config c;
	c.threads = 3;
	c.readers = 2;
	c.tailing_reader = true;
	c.async_percent = 30;
	c.rounds = 40;
	c.large = true;
	const auto f = stress(c, "readers");
	EXPECT_GT(f.reader_passes, 0u);
	EXPECT_GT(f.reader_entries, 0u);
}

// (d) The region is freed while threads append to it: each append either succeeds (it began
// before the free returned) or gets invalid_handle; a region allocated in the same space
// afterwards is empty and takes appends, also after a reopen.
TEST(concurrent_region, free_while_threads_append)
{
	constexpr uint64_t span = 4 << 20; // never full before the free comes
	constexpr int threads = 3;
	temp_file f("cregion-free");
	// The arena holds exactly the region and a neighbour: the space freed is the only space.
	constexpr uint64_t keep_span = 64 * 1024;
	auto s = test::create(f.path, block + keep_span + span, block);
	ASSERT_TRUE(s);
	auto keep = s->region_allocate(keep_span - region_header_size);
	ASSERT_TRUE(keep);
	auto keep_entries = fill_neighbour(*s, *keep, 500);
	std::mt19937_64 rng(5);
	uint64_t ok_total = 0, refused_total = 0;
	region last{};
	std::vector<acked> last_entries;
	for (int round = 0; round < 12; ++round) {
		const std::string what = "free round " + std::to_string(round);
		auto r = s->region_allocate(span - region_header_size);
		ASSERT_TRUE(r) << what << ": " << r.err().message();
		if (round > 0) {
			EXPECT_EQ(r->offset, last.offset) << what << ": not allocated in the freed space";
		}
		EXPECT_EQ(*s->region_entry_count(*r), 0u) << what << ": a new region holds entries";
		EXPECT_TRUE(read_region(*s, *r).empty()) << what << ": a new region iterates entries";
		EXPECT_EQ(*s->region_usable_size(*r), *s->region_size(*r)) << what;
		if (round > 0) {
			// The old handle names nothing now.
			EXPECT_EQ(s->append(last, nullptr, 0).code(), errc::invalid_handle) << what;
			EXPECT_EQ(s->entries(last).code(), errc::invalid_handle) << what;
		}
		std::atomic<bool> freed{false}, go{false};
		std::atomic<uint64_t> ok{0}, refused{0};
		std::vector<std::thread> pool;
		for (int t = 0; t < threads; ++t)
			pool.emplace_back([&, t, rr = *r] {
				while (!go.load())
					std::this_thread::yield();
				for (uint32_t i = 0;; ++i) {
					const bool after = freed.load();
					const uint64_t size = (i * 53 + static_cast<uint64_t>(t) * 17) % 120;
					auto e = (i + static_cast<uint32_t>(t)) % 3 == 0 ? s->async_append(rr, payload(static_cast<uint32_t>(t), i, size))
											 : s->append(rr, payload(static_cast<uint32_t>(t), i, size));
					if (e) {
						EXPECT_FALSE(after) << what << ": an append begun after the free returned succeeded";
						++ok;
						continue;
					}
					EXPECT_EQ(e.code(), errc::invalid_handle) << what << ": " << errc_name(e.code()) << ": " << e.err().message();
					++refused;
					break;
				}
			});
		go = true;
		std::this_thread::sleep_for(std::chrono::microseconds(rng() % 1500));
		auto st = s->region_free(*r);
		freed = true;
		EXPECT_TRUE(st.has_value()) << what << ": " << (st ? "" : st.err().message());
		for (auto &th : pool)
			th.join();
		EXPECT_EQ(refused.load(), static_cast<uint64_t>(threads)) << what;
		ok_total += ok.load();
		refused_total += refused.load();
		last = *r;
		EXPECT_EQ(s->region_entry_count(*r).code(), errc::invalid_handle) << what;
	}
	// The last round's space again, filled a little, then the stream reopened.
	auto r = s->region_allocate(span - region_header_size);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->offset, last.offset);
	for (uint32_t i = 0; i < 20; ++i) {
		auto e = s->append(*r, payload(42, i, i * 10));
		ASSERT_TRUE(e);
		last_entries.push_back({e->offset, e->timestamp, 42, i, i * 10});
	}
	check_region(*s, *r, last_entries, "reallocated");
	s.reset();
	s = test::reopen(f.path);
	ASSERT_TRUE(s);
	EXPECT_EQ(test::regions_of(*s).size(), 2u);
	check_region(*s, *keep, keep_entries, "kept region after reopen");
	check_region(*s, *r, last_entries, "reallocated after reopen");
	std::printf("concurrent_region[free]: 12 frees racing %d threads: %llu appends succeeded, %llu refused\n", threads,
		    static_cast<unsigned long long>(ok_total), static_cast<unsigned long long>(refused_total));
	EXPECT_GT(ok_total, 0u);
}
