// SPDX-License-Identifier: BSD-3-Clause
// The readers' sidecar (docs/design.md 5.4): a small shared-memory object beside a stream file
// in which the writer keeps its visibility_state (committed and persisted watermarks, layout
// generation, waiter count) and its pid, so that reader processes can wait for commits without
// reopening the stream. Never part of the persistent file: transient, native-endian, made anew
// by every writer. Named after the file's device and inode:
// /dev/shm/pmemstream-<dev hex>-<ino hex>.readers (shm_open name "/pmemstream-...").
#ifndef PMEMSTREAM_ENGINE_SIDECAR_HPP
#define PMEMSTREAM_ENGINE_SIDECAR_HPP

#include "engine/visibility.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <sys/types.h>

namespace pmemstream::detail {

// Truncation and reader processes (docs/design.md 5.4, "Truncation"): one seqlock per slot of
// regions (a region's slot is a hash of its offset; several regions may share one). Only the
// writer process writes a slot, serialised by its catalog's allocation mutex; followers read.
//   seq     odd while a clear, prefix or suffix cut of a region of the slot is in progress:
//           bumped (seq_cst: a full fence, which also orders the cut's non-temporal stores
//           after it) before the cut changes a span header, an entry byte or a runtime field,
//           and again (release) after its last byte is drained, before the layout bump.
//   region, epoch, low, since   which region the slot describes (offset and checksum epoch)
//           and the lowest suffix cut of that region and epoch made with a seq bump after
//           `since` (~0: none). A cut of another region takes the record over (since = the
//           seq before its bump); a clear takes it over with the new epoch. Written between
//           the two bumps; read as a seqlock (seq even and unchanged around the reads).
struct cut_slot {
	std::atomic<uint64_t> seq{0};
	std::atomic<uint64_t> region{0};
	std::atomic<uint64_t> epoch{0};
	std::atomic<uint64_t> low{~uint64_t{0}};
	std::atomic<uint64_t> since{0};
};
struct cut_table {
	static constexpr unsigned slot_bits = 6;
	cut_slot slots[1u << slot_bits];
	static unsigned index_of(uint64_t region_offset) noexcept
	{
		return static_cast<unsigned>((region_offset * 0x9E3779B97F4A7C15ull) >> (64 - slot_bits));
	}
	cut_slot &slot_for(uint64_t region_offset) noexcept
	{
		return slots[index_of(region_offset)];
	}
};

struct sidecar_layout {
	static constexpr uint64_t ready = 0x5244525353504d50; // "PMPSSRDR": written last by the writer
	// 3: the truncation table (cuts) after vis; versions 2 and 3 share everything before it.
	static constexpr uint32_t current_version = 3;
	static constexpr uint32_t oldest_same_prefix = 2;
	// 0 while the writer initialises the object, `ready` after (release).
	std::atomic<uint64_t> magic{0};
	uint32_t version = current_version;
	int32_t writer_pid = 0;
	// 1 once the writer closed its stream, 2 once a later writer took the file over (release):
	// readers stop following this object (errc::writer_gone).
	std::atomic<uint32_t> closed{0};
	// 1 once the writer's recovery at open is done (release): a reader that opens meanwhile
	// waits for it, so it never scans a stream recovery is still trimming.
	std::atomic<uint32_t> recovered{0};
	alignas(64) visibility_state vis;
	alignas(64) cut_table cuts; // version 3 (truncation, docs/design.md 5.4)
};
static_assert(sizeof(sidecar_layout) <= 4096, "the sidecar is one page");

class sidecar {
public:
	// The writer: replaces any sidecar of the file (a stale one of a writer that died; the
	// caller holds the writer lock, so no other writer lives) by a new one with the stream
	// file's permission bits (readers need write access to register as waiters; one without
	// it polls). Null when shared memory is unavailable: readers then cannot wait, nothing else
	// changes.
	static std::unique_ptr<sidecar> publish(uint64_t dev, uint64_t ino, uint32_t mode) noexcept;
	// A reader: the sidecar of the file if a live writer made it (ready, its pid alive), else
	// null.
	static std::unique_ptr<sidecar> attach(uint64_t dev, uint64_t ino) noexcept;
	~sidecar();
	sidecar(const sidecar &) = delete;
	sidecar &operator=(const sidecar &) = delete;

	visibility_state &vis() noexcept
	{
		return map_->vis;
	}
	cut_table &cuts() noexcept
	{
		return map_->cuts;
	}
	bool writer_closed() const noexcept
	{
		return map_->closed.load(std::memory_order_acquire) != 0;
	}
	// 0 while the writer lives and holds the file, else closed's value.
	uint32_t closed_state() const noexcept
	{
		return map_->closed.load(std::memory_order_acquire);
	}
	void mark_recovered() noexcept
	{
		map_->recovered.store(1, std::memory_order_release);
	}
	bool writer_recovered() const noexcept
	{
		return map_->recovered.load(std::memory_order_acquire) != 0;
	}
	pid_t writer_pid() const noexcept
	{
		return map_->writer_pid;
	}
	// Whether this process may register as a waiter (it mapped the object writable).
	bool can_register() const noexcept
	{
		return writable_;
	}
	static std::string name_of(uint64_t dev, uint64_t ino);

private:
	// Marks the object under `name`, if a writer left one, as taken over (closed = 2).
	static void supersede(const std::string &name) noexcept;
	sidecar(sidecar_layout *map, bool writer, bool writable, std::string name, uint64_t ino) noexcept;
	sidecar_layout *map_;
	bool writer_;
	bool writable_;
	pid_t creator_; // a fork()ed child of the writer must not close its parent's sidecar
	std::string name_;
	uint64_t shm_ino_; // of the object made, so that close unlinks only that one
};

// Waits until v.committed reaches ts or `timeout_ns` passes; returns the watermark then. Spins
// briefly, then sleeps on the watermark's low 32 bits with FUTEX_WAIT (not private: the word may
// be in a sidecar another process writes), registered in v.shared_waiters when `can_register`, else in
// slices of at most a millisecond.
uint64_t wait_committed_for(visibility_state &v, uint64_t ts, uint64_t timeout_ns, bool can_register) noexcept;

} // namespace pmemstream::detail

#endif
