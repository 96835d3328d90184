// SPDX-License-Identifier: BSD-3-Clause
// Offsets in messages are written in hex, like the tools print them.
#ifndef PMEMSTREAM_UTIL_HEX_HPP
#define PMEMSTREAM_UTIL_HEX_HPP

#include <cstdint>
#include <cstdio>
#include <string>

namespace pmemstream::detail {

inline std::string hex(uint64_t v)
{
	char buf[24];
	std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
	return buf;
}

} // namespace pmemstream::detail

#endif
