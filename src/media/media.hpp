// SPDX-License-Identifier: BSD-3-Clause
// The medium under a stream: a mapped byte range plus the primitives that make stores durable.
// The stream code writes through this interface only, so it never knows whether it runs on
// persistent memory (cache-line flush + fence), on an msync'd file, or on a test medium that
// simulates power failure.
#ifndef PMEMSTREAM_MEDIA_HPP
#define PMEMSTREAM_MEDIA_HPP

#include <pmemstream/errors.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <sys/types.h>
#include <unistd.h>

struct pmem2_map;

namespace pmemstream::detail {

// How many fork()s separate this process from the first one that made a medium: 0 there, one
// more in each child (a pthread_atfork handler counts them). fork_depth_now() installs the
// handler on first use and returns the count.
inline std::atomic<unsigned> fork_depth{0};
unsigned fork_depth_now() noexcept;

class media {
public:
	virtual ~media() = default;

	std::byte *base() const noexcept
	{
		return base_;
	}
	uint64_t size() const noexcept
	{
		return size_;
	}
	bool read_only() const noexcept
	{
		return read_only_;
	}

	// Starts writing back [addr, addr+len); durable only after the next drain().
	virtual void flush(const void *addr, size_t len) noexcept = 0;
	// Orders: everything flushed or copied before is durable when drain() returns.
	virtual void drain() noexcept = 0;
	// Copies and flushes (durable after the next drain()).
	virtual void copy_nodrain(void *dst, const void *src, size_t len) noexcept = 0;
	// A contiguous piece of a write_lines_nodrain().
	struct piece {
		const void *src;
		size_t len;
	};
	// Writes the pieces one after another from `dst` (cache-line aligned, whole lines in
	// all) with non-temporal stores where the medium has them, and flushes them: durable after
	// the next drain(). Whole-line stores never read the old line back. The first `unchanged`
	// bytes already hold the values written (the end of the previous entry, which a reader
	// may be reading): a medium that gains nothing from whole lines skips them.
	virtual void write_lines_nodrain(void *dst, const piece *pieces, size_t n, size_t unchanged) noexcept
	{
		auto *d = static_cast<std::byte *>(dst);
		for (size_t i = 0; i < n; ++i) {
			const size_t skip = i == 0 ? std::min(unchanged, pieces[i].len) : 0;
			if (pieces[i].len > skip)
				copy_nodrain(d + skip, static_cast<const std::byte *>(pieces[i].src) + skip, pieces[i].len - skip);
			d += pieces[i].len;
		}
	}
	// Writes the pieces like write_lines_nodrain(), with ordinary stores and no flush: the
	// bytes are visible to other threads at once and durable only after a later flush() of
	// their range and a drain(). A flush writes a line back from whichever cache holds it, so
	// any thread may make these bytes durable (commit_tracker's sweep does).
	virtual void store_lines(void *dst, const piece *pieces, size_t n, size_t unchanged) noexcept
	{
		auto *d = static_cast<std::byte *>(dst);
		for (size_t i = 0; i < n; ++i) {
			const size_t skip = i == 0 ? std::min(unchanged, pieces[i].len) : 0;
			if (pieces[i].len > skip)
				std::memcpy(d + skip, static_cast<const std::byte *>(pieces[i].src) + skip, pieces[i].len - skip);
			d += pieces[i].len;
		}
	}
	// True when flush() itself makes its range durable, whichever thread stored the bytes, at
	// the cost of a system call (msync): batching many entries into one flush pays most.
	virtual bool flush_syncs() const noexcept
	{
		return false;
	}
	// Fills and flushes (durable after the next drain()).
	virtual void set_nodrain(void *dst, int c, size_t len) noexcept = 0;

	void persist(const void *addr, size_t len) noexcept
	{
		flush(addr, len);
		drain();
	}

	// Asks for the page tables of [addr, addr+len) to be populated writable, so later stores
	// take no page fault. A hint: does nothing where unsupported.
	virtual void prefault(void *, size_t) noexcept
	{
	}

	// Whether a writer (another open with the writer lock) has the file under this medium
	// open, as far as the medium can tell: a read-only file medium probes the lock with a
	// shared lock that it releases at once (docs/files-and-processes.md 3); other media
	// cannot tell. A snapshot: a writer may come or go right after.
	enum class writer_presence { absent, present, unknown };
	virtual writer_presence writer() const noexcept
	{
		return writer_presence::unknown;
	}

	// The file under the medium (device, inode, permission bits), for the readers' sidecar;
	// false when there is none (a caller's mapping) or this is a fork()ed child.
	virtual bool file_identity(uint64_t &, uint64_t &, uint32_t &) const noexcept
	{
		return false;
	}

	// Sticky: false once the medium reported a failure (the stream then refuses writes).
	virtual bool healthy() const noexcept
	{
		return true;
	}

	// The process that opened the medium. A child of fork() shares the mapping but is not
	// that process: forked() tells so with one relaxed load, no system call. In such a child
	// a file medium has already given up its descriptor (and so the writer's lock); see
	// docs/files-and-processes.md.
	pid_t owner_pid() const noexcept
	{
		return owner_pid_;
	}
	bool forked() const noexcept
	{
		return fork_depth.load(std::memory_order_relaxed) != fork_depth_at_open_;
	}

protected:
	media(std::byte *base, uint64_t size, bool read_only)
	    : base_(base), size_(size), read_only_(read_only), owner_pid_(::getpid()), fork_depth_at_open_(fork_depth_now())
	{
	}

private:
	std::byte *base_;
	uint64_t size_;
	bool read_only_;
	pid_t owner_pid_;
	unsigned fork_depth_at_open_;
};

// A medium over a libpmem2 mapping; it uses the mapping's own flush, drain and memcpy, which
// libpmem2 picks for the granularity (cache line, page, byte). Does not own the mapping.
std::unique_ptr<media> make_pmem2_media(struct pmem2_map *map, bool read_only);

// ---- stream files (media_pmem2.cpp, docs/files-and-processes.md) ----
// Every descriptor is close-on-exec, and a fork()ed child closes its copies at once, so that
// the writer's lock (flock, held by the open file description) ends with the opener's stream.

// Opens an existing stream file and maps it with libpmem2; the media owns the descriptor and
// the mapping. Anything but a regular file or a DAX character device is refused before it is
// read from (a FIFO opened for reading would wait for a writer forever). A writable open takes
// the writer lock; a read-only open takes none. Errors: io_error (cannot open or map, not a
// regular file or DAX device), busy (another writable open holds the lock), not_a_stream (an
// empty file).
result<std::unique_ptr<media>> open_file_media(const std::string &path, bool read_only);

// How create_file_media() makes a file where none exists yet.
enum class new_file_method {
	// An unnamed file (O_TMPFILE) in the path's folder, linked to the path by publish(): no
	// process ever sees a partial file and a crash leaves none. Where the file system or
	// /proc cannot do it, exclusive_create.
	link_when_ready,
	// open(O_CREAT | O_EXCL) at the path, locked at once, removed again if creation fails.
	exclusive_create,
};

// A file that create_file_media() made or adopted for a new stream, held under the writer
// lock. The caller takes `medium`, writes the stream into it, then calls publish(). Destroyed
// unpublished, it removes a file it made; a file it adopted stays as the caller's writes left
// it (create_file_media() itself restores its size if it fails before handing it over).
class file_creation {
public:
	struct state;
	explicit file_creation(std::unique_ptr<media> m, std::unique_ptr<state> s) noexcept;
	file_creation(file_creation &&) noexcept;
	file_creation &operator=(file_creation &&) noexcept;
	~file_creation();

	std::unique_ptr<media> medium;

	// Makes the file durable and, for a new file, visible at its path. After it the file is
	// the caller's. Errors: exists (another process created the path meanwhile), io_error.
	[[nodiscard]] status publish();

private:
	std::unique_ptr<state> state_;
};

// Makes a file of exactly `size` bytes for a new stream at `path`, exclusively: of two
// processes creating one path at once, one gets the file and the other exists or busy.
//  - No file at `path`: a new one (see new_file_method).
//  - A regular file that holds only zero bytes (an empty one too) and is not larger than
//    `size`: adopted, grown to `size`. Checked under the writer lock, by reading its data
//    extents only (lseek SEEK_DATA/SEEK_HOLE and read(2)): holes are neither read nor
//    allocated. A larger one is refused (invalid_argument): shrinking a file another process
//    may have mapped would kill that process with SIGBUS.
// Either way the whole file is preallocated (posix_fallocate), so stores into the mapping
// never meet a hole on a full disk. Errors: exists (a stream, an interrupted stream creation,
// or non-zero bytes), busy, invalid_argument, io_error (cannot open, preallocate or map; a
// full file system is io_error with "No space left on device"; not a regular file).
result<file_creation> create_file_media(const std::string &path, uint64_t size,
					 new_file_method how = new_file_method::link_when_ready);

} // namespace pmemstream::detail

#endif
