// SPDX-License-Identifier: BSD-3-Clause
#include "media.hpp"

#include <libpmem2.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
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
	      memset_(pmem2_get_memset_fn(map))
	{
	}

	void flush(const void *addr, size_t len) noexcept override
	{
		flush_(addr, len);
	}
	void drain() noexcept override
	{
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

private:
	pmem2_flush_fn flush_;
	pmem2_drain_fn drain_;
	pmem2_memcpy_fn memcpy_;
	pmem2_memset_fn memset_;
};

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
