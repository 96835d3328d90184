// SPDX-License-Identifier: BSD-3-Clause
// Records stored in two slots so that they change atomically (see format.hpp).
#ifndef PMEMSTREAM_DUAL_SLOT_HPP
#define PMEMSTREAM_DUAL_SLOT_HPP

#include "crc32c.hpp"
#include "format.hpp"
#include "media.hpp"

#include <cstring>
#include <optional>

namespace pmemstream::detail {

template <typename Slot>
uint32_t slot_checksum(const Slot &s, uint64_t offset) noexcept
{
	static_assert(sizeof(Slot) == 64);
	uint32_t c = crc32c(&s, 60);
	return crc32c_extend(c, &offset, sizeof(offset));
}

// The record in force at `offset` (slots at offset and offset + 64), and which slot holds it.
template <typename Slot>
struct slot_read {
	Slot value;
	int index;
};

template <typename Slot>
std::optional<slot_read<Slot>> read_dual(const std::byte *base, uint64_t off0, uint64_t off1) noexcept
{
	std::optional<slot_read<Slot>> best;
	const uint64_t offs[2] = {off0, off1};
	for (int i = 0; i < 2; ++i) {
		Slot s;
		std::memcpy(&s, base + offs[i], sizeof(s));
		if (s.sequence == 0 || s.checksum != slot_checksum(s, offs[i]))
			continue;
		if (!best || s.sequence > best->value.sequence)
			best = slot_read<Slot>{s, i};
	}
	return best;
}

// Writes `value` over the slot that is not `current_index` with the next sequence number and
// persists it (one drain). When it returns, the new record is in force.
template <typename Slot>
slot_read<Slot> write_dual(media &m, uint64_t off0, uint64_t off1, Slot value, const slot_read<Slot> &current) noexcept
{
	const int target = 1 - current.index;
	const uint64_t off = target == 0 ? off0 : off1;
	value.sequence = current.value.sequence + 1;
	value.checksum = slot_checksum(value, off);
	m.copy_nodrain(m.base() + off, &value, sizeof(value));
	m.drain();
	return {value, target};
}

// Writes a fresh record: slot 0 holds `value` with sequence 1, slot 1 is zeroed. Not atomic:
// only for places no reader reaches until a later atomic write links them in. Not drained.
template <typename Slot>
slot_read<Slot> write_fresh_nodrain(media &m, uint64_t off0, uint64_t off1, Slot value) noexcept
{
	value.sequence = 1;
	value.checksum = slot_checksum(value, off0);
	m.copy_nodrain(m.base() + off0, &value, sizeof(value));
	m.set_nodrain(m.base() + off1, 0, sizeof(Slot));
	return {value, 0};
}

} // namespace pmemstream::detail

#endif
