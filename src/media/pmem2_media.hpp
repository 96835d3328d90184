// SPDX-License-Identifier: BSD-3-Clause
// A medium over a libpmem2 mapping: libpmem2's own flush, drain and memcpy for the mapping's
// granularity (clwb + sfence on persistent memory, msync on a file).
#ifndef PMEMSTREAM_MEDIA_PMEM2_MEDIA_HPP
#define PMEMSTREAM_MEDIA_PMEM2_MEDIA_HPP

#include "media/media.hpp"

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
	bool flush_syncs() const noexcept override
	{
		return page_;
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

} // namespace pmemstream::detail

#endif
