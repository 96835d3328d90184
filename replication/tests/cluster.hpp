// SPDX-License-Identifier: BSD-3-Clause
// Node processes on loopback for the replication tests and benchmark: start, SIGKILL,
// restart, ask for status, read every member.
#ifndef PMEMSTREAM_REPLICATION_TEST_CLUSTER_HPP
#define PMEMSTREAM_REPLICATION_TEST_CLUSTER_HPP

#include "client.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace pmemstream::replication::test {

struct member_status {
	bool ok = false;
	std::string state;
	uint64_t term = 0, leader = 0, commit = 0, applied = 0, first = 0, last = 0, snapshot = 0, errors = 0, installs = 0, append_calls = 0, appended = 0, persists = 0;
	std::string members;
};

inline member_status parse_status(const std::string &line)
{
	member_status s;
	if (line.rfind("STATUS ", 0) != 0)
		return s;
	s.ok = true;
	std::istringstream in(line.substr(7));
	std::string kv;
	while (in >> kv) {
		auto eq = kv.find('=');
		if (eq == std::string::npos)
			continue;
		std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
		auto num = [&] { return std::strtoull(v.c_str(), nullptr, 10); };
		if (k == "state")
			s.state = v;
		else if (k == "term")
			s.term = num();
		else if (k == "leader")
			s.leader = num();
		else if (k == "commit")
			s.commit = num();
		else if (k == "applied")
			s.applied = num();
		else if (k == "first")
			s.first = num();
		else if (k == "last")
			s.last = num();
		else if (k == "snapshot")
			s.snapshot = num();
		else if (k == "append_calls")
			s.append_calls = num();
		else if (k == "persists")
			s.persists = num();
		else if (k == "appended")
			s.appended = num();
		else if (k == "installs")
			s.installs = num();
		else if (k == "errors")
			s.errors = num();
		else if (k == "members")
			s.members = v;
	}
	return s;
}

class cluster {
public:
	// Members 1..n (n <= 9); ports from a base that differs per process.
	cluster(std::string node_path, std::string dir, unsigned n, std::vector<std::string> extra = {})
		: node_(std::move(node_path)), dir_(std::move(dir)), n_(n), extra_(std::move(extra))
	{
		base_ = 21000 + static_cast<int>(::getpid() % 400) * 20;
		pids_.assign(10, -1);
	}
	~cluster()
	{
		for (unsigned i = 1; i < pids_.size(); i++)
			kill9(i);
	}
	int raft_port(unsigned i) const
	{
		return base_ + static_cast<int>(i);
	}
	int client_port(unsigned i) const
	{
		return base_ + 10 + static_cast<int>(i);
	}
	std::string file(unsigned i) const
	{
		return dir_ + "/member" + std::to_string(i);
	}
	std::string address(unsigned i) const
	{
		return "127.0.0.1:" + std::to_string(raft_port(i));
	}
	std::string bootstrap_list() const
	{
		std::string s;
		for (unsigned i = 1; i <= n_; i++)
			s += (i > 1 ? "," : "") + std::to_string(i) + "=" + address(i);
		return s;
	}
	// Starts member i (bootstrapping it with members 1..n unless join).
	void start(unsigned i, bool join = false)
	{
		std::vector<std::string> args = {node_,	     "run",	 "--id",    std::to_string(i),
						  "--file",  file(i),	 "--address", address(i),
						  "--client", std::to_string(client_port(i)), "--size", "67108864"};
		if (!join) {
			args.push_back("--bootstrap");
			args.push_back(bootstrap_list());
		}
		for (auto &e : extra_)
			args.push_back(e);
		pid_t pid = ::fork();
		if (pid == 0) {
			std::vector<char *> av;
			for (auto &a : args)
				av.push_back(a.data());
			av.push_back(nullptr);
			std::string log = file(i) + ".log";
			if (std::freopen(log.c_str(), "a", stderr) == nullptr)
				::_exit(126);
			::execv(node_.c_str(), av.data());
			::_exit(127);
		}
		pids_[i] = pid;
		// Up once it answers on its client port (it then handles SIGTERM too).
		for (int k = 0; k < 1000 && !status(i).ok; k++)
			std::this_thread::sleep_for(std::chrono::milliseconds(5));
	}
	bool running(unsigned i) const
	{
		return pids_[i] > 0;
	}
	void kill9(unsigned i)
	{
		if (pids_[i] <= 0)
			return;
		::kill(pids_[i], SIGKILL);
		int ws;
		::waitpid(pids_[i], &ws, 0);
		pids_[i] = -1;
	}
	// SIGTERM and wait: a clean close. Returns the exit status (0 clean).
	int stop(unsigned i)
	{
		if (pids_[i] <= 0)
			return 0;
		::kill(pids_[i], SIGTERM);
		int ws = 0;
		::waitpid(pids_[i], &ws, 0);
		pids_[i] = -1;
		return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	}
	member_status status(unsigned i)
	{
		client c;
		if (!c.connect(client_port(i)) || !c.send("STATUS"))
			return {};
		std::string line;
		if (!c.recv_line(line, 2000))
			return {};
		return parse_status(line);
	}
	// The leader all running members agree on, or 0 within the timeout.
	unsigned wait_leader(std::chrono::milliseconds timeout = std::chrono::milliseconds(15000), unsigned max_id = 9)
	{
		auto end = std::chrono::steady_clock::now() + timeout;
		while (std::chrono::steady_clock::now() < end) {
			for (unsigned i = 1; i <= max_id; i++) {
				if (!running(i))
					continue;
				auto s = status(i);
				if (s.ok && s.state == "leader")
					return i;
			}
			std::this_thread::sleep_for(std::chrono::milliseconds(20));
		}
		return 0;
	}
	// Committed command entries of member i: index -> payload, and its first index.
	bool read_all(unsigned i, std::map<uint64_t, std::string> &out, uint64_t *first = nullptr)
	{
		client c;
		if (!c.connect(client_port(i)) || !c.send("READ 1 18446744073709551615"))
			return false;
		std::string line;
		while (c.recv_line(line, 5000)) {
			if (line.rfind("E ", 0) == 0) {
				auto sp = line.find(' ', 2);
				out[std::strtoull(line.substr(2, sp - 2).c_str(), nullptr, 10)] = unhex(line.substr(sp + 1));
			} else if (line.rfind("END ", 0) == 0) {
				if (first)
					*first = std::strtoull(line.substr(line.rfind(' ') + 1).c_str(), nullptr, 10);
				return true;
			}
		}
		return false;
	}

private:
	std::string node_, dir_;
	unsigned n_;
	std::vector<std::string> extra_;
	int base_;
	std::vector<pid_t> pids_;
};

} // namespace pmemstream::replication::test

#endif
