// SPDX-License-Identifier: BSD-3-Clause
#include "media.hpp"

#include "format.hpp"

#include <libpmem2.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace pmemstream::detail {
namespace {

class pmem2_media : public media {
public:
	pmem2_media(struct pmem2_map *map, bool read_only)
	    : media(static_cast<std::byte *>(pmem2_map_get_address(map)), pmem2_map_get_size(map), read_only),
	      flush_(pmem2_get_flush_fn(map)),
	      drain_(pmem2_get_drain_fn(map)),
	      memcpy_(pmem2_get_memcpy_fn(map)),
	      memset_(pmem2_get_memset_fn(map)),
	      page_(pmem2_map_get_store_granularity(map) == PMEM2_GRANULARITY_PAGE)
	{
	}

	~pmem2_media() override
	{
		if (pending.owner == this)
			flush_pending();
	}

	void flush(const void *addr, size_t len) noexcept override
	{
		flush_(addr, len);
	}
	void drain() noexcept override
	{
		if (pending.owner == this)
			flush_pending();
		drain_();
	}
	void copy_nodrain(void *dst, const void *src, size_t len) noexcept override
	{
		memcpy_(dst, src, len, PMEM2_F_MEM_NODRAIN);
	}
	void set_nodrain(void *dst, int c, size_t len) noexcept override
	{
		memset_(dst, c, len, PMEM2_F_MEM_NODRAIN);
	}
	void write_lines_nodrain(void *dst, const piece *pieces, size_t n, size_t unchanged) noexcept override
	{
		auto *d = static_cast<std::byte *>(dst);
		if (page_) {
			// msync media: a flush is a system call, and an entry is written in two calls
			// (docs/design.md), so the range is flushed once, at the drain. Whole lines buy
			// nothing here: the unchanged bytes are not stored again.
			size_t total = 0;
			for (size_t i = 0; i < n; ++i) {
				const size_t skip = i == 0 ? std::min(unchanged, pieces[i].len) : 0;
				std::memcpy(d + total + skip, static_cast<const std::byte *>(pieces[i].src) + skip, pieces[i].len - skip);
				total += pieces[i].len;
			}
			if (pending.owner && pending.owner != this)
				pending.owner->flush_pending();
			if (pending.owner != this) {
				pending = {this, d, d + total};
			} else {
				pending.begin = std::min(pending.begin, d);
				pending.end = std::max(pending.end, d + total);
			}
			return;
		}
		for (size_t i = 0; i < n; ++i) {
			memcpy_(d, pieces[i].src, pieces[i].len, PMEM2_F_MEM_NODRAIN | PMEM2_F_MEM_NONTEMPORAL);
			d += pieces[i].len;
		}
	}
	void prefault(void *addr, size_t len) noexcept override
	{
#ifdef MADV_POPULATE_WRITE
		if (!populate_ || read_only())
			return;
		const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
		const auto begin = reinterpret_cast<uintptr_t>(addr) & ~(page - 1);
		const auto end = (reinterpret_cast<uintptr_t>(addr) + len + page - 1) & ~(page - 1);
		// Kernels before 5.14 answer EINVAL: stop asking.
		if (::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
			populate_ = false;
#else
		(void)addr;
		(void)len;
#endif
	}

private:
	// Page-granularity line writes not yet flushed by this thread.
	struct pending_range {
		pmem2_media *owner = nullptr;
		std::byte *begin = nullptr;
		std::byte *end = nullptr;
	};
	static thread_local pending_range pending;

	void flush_pending() noexcept
	{
		flush_(pending.begin, static_cast<size_t>(pending.end - pending.begin));
		pending = {};
	}

	pmem2_flush_fn flush_;
	pmem2_drain_fn drain_;
	pmem2_memcpy_fn memcpy_;
	pmem2_memset_fn memset_;
	bool page_;
	bool populate_ = true;
};

thread_local pmem2_media::pending_range pmem2_media::pending;

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
// is -1 and the destructor leaves the number (maybe reused by then) alone.
class tracked_fd {
public:
	tracked_fd() = default;
	tracked_fd(tracked_fd &&o) noexcept : fd_(std::exchange(o.fd_, -1)), depth_(o.depth_)
	{
	}
	tracked_fd &operator=(tracked_fd &&o) noexcept
	{
		if (this != &o) {
			reset();
			fd_ = std::exchange(o.fd_, -1);
			depth_ = o.depth_;
		}
		return *this;
	}
	~tracked_fd()
	{
		reset();
	}

	template <typename Open>
	static tracked_fd open_with(Open &&how)
	{
		tracked_fd t;
		(void)fork_depth_now(); // the fork handler is installed before the first descriptor
		int err;
		{
			std::lock_guard lk(fds_mutex);
			t.depth_ = fork_depth.load(std::memory_order_relaxed);
			t.fd_ = how();
			err = errno;
			if (t.fd_ >= 0)
				tracked_fds().push_back(t.fd_);
		}
		errno = err; // for the caller's message
		return t;
	}
	static tracked_fd open(const char *path, int flags, mode_t mode = 0)
	{
		return open_with([&] { return ::open(path, flags | O_CLOEXEC, mode); });
	}
	tracked_fd dup() const
	{
		const int fd = get();
		return open_with([&] { return fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 0); });
	}

	int get() const noexcept
	{
		return depth_ == fork_depth.load(std::memory_order_relaxed) ? fd_ : -1;
	}
	explicit operator bool() const noexcept
	{
		return get() >= 0;
	}
	void reset() noexcept
	{
		if (get() >= 0) {
			std::lock_guard lk(fds_mutex);
			auto &fds = tracked_fds();
			if (auto it = std::find(fds.begin(), fds.end(), fd_); it != fds.end())
				fds.erase(it);
			::close(fd_);
		}
		fd_ = -1;
	}

private:
	int fd_ = -1;
	unsigned depth_ = 0;
};

// ------------------------------------------------------------------ mapping a file

// Owns the mapping it made and, when writable, the descriptor that holds the writer lock.
class file_media : public pmem2_media {
public:
	file_media(tracked_fd lock, struct pmem2_map *map, bool read_only)
	    : pmem2_media(map, read_only), lock_(std::move(lock)), map_(map)
	{
	}
	~file_media() override
	{
		pmem2_map_delete(&map_);
		// Explicitly, not by closing: a fork()ed child that has not closed its copy yet
		// shares the lock's file description, and so the lock. (In such a child lock_ is
		// -1: the child never unlocks its parent.)
		if (lock_)
			::flock(lock_.get(), LOCK_UN);
	}

private:
	tracked_fd lock_;
	struct pmem2_map *map_;
};

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
	// The mapping needs no descriptor; a reader keeps none.
	if (read_only)
		fd.reset();
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
result<tracked_fd> open_stream_file(const std::string &path, int flags, struct stat &st, bool *missing = nullptr)
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

// One writer per stream: a second writable opener, in this process or another, would append
// over the first one's entries.
status lock_for_writing(const tracked_fd &fd, const std::string &path)
{
	int r;
	do
		r = ::flock(fd.get(), LOCK_EX | LOCK_NB);
	while (r != 0 && errno == EINTR);
	if (r == 0)
		return {};
	if (errno == EWOULDBLOCK)
		return error(errc::busy, "'" + path + "' is already open for writing (by this or another process)");
	return io_failure("cannot lock", path, errno);
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

} // namespace

// ------------------------------------------------------------------ creation

struct file_creation::state {
	std::string path;
	tracked_fd fd;		  // a duplicate of the medium's: keeps the lock until the end
	bool made = false;	  // this creation made the file...
	bool at_path = false;	  // ...and it is linked at `path`
	bool published = false;
	off_t restore_size = -1;  // an adopted file's size, while nothing was written to it

	~state()
	{
		if (published || !fd)
			return;
		struct stat mine, there;
		if (made && at_path && ::fstat(fd.get(), &mine) == 0 && ::stat(path.c_str(), &there) == 0 &&
		    same_file(mine, there))
			::unlink(path.c_str());
		if (restore_size >= 0 && ::fstat(fd.get(), &mine) == 0 && mine.st_size != restore_size)
			(void)::ftruncate(fd.get(), restore_size);
	}
};

file_creation::file_creation(std::unique_ptr<media> m, std::unique_ptr<state> s) noexcept
    : medium(std::move(m)), state_(std::move(s))
{
}
file_creation::file_creation(file_creation &&) noexcept = default;
file_creation &file_creation::operator=(file_creation &&) noexcept = default;
file_creation::~file_creation() = default;

status file_creation::publish()
{
	if (!state_ || state_->published)
		return {};
	state &s = *state_;
	if (!s.fd)
		return error(errc::io_error, "the creation of '" + s.path + "' was started by the parent of this process");
	if (::fdatasync(s.fd.get()) != 0)
		return io_failure("cannot write back", s.path, errno);
	if (!s.at_path) {
		char proc[64];
		std::snprintf(proc, sizeof(proc), "/proc/self/fd/%d", s.fd.get());
		if (::linkat(AT_FDCWD, proc, AT_FDCWD, s.path.c_str(), AT_SYMLINK_FOLLOW) != 0) {
			if (errno == EEXIST)
				return error(errc::exists, "'" + s.path + "' was created by another process meanwhile");
			return io_failure("cannot link the new stream file to", s.path, errno);
		}
		s.at_path = true;
	}
	// The name must survive a crash as well as the bytes.
	const std::string folder = folder_of(s.path);
	tracked_fd dir = tracked_fd::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
	if (!dir)
		return io_failure("cannot open the folder of", s.path, errno);
	if (::fsync(dir.get()) != 0 && errno != EINVAL && errno != EROFS)
		return io_failure("cannot write back the folder of", s.path, errno);
	s.published = true;
	state_.reset();
	return {};
}

namespace {

result<file_creation> hand_over(tracked_fd fd, std::unique_ptr<file_creation::state> st, const std::string &path)
{
	if (!st->fd)
		st->fd = fd.dup();
	if (!st->fd)
		return io_failure("cannot duplicate the descriptor of", path, errno);
	auto m = map_file(std::move(fd), path, false);
	if (!m)
		return std::move(m).err();
	st->restore_size = -1;
	return file_creation(std::move(*m), std::move(st));
}

// A file already at the path: adopted when it holds only zeroes (under the lock, so two
// creators cannot both adopt it, and one that finished first is seen). `gone` asks the
// caller to look again: the file was removed or replaced before the lock was taken.
result<file_creation> adopt(tracked_fd fd, struct stat st, const std::string &path, uint64_t size, bool &gone)
{
	if (!S_ISREG(st.st_mode))
		return error(errc::io_error, "'" + path +
						     "' is a DAX device: create makes regular files; open a DAX device that "
						     "holds only zero bytes writable to make a stream in it");
	// A header says more than "busy" when a writer has the file open.
	if (auto why = stream_held_by(fd, path); !why.empty())
		return error(errc::exists, why);
	if (auto l = lock_for_writing(fd, path); !l)
		return l.err();
	struct stat now, there;
	if (::fstat(fd.get(), &now) != 0)
		return io_failure("cannot stat", path, errno);
	if (now.st_nlink == 0 || ::stat(path.c_str(), &there) != 0 || !same_file(now, there)) {
		gone = true;
		return error(errc::busy, "'" + path + "' was removed or replaced while being created");
	}
	auto zero = holds_only_zeroes(fd, static_cast<uint64_t>(now.st_size), path);
	if (!zero)
		return std::move(zero).err();
	if (!*zero)
		return refuse_data(fd, path);
	if (static_cast<uint64_t>(now.st_size) > size)
		return error(errc::invalid_argument, "'" + path + "' holds only zero bytes but has " +
							     std::to_string(now.st_size) + " of them, more than the " +
							     std::to_string(size) +
							     " asked for; create the stream with its size or truncate it first");
	auto st_ = std::make_unique<file_creation::state>();
	st_->path = path;
	st_->fd = fd.dup();
	if (!st_->fd)
		return io_failure("cannot duplicate the descriptor of", path, errno);
	st_->at_path = true;
	st_->restore_size = now.st_size;
	if (auto p = preallocate(fd, size, path); !p)
		return p.err();
	return hand_over(std::move(fd), std::move(st_), path);
}

result<file_creation> make_exclusively(const std::string &path, uint64_t size, bool &raced)
{
	tracked_fd fd = tracked_fd::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
	if (!fd) {
		raced = errno == EEXIST;
		return io_failure("cannot create", path, errno);
	}
	// Until the lock is ours another creator may adopt the empty file; then it is theirs, and
	// it may even have finished and unlocked it: a file that is no longer empty is not ours.
	if (auto l = lock_for_writing(fd, path); !l)
		return error(errc::busy, "'" + path + "' was taken over by another creator while being made");
	struct stat now;
	if (::fstat(fd.get(), &now) != 0)
		return io_failure("cannot stat", path, errno);
	if (now.st_size != 0)
		return error(errc::exists, "'" + path + "' was created by another creator meanwhile; open it instead");
	auto st = std::make_unique<file_creation::state>();
	st->path = path;
	st->fd = fd.dup();
	if (!st->fd)
		return io_failure("cannot duplicate the descriptor of", path, errno);
	st->made = true;
	st->at_path = true;
	if (auto p = preallocate(fd, size, path); !p)
		return p.err();
	return hand_over(std::move(fd), std::move(st), path);
}

result<file_creation> make_unnamed(const std::string &path, uint64_t size, bool &unsupported)
{
	// publish() names the file through /proc (linkat with AT_EMPTY_PATH needs a capability).
	if (::access("/proc/self/fd", X_OK) != 0) {
		unsupported = true;
		return error(errc::io_error, "no /proc");
	}
	const std::string folder = folder_of(path);
	tracked_fd fd = tracked_fd::open(folder.c_str(), O_TMPFILE | O_RDWR, 0644);
	if (!fd) {
		unsupported = errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL;
		return io_failure("cannot create", path, errno);
	}
	if (auto l = lock_for_writing(fd, path); !l)
		return l.err();
	auto st = std::make_unique<file_creation::state>();
	st->path = path;
	st->made = true;
	if (auto p = preallocate(fd, size, path); !p)
		return p.err();
	return hand_over(std::move(fd), std::move(st), path);
}

} // namespace

result<file_creation> create_file_media(const std::string &path, uint64_t size, new_file_method how)
{
	// Each lost race means the path changed under us; it cannot keep changing unless another
	// process keeps creating and removing it.
	for (int attempt = 0;; ++attempt) {
		struct stat st;
		bool missing = false, again = false;
		auto fd = open_stream_file(path, O_RDWR, st, &missing);
		if (fd) {
			auto r = adopt(std::move(*fd), st, path, size, again);
			if (r || !again || attempt == 3)
				return r;
			continue;
		}
		if (!missing)
			return std::move(fd).err();
		if (how == new_file_method::link_when_ready) {
			bool unsupported = false;
			auto r = make_unnamed(path, size, unsupported);
			if (r || !unsupported)
				return r;
		}
		auto r = make_exclusively(path, size, again);
		if (r || !again || attempt == 3)
			return r;
	}
}

// ------------------------------------------------------------------ opening

unsigned fork_depth_now() noexcept
{
	static const bool installed = ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) == 0;
	(void)installed;
	return fork_depth.load(std::memory_order_relaxed);
}

std::unique_ptr<media> make_pmem2_media(struct pmem2_map *map, bool read_only)
{
	return std::make_unique<pmem2_media>(map, read_only);
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
