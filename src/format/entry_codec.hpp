// SPDX-License-Identifier: BSD-3-Clause
// Entry framing: the checksum, the validity check used by recovery and accessors, and the
// write of a new entry through the media (format.hpp, docs/format.md "Entries").
#ifndef PMEMSTREAM_ENTRY_CODEC_HPP
#define PMEMSTREAM_ENTRY_CODEC_HPP

#include "format/crc32c.hpp"
#include "format/format.hpp"
#include "media/media.hpp"

#include <algorithm>
#include <cstring>

namespace pmemstream::detail {

// `timestamp` is the whole timestamp word, flags included.
inline uint32_t entry_checksum(uint64_t epoch, uint64_t timestamp, uint32_t size, const std::byte *payload) noexcept
{
	unsigned char prefix[20];
	std::memcpy(prefix, &epoch, 8);
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

	uint64_t timestamp() const noexcept
	{
		return header.timestamp & format::timestamp_mask;
	}
	uint64_t flags() const noexcept
	{
		return header.timestamp & ~format::timestamp_mask;
	}
};

// Flag combinations an entry may carry: a transaction end is also a member; padding is never
// part of a transaction.
constexpr bool valid_flags(uint64_t flags) noexcept
{
	if (flags & ~format::known_flags)
		return false;
	if ((flags & format::flag_tx_end) && !(flags & format::flag_tx))
		return false;
	// Padding belongs to no transaction, but for a transaction's commit record (issue 13: a
	// transaction of region operations alone ends its block with padding | tx | tx_end).
	return !((flags & format::flag_padding) && (flags & format::flag_tx) && !(flags & format::flag_tx_end));
}

// Applies the per-entry validity rules (docs/format.md, rules E1-E5) to the bytes at `pos`.
// Reads only [pos, end).
inline entry_check check_entry(const std::byte *base, uint64_t pos, uint64_t end, uint64_t epoch, uint64_t prev_ts) noexcept
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
	if (c.timestamp() == 0)
		c.why = "zero timestamp in a non-empty header";
	else if (!valid_flags(c.flags()))
		c.why = "unknown entry flags";
	else if (h.size > end - pos - sizeof(format::entry_header))
		c.why = "size runs past the end of the region";
	else if (c.timestamp() <= prev_ts)
		c.why = "timestamp not above the previous entry's";
	else if (h.checksum != entry_checksum(epoch, h.timestamp, h.size, base + pos + sizeof(format::entry_header)))
		c.why = "checksum mismatch";
	else
		c.state = entry_state::valid;
	return c;
}

// The bytes of a region's tail cache line that precede the tail. Entries are packed at 8-byte
// alignment, so consecutive entries share lines; writing the shared line again from this copy
// (whole-line non-temporal stores) never reads back a line the previous append just flushed,
// which costs a memory round trip per append.
struct tail_line {
	alignas(64) std::byte bytes[format::cache_line];
};

// Writes the entry that starts at offset `pos` of `base` (header, payload, zero fill to the end
// of its last cache line) as whole cache lines and flushes them; not drained. `tail` holds
// the bytes of pos's line before pos on entry, and of the new tail's line on return. The
// zero fill lies in the region's free space and gives the next header position a clean end
// (rule E2) when the entry ends mid-line. With `store_only` the lines are stored and not
// flushed (media::store_lines): an asynchronous append, persisted later by a sweep.
//
// The lines after the first are written before the checksum is computed, and the first line
// (which holds the header) last: the checksum is then computed while those stores drain to
// the medium instead of before them. Returns the header written.
inline format::entry_header write_entry_nodrain(media &m, std::byte *base, uint64_t pos, uint64_t epoch, uint64_t timestamp,
						const std::byte *payload, uint32_t size, tail_line &tail, bool store_only = false) noexcept
{
	auto write = [&](void *dst, const media::piece *pieces, size_t n, size_t unchanged) {
		if (store_only)
			m.store_lines(dst, pieces, n, unchanged);
		else
			m.write_lines_nodrain(dst, pieces, n, unchanged);
	};
	constexpr uint64_t cl = format::cache_line;
	constexpr uint64_t hs = sizeof(format::entry_header);
	const uint64_t first = pos & ~(cl - 1);
	const uint64_t end = pos + hs + size;
	const uint64_t last = (end - 1) & ~(cl - 1); // line holding the entry's last byte
	const uint64_t in_first = pos - first;
	const uint64_t first_n = std::min(cl - in_first, hs + size); // entry bytes in the first line

	format::entry_header h{timestamp, size, 0};
	// Copies entry bytes [k, k + n) (header then payload) to `dst`.
	auto entry_bytes = [&](std::byte *dst, uint64_t k, uint64_t n) {
		if (k < hs) {
			const uint64_t from_header = std::min(n, hs - k);
			std::memcpy(dst, reinterpret_cast<const std::byte *>(&h) + k, from_header);
			dst += from_header;
			k += from_header;
			n -= from_header;
		}
		if (n)
			std::memcpy(dst, payload + (k - hs), n);
	};

	// The front lines hold header bytes: the first line, and the second too when the header
	// runs into it (pos % 64 > 48). They are written after the checksum; the rest before it.
	const bool two_front = first != last && first_n < hs;
	const uint64_t front_end = std::min(last + cl, first + (two_front ? 2 : 1) * cl);
	alignas(64) std::byte head[cl];
	alignas(64) std::byte second[cl];
	alignas(64) std::byte tail_buf[cl];

	if (last >= front_end) {
		media::piece rest[2];
		size_t nr = 0;
		const uint64_t k = front_end - pos; // entry bytes before the rest; >= hs
		if (last > front_end)
			rest[nr++] = {payload + (k - hs), last - front_end};
		const uint64_t last_n = end - last;
		entry_bytes(tail_buf, last - pos, last_n);
		std::memset(tail_buf + last_n, 0, cl - last_n);
		rest[nr++] = {tail_buf, cl};
		write(base + front_end, rest, nr, 0);
	}

	h.checksum = entry_checksum(epoch, timestamp, size, payload);

	std::memcpy(head, tail.bytes, in_first);
	entry_bytes(head + in_first, 0, first_n);
	std::memset(head + in_first + first_n, 0, cl - in_first - first_n);
	media::piece front[2] = {{head, cl}, {second, cl}};
	if (two_front) {
		const uint64_t second_n = std::min<uint64_t>(cl, end - (first + cl));
		entry_bytes(second, first_n, second_n);
		std::memset(second + second_n, 0, cl - second_n);
	}
	// Re-storing the bytes before pos (same values) is what lets the line be written whole;
	// a reader of the previous entry sees the same bytes either way.
	write(base + first, front, two_front ? 2 : 1, in_first);

	// Keep the new tail's line for the next append.
	const std::byte *tail_src = first == last ? head : last < front_end ? second : tail_buf;
	std::memcpy(tail.bytes, tail_src, cl);
	return h;
}

// Writes the entry that starts at `pos` (header and payload) with stores to its own bytes only,
// for an append with others in flight in its region (region_writer, docs/design.md 2.3): the
// cache lines it shares with its neighbours get ordinary stores of its bytes and a flush
// (which writes back whatever the line holds: this thread's stores are in it), the lines it
// fills whole get non-temporal stores where the medium has them; no zero fill. Not drained.
// With `store_only` everything is stored and nothing flushed (a sweep persists it later).
inline format::entry_header write_entry_shared_nodrain(media &m, std::byte *base, uint64_t pos, uint64_t epoch, uint64_t timestamp,
						       const std::byte *payload, uint32_t size, bool store_only) noexcept
{
	constexpr uint64_t cl = format::cache_line;
	constexpr uint64_t hs = sizeof(format::entry_header);
	const format::entry_header h{timestamp, size, entry_checksum(epoch, timestamp, size, payload)};
	std::byte *dst = base + pos;
	if (store_only) {
		// Through the medium, not memcpy: a simulated medium must see (and order) every store.
		const media::piece pieces[2] = {{&h, hs}, {payload, size}};
		m.store_lines(dst, pieces, size ? 2 : 1, 0);
		return h;
	}
	// [pos, split): the bytes up to the first line boundary at or after the header's end,
	// assembled so that the header's line is written and flushed once; then the rest, which
	// starts on a line boundary (the medium's copy writes whole lines non-temporally and
	// stores and flushes a partial last line).
	const uint64_t end = pos + hs + size;
	const uint64_t split = std::min(end, format::align_up(pos + hs, cl));
	alignas(64) std::byte front[2 * cl];
	std::memcpy(front, &h, hs);
	if (split > pos + hs) // (payload may be null for an empty entry)
		std::memcpy(front + hs, payload, split - pos - hs);
	m.copy_nodrain(dst, front, split - pos);
	if (end > split)
		m.copy_nodrain(base + split, payload + (split - pos - hs), end - split);
	return h;
}

} // namespace pmemstream::detail

#endif
