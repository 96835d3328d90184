// SPDX-License-Identifier: BSD-3-Clause
// Creating a stream file: exclusive, preallocated, adopting only an all-zero file, and
// leaving nothing behind when it fails (docs/files-and-processes.md).
#include "media/file_util.hpp"

#include "format/format.hpp"

namespace pmemstream::detail {

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

} // namespace pmemstream::detail
