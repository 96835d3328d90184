// SPDX-License-Identifier: BSD-3-Clause
// Which region covers an offset, answered without a lock: one slot per block of the arena
// naming the runtime of the region that holds it (or null). Readers load a slot with acquire;
// the catalog (serialised by its allocation mutex) stores every slot of a region it allocates.
// Slots of freed space keep naming the dead runtime, whose id of 0 (or a newer id) tells the
// reader; allocation overwrites them. Leaves of 4096 slots are made when a region first covers
// them and kept until the stream closes: memory is 8 bytes per block ever covered by a region.
#ifndef PMEMSTREAM_ENGINE_REGION_TABLE_HPP
#define PMEMSTREAM_ENGINE_REGION_TABLE_HPP

#include "engine/region_runtime.hpp"

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>

namespace pmemstream::detail {

class region_table {
public:
	region_table(uint64_t arena_offset, uint64_t arena_size, uint64_t block_size)
	    : arena_off_(arena_offset),
	      arena_end_(arena_offset + arena_size),
	      shift_(static_cast<unsigned>(std::countr_zero(block_size))),
	      nleaves_(((arena_size >> shift_) + leaf_slots - 1) / leaf_slots),
	      leaves_(new std::atomic<leaf *>[nleaves_ ? nleaves_ : 1])
	{
		for (uint64_t i = 0; i < nleaves_; ++i)
			leaves_[i].store(nullptr, std::memory_order_relaxed);
	}
	~region_table()
	{
		for (uint64_t i = 0; i < nleaves_; ++i)
			delete leaves_[i].load(std::memory_order_relaxed);
	}
	region_table(const region_table &) = delete;
	region_table &operator=(const region_table &) = delete;

	// The runtime whose region covered `off` when last allocated, or null. Lock-free.
	region_runtime *find(uint64_t off) const noexcept
	{
		if (off < arena_off_ || off >= arena_end_)
			return nullptr;
		const uint64_t slot = (off - arena_off_) >> shift_;
		const leaf *l = leaves_[slot / leaf_slots].load(std::memory_order_acquire);
		return l ? l->slots[slot % leaf_slots].load(std::memory_order_acquire) : nullptr;
	}

	// Every block of [off, off + len) now names rt. Callers are serialised.
	void assign(uint64_t off, uint64_t len, region_runtime *rt)
	{
		const uint64_t first = (off - arena_off_) >> shift_;
		const uint64_t last = (off + len - arena_off_) >> shift_;
		for (uint64_t s = first; s < last; ++s) {
			leaf *l = leaves_[s / leaf_slots].load(std::memory_order_relaxed);
			if (!l) {
				l = new leaf();
				leaves_[s / leaf_slots].store(l, std::memory_order_release);
			}
			l->slots[s % leaf_slots].store(rt, std::memory_order_release);
		}
	}

private:
	static constexpr uint64_t leaf_slots = 4096;
	struct leaf {
		std::atomic<region_runtime *> slots[leaf_slots] = {};
	};

	const uint64_t arena_off_;
	const uint64_t arena_end_;
	const unsigned shift_;
	const uint64_t nleaves_;
	std::unique_ptr<std::atomic<leaf *>[]> leaves_;
};

} // namespace pmemstream::detail

#endif
