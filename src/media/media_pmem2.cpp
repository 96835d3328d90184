// SPDX-License-Identifier: BSD-3-Clause
#include "media.hpp"

#include <libpmem2.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

// Owns the file descriptor and the mapping it made.
class file_media : public pmem2_media {
public:
	file_media(int fd, struct pmem2_map *map, bool read_only) : pmem2_media(map, read_only), fd_(fd), map_(map)
	{
	}
	~file_media() override
	{
		pmem2_map_delete(&map_);
		::close(fd_);
	}

private:
	int fd_;
	struct pmem2_map *map_;
};

error io_failure(const std::string &what, const std::string &path, int err)
{
	return error(errc::io_error, what + " '" + path + "': " + std::strerror(err));
}

} // namespace

std::unique_ptr<media> make_pmem2_media(struct pmem2_map *map, bool read_only)
{
	return std::make_unique<pmem2_media>(map, read_only);
}

result<std::unique_ptr<media>> open_file_media(const std::string &path, bool read_only, uint64_t create_size)
{
	int flags = read_only ? O_RDONLY : O_RDWR;
	if (create_size > 0)
		flags |= O_CREAT;
	int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
	if (fd < 0)
		return io_failure("cannot open", path, errno);

	// One writer per stream: a second writable opener, in this process or another, would
	// append over the first one's entries.
	if (!read_only && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		::close(fd);
		if (e == EWOULDBLOCK)
			return error(errc::busy, "'" + path + "' is already open for writing (by this or another process)");
		return io_failure("cannot lock", path, e);
	}

	struct stat st;
	if (::fstat(fd, &st) != 0) {
		int e = errno;
		::close(fd);
		return io_failure("cannot stat", path, e);
	}
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		::close(fd);
		return error(errc::io_error, "'" + path + "' is not a regular file or a device");
	}
	if (create_size > 0 && static_cast<uint64_t>(st.st_size) < create_size) {
		// Preallocate: a sparse mapped file that meets a full disk kills the process with
		// SIGBUS at the first store into a hole.
		int e = ::posix_fallocate(fd, 0, static_cast<off_t>(create_size));
		if (e != 0) {
			::close(fd);
			if (e == ENOSPC)
				return error(errc::out_of_space, "cannot preallocate " + std::to_string(create_size) +
									 " bytes for '" + path + "': no space left on device");
			return io_failure("cannot preallocate", path, e);
		}
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0 && create_size == 0) {
		::close(fd);
		return error(errc::not_a_stream, "'" + path + "' is empty (0 bytes): nothing to open");
	}

	struct pmem2_config *cfg = nullptr;
	struct pmem2_source *src = nullptr;
	struct pmem2_map *map = nullptr;
	int ret = pmem2_config_new(&cfg);
	if (ret == 0)
		ret = pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
	if (ret == 0 && read_only)
		ret = pmem2_config_set_protection(cfg, PMEM2_PROT_READ);
	if (ret == 0)
		ret = pmem2_source_from_fd(&src, fd);
	if (ret == 0)
		ret = pmem2_map_new(&map, cfg, src);
	std::string msg = ret != 0 ? pmem2_errormsg() : "";
	if (src)
		pmem2_source_delete(&src);
	if (cfg)
		pmem2_config_delete(&cfg);
	if (ret != 0) {
		::close(fd);
		return error(errc::io_error, "cannot map '" + path + "': " + msg);
	}
	return std::unique_ptr<media>(std::make_unique<file_media>(fd, map, read_only));
}

} // namespace pmemstream::detail
