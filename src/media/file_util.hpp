// SPDX-License-Identifier: BSD-3-Clause
// What the file media share: descriptors a fork()ed child gives up, the medium that owns a
// file's mapping and lock, and the checks of what a path names (docs/files-and-processes.md).
#ifndef PMEMSTREAM_MEDIA_FILE_UTIL_HPP
#define PMEMSTREAM_MEDIA_FILE_UTIL_HPP

#include "media/pmem2_media.hpp"

#include <pmemstream/errors.hpp>

#include <string>

namespace pmemstream::detail {

// The registry of descriptors a fork()ed child closes (file_util.cpp).
extern std::mutex fds_mutex;
std::vector<int> &tracked_fds();
void before_fork() noexcept;
void after_fork_in_parent() noexcept;
void after_fork_in_child() noexcept;

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

// Owns the mapping it made and the descriptor that holds the writer lock (writable) or that
// probes it (read-only: it holds no lock).
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
		if (lock_ && !read_only())
			::flock(lock_.get(), LOCK_UN);
	}

	writer_presence writer() const noexcept override;
	bool file_identity(uint64_t &dev, uint64_t &ino, uint32_t &mode) const noexcept override
	{
		struct stat st;
		if (!lock_ || ::fstat(lock_.get(), &st) != 0)
			return false;
		dev = st.st_dev;
		ino = st.st_ino;
		mode = st.st_mode & 07777;
		return true;
	}

private:
	tracked_fd lock_;
	struct pmem2_map *map_;
};


error io_failure(const std::string &what, const std::string &path, int err);
bool same_file(const struct stat &a, const struct stat &b);
// Another description of fd's file (through /proc), for mapping apart from the lock.
result<tracked_fd> reopen(const tracked_fd &fd, const std::string &path, int flags);
result<std::unique_ptr<media>> map_file(tracked_fd fd, const std::string &path, bool read_only);
bool is_dax_device(const struct stat &st);
const char *kind_of(mode_t mode);
// Opens a regular file or DAX device (never blocking on a FIFO); `missing` tells a path that
// does not exist from other failures.
result<tracked_fd> open_stream_file(const std::string &path, int flags, struct stat &st, bool *missing = nullptr);
status lock_for_writing(const tracked_fd &fd, const std::string &path);
status preallocate(const tracked_fd &fd, uint64_t size, const std::string &path);
// Reads only the data extents (SEEK_DATA), never faulting holes in.
result<bool> holds_only_zeroes(const tracked_fd &fd, uint64_t size, const std::string &path);
std::string stream_held_by(const tracked_fd &fd, const std::string &path);
error refuse_data(const tracked_fd &fd, const std::string &path);
std::string folder_of(const std::string &path);

} // namespace pmemstream::detail

#endif
