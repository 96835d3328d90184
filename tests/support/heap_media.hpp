// SPDX-License-Identifier: BSD-3-Clause
// A medium over a byte vector the test owns, for tests whose subject is not durability: every
// store lands at once, flushes and drains do nothing.
#ifndef PMEMSTREAM_TEST_HEAP_MEDIA_HPP
#define PMEMSTREAM_TEST_HEAP_MEDIA_HPP

#include "media/media.hpp"

#include <cstring>
#include <vector>

namespace pmemstream::test {

class heap_media : public detail::media {
public:
	explicit heap_media(std::vector<std::byte> &buf, bool read_only = false) : media(buf.data(), buf.size(), read_only)
	{
	}
	void flush(const void *, size_t) noexcept override
	{
	}
	void drain() noexcept override
	{
	}
	void copy_nodrain(void *dst, const void *src, size_t len) noexcept override
	{
		std::memcpy(dst, src, len);
	}
	void set_nodrain(void *dst, int c, size_t len) noexcept override
	{
		std::memset(dst, c, len);
	}
};

} // namespace pmemstream::test

#endif
