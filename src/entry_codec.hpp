// SPDX-License-Identifier: BSD-3-Clause
// Entry framing: the checksum, the validity check used by recovery and accessors, and the
// write of a new entry through the media (format.hpp, docs/format.md "Entries").
#ifndef PMEMSTREAM_ENTRY_CODEC_HPP
#define PMEMSTREAM_ENTRY_CODEC_HPP

#include "crc32c.hpp"
#include "format.hpp"
#include "media.hpp"

#include <algorithm>
#include <cstring>

namespace pmemstream::detail {

inline uint32_t entry_checksum(uint64_t generation, uint64_t timestamp, uint32_t size, const std::byte *payload) noexcept
{
	unsigned char prefix[20];
	std::memcpy(prefix, &generation, 8);
	std::memcpy(prefix + 8, &timestamp, 8);
	std::memcpy(prefix + 16, &size, 4);
	return crc32c_extend(crc32c(prefix, sizeof(prefix)), payload, size);
}

enum class entry_state {
	valid,
	empty,	    // 16 zero bytes: the clean end of a region's entries
	end,	    // no room for a header before the region's end
	invalid,    // anything else: a torn write, stale bytes, or damage
};

struct entry_check {
	entry_state state;
	format::entry_header header;
	const char *why; // for invalid
};

// Applies the per-entry validity rules (docs/format.md, rules E1-E5) to the bytes at `pos`.
// Reads only [pos, end).
inline entry_check check_entry(const std::byte *base, uint64_t pos, uint64_t end, uint64_t generation, uint64_t prev_ts) noexcept
{
	entry_check c{entry_state::invalid, {}, nullptr};
	if (end - pos < sizeof(format::entry_header)) {
		c.state = entry_state::end;
		return c;
	}
	std::memcpy(&c.header, base + pos, sizeof(c.header));
	const auto &h = c.header;
	if (h.timestamp == 0 && h.size == 0 && h.checksum == 0) {
		c.state = entry_state::empty;
		return c;
	}
	if (h.timestamp == 0)
		c.why = "zero timestamp in a non-empty header";
	else if (h.timestamp > format::max_timestamp)
		c.why = "unknown entry flags";
	else if (h.size > end - pos - sizeof(format::entry_header))
		c.why = "size runs past the end of the region";
	else if (h.timestamp <= prev_ts)
		c.why = "timestamp not above the previous entry's";
	else if (h.checksum != entry_checksum(generation, h.timestamp, h.size, base + pos + sizeof(format::entry_header)))
		c.why = "checksum mismatch";
	else
		c.state = entry_state::valid;
	return c;
}

// Copies header and payload to `dst` and flushes them, not drained. The header shares its
// cache line with the first payload bytes, so they are assembled and copied together: each
// cache line of the entry is then written and flushed exactly once.
inline void write_entry_nodrain(media &m, std::byte *dst, const format::entry_header &h, const std::byte *payload) noexcept
{
	constexpr size_t hs = sizeof(format::entry_header);
	const auto addr = reinterpret_cast<uintptr_t>(dst);
	const size_t to_line_end = format::cache_line - (addr + hs) % format::cache_line;
	size_t head = std::min<size_t>(h.size, to_line_end == format::cache_line ? 0 : to_line_end);
	// Small entries go in one piece: fewer calls, same lines.
	if (h.size <= 2 * format::cache_line)
		head = h.size;
	alignas(64) std::byte buf[hs + 2 * format::cache_line];
	std::memcpy(buf, &h, hs);
	if (head)
		std::memcpy(buf + hs, payload, head);
	m.copy_nodrain(dst, buf, hs + head);
	if (h.size > head)
		m.copy_nodrain(dst + hs + head, payload + head, h.size - head);
}

} // namespace pmemstream::detail

#endif
