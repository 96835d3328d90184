// SPDX-License-Identifier: BSD-3-Clause
// The medium under a stream: a mapped byte range plus the primitives that make stores durable.
// The stream code writes through this interface only, so it never knows whether it runs on
// persistent memory (cache-line flush + fence), on an msync'd file, or on a test medium that
// simulates power failure.
#ifndef PMEMSTREAM_MEDIA_HPP
#define PMEMSTREAM_MEDIA_HPP

#include <pmemstream/errors.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

struct pmem2_map;

namespace pmemstream::detail {

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

	// Sticky: false once the medium reported a failure (the stream then refuses writes).
	virtual bool healthy() const noexcept
	{
		return true;
	}

protected:
	media(std::byte *base, uint64_t size, bool read_only) : base_(base), size_(size), read_only_(read_only)
	{
	}

private:
	std::byte *base_;
	uint64_t size_;
	bool read_only_;
};

// A medium over a libpmem2 mapping; it uses the mapping's own flush, drain and memcpy, which
// libpmem2 picks for the granularity (cache line, page, byte). Does not own the mapping.
std::unique_ptr<media> make_pmem2_media(struct pmem2_map *map, bool read_only);

// Opens (and, with create_size > 0, creates and preallocates) a file and maps it with
// libpmem2. The media owns the file and the mapping.
result<std::unique_ptr<media>> open_file_media(const std::string &path, bool read_only, uint64_t create_size);

} // namespace pmemstream::detail

#endif
