// SPDX-License-Identifier: BSD-3-Clause
// Process crashes: a forked writer appends to, allocates and frees regions of a real stream
// file in /dev/shm, telling the parent through a pipe before each operation and after each
// acknowledgement. The parent SIGKILLs it at a random moment, reopens the file (recovery)
// and checks that everything acknowledged is there, exact, and that the operation cut short
// either happened or left no trace. Then the next writer continues on the same file.
#include "stream_check.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

enum : uint32_t { rec_begin = 1, rec_ack = 2, rec_failed = 3 };

struct record {
	uint32_t type;
	uint32_t kind; // op_kind
	uint64_t region;
	uint64_t size;
	uint64_t seed;
	uint64_t entry;
	uint64_t timestamp;
	uint64_t region_size;
	uint64_t pad;
};
static_assert(sizeof(record) == 64);

std::vector<std::byte> payload(uint64_t seed, uint64_t size)
{
	std::vector<std::byte> d(size);
	uint64_t x = seed;
	for (auto &b : d) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		b = static_cast<std::byte>(x >> 56);
	}
	return d;
}

uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = std::getenv(name);
	return v && *v ? std::strtoull(v, nullptr, 0) : dflt;
}

void send(int fd, const record &r)
{
	const auto *p = reinterpret_cast<const char *>(&r);
	size_t done = 0;
	while (done < sizeof(r)) {
		const ssize_t n = ::write(fd, p + done, sizeof(r) - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		done += static_cast<size_t>(n);
	}
}

// The writer: runs until killed. Never returns.
[[noreturn]] void writer(const std::string &path, int fd, uint64_t seed, std::vector<uint64_t> live)
{
	auto opened = stream::open(path);
	if (!opened)
		_exit(2);
	auto &s = **opened;
	std::mt19937_64 rng(seed);
	for (uint64_t n = 0;; ++n) {
		const uint64_t dice = rng() % 100;
		record r{};
		r.seed = seed * 1000003 + n;
		if (live.size() < 2 || dice < 4) {
			r.kind = static_cast<uint32_t>(op_kind::allocate);
			r.size = 4096 + rng() % (64 * 1024);
			r.type = rec_begin;
			send(fd, r);
			auto reg = s.region_allocate(r.size);
			if (reg) {
				r.region = reg->offset;
				r.region_size = s.region_size(*reg).value();
				live.push_back(reg->offset);
			} else if (!live.empty()) {
				// Full: make room next time.
				r.type = rec_failed;
				send(fd, r);
				r = record{};
				r.kind = static_cast<uint32_t>(op_kind::free);
				const size_t i = rng() % live.size();
				r.region = live[i];
				r.type = rec_begin;
				send(fd, r);
				if (!s.region_free(region{live[i]}))
					_exit(4);
				live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
			} else {
				_exit(5);
			}
		} else if (dice < 6 && live.size() > 2) {
			r.kind = static_cast<uint32_t>(op_kind::free);
			const size_t i = rng() % live.size();
			r.region = live[i];
			r.type = rec_begin;
			send(fd, r);
			if (!s.region_free(region{live[i]}))
				_exit(4);
			live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
		} else {
			r.kind = static_cast<uint32_t>(op_kind::append);
			r.region = live[rng() % live.size()];
			r.size = rng() % 4 == 0 ? rng() % 3000 : rng() % 100;
			r.type = rec_begin;
			send(fd, r);
			auto e = s.append(region{r.region}, payload(r.seed, r.size));
			if (e) {
				r.entry = e->offset;
				r.timestamp = s.entry_timestamp(*e).value();
			} else if (e.code() == errc::region_full) {
				r.type = rec_failed;
				send(fd, r);
				continue;
			} else {
				_exit(6);
			}
		}
		r.type = rec_ack;
		send(fd, r);
	}
}

} // namespace

TEST(process_kill, acknowledged_operations_survive_sigkill)
{
	setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	const std::string path = "/dev/shm/pmemstream-reliability-kill-" + std::to_string(getpid()) + ".stream";
	::unlink(path.c_str());
	struct remove_at_exit {
		std::string path;
		~remove_at_exit()
		{
			// With the readers' sidecar the last killed writer left in /dev/shm.
			struct stat st;
			if (::stat(path.c_str(), &st) == 0) {
				char name[96];
				std::snprintf(name, sizeof(name), "/pmemstream-%llx-%llx.readers",
					      static_cast<unsigned long long>(st.st_dev), static_cast<unsigned long long>(st.st_ino));
				::shm_unlink(name);
			}
			::unlink(path.c_str());
		}
	} cleanup{path};
	{
		auto c = stream::create(path, create_options{4 << 20, 4096});
		ASSERT_TRUE(c.has_value()) << c.err().message();
	}
	const uint64_t rounds = env_u64("PMEMSTREAM_KILL_ROUNDS", 40);
	std::mt19937_64 rng(env_u64("PMEMSTREAM_CRASH_SEED", 1));
	stream_model model;
	uint64_t acked_total = 0, cut_short = 0, violations = 0;

	for (uint64_t round = 0; round < rounds; ++round) {
		int fds[2];
		ASSERT_EQ(::pipe(fds), 0);
		std::vector<uint64_t> live;
		for (auto &r : model.regions)
			live.push_back(r.offset);
		const pid_t pid = ::fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			::close(fds[0]);
			writer(path, fds[1], rng() ^ (round << 40), live);
		}
		::close(fds[1]);

		pending_op op;
		uint64_t acked = 0;
		auto apply = [&](const record &r) {
			const auto kind = static_cast<op_kind>(r.kind);
			if (r.type == rec_begin) {
				op = pending_op{kind, r.region, r.size, kind == op_kind::append ? payload(r.seed, r.size) : std::vector<std::byte>{}};
				return;
			}
			if (r.type == rec_ack) {
				if (kind == op_kind::allocate)
					model.allocated(region{r.region}, r.region_size);
				else if (kind == op_kind::free)
					model.freed(region{r.region});
				else
					model.appended(region{r.region}, entry{r.entry}, r.timestamp, op.data);
				++acked;
			}
			op = {};
		};

		// Read while the writer runs, then kill it at a random moment.
		const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(2000 + rng() % 40000);
		std::vector<char> buf;
		auto drain_pipe = [&](int timeout_ms) {
			pollfd p{fds[0], POLLIN, 0};
			if (::poll(&p, 1, timeout_ms) <= 0)
				return false;
			char tmp[4096];
			const ssize_t n = ::read(fds[0], tmp, sizeof(tmp));
			if (n <= 0)
				return n != 0;
			buf.insert(buf.end(), tmp, tmp + n);
			size_t used = 0;
			for (; buf.size() - used >= sizeof(record); used += sizeof(record)) {
				record r;
				std::memcpy(&r, buf.data() + used, sizeof(r));
				apply(r);
			}
			buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(used));
			return true;
		};
		while (std::chrono::steady_clock::now() < deadline)
			drain_pipe(1);
		::kill(pid, SIGKILL);
		while (drain_pipe(1000)) {
		}
		int status = 0;
		::waitpid(pid, &status, 0);
		::close(fds[0]);
		ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "writer exited early, status " << status;
		acked_total += acked;
		if (op.kind != op_kind::none)
			++cut_short;

		auto s = stream::open(path);
		ASSERT_TRUE(s.has_value()) << "round " << round << ": " << s.err().message();
		stream_model seen;
		for (auto &v : check_stream(**s, model, op, &seen)) {
			++violations;
			ADD_FAILURE() << "round " << round << ": " << v;
		}
		model = std::move(seen);
	}
	{
		open_options ro;
		ro.read_only = true;
		auto s = stream::open(path, ro);
		ASSERT_TRUE(s.has_value()) << s.err().message();
		for (auto &v : check_stream(**s, model, {}))
			ADD_FAILURE() << "read-only: " << v;
	}
	std::printf("process_kill: %llu kills, %llu acknowledged operations checked, %llu cut short mid-operation, %llu violations\n",
		    static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(acked_total),
		    static_cast<unsigned long long>(cut_short), static_cast<unsigned long long>(violations));
	EXPECT_GT(acked_total, rounds);
}
