// SPDX-License-Identifier: BSD-3-Clause
// Real node processes on loopback: the leader SIGKILLed at random moments while a client
// appends; a lagging member brought back by a snapshot; members added and removed.
#include "cluster.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

using namespace pmemstream::replication;
using namespace pmemstream::replication::test;

namespace {

std::string temp_dir(const char *tag)
{
	const char *d = std::getenv("PMEMSTREAM_TEST_DIR");
	std::string t = std::string(d ? d : "/tmp") + "/raftcluster-" + tag + "-XXXXXX";
	if (!::mkdtemp(t.data()))
		return {};
	return t;
}

void remove_dir(const std::string &dir)
{
	if (!dir.empty())
		(void)std::system(("rm -rf '" + dir + "'").c_str());
}

struct dir_guard {
	std::string path;
	~dir_guard()
	{
		if (!::testing::Test::HasFailure())
			remove_dir(path);
	}
};

// Appends the payloads to member i, pipelined; returns index -> payload of the OKs.
std::map<uint64_t, std::string> append_all(cluster &c, unsigned i, const std::vector<std::string> &payloads)
{
	std::map<uint64_t, std::string> acked;
	client cl;
	if (!cl.connect(c.client_port(i)))
		return acked;
	for (auto &p : payloads)
		cl.send("APPEND " + p + " " + hex_of(p));
	std::string line;
	for (size_t k = 0; k < payloads.size() && cl.recv_line(line, 10000); k++) {
		std::istringstream in(line);
		std::string ok, tag;
		uint64_t idx = 0;
		in >> ok >> tag >> idx;
		if (ok == "OK")
			acked[idx] = tag;
	}
	return acked;
}

// Waits until every running member has committed (and applied) at least `index`.
bool wait_commit(cluster &c, std::initializer_list<unsigned> members, uint64_t index,
		 std::chrono::milliseconds timeout = std::chrono::milliseconds(20000))
{
	auto end = std::chrono::steady_clock::now() + timeout;
	while (std::chrono::steady_clock::now() < end) {
		bool all = true;
		for (unsigned i : members) {
			auto s = c.status(i);
			all = all && s.ok && s.commit >= index && s.applied >= index;
		}
		if (all)
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	return false;
}

int check_file(const std::string &path)
{
	std::string cmd = std::string(PMEMSTREAM_CLI_PATH) + " check '" + path + "' >/dev/null 2>&1";
	return std::system(cmd.c_str());
}

std::vector<std::string> timing_args()
{
	return {"--election-timeout", "300"};
}

} // namespace

TEST(cluster, leader_sigkilled_at_random_moments)
{
	int rounds = 20;
	if (const char *v = std::getenv("PMEMSTREAM_RAFT_ROUNDS"))
		rounds = std::atoi(v);
	dir_guard d{temp_dir("kill")};
	ASSERT_FALSE(d.path.empty());
	cluster c(PMEMSTREAM_NODE_PATH, d.path, 3, timing_args());
	for (unsigned i = 1; i <= 3; i++)
		c.start(i);
	std::mt19937_64 rng(std::random_device{}());
	std::map<uint64_t, std::string> acked;
	std::set<std::string> sent;
	for (int round = 0; round < rounds; round++) {
		unsigned leader = c.wait_leader();
		ASSERT_NE(leader, 0u) << "no leader in round " << round;
		client cl;
		if (!cl.connect(c.client_port(leader)))
			continue; // it just lost leadership and is restarting
		// Every third round the followers are SIGKILLed first (a paused process would
		// still take the bytes into its socket buffer): the burst reaches only the leader,
		// which must acknowledge none of it (a member that acknowledged before a majority
		// persisted would lose these entries once the others elect a leader).
		bool isolated = round % 3 == 2;
		if (isolated) {
			for (unsigned j = 1; j <= 3; j++)
				if (j != leader)
					c.kill9(j);
		}
		unsigned burst = 1 + static_cast<unsigned>(rng() % 30);
		for (unsigned k = 0; k < burst; k++) {
			std::string p = "r" + std::to_string(round) + "k" + std::to_string(k) + "-" + std::string(rng() % 200, 'x');
			sent.insert(p);
			cl.send("APPEND " + p + " " + hex_of(p));
		}
		// The kill lands before, during or after the burst's replication.
		auto delay = rng() % 3 == 0 ? rng() % 2000 : rng() % 60000;
		std::this_thread::sleep_for(std::chrono::microseconds(delay));
		c.kill9(leader);
		if (isolated) {
			for (unsigned j = 1; j <= 3; j++)
				if (j != leader)
					c.start(j);
		}
		std::string line;
		while (cl.recv_line(line, 2000)) {
			std::istringstream in(line);
			std::string ok, tag;
			uint64_t idx = 0;
			in >> ok >> tag >> idx;
			if (ok != "OK")
				continue;
			ASSERT_TRUE(sent.count(tag)) << line;
			auto [it, fresh] = acked.emplace(idx, tag);
			ASSERT_TRUE(fresh || it->second == tag) << "index " << idx << " acknowledged twice: " << it->second
								<< " and " << tag;
		}
		if (isolated) {
			// The other two elect a leader and take an entry before the old leader is back,
			// so the entries only it had are cut from its log when it returns.
			unsigned nl = c.wait_leader();
			ASSERT_NE(nl, 0u);
			ASSERT_NE(nl, leader);
			std::string p = "after" + std::to_string(round);
			sent.insert(p);
			for (auto &[idx, tag] : append_all(c, nl, {p})) {
				auto [it, fresh] = acked.emplace(idx, tag);
				ASSERT_TRUE(fresh || it->second == tag) << "index " << idx << " acknowledged twice";
			}
		}
		c.start(leader);
		// Let the election the kill causes settle, so the next burst meets a leader that lasts.
		auto settle = std::chrono::steady_clock::now() + std::chrono::seconds(5);
		while (std::chrono::steady_clock::now() < settle) {
			std::set<uint64_t> leaders, terms;
			for (unsigned j = 1; j <= 3; j++) {
				auto st = c.status(j);
				leaders.insert(st.leader);
				terms.insert(st.term);
			}
			if (leaders.size() == 1 && terms.size() == 1 && *leaders.begin() != 0)
				break;
			std::this_thread::sleep_for(std::chrono::milliseconds(20));
		}
	}
	// A last acknowledged entry; then every member must catch up to it.
	unsigned leader = c.wait_leader();
	ASSERT_NE(leader, 0u);
	auto last = append_all(c, leader, {"final"});
	ASSERT_EQ(last.size(), 1u);
	acked.insert(last.begin(), last.end());
	ASSERT_TRUE(wait_commit(c, {1, 2, 3}, last.begin()->first));

	std::map<uint64_t, std::string> logs[4];
	for (unsigned i = 1; i <= 3; i++) {
		ASSERT_TRUE(c.read_all(i, logs[i])) << i;
		for (auto &[idx, p] : acked)
			EXPECT_EQ(logs[i][idx], p) << "member " << i << " index " << idx;
		std::set<std::string> seen;
		for (auto &[idx, p] : logs[i]) {
			EXPECT_TRUE(sent.count(p) || p == "final") << "member " << i << " holds a never-sent entry " << p;
			EXPECT_TRUE(seen.insert(p).second) << "member " << i << " holds " << p << " twice";
		}
	}
	EXPECT_EQ(logs[1], logs[2]);
	EXPECT_EQ(logs[1], logs[3]);
	EXPECT_GE(acked.size(), static_cast<size_t>(rounds / 2)) << "too few acknowledged appends to mean anything";
	std::fprintf(stderr, "%d rounds: %zu appends sent, %zu acknowledged, %zu entries on every member\n", rounds,
		     sent.size(), acked.size(), logs[1].size());
	for (unsigned i = 1; i <= 3; i++) {
		EXPECT_EQ(c.stop(i), 0) << i;
		EXPECT_EQ(check_file(c.file(i)), 0) << "pmemstream check " << c.file(i);
	}
}

TEST(cluster, lagging_member_catches_up_by_snapshot)
{
	dir_guard d{temp_dir("snap")};
	ASSERT_FALSE(d.path.empty());
	auto args = timing_args();
	for (const char *a : {"--snapshot-threshold", "32", "--snapshot-trailing", "8", "--segment-size", "4096"})
		args.push_back(a);
	cluster c(PMEMSTREAM_NODE_PATH, d.path, 3, args);
	for (unsigned i = 1; i <= 3; i++)
		c.start(i);
	unsigned leader = c.wait_leader();
	ASSERT_NE(leader, 0u);
	std::vector<std::string> early;
	for (int k = 0; k < 5; k++)
		early.push_back("early" + std::to_string(k));
	ASSERT_EQ(append_all(c, leader, early).size(), early.size());
	unsigned lagger = leader == 3 ? 2 : 3;
	ASSERT_EQ(c.stop(lagger), 0);
	leader = c.wait_leader();
	ASSERT_NE(leader, 0u);
	// In rounds, so that the leader takes several snapshots and drops the entries the lagging
	// member lacks from its memory too (else raft sends them as entries).
	std::map<uint64_t, std::string> acked;
	for (int r = 0; r < 5; r++) {
		std::vector<std::string> batch;
		for (int k = 0; k < 40; k++)
			batch.push_back("late" + std::to_string(r) + "-" + std::to_string(k));
		auto a = append_all(c, leader, batch);
		ASSERT_EQ(a.size(), batch.size());
		acked.insert(a.begin(), a.end());
	}
	auto ls = c.status(leader);
	EXPECT_GT(ls.snapshot, 0u) << "the leader took no snapshot";
	EXPECT_GT(ls.first, 6u) << "the leader's log was not compacted";
	c.start(lagger);
	ASSERT_TRUE(wait_commit(c, {1, 2, 3}, acked.rbegin()->first));
	auto s = c.status(lagger);
	EXPECT_GT(s.snapshot, 5u);
	EXPECT_GE(s.installs, 1u) << "the lagging member was not sent a snapshot";
	EXPECT_EQ(s.errors, 0u);
	std::map<uint64_t, std::string> lead_log, lag_log;
	uint64_t lag_first = 0;
	ASSERT_TRUE(c.read_all(leader, lead_log));
	ASSERT_TRUE(c.read_all(lagger, lag_log, &lag_first));
	EXPECT_GT(lag_first, 6u);
	for (auto &[idx, p] : acked) {
		if (idx >= lag_first) {
			EXPECT_EQ(lag_log[idx], p) << idx;
		}
	}
	for (auto &[idx, p] : lag_log) {
		if (lead_log.count(idx)) {
			EXPECT_EQ(lead_log[idx], p) << idx;
		}
	}
	for (unsigned i = 1; i <= 3; i++) {
		EXPECT_EQ(c.stop(i), 0) << i;
		EXPECT_EQ(check_file(c.file(i)), 0) << c.file(i);
	}
}

TEST(cluster, add_and_remove_a_member)
{
	dir_guard d{temp_dir("members")};
	ASSERT_FALSE(d.path.empty());
	cluster c(PMEMSTREAM_NODE_PATH, d.path, 3, timing_args());
	for (unsigned i = 1; i <= 3; i++)
		c.start(i);
	unsigned leader = c.wait_leader();
	ASSERT_NE(leader, 0u);
	// A follower's FOLLOW stream shows committed entries as they commit, in order.
	unsigned watcher = leader == 1 ? 2 : 1;
	client follow;
	ASSERT_TRUE(follow.connect(c.client_port(watcher)));
	ASSERT_TRUE(follow.send("FOLLOW 1"));
	auto first = append_all(c, leader, {"a", "b", "c"});
	ASSERT_EQ(first.size(), 3u);
	for (auto &[idx, p] : first) {
		std::string line;
		ASSERT_TRUE(follow.recv_line(line, 5000));
		EXPECT_EQ(line, "E " + std::to_string(idx) + " " + hex_of(p));
	}
	c.start(4, true); // no bootstrap: an empty member waiting to be added
	{
		client cl;
		ASSERT_TRUE(cl.connect(c.client_port(leader)));
		cl.send("ADD 4 " + c.address(4));
		std::string line;
		ASSERT_TRUE(cl.recv_line(line, 20000));
		ASSERT_EQ(line, "OK ADD 4");
	}
	auto more = append_all(c, leader, {"d", "e"});
	ASSERT_EQ(more.size(), 2u);
	ASSERT_TRUE(wait_commit(c, {1, 2, 3, 4}, more.rbegin()->first));
	std::map<uint64_t, std::string> l, m4;
	ASSERT_TRUE(c.read_all(leader, l));
	ASSERT_TRUE(c.read_all(4, m4));
	EXPECT_EQ(l, m4);
	EXPECT_NE(c.status(leader).members.find("4:voter"), std::string::npos);

	unsigned victim = leader == 3 ? 2 : 3;
	{
		client cl;
		ASSERT_TRUE(cl.connect(c.client_port(leader)));
		cl.send("REMOVE " + std::to_string(victim));
		std::string line;
		ASSERT_TRUE(cl.recv_line(line, 20000));
		ASSERT_EQ(line, "OK REMOVE " + std::to_string(victim));
	}
	EXPECT_EQ(c.status(leader).members.find(std::to_string(victim) + ":"), std::string::npos);
	EXPECT_EQ(c.stop(victim), 0);
	// Three voters remain (with 4): appends still commit.
	EXPECT_EQ(append_all(c, leader, {"f"}).size(), 1u);
	for (unsigned i = 1; i <= 4; i++)
		EXPECT_EQ(c.stop(i), 0) << i;
}
