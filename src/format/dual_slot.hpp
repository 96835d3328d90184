// SPDX-License-Identifier: BSD-3-Clause
// Records stored in two slots so that they change atomically (see format.hpp).
#ifndef PMEMSTREAM_DUAL_SLOT_HPP
#define PMEMSTREAM_DUAL_SLOT_HPP

#include "format/crc32c.hpp"
#include "format/format.hpp"
#include "media/media.hpp"

#include <cstddef>
#include <cstring>
#include <optional>

namespace pmemstream::detail {

template <typename Slot>
uint32_t slot_checksum(const Slot &s, uint64_t offset) noexcept
{
	static_assert(offsetof(Slot, checksum) == sizeof(Slot) - 4);
	uint32_t c = crc32c(&s, sizeof(Slot) - 4);
	return crc32c_extend(c, &offset, sizeof(offset));
}

// The record in force at `offset` (slots at offset and offset + 64), and which slot holds it.
template <typename Slot>
struct slot_read {
	Slot value;
	int index;
	bool agree = true; // both slots valid with the same sequence
};

template <typename Slot>
std::optional<slot_read<Slot>> read_dual(const std::byte *base, uint64_t off0, uint64_t off1) noexcept
{
	std::optional<slot_read<Slot>> best;
	const uint64_t offs[2] = {off0, off1};
	int valid = 0;
	uint64_t sequences[2] = {0, 0};
	for (int i = 0; i < 2; ++i) {
		Slot s;
		std::memcpy(&s, base + offs[i], sizeof(s));
		if (s.sequence == 0 || s.sequence >= format::max_sequence || s.checksum != slot_checksum(s, offs[i]))
			continue;
		++valid;
		sequences[i] = s.sequence;
		if (!best || s.sequence > best->value.sequence)
			best = slot_read<Slot>{s, i};
	}
	if (best)
		best->agree = valid == 2 && sequences[0] == sequences[1];
	return best;
}

// Writes `value` with the next sequence number over the slot that is not `current.index`,
// persists it, then mirrors it into the other slot and persists again. A crash during the first
// write leaves the other slot (the previous record) in force; a crash during the mirror leaves
// the new record in force. Between updates both slots hold the same record, so damage to one
// copy never brings back an older record. Two fences: only for rare metadata updates.
template <typename Slot>
slot_read<Slot> write_dual(media &m, uint64_t off0, uint64_t off1, Slot value, const slot_read<Slot> &current) noexcept
{
	const uint64_t offs[2] = {off0, off1};
	const int target = 1 - current.index;
	// Reads accept sequences below max_sequence. Reaching it takes 2^62 updates (one per
	// microsecond for 146,000 years) or a hostile image; then both slots are renumbered to 1:
	// the record in force keeps its larger sequence until its own slot is overwritten by the
	// second write, so a crash between the two leaves the old record in force, as always.
	const bool renumber = current.value.sequence + 1 >= format::max_sequence;
	value.sequence = renumber ? 1 : current.value.sequence + 1;
	value.checksum = slot_checksum(value, offs[target]);
	m.copy_nodrain(m.base() + offs[target], &value, sizeof(value));
	m.drain();
	Slot mirror = value;
	mirror.checksum = slot_checksum(mirror, offs[1 - target]);
	m.copy_nodrain(m.base() + offs[1 - target], &mirror, sizeof(mirror));
	m.drain();
	return {value, target};
}

// After a crash the slot that is not in force may hold pieces of an interrupted write. They
// must not meet the pieces of a later write that reuses the same sequence number, so a
// writable open first copies the record in force over the other slot (rule R5).
template <typename Slot>
void repair_dual_nodrain(media &m, uint64_t off0, uint64_t off1, slot_read<Slot> &current) noexcept
{
	const uint64_t off = current.index == 0 ? off1 : off0;
	Slot copy = current.value;
	copy.checksum = slot_checksum(copy, off);
	m.copy_nodrain(m.base() + off, &copy, sizeof(copy));
	current.agree = true;
}

// Writes a fresh record into both slots with sequence 1. Not atomic: only for places no
// reader reaches until a later atomic write links them in. Not drained.
template <typename Slot>
slot_read<Slot> write_fresh_nodrain(media &m, uint64_t off0, uint64_t off1, Slot value) noexcept
{
	value.sequence = 1;
	Slot second = value;
	value.checksum = slot_checksum(value, off0);
	second.checksum = slot_checksum(second, off1);
	m.copy_nodrain(m.base() + off0, &value, sizeof(value));
	m.copy_nodrain(m.base() + off1, &second, sizeof(second));
	return {value, 0};
}

} // namespace pmemstream::detail

#endif
