// SPDX-License-Identifier: BSD-3-Clause
// Opening stream files: descriptors and fork(), mapping, locks, and what a path names.
#include "media/file_util.hpp"

#include "format/format.hpp"

namespace pmemstream::detail {

// ------------------------------------------------------------------ descriptors and fork()

// The writer lock (flock) belongs to an open file description, and a fork()ed child shares
// its parent's descriptions. Three rules keep the lock with the process that opened the
// stream (docs/files-and-processes.md): the lock is taken on a description that is never
// mapped (a mapping, which a child inherits, keeps its description open); closing a stream
// unlocks explicitly, which releases the lock for every process sharing the description; and
// a child closes every descriptor recorded here as soon as it starts, so that even a parent
// that dies without closing leaves no lock behind. Opening and recording happen under the
// mutex that fork() takes, so no descriptor is inherited unrecorded (a fork() waits for an
// open() in progress).
std::mutex fds_mutex;

std::vector<int> &tracked_fds()
{
	static auto *fds = new std::vector<int>; // never destroyed: a medium may outlive exit's destructors
	return *fds;
}

void before_fork() noexcept
{
	fds_mutex.lock();
}

void after_fork_in_parent() noexcept
{
	fds_mutex.unlock();
}

void after_fork_in_child() noexcept
{
	for (int fd : tracked_fds())
		::close(fd);
	tracked_fds().clear();
	fork_depth.fetch_add(1, std::memory_order_relaxed);
	fds_mutex.unlock();
}

// A descriptor opened through the registry. In a child of fork() it is already closed: get()

error io_failure(const std::string &what, const std::string &path, int err)
{
	return error(errc::io_error, what + " '" + path + "': " + std::strerror(err));
}

bool same_file(const struct stat &a, const struct stat &b)
{
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A second open file description of the file `fd` has open.
result<tracked_fd> reopen(const tracked_fd &fd, const std::string &path, int flags)
{
	struct stat want, got;
	if (::fstat(fd.get(), &want) != 0)
		return io_failure("cannot stat", path, errno);
	char proc[64];
	std::snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd.get());
	tracked_fd again = tracked_fd::open(proc, flags);
	if (!again) // no /proc: by name, if the name still means this file
		again = tracked_fd::open(path.c_str(), flags | O_NONBLOCK);
	if (!again)
		return io_failure("cannot open again", path, errno);
	if (::fstat(again.get(), &got) != 0 || !same_file(want, got))
		return error(errc::busy, "'" + path + "' was replaced while being opened");
	return again;
}

// Maps the file `fd` has open. A mapping keeps its file description open, and a fork()ed
// child inherits the mapping: so a writable medium maps a second description and keeps `fd`,
// which holds the writer lock, to itself. The child closes its copy of `fd` at the fork, so
// even a parent that dies without closing its stream leaves no lock behind in a child that
// goes on reading its mapping.
result<std::unique_ptr<media>> map_file(tracked_fd fd, const std::string &path, bool read_only)
{
	tracked_fd mapped;
	if (!read_only) {
		auto m = reopen(fd, path, O_RDWR);
		if (!m)
			return std::move(m).err();
		mapped = std::move(*m);
	}
	const int map_fd = read_only ? fd.get() : mapped.get();
	struct pmem2_config *cfg = nullptr;
	struct pmem2_source *src = nullptr;
	struct pmem2_map *map = nullptr;
	int ret = pmem2_config_new(&cfg);
	if (ret == 0)
		ret = pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
	if (ret == 0 && read_only)
		ret = pmem2_config_set_protection(cfg, PMEM2_PROT_READ);
	if (ret == 0)
		ret = pmem2_source_from_fd(&src, map_fd);
	if (ret == 0)
		ret = pmem2_map_new(&map, cfg, src);
	std::string msg = ret != 0 ? pmem2_errormsg() : "";
	if (src)
		pmem2_source_delete(&src);
	if (cfg)
		pmem2_config_delete(&cfg);
	if (ret != 0)
		return error(errc::io_error, "cannot map '" + path + "': " + (msg.empty() ? std::strerror(-ret) : msg));
	// A reader keeps its descriptor (it holds no lock) to probe the writer's lock.
	return std::unique_ptr<media>(std::make_unique<file_media>(std::move(fd), map, read_only));
}


// ------------------------------------------------------------------ what a path names

bool is_dax_device(const struct stat &st)
{
	char link[96];
	std::snprintf(link, sizeof(link), "/sys/dev/char/%u:%u/subsystem", major(st.st_rdev), minor(st.st_rdev));
	char target[4096];
	const ssize_t n = ::readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	const char *name = std::strrchr(target, '/');
	return std::strcmp(name ? name + 1 : target, "dax") == 0;
}

const char *kind_of(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISCHR(mode))
		return "a character device that is not DAX";
	return "of an unknown kind";
}

// Opens `path` without blocking (a FIFO opened for reading would wait for a writer forever),
// refuses anything but a regular file or a DAX device, then makes the descriptor blocking.
// `missing` tells that nothing is at the path.
result<tracked_fd> open_stream_file(const std::string &path, int flags, struct stat &st, bool *missing)
{
	tracked_fd fd = tracked_fd::open(path.c_str(), flags | O_NONBLOCK);
	if (!fd) {
		if (missing)
			*missing = errno == ENOENT;
		return io_failure("cannot open", path, errno);
	}
	if (::fstat(fd.get(), &st) != 0)
		return io_failure("cannot stat", path, errno);
	if (!S_ISREG(st.st_mode) && !(S_ISCHR(st.st_mode) && is_dax_device(st)))
		return error(errc::io_error, "'" + path + "' is not a regular file or DAX device (" + kind_of(st.st_mode) + ")");
	const int fl = ::fcntl(fd.get(), F_GETFL);
	if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK) != 0)
		return io_failure("cannot configure the descriptor of", path, errno);
	return fd;
}

namespace {

int flock_nb(int fd, int how) noexcept
{
	int r;
	do
		r = ::flock(fd, how | LOCK_NB);
	while (r != 0 && errno == EINTR);
	return r;
}

} // namespace

// One writer per stream: a second writable opener, in this process or another, would append
// over the first one's entries. A read-only opener probes the lock with a shared lock that it
// holds for a few microseconds (file_media::writer()); a writer that meets only shared holders
// (its own shared lock succeeds) retries instead of failing with busy, so that readers never
// keep a writer out.
status lock_for_writing(const tracked_fd &fd, const std::string &path)
{
	for (int tries = 0;; ++tries) {
		if (flock_nb(fd.get(), LOCK_EX) == 0)
			return {};
		if (errno != EWOULDBLOCK)
			return io_failure("cannot lock", path, errno);
		const bool only_readers = tries < 1000 && flock_nb(fd.get(), LOCK_SH) == 0;
		if (only_readers)
			::flock(fd.get(), LOCK_UN);
		if (!only_readers)
			return error(errc::busy, "'" + path + "' is already open for writing (by this or another process)");
		::usleep(20);
	}
}

media::writer_presence file_media::writer() const noexcept
{
	if (!read_only() || !lock_)
		return writer_presence::unknown;
	if (flock_nb(lock_.get(), LOCK_SH) == 0) {
		::flock(lock_.get(), LOCK_UN);
		return writer_presence::absent;
	}
	return errno == EWOULDBLOCK ? writer_presence::present : writer_presence::unknown;
}

status preallocate(const tracked_fd &fd, uint64_t size, const std::string &path)
{
	int e;
	do
		e = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size));
	while (e == EINTR);
	if (e != 0)
		return io_failure("cannot preallocate " + std::to_string(size) + " bytes for", path, e);
	return {};
}

// Whether the first `size` bytes hold only zeroes, reading data extents only: holes are zero
// by definition, and touching them through a mapping would allocate them (tmpfs) or fault in
// every page of a file that may be far larger than memory.
result<bool> holds_only_zeroes(const tracked_fd &fd, uint64_t size, const std::string &path)
{
	std::vector<unsigned char> buf;
	off_t pos = 0;
	const auto end = static_cast<off_t>(size);
	while (pos < end) {
		const off_t data = ::lseek(fd.get(), pos, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				return true;
			return io_failure("cannot look for data in", path, errno);
		}
		off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
		if (hole < 0)
			return io_failure("cannot look for holes in", path, errno);
		hole = std::min(hole, end);
		if (buf.empty())
			buf.resize(1 << 20);
		for (off_t at = data; at < hole;) {
			const ssize_t n = ::pread(fd.get(), buf.data(), static_cast<size_t>(std::min<off_t>(hole - at, 1 << 20)), at);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return io_failure("cannot read", path, errno);
			if (n == 0)
				return true; // shrunk meanwhile: what is gone holds nothing
			if (buf[0] != 0 || std::memcmp(buf.data(), buf.data() + 1, static_cast<size_t>(n) - 1) != 0)
				return false;
			at += n;
		}
		pos = hole;
	}
	return true;
}

// Why create refuses a file whose header is a stream's (complete or being created); empty
// when the header is no stream's.
std::string stream_held_by(const tracked_fd &fd, const std::string &path)
{
	uint64_t magic = 0;
	if (::pread(fd.get(), &magic, sizeof(magic), 0) != static_cast<ssize_t>(sizeof(magic)))
		return {};
	if (magic == format::magic_ready)
		return "'" + path + "' already holds a stream; open it instead";
	if (magic == format::magic_initialising)
		return "'" + path + "' holds a stream whose creation was interrupted; open it writable to finish it";
	return {};
}

error refuse_data(const tracked_fd &fd, const std::string &path)
{
	auto why = stream_held_by(fd, path);
	if (why.empty())
		why = "'" + path +
		      "' is not a stream: it holds non-zero bytes that are not a pmemstream header; refusing to overwrite it";
	return error(errc::exists, why);
}

std::string folder_of(const std::string &path)
{
	const auto slash = path.find_last_of('/');
	if (slash == std::string::npos)
		return ".";
	return slash == 0 ? "/" : path.substr(0, slash);
}


// ------------------------------------------------------------------ opening

unsigned fork_depth_now() noexcept
{
	static const bool installed = ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) == 0;
	(void)installed;
	return fork_depth.load(std::memory_order_relaxed);
}

result<std::unique_ptr<media>> open_file_media(const std::string &path, bool read_only)
{
	struct stat st;
	auto fd = open_stream_file(path, read_only ? O_RDONLY : O_RDWR, st);
	if (!fd)
		return std::move(fd).err();
	if (!read_only)
		if (auto l = lock_for_writing(*fd, path); !l)
			return l.err();
	if (S_ISREG(st.st_mode) && st.st_size == 0)
		return error(errc::not_a_stream, "'" + path + "' is empty (0 bytes): nothing to open");
	return map_file(std::move(*fd), path, read_only);
}


} // namespace pmemstream::detail
