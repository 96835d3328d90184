// SPDX-License-Identifier: BSD-3-Clause
// The file layer under a stream (docs/files-and-processes.md): exclusive creation, cleanup of
// a failed creation, what create does with an existing file, files that are not files, and
// what a fork()ed child inherits. Much of it runs in child processes: to race two creators,
// to change limits or mounts without touching the test process, and to turn a hang or a
// fatal signal into a failed test instead of a stuck or dead run.
#include "test_util.hpp"

#include "media.hpp"
#include "stream_factory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace pmemstream;
using test::bytes;
using test::temp_file;

namespace {

// How a child ended and what it wrote.
struct child_outcome {
	bool exited = false;   // exited normally with status 0
	int signal = 0;	       // the signal that killed it, 0 if none
	std::string out;
};

// Runs `work` in a child killed by SIGALRM after `seconds`; its return value comes back in
// child_outcome::out. The child leaves with _exit: no destructor of the parent's objects runs
// twice.
child_outcome in_child(const std::function<std::string()> &work, unsigned seconds = 20)
{
	int p[2];
	if (::pipe2(p, O_CLOEXEC) != 0)
		return {};
	const pid_t pid = ::fork();
	if (pid == 0) {
		::close(p[0]);
		::alarm(seconds);
		const std::string s = work();
		size_t done = 0;
		while (done < s.size()) {
			const ssize_t n = ::write(p[1], s.data() + done, s.size() - done);
			if (n <= 0)
				break;
			done += static_cast<size_t>(n);
		}
		::_exit(0);
	}
	::close(p[1]);
	child_outcome o;
	char buf[512];
	ssize_t n;
	while ((n = ::read(p[0], buf, sizeof(buf))) > 0)
		o.out.append(buf, static_cast<size_t>(n));
	::close(p[0]);
	int status = 0;
	::waitpid(pid, &status, 0);
	o.exited = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	o.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	return o;
}

std::string describe(const error &e)
{
	return std::string(errc_name(e.code())) + ": " + e.message();
}

template <typename T>
std::string outcome_of(const T &r)
{
	return r ? std::string("ok") : describe(r.err());
}

bool exists(const std::string &path)
{
	struct stat st;
	return ::lstat(path.c_str(), &st) == 0;
}

uint64_t file_size(const std::string &path)
{
	struct stat st;
	return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

uint64_t allocated_bytes(const std::string &path)
{
	struct stat st;
	return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

void make_sparse(const std::string &path, uint64_t size)
{
	int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
	::close(fd);
}

std::string temp_dir(const char *tag)
{
	std::string t = test::temp_path(tag) + "-XXXXXX";
	return ::mkdtemp(t.data()) ? t : std::string();
}

// Runs `work` in a child with its own mount namespace where `dir` is a tmpfs of `size`
// bytes: a full file system without filling a real one, and no mount left behind whatever
// happens (the namespace dies with the child). out is "skip: ..." where that is not allowed.
child_outcome on_tiny_tmpfs(const std::string &dir, const char *size, const std::function<std::string()> &work)
{
	return in_child([&]() -> std::string {
		if (::unshare(CLONE_NEWNS) != 0)
			return "skip: no mount namespace (needs root)";
		if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
			return "skip: cannot make mounts private";
		const std::string opts = std::string("size=") + size;
		if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0)
			return "skip: cannot mount tmpfs";
		return work();
	});
}

std::vector<std::string> names_in(const std::string &dir)
{
	std::vector<std::string> v;
	if (DIR *d = ::opendir(dir.c_str())) {
		while (auto *e = ::readdir(d))
			if (std::string(e->d_name) != "." && std::string(e->d_name) != "..")
				v.emplace_back(e->d_name);
		::closedir(d);
	}
	return v;
}

std::string names_of(const std::vector<std::string> &v)
{
	std::string s;
	for (auto &n : v)
		s += (s.empty() ? "" : " ") + n;
	return s.empty() ? "(none)" : s;
}

// ---------------------------------------------------------------- exclusive creation

// Two worker processes that each call `attempt` when told to, round after round.
class process_race {
public:
	using attempt_fn = std::function<errc(int worker)>;

	explicit process_race(attempt_fn attempt)
	{
		void *p = ::mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return;
		sh_ = new (p) shared;
		for (int i = 0; i < 2; ++i) {
			::sem_init(&sh_->go[i], 1, 0);
			::sem_init(&sh_->done[i], 1, 0);
		}
		for (int i = 0; i < 2; ++i) {
			pids_[i] = ::fork();
			if (pids_[i] == 0) {
				for (;;) {
					while (::sem_wait(&sh_->go[i]) != 0) {
					}
					if (sh_->stop)
						::_exit(0);
					sh_->result[i] = attempt(i);
					::sem_post(&sh_->done[i]);
				}
			}
		}
	}
	~process_race()
	{
		if (!sh_)
			return;
		sh_->stop = true;
		for (int i = 0; i < 2; ++i) {
			::sem_post(&sh_->go[i]);
			if (pids_[i] > 0)
				::waitpid(pids_[i], nullptr, 0);
		}
		::munmap(sh_, sizeof(shared));
	}
	bool ready() const
	{
		return sh_ && pids_[0] > 0 && pids_[1] > 0;
	}
	// Starts both workers at once and returns what each got.
	std::array<errc, 2> round()
	{
		for (int i = 0; i < 2; ++i)
			::sem_post(&sh_->go[i]);
		for (int i = 0; i < 2; ++i)
			while (::sem_wait(&sh_->done[i]) != 0) {
			}
		return {sh_->result[0], sh_->result[1]};
	}

private:
	struct shared {
		sem_t go[2];
		sem_t done[2];
		errc result[2];
		bool stop = false;
	};
	shared *sh_ = nullptr;
	pid_t pids_[2] = {-1, -1};
};

// What is at the path before a round: creation over a missing path, an empty file, and an
// all-zero file smaller than the request.
enum class start { missing, empty, small_zero };

void prepare(const std::string &path, start how)
{
	::unlink(path.c_str());
	if (how == start::empty)
		make_sparse(path, 0);
	else if (how == start::small_zero)
		make_sparse(path, 32 << 10);
}

// Races two creators for up to `rounds` rounds or `budget`; each round must have exactly one
// winner, the loser must be told exists or busy, and the file must hold the winner's stream.
void race_creates(const std::string &path, process_race::attempt_fn attempt, const uint64_t sizes[2], int rounds,
		  std::chrono::seconds budget)
{
	process_race race(std::move(attempt));
	ASSERT_TRUE(race.ready());
	const auto deadline = std::chrono::steady_clock::now() + budget;
	int done = 0;
	for (; done < rounds && std::chrono::steady_clock::now() < deadline; ++done) {
		const start how = static_cast<start>(done % 3);
		prepare(path, how);
		const auto r = race.round();
		const int winners = (r[0] == errc::ok) + (r[1] == errc::ok);
		ASSERT_EQ(winners, 1) << "round " << done << " (start " << static_cast<int>(how) << "): worker 0 got "
				      << errc_name(r[0]) << ", worker 1 got " << errc_name(r[1]);
		const int loser = r[0] == errc::ok ? 1 : 0;
		ASSERT_TRUE(r[loser] == errc::exists || r[loser] == errc::busy)
			<< "round " << done << ": the loser got " << errc_name(r[loser]);
		auto s = stream::open(path, {.read_only = true});
		ASSERT_TRUE(s) << "round " << done << ": " << s.err().message();
		ASSERT_EQ((*s)->info().size, sizes[1 - loser]) << "round " << done << ": the file holds the loser's stream";
		ASSERT_EQ(file_size(path), sizes[1 - loser]) << "round " << done;
	}
	std::printf("[          ] %d rounds of two racing creators\n", done);
}

TEST(files, two_processes_racing_to_create_one_path_have_exactly_one_winner)
{
	temp_file f("race");
	static const uint64_t sizes[2] = {64 << 10, 128 << 10};
	race_creates(
		f.path,
		[&](int i) {
			// Destroyed at once: a winner that has closed its stream before the loser looks
			// is the case that used to let both succeed.
			return stream::create(f.path, {sizes[i], 4096}).code();
		},
		sizes, 3000, std::chrono::seconds(20));
}

// The fallback for file systems without O_TMPFILE: open(O_CREAT | O_EXCL), locked at once.
TEST(files, exclusive_create_method_also_has_exactly_one_winner)
{
	temp_file f("race-excl");
	static const uint64_t sizes[2] = {64 << 10, 128 << 10};
	race_creates(
		f.path,
		[&](int i) {
			auto c = detail::create_file_media(f.path, sizes[i], detail::new_file_method::exclusive_create);
			if (!c)
				return c.code();
			auto s = detail::open_on_media(std::move(c->medium), 4096, {});
			if (!s)
				return s.code();
			return c->publish().code();
		},
		sizes, 1500, std::chrono::seconds(15));
}

TEST(files, a_creation_never_published_leaves_no_file)
{
	for (auto how : {detail::new_file_method::link_when_ready, detail::new_file_method::exclusive_create}) {
		temp_file f("unpublished");
		{
			auto c = detail::create_file_media(f.path, 1 << 20, how);
			ASSERT_TRUE(c) << c.err().message();
			ASSERT_EQ(c->medium->size(), uint64_t{1 << 20});
			c->medium->base()[100] = std::byte{1};
			// A file at its path from the start is locked: another creator is refused.
			if (how == detail::new_file_method::exclusive_create) {
				EXPECT_EQ(stream::create(f.path, {1 << 20, 4096}).code(), errc::busy);
			}
		}
		EXPECT_FALSE(exists(f.path)) << static_cast<int>(how);
	}
}

TEST(files, the_loser_of_the_link_is_told_the_path_exists_and_leaves_the_winner_alone)
{
	temp_file f("link-race");
	auto c = detail::create_file_media(f.path, 1 << 20);
	ASSERT_TRUE(c) << c.err().message();
	if (exists(f.path))
		GTEST_SKIP() << "no O_TMPFILE here: the file is at its path from the start";
	test::create(f.path, 256 << 10).reset();
	auto s = detail::open_on_media(std::move(c->medium), 4096, {});
	ASSERT_TRUE(s);
	auto p = c->publish();
	ASSERT_FALSE(p);
	EXPECT_EQ(p.code(), errc::exists);
	s = error(errc::busy, "closed");
	auto w = stream::open(f.path, {.read_only = true});
	ASSERT_TRUE(w);
	EXPECT_EQ((*w)->info().size, uint64_t{256 << 10});
}

// ---------------------------------------------------------------- failed creation

// Creation on a file system that is full: a tmpfs of 1 MiB where we may mount one, else a
// file size limit (with SIGXFSZ ignored, so the limit is an EFBIG error, not a death).
TEST(files, create_on_a_full_tmpfs_fails_with_io_error_and_leaves_no_file)
{
	const std::string dir = temp_dir("full");
	ASSERT_FALSE(dir.empty());
	auto o = on_tiny_tmpfs(dir, "1M", [&] {
		const std::string path = dir + "/s";
		auto s = stream::create(path, {4 << 20, 4096});
		return outcome_of(s) + "\nleft: " + names_of(names_in(dir));
	});
	::rmdir(dir.c_str());
	if (o.out.rfind("skip:", 0) == 0)
		GTEST_SKIP() << o.out;
	ASSERT_TRUE(o.exited) << "signal " << o.signal;
	EXPECT_EQ(o.out.rfind("I/O error: ", 0), 0u) << o.out;
	EXPECT_NE(o.out.find("No space left on device"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("left: (none)"), std::string::npos) << o.out;
}

TEST(files, create_beyond_the_file_size_limit_fails_with_io_error_and_leaves_no_file)
{
	const std::string dir = temp_dir("fsize");
	ASSERT_FALSE(dir.empty());
	auto o = in_child([&] {
		::signal(SIGXFSZ, SIG_IGN);
		struct rlimit lim = {256 << 10, 256 << 10};
		::setrlimit(RLIMIT_FSIZE, &lim);
		auto s = stream::create(dir + "/s", {4 << 20, 4096});
		return outcome_of(s);
	});
	const auto left = names_in(dir);
	for (auto &n : left)
		::unlink((dir + "/" + n).c_str());
	::rmdir(dir.c_str());
	ASSERT_TRUE(o.exited) << "signal " << o.signal;
	EXPECT_EQ(o.out.rfind("I/O error: ", 0), 0u) << o.out;
	EXPECT_TRUE(left.empty()) << "left behind: " << names_of(left);
}

TEST(files, failed_create_over_an_existing_zero_file_leaves_it_as_it_was)
{
	const std::string dir = temp_dir("fsize-old");
	ASSERT_FALSE(dir.empty());
	const std::string path = dir + "/s";
	make_sparse(path, 16 << 10);
	auto o = in_child([&] {
		::signal(SIGXFSZ, SIG_IGN);
		struct rlimit lim = {256 << 10, 256 << 10};
		::setrlimit(RLIMIT_FSIZE, &lim);
		return outcome_of(stream::create(path, {4 << 20, 4096}));
	});
	const uint64_t size = file_size(path);
	const bool still_there = exists(path);
	::unlink(path.c_str());
	::rmdir(dir.c_str());
	ASSERT_TRUE(o.exited) << "signal " << o.signal;
	EXPECT_EQ(o.out.rfind("I/O error: ", 0), 0u) << o.out;
	EXPECT_TRUE(still_there) << "create removed a file it did not make";
	EXPECT_EQ(size, uint64_t{16 << 10});
}

TEST(files, exclusive_create_method_removes_its_file_when_preallocation_fails)
{
	const std::string dir = temp_dir("fsize-excl");
	ASSERT_FALSE(dir.empty());
	auto o = in_child([&] {
		::signal(SIGXFSZ, SIG_IGN);
		struct rlimit lim = {256 << 10, 256 << 10};
		::setrlimit(RLIMIT_FSIZE, &lim);
		return outcome_of(detail::create_file_media(dir + "/s", 4 << 20, detail::new_file_method::exclusive_create));
	});
	const auto left = names_in(dir);
	for (auto &n : left)
		::unlink((dir + "/" + n).c_str());
	::rmdir(dir.c_str());
	ASSERT_TRUE(o.exited) << "signal " << o.signal;
	EXPECT_EQ(o.out.rfind("I/O error: cannot preallocate", 0), 0u) << o.out;
	EXPECT_TRUE(left.empty()) << "left behind: " << names_of(left);
}

// ---------------------------------------------------------------- existing files

TEST(files, create_over_a_sparse_file_makes_a_preallocated_stream_of_the_requested_size)
{
	temp_file f("sparse");
	make_sparse(f.path, 256 << 10);
	auto s = stream::create(f.path, {2 << 20, 4096});
	ASSERT_TRUE(s) << s.err().message();
	EXPECT_EQ((*s)->info().size, uint64_t{2 << 20});
	EXPECT_EQ(file_size(f.path), uint64_t{2 << 20});
	EXPECT_GE(allocated_bytes(f.path), uint64_t{2 << 20}) << "the stream must not have holes";
}

TEST(files, create_over_a_sparse_file_of_exactly_the_size_fills_its_holes)
{
	temp_file f("sparse-eq");
	make_sparse(f.path, 2 << 20);
	{
		auto s = stream::create(f.path, {2 << 20, 4096});
		ASSERT_TRUE(s) << s.err().message();
	}
	EXPECT_GE(allocated_bytes(f.path), uint64_t{2 << 20});
}

TEST(files, create_over_a_larger_zero_file_is_refused_and_leaves_it_alone)
{
	temp_file f("larger");
	make_sparse(f.path, 1 << 30);
	auto s = stream::create(f.path, {64 << 10, 4096});
	ASSERT_FALSE(s) << "a 1 GiB file must not silently become a 1 GiB stream when 64 KiB was asked for";
	EXPECT_EQ(s.code(), errc::invalid_argument) << s.err().message();
	EXPECT_NE(s.err().message().find("1073741824"), std::string::npos) << s.err().message();
	EXPECT_EQ(file_size(f.path), uint64_t{1} << 30);
	EXPECT_LT(allocated_bytes(f.path), uint64_t{1 << 20});
}

// The zero check reads data extents only: a 1 GiB hole followed by one written byte costs a
// page of memory, not a gigabyte, and is found quickly.
TEST(files, create_checks_a_huge_sparse_file_without_touching_its_holes)
{
	temp_file f("holes");
	make_sparse(f.path, 1 << 30);
	const unsigned char one = 1;
	test::poke(f.path, (1 << 30) - 1, &one, 1);
	const uint64_t before = allocated_bytes(f.path);
	const auto t0 = std::chrono::steady_clock::now();
	auto s = stream::create(f.path, {1 << 30, 4096});
	const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::exists) << s.err().message();
	EXPECT_EQ(allocated_bytes(f.path), before) << "the check faulted holes in";
	std::printf("[          ] refusing a 1 GiB sparse file with one byte at its end took %lld ms\n", static_cast<long long>(ms));
}

// On a 4 MiB tmpfs an 8 MiB sparse file cannot be backed: reading its holes through a mapping
// would die of SIGBUS. Create must say no (out of space to preallocate, or not all zero).
TEST(files, create_over_a_sparse_file_larger_than_its_file_system_fails_cleanly)
{
	const std::string dir = temp_dir("tiny");
	ASSERT_FALSE(dir.empty());
	auto o = on_tiny_tmpfs(dir, "4M", [&] {
		std::string out;
		const std::string zero = dir + "/zero", data = dir + "/data";
		for (auto &p : {zero, data}) {
			int fd = ::open(p.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
			if (fd < 0 || ::ftruncate(fd, 8 << 20) != 0)
				return std::string("setup failed");
			::close(fd);
		}
		const char x = 'x';
		int fd = ::open(data.c_str(), O_RDWR | O_CLOEXEC);
		if (::pwrite(fd, &x, 1, (7 << 20) + 5) != 1)
			return std::string("setup failed");
		::close(fd);
		out += outcome_of(stream::create(zero, {8 << 20, 4096})) + "\n";
		out += "size " + std::to_string(file_size(zero)) + "\n";
		out += outcome_of(stream::create(data, {8 << 20, 4096})) + "\n";
		return out;
	});
	::rmdir(dir.c_str());
	if (o.out.rfind("skip:", 0) == 0)
		GTEST_SKIP() << o.out;
	ASSERT_TRUE(o.exited) << "killed by signal " << o.signal << " (" << strsignal(o.signal) << ")";
	EXPECT_NE(o.out.find("I/O error: cannot preallocate"), std::string::npos) << o.out;
	EXPECT_NE(o.out.find("size 8388608"), std::string::npos) << "the user's file keeps its size\n" << o.out;
	EXPECT_NE(o.out.find("file exists: "), std::string::npos) << o.out;
}

// ---------------------------------------------------------------- what is refused, and why

TEST(files, create_over_a_text_file_says_it_is_not_a_stream_and_leaves_it_untouched)
{
	temp_file f("text");
	const std::string text = "hello, this is a text file\n";
	int fd = ::open(f.path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
	::close(fd);
	auto s = stream::create(f.path, {1 << 20, 4096});
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::exists);
	EXPECT_NE(s.err().message().find("not a stream"), std::string::npos) << s.err().message();
	EXPECT_NE(s.err().message().find("refusing to overwrite"), std::string::npos) << s.err().message();
	EXPECT_EQ(file_size(f.path), text.size());
}

TEST(files, create_over_a_stream_says_it_already_holds_one)
{
	temp_file f("again");
	test::create(f.path).reset();
	auto s = stream::create(f.path, {1 << 20, 4096});
	ASSERT_FALSE(s);
	EXPECT_EQ(s.code(), errc::exists);
	EXPECT_NE(s.err().message().find("already holds a stream"), std::string::npos) << s.err().message();
}

// Every way in must refuse a FIFO at once: opening one for reading waits for a writer forever.
TEST(files, a_fifo_is_refused_without_blocking)
{
	temp_file f("fifo");
	ASSERT_EQ(::mkfifo(f.path.c_str(), 0644), 0);
	auto o = in_child(
		[&] {
			std::string out;
			out += outcome_of(stream::open(f.path, {.read_only = true})) + "\n";
			out += outcome_of(stream::open(f.path)) + "\n";
			out += outcome_of(stream::create(f.path, {1 << 20, 4096})) + "\n";
			return out;
		},
		10);
	ASSERT_TRUE(o.exited) << (o.signal == SIGALRM ? "hung on the FIFO" : "killed by a signal");
	size_t lines = 0;
	for (size_t at = 0; (at = o.out.find("not a regular file or DAX device", at)) != std::string::npos; ++at)
		++lines;
	EXPECT_EQ(lines, 3u) << o.out;
	EXPECT_NE(o.out.find("(a FIFO)"), std::string::npos) << o.out;
}

TEST(files, character_devices_that_are_not_dax_say_what_is_wrong)
{
	for (const char *dev : {"/dev/zero", "/dev/null"}) {
		if (!exists(dev))
			continue;
		for (bool ro : {true, false}) {
			auto s = stream::open(dev, {.read_only = ro});
			ASSERT_FALSE(s) << dev;
			EXPECT_EQ(s.code(), errc::io_error) << dev;
			EXPECT_NE(s.err().message().find("not a regular file or DAX device"), std::string::npos)
				<< dev << ": " << s.err().message();
		}
	}
}

TEST(files, a_directory_is_refused)
{
	const std::string dir = temp_dir("dir");
	ASSERT_FALSE(dir.empty());
	auto ro = stream::open(dir, {.read_only = true});
	auto rw = stream::open(dir);
	auto cr = stream::create(dir, {1 << 20, 4096});
	::rmdir(dir.c_str());
	ASSERT_FALSE(ro);
	EXPECT_NE(ro.err().message().find("not a regular file or DAX device (a directory)"), std::string::npos)
		<< ro.err().message();
	ASSERT_FALSE(rw);
	EXPECT_EQ(rw.code(), errc::io_error);
	ASSERT_FALSE(cr);
	EXPECT_EQ(cr.code(), errc::io_error);
}

// ---------------------------------------------------------------- fork

// flock belongs to the open file description, which a child shares: without care the child
// holds the writer's lock for as long as it lives.
TEST(files, a_forked_child_does_not_keep_the_writer_lock)
{
	temp_file f("fork");
	auto s = test::create(f.path);
	const auto r = *s->region_allocate(100);
	const auto e = *s->append(r, bytes("before the fork"));
	int go[2];
	ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
	const pid_t pid = ::fork();
	if (pid == 0) {
		char c;
		::close(go[1]);
		(void)::read(go[0], &c, 1);
		// Reads go on through the inherited mapping after the parent closed its stream.
		auto d = s->entry_data(e);
		const bool same = d && test::to_vec(*d) == bytes("before the fork");
		::_exit(same ? 0 : 3);
	}
	ASSERT_GT(pid, 0);
	::close(go[0]);
	s.reset();
	{
		auto again = stream::open(f.path);
		EXPECT_TRUE(again) << "while a child that inherited the descriptor lives: " << again.err().message();
	}
	EXPECT_EQ(::write(go[1], "x", 1), 1);
	::close(go[1]);
	int status = 0;
	ASSERT_EQ(::waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		<< "the child could not read its inherited stream (status " << status << ")";
}

// A writer that dies without closing (no destructor, no unlock) while a forked child lives:
// the child inherited the mapping, and a mapping keeps its file description open; the lock
// must not be on that description.
TEST(files, a_writer_that_dies_leaves_no_lock_in_its_forked_child)
{
	temp_file f("fork-dead");
	test::create(f.path).reset();
	int up[2], hold[2];
	ASSERT_EQ(::pipe2(up, O_CLOEXEC), 0);
	ASSERT_EQ(::pipe2(hold, O_CLOEXEC), 0);
	const pid_t writer = ::fork();
	if (writer == 0) {
		auto s = stream::open(f.path);
		if (!s)
			::_exit(2);
		::close(hold[1]);
		if (::fork() == 0) {
			// Reports that it runs (so its fork handler has run), then lives on until the
			// test closes `hold` (or for 20 s at most).
			::alarm(20);
			::close(up[0]);
			char c = 'r';
			(void)::write(up[1], &c, 1);
			::close(up[1]);
			(void)::read(hold[0], &c, 1);
			::_exit(0);
		}
		::close(hold[0]);
		::close(up[1]);
		char c;
		(void)::read(up[0], &c, 1);
		::_exit(0); // dies with the stream open
	}
	ASSERT_GT(writer, 0);
	::close(up[1]);
	::close(hold[0]);
	int status = 0;
	ASSERT_EQ(::waitpid(writer, &status, 0), writer);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		auto again = stream::open(f.path);
		EXPECT_TRUE(again) << "while the dead writer's child lives: " << again.err().message();
	}
	::close(hold[1]); // the grandchild reads EOF and exits; init reaps it
	::close(up[0]);
}

TEST(files, a_medium_knows_its_opener_and_a_forked_child_knows_it_is_not)
{
	temp_file f("owner");
	test::create(f.path).reset();
	auto m = detail::open_file_media(f.path, false);
	ASSERT_TRUE(m) << m.err().message();
	EXPECT_EQ((*m)->owner_pid(), ::getpid());
	EXPECT_FALSE((*m)->forked());
	const pid_t parent = ::getpid();
	auto o = in_child([&] {
		auto fresh = detail::open_file_media(f.path, true);
		return std::string((*m)->forked() ? "forked " : "same ") + ((*m)->owner_pid() == parent ? "parent " : "other ") +
		       (fresh && !(*fresh)->forked() && (*fresh)->owner_pid() == ::getpid() ? "fresh-is-mine" : "fresh-wrong");
	});
	ASSERT_TRUE(o.exited);
	EXPECT_EQ(o.out, "forked parent fresh-is-mine");
	EXPECT_FALSE((*m)->forked());
}

// Open descriptors (without the one that listed them).
std::set<int> open_fds()
{
	std::set<int> fds;
	for (auto &n : names_in("/proc/self/fd"))
		if (const int fd = std::stoi(n); ::fcntl(fd, F_GETFD) >= 0)
			fds.insert(fd);
	return fds;
}

TEST(files, every_descriptor_the_file_layer_keeps_is_close_on_exec)
{
	temp_file a("cloexec-a"), b("cloexec-b");
	const auto before = open_fds();
	auto writer = test::create(a.path);
	auto reader = test::reopen(a.path, {.read_only = true});
	auto pending = detail::create_file_media(b.path, 1 << 20);
	ASSERT_TRUE(pending) << pending.err().message();
	size_t seen = 0;
	for (int fd : open_fds()) {
		if (before.count(fd))
			continue;
		const int flags = ::fcntl(fd, F_GETFD);
		++seen;
		EXPECT_TRUE(flags & FD_CLOEXEC) << "descriptor " << fd;
	}
	EXPECT_GE(seen, 3u) << "the writer's lock, the creation's file and its duplicate";
}

// Not a timed assertion: prints what creating a stream costs next to what preallocating the
// same file costs (docs/files-and-processes.md quotes it). PMEMSTREAM_TEST_CREATE_MIB sets the
// size (64 MiB by default).
TEST(files, creation_cost_next_to_preallocation_cost)
{
	const char *env = std::getenv("PMEMSTREAM_TEST_CREATE_MIB");
	const uint64_t mib = env ? std::strtoull(env, nullptr, 10) : 64;
	const uint64_t size = mib << 20;
	auto ms_since = [](std::chrono::steady_clock::time_point t0) {
		return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
	};
	auto report = [&](const char *what, double ms) {
		std::printf("[          ] %-44s %9.1f ms  (%.0f ms per GiB)\n", what, ms, ms * 1024.0 / static_cast<double>(mib));
	};
	std::printf("[          ] %llu MiB in %s\n", static_cast<unsigned long long>(mib),
		    std::getenv("PMEMSTREAM_TEST_DIR") ? std::getenv("PMEMSTREAM_TEST_DIR") : "/tmp");
	{
		temp_file f("cost-fallocate");
		auto t0 = std::chrono::steady_clock::now();
		int fd = ::open(f.path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(::posix_fallocate(fd, 0, static_cast<off_t>(size)), 0);
		report("posix_fallocate of a new file", ms_since(t0));
		ASSERT_EQ(::fdatasync(fd), 0);
		report("  + fdatasync (durable preallocation)", ms_since(t0));
		::close(fd);
	}
	{
		temp_file f("cost-new");
		auto t0 = std::chrono::steady_clock::now();
		auto s = stream::create(f.path, {size, 4096});
		ASSERT_TRUE(s) << s.err().message();
		report("stream::create, new path", ms_since(t0));
	}
	{
		temp_file f("cost-sparse");
		make_sparse(f.path, size);
		auto t0 = std::chrono::steady_clock::now();
		auto s = stream::create(f.path, {size, 4096});
		ASSERT_TRUE(s) << s.err().message();
		report("stream::create, existing sparse file", ms_since(t0));
	}
	{
		temp_file f("cost-zeros");
		int fd = ::open(f.path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
		ASSERT_GE(fd, 0);
		std::vector<char> zeros(1 << 20, 0);
		for (uint64_t i = 0; i < mib; ++i)
			ASSERT_EQ(::write(fd, zeros.data(), zeros.size()), static_cast<ssize_t>(zeros.size()));
		::close(fd);
		auto t0 = std::chrono::steady_clock::now();
		auto s = stream::create(f.path, {size, 4096});
		ASSERT_TRUE(s) << s.err().message();
		report("stream::create, file of written zeroes", ms_since(t0));
	}
}

} // namespace
