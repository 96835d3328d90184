// SPDX-License-Identifier: BSD-3-Clause
// Commit of a transaction (issue 13, docs/design.md 2.4): the members, buffered by
// pmemstream::transaction, are written in one go. Every region they touch is locked (in offset
// order, so two commits never deadlock; after the catalog's lock when the transaction
// allocates or frees regions), checked for room; one block of consecutive timestamps is taken;
// the allocations' and frees' span headers get a marker naming the block's last timestamp;
// every member is written (tx on each, tx_end on the last) with non-temporal stores and
// flushes, then one drain for all; then the regions' tails move and the commit tracker marks
// the block committed at once, so no reader sees part of it. Recovery shows all of a block or
// none of it (docs/format.md rule R1) and resolves the markers by it (section 8.3).
#ifndef PMEMSTREAM_ENGINE_TX_COMMIT_HPP
#define PMEMSTREAM_ENGINE_TX_COMMIT_HPP

#include "engine/commit_tracker.hpp"
#include "engine/region_catalog.hpp"
#include "engine/region_runtime.hpp"
#include "engine/write_gate.hpp"
#include "media/media.hpp"

#include <pmemstream/errors.hpp>

#include <cstdint>
#include <span>

namespace pmemstream::detail {

class state_record;
class region_writer;

// One buffered member: an entry of `size` bytes at `data` of the transaction's buffer, for
// the region that lived in `rt` with id `id` when the member was added (or that the
// transaction allocates with that id).
struct tx_member {
	region_runtime *rt;
	uint64_t id;
	uint64_t data; // offset into the transaction's buffer
	uint32_t size;
};

// A region the transaction frees.
struct tx_free {
	region_runtime *rt;
	uint64_t id;
};

struct tx_units {
	media &m;
	commit_tracker &tracker;
	write_gate &gate;
	state_record &state;
	region_catalog &catalog;
	bool windowed;
	// Fast reopen: its checkpoint hook runs after a commit that left a region due, once the
	// region locks are released (as after an append). Null: no checkpoints.
	const region_writer *writer = nullptr;
};

// Writes and commits the members, allocations and frees. Returns the block's last timestamp
// once it is committed (`async`, and no region operations) or persisted. Errors:
// invalid_handle (a member's region was freed since), busy (a reservation is outstanding in
// one), region_full (the region's room went to other appends since the member was added),
// timestamps_exhausted, media_failed; on any of them nothing of the transaction is visible now
// or after a reopen. The allocations' spans are the caller's to release on an error.
result<uint64_t> commit_transaction(const tx_units &u, std::span<const tx_member> members, const std::byte *buf,
				    std::span<const region_catalog::tx_span> allocs, std::span<const tx_free> frees, bool async);

} // namespace pmemstream::detail

#endif
