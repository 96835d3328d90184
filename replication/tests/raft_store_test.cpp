// SPDX-License-Identifier: BSD-3-Clause
// The raft store alone: what load() gives after a reopen is exactly what was appended,
// truncated and snapshotted; term and vote survive a SIGKILL of the writing process.
#include "raft_store.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <random>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace pmemstream;
using namespace pmemstream::replication;

namespace {

std::string temp_path(const char *tag)
{
	static int counter = 0;
	const char *dir = std::getenv("PMEMSTREAM_TEST_DIR");
	return std::string(dir ? dir : "/tmp") + "/raftstore-" + tag + "-" + std::to_string(::getpid()) + "-" +
		std::to_string(counter++);
}

struct file_guard {
	std::string path;
	~file_guard()
	{
		::unlink(path.c_str());
	}
};

store_options small()
{
	store_options o;
	o.size = 4 << 20;
	o.segment_size = 16 << 10; // many segments
	o.meta_size = 4096 - 256;  // a region of one block: full after ~85 records
	o.snapshot_size = 64 << 10;
	return o;
}

// The model: what the log must hold.
struct model_entry {
	uint64_t term;
	uint16_t type;
	std::string data;
};

std::string payload(uint64_t index, uint64_t term, std::mt19937_64 &rng)
{
	std::string s = "e" + std::to_string(index) + "t" + std::to_string(term) + ":";
	s.append(rng() % 700, static_cast<char>('a' + rng() % 26));
	return s;
}

void append_one(raft_store &st, uint64_t term, const std::string &d, uint16_t type = 1)
{
	log_record r{st.last_index() + 1, term, type,
		     std::span<const std::byte>(reinterpret_cast<const std::byte *>(d.data()), d.size())};
	ASSERT_TRUE(st.append(std::span(&r, 1)));
}

void expect_log(const raft_store &st, uint64_t first, const std::vector<model_entry> &m)
{
	ASSERT_EQ(st.first_index(), first);
	ASSERT_EQ(st.entry_count(), m.size());
	for (uint64_t k = 0; k < m.size(); k++) {
		auto e = st.entry(first + k);
		ASSERT_TRUE(e) << first + k;
		EXPECT_EQ(e->index, first + k);
		EXPECT_EQ(e->term, m[k].term);
		EXPECT_EQ(e->type, m[k].type);
		EXPECT_EQ(std::string(reinterpret_cast<const char *>(e->data.data()), e->data.size()), m[k].data);
	}
}

} // namespace

TEST(raft_store, empty_store_loads_empty)
{
	file_guard g{temp_path("empty")};
	{
		auto st = raft_store::create(g.path, small());
		ASSERT_TRUE(st);
		EXPECT_EQ((*st)->term(), 0u);
		EXPECT_EQ((*st)->first_index(), 1u);
		EXPECT_EQ((*st)->last_index(), 0u);
	}
	auto st = raft_store::open(g.path, small());
	ASSERT_TRUE(st);
	EXPECT_EQ((*st)->entry_count(), 0u);
	EXPECT_FALSE((*st)->snapshot());
	EXPECT_EQ(raft_store::create(g.path, small()).code(), errc::exists);
}

TEST(raft_store, term_and_vote_survive_reopen_across_meta_regions)
{
	file_guard g{temp_path("meta")};
	{
		auto st = raft_store::create(g.path, small());
		ASSERT_TRUE(st);
		// Enough records to fill both one-block meta regions several times over.
		for (uint64_t t = 1; t <= 200; t++)
			ASSERT_TRUE((*st)->set_term_vote(t, t % 3)) << t;
	}
	auto st = raft_store::open(g.path, small());
	ASSERT_TRUE(st);
	EXPECT_EQ((*st)->term(), 200u);
	EXPECT_EQ((*st)->vote(), 200u % 3);
}

class raft_store_model : public ::testing::TestWithParam<bool> {
};

// GetParam(): store_options::prefix_cut.
TEST_P(raft_store_model, appends_truncations_and_snapshots_reload_exactly)
{
	auto opts = small();
	opts.prefix_cut = GetParam();
	file_guard g{temp_path("model")};
	std::mt19937_64 rng(42);
	std::vector<model_entry> m;
	uint64_t first = 1;
	uint64_t term = 1;
	std::optional<snapshot_record> snap;
	ASSERT_TRUE(raft_store::create(g.path, opts));
	for (int round = 0; round < 80; round++) {
		auto sto = raft_store::open(g.path, opts);
		ASSERT_TRUE(sto) << sto.err().message();
		auto &st = **sto;
		expect_log(st, first, m);
		if (snap) {
			ASSERT_TRUE(st.snapshot());
			EXPECT_EQ(st.snapshot()->index, snap->index);
			EXPECT_EQ(st.snapshot()->term, snap->term);
			EXPECT_EQ(st.snapshot()->conf, snap->conf);
			EXPECT_EQ(st.snapshot()->data, snap->data);
		}
		switch (rng() % 4) {
		case 0:
		case 1: { // a batch of appends
			std::vector<std::string> data;
			std::vector<log_record> recs;
			uint64_t n = 1 + rng() % 40;
			for (uint64_t k = 0; k < n; k++)
				data.push_back(payload(first + m.size() + k, term, rng));
			for (uint64_t k = 0; k < n; k++) {
				recs.push_back({first + m.size() + k, term, static_cast<uint16_t>(1 + k % 3),
						std::span<const std::byte>(reinterpret_cast<const std::byte *>(data[k].data()),
									   data[k].size())});
			}
			ASSERT_TRUE(st.append(recs));
			for (uint64_t k = 0; k < n; k++)
				m.push_back({term, static_cast<uint16_t>(1 + k % 3), data[k]});
			break;
		}
		case 2: { // a divergent suffix cut back, then a new term
			if (m.empty())
				break;
			// Raft never cuts committed entries, and a snapshot's are committed.
			uint64_t min_keep = snap && snap->index >= first ? snap->index + 1 - first : 0;
			if (min_keep > m.size())
				break;
			uint64_t keep = min_keep + rng() % (m.size() - min_keep + 1);
			ASSERT_TRUE(st.truncate(first + keep));
			m.resize(keep);
			term++;
			break;
		}
		case 3: { // a snapshot: local with trailing entries, or an install
			if (m.empty())
				break;
			snapshot_record s;
			// Raft's snapshots only move forward.
			uint64_t lo = std::max(first, snap ? snap->index + 1 : 0);
			if (lo > first + m.size() - 1)
				break;
			s.index = lo + rng() % (first + m.size() - lo);
			s.term = m[s.index - first].term;
			s.conf_index = 1;
			s.conf = {{1, 1, "127.0.0.1:9001"}, {2, 1, "127.0.0.1:9002"}, {3, 0, "127.0.0.1:9003"}};
			std::string d = "state@" + std::to_string(s.index);
			for (char c : d)
				s.data.push_back(std::byte(c));
			bool install = rng() % 3 == 0;
			uint64_t trailing = install ? 0 : 1 + rng() % 20;
			ASSERT_TRUE(st.put_snapshot(s, trailing));
			if (install) {
				m.clear();
				first = s.index + 1;
			} else if (s.index > trailing) {
				uint64_t keep_from = std::max(first, s.index - trailing + 1);
				uint64_t now = st.first_index();
				if (GetParam())
					EXPECT_EQ(now, keep_from);
				else
					EXPECT_TRUE(now >= first && now <= keep_from) << now; // whole segments only
				m.erase(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(now - first));
				first = now;
			}
			snap = s;
			break;
		}
		}
		expect_log(st, first, m);
	}
	// Compaction really gives space back: the log holds few segments, not one per 16 KiB written.
	auto st = raft_store::open(g.path, opts);
	ASSERT_TRUE(st);
	EXPECT_LE((*st)->segment_count(), 1 + (*st)->entry_count() * 740 / (16 << 10) + 1);
}

INSTANTIATE_TEST_SUITE_P(compaction, raft_store_model, ::testing::Bool());

TEST(raft_store, append_refuses_a_gap)
{
	file_guard g{temp_path("gap")};
	auto st = raft_store::create(g.path, small());
	ASSERT_TRUE(st);
	std::string d = "x";
	log_record r{5, 1, 1, std::span<const std::byte>(reinterpret_cast<const std::byte *>(d.data()), 1)};
	EXPECT_EQ((*st)->append(std::span(&r, 1)).code(), errc::invalid_argument);
	EXPECT_EQ((*st)->entry_count(), 0u);
}

TEST(raft_store, install_interrupted_before_the_log_drop_is_finished_at_load)
{
	// The snapshot is written first; a crash before the log is dropped leaves entries that
	// contradict it (other term at its index). load() must not hand them to raft.
	file_guard g{temp_path("install")};
	{
		auto st = raft_store::create(g.path, small());
		ASSERT_TRUE(st);
		for (int k = 0; k < 10; k++)
			append_one(**st, 1, "old" + std::to_string(k));
	}
	{
		// Write just the snapshot record, as put_snapshot does first, by a store whose log
		// is then left alone: a snapshot at index 8 of term 2.
		auto st = raft_store::open(g.path, small());
		ASSERT_TRUE(st);
		snapshot_record s;
		s.index = 8;
		s.term = 2;
		s.conf = {{1, 1, "a"}};
		// trailing huge: nothing dropped, just as if the crash came right after the record.
		ASSERT_TRUE((*st)->put_snapshot(s, 1000));
		EXPECT_EQ((*st)->entry_count(), 10u);
	}
	auto st = raft_store::open(g.path, small());
	ASSERT_TRUE(st);
	EXPECT_EQ((*st)->entry_count(), 0u);
	EXPECT_EQ((*st)->first_index(), 9u);
	EXPECT_EQ((*st)->last_index(), 8u);
}

// A child sets (term, vote) as fast as it can and reports each persisted one on a pipe; the
// parent SIGKILLs it at a random moment. Reopened, the store holds at least the last reported
// pair, and a pair the child really wrote (vote = term * 7 % 5 ties them).
TEST(raft_store, term_vote_survive_sigkill)
{
	std::mt19937_64 rng(7);
	int rounds = 5;
	if (const char *v = std::getenv("PMEMSTREAM_RAFT_KILL_ROUNDS"))
		rounds = std::atoi(v);
	for (int round = 0; round < rounds; round++) {
		file_guard g{temp_path("kill")};
		ASSERT_TRUE(raft_store::create(g.path, small()));
		int fds[2];
		ASSERT_EQ(::pipe(fds), 0);
		pid_t pid = ::fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			::close(fds[0]);
			auto st = raft_store::open(g.path, small());
			if (!st)
				::_exit(2);
			for (uint64_t t = 1;; t++) {
				if (!(*st)->set_term_vote(t, t * 7 % 5))
					::_exit(3);
				if (t % 4 == 0)
					append_one(**st, t, "entry" + std::to_string(t));
				if (::write(fds[1], &t, sizeof t) != sizeof t)
					::_exit(4);
			}
		}
		::close(fds[1]);
		uint64_t last = 0, v;
		auto deadline = 20 + rng() % 300; // reports to read before the kill
		for (uint64_t k = 0; k < deadline && ::read(fds[0], &v, sizeof v) == sizeof v; k++)
			last = v;
		::kill(pid, SIGKILL);
		int ws;
		::waitpid(pid, &ws, 0);
		while (::read(fds[0], &v, sizeof v) == sizeof v)
			last = v;
		::close(fds[0]);
		auto st = raft_store::open(g.path, small());
		ASSERT_TRUE(st) << st.err().message();
		EXPECT_GE((*st)->term(), last);
		EXPECT_LE((*st)->term(), last + 1);
		EXPECT_EQ((*st)->vote(), (*st)->term() * 7 % 5);
		// The log holds every entry the child appended before its last report.
		EXPECT_GE((*st)->entry_count(), last / 4);
		for (uint64_t i = 1; i <= (*st)->last_index(); i++) {
			auto e = (*st)->entry(i);
			ASSERT_TRUE(e);
			EXPECT_EQ(e->term, 4 * i);
		}
	}
}
