// SPDX-License-Identifier: BSD-3-Clause
// Replicated append throughput and latency (issue 15): three pmemstream-node members on
// loopback, one client keeping 1, 8 or 64 appends in flight, against a single stream's
// synchronous append and the raft store's append in the same run and directory.
// Usage: replication_bench NODE_BINARY [DIR] (entries per case: PMEMSTREAM_RAFT_BENCH_N, 2000)
#include "../tests/cluster.hpp"
#include "raft_store.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

using namespace pmemstream;
using namespace pmemstream::replication;
using clk = std::chrono::steady_clock;

namespace {

struct result_row {
	std::string name;
	double ops_per_s;
	double p50_us, p99_us;
	double batch = 0;	   // entries per persist on the leader
	double follower_batch = 0; // and on a follower
};

result_row summarize(const std::string &name, std::vector<double> lat_us, double seconds)
{
	std::sort(lat_us.begin(), lat_us.end());
	auto pct = [&](double p) { return lat_us.empty() ? 0 : lat_us[std::min(lat_us.size() - 1, size_t(p * static_cast<double>(lat_us.size())))]; };
	return {name, static_cast<double>(lat_us.size()) / seconds, pct(0.50), pct(0.99)};
}

double us_since(clk::time_point t)
{
	return std::chrono::duration<double, std::micro>(clk::now() - t).count();
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2) {
		std::fprintf(stderr, "usage: replication_bench NODE_BINARY [DIR]\n");
		return 2;
	}
	std::string node = argv[1];
	std::string dir = argc > 2 ? argv[2] : "/tmp";
	int n = 2000;
	if (const char *v = std::getenv("PMEMSTREAM_RAFT_BENCH_N"))
		n = std::atoi(v);
	const std::string payload(64, 'p');
	std::vector<result_row> rows;

	{ // a single stream, synchronous append
		std::string path = dir + "/replbench-single-" + std::to_string(::getpid());
		::unlink(path.c_str());
		create_options co;
		co.size = 64 << 20;
		auto s = stream::create(path, co);
		if (!s)
			return 1;
		auto r = (*s)->region_allocate(16 << 20);
		std::vector<double> lat;
		auto t0 = clk::now();
		for (int k = 0; k < n; k++) {
			auto t = clk::now();
			if (!(*s)->append(*r, payload.data(), payload.size()))
				return 1;
			lat.push_back(us_since(t));
		}
		rows.push_back(summarize("single stream append (sync)", lat, us_since(t0) / 1e6));
		s.value().reset();
		::unlink(path.c_str());
	}
	{ // the raft store: what a member does for each append batch of one entry
		std::string path = dir + "/replbench-store-" + std::to_string(::getpid());
		::unlink(path.c_str());
		auto st = raft_store::create(path);
		if (!st)
			return 1;
		std::vector<double> lat;
		auto t0 = clk::now();
		for (int k = 0; k < n; k++) {
			log_record rec{(*st)->last_index() + 1, 1, 1,
				       std::span<const std::byte>(reinterpret_cast<const std::byte *>(payload.data()), payload.size())};
			auto t = clk::now();
			if (!(*st)->append(std::span(&rec, 1)))
				return 1;
			lat.push_back(us_since(t));
		}
		rows.push_back(summarize("raft store append (1 entry)", lat, us_since(t0) / 1e6));
		st.value().reset();
		::unlink(path.c_str());
	}
	std::string cdir = dir + "/replbench-cluster-" + std::to_string(::getpid());
	(void)std::system(("rm -rf '" + cdir + "' && mkdir -p '" + cdir + "'").c_str());
	{
		test::cluster c(node, cdir, 3, {"--election-timeout", "500", "--snapshot-threshold", "100000"});
		for (unsigned i = 1; i <= 3; i++)
			c.start(i);
		unsigned leader = c.wait_leader();
		if (!leader) {
			std::fprintf(stderr, "no leader\n");
			return 1;
		}
		for (int window : {1, 8, 64}) {
			client cl;
			if (!cl.connect(c.client_port(leader)))
				return 1;
			unsigned follower = leader == 1 ? 2 : 1;
			auto before = c.status(leader), fbefore = c.status(follower);
			std::map<int, clk::time_point> sent_at;
			std::vector<double> lat;
			int next = 0, done = 0;
			auto t0 = clk::now();
			std::string line, hex = hex_of(payload);
			while (done < n) {
				while (next < n && next - done < window) {
					sent_at[next] = clk::now();
					cl.send("APPEND " + std::to_string(next) + " " + hex);
					next++;
				}
				if (!cl.recv_line(line, 10000)) {
					std::fprintf(stderr, "no reply\n");
					return 1;
				}
				int tag = std::atoi(line.c_str() + 3);
				if (line.rfind("OK ", 0) != 0) {
					std::fprintf(stderr, "%s\n", line.c_str());
					return 1;
				}
				lat.push_back(us_since(sent_at[tag]));
				sent_at.erase(tag);
				done++;
			}
			rows.push_back(summarize("3 members, " + std::to_string(window) + " in flight", lat, us_since(t0) / 1e6));
			auto ratio = [](const test::member_status &a, const test::member_status &b) {
				return b.persists > a.persists ? double(b.appended - a.appended) / double(b.persists - a.persists) : 0.0;
			};
			rows.back().batch = ratio(before, c.status(leader));
			rows.back().follower_batch = ratio(fbefore, c.status(follower));
		}
		for (unsigned i = 1; i <= 3; i++)
			c.stop(i);
	}
	(void)std::system(("rm -rf '" + cdir + "'").c_str());

	std::printf("%-32s %12s %10s %10s %20s\n", "case (64-byte entries)", "appends/s", "p50 us", "p99 us",
		    "entries/persist L/F");
	for (auto &r : rows)
		std::printf("%-32s %12.0f %10.1f %10.1f %9.1f /%9.1f\n", r.name.c_str(), r.ops_per_s, r.p50_us, r.p99_us,
			    r.batch ? r.batch : 1.0, r.follower_batch ? r.follower_batch : 1.0);
	return 0;
}
