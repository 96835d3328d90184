// SPDX-License-Identifier: BSD-3-Clause
// Commit of a transaction (issue 13, docs/design.md 2.4): the members, buffered by
// pmemstream::transaction, are written in one go. Every region they touch is locked (in offset
// order, so two commits never deadlock), checked for room, given its members' space; one
// block of consecutive timestamps is taken; every member is written (tx on each, tx_end on the
// last) with non-temporal stores and flushes, then one drain for all; then the regions' tails
// move and the commit tracker marks the block committed at once, so no reader sees part of it.
// Recovery shows all of a block or none of it (docs/format.md rule R1).
#ifndef PMEMSTREAM_ENGINE_TX_COMMIT_HPP
#define PMEMSTREAM_ENGINE_TX_COMMIT_HPP

#include "engine/commit_tracker.hpp"
#include "engine/region_runtime.hpp"
#include "engine/write_gate.hpp"
#include "media/media.hpp"

#include <pmemstream/errors.hpp>

#include <cstdint>
#include <span>

namespace pmemstream::detail {

class state_record;

// One buffered member: an entry of `size` bytes at `data` of the transaction's buffer, for
// the region that lived in `rt` with id `id` when the member was added.
struct tx_member {
	region_runtime *rt;
	uint64_t id;
	uint64_t data; // offset into the transaction's buffer
	uint32_t size;
};

// Writes and commits the members. Returns the block's last timestamp once it is committed
// (`async`) or persisted. Errors: invalid_handle (a member's region was freed since),
// busy (a reservation is outstanding in one), region_full (the region's room went to other
// appends since the member was added), timestamps_exhausted, media_failed; on any of them
// nothing of the transaction is on media but (media_failed) bytes no recovery shows.
result<uint64_t> commit_transaction(media &m, commit_tracker &tracker, write_gate &gate, state_record &state, bool windowed,
				    std::span<const tx_member> members, const std::byte *buf, bool async);

} // namespace pmemstream::detail

#endif
