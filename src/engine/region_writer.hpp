// SPDX-License-Identifier: BSD-3-Clause
// The one path by which entries reach a region: claim (check the region, take space and a
// timestamp under the region's lock), fill (write the entry's bytes), commit (one drain, then
// advance the region's tail, complete the timestamp and wait until every smaller one is
// persisted). append() and reserve()+publish() differ only in who fills; asynchronous appends
// and transactions will split commit, not write another copy of it.
#ifndef PMEMSTREAM_ENGINE_REGION_WRITER_HPP
#define PMEMSTREAM_ENGINE_REGION_WRITER_HPP

#include "engine/commit_tracker.hpp"
#include "engine/region_runtime.hpp"
#include "engine/write_gate.hpp"
#include "media/media.hpp"

#include <pmemstream/stream.hpp>

#include <mutex>
#include <span>

namespace pmemstream::detail {

class region_writer {
public:
	region_writer(media &m, commit_tracker &tracker, write_gate &gate) : m_(m), tracker_(tracker), gate_(gate)
	{
	}

	// `id` is the caller's region id (0: whatever region lives in rt).
	result<appended> append(region_runtime &rt, uint64_t id, std::span<const std::byte> data);
	result<reservation> reserve(region_runtime &rt, uint64_t id, uint64_t size);
	result<uint64_t> publish(region_runtime &rt, uint64_t id, const entry &e, uint64_t size);

private:
	// Claim: with rt.lock held, the region checks; `pos` is where the entry goes.
	status check_region(const region_runtime &rt, uint64_t id, bool replace_reservation) const;
	status check_space(const region_runtime &rt, uint64_t pos, uint64_t need) const;
	result<uint64_t> take_timestamp();
	// Commit, with rt.lock held and the entry's bytes flushed.
	result<uint64_t> commit(region_runtime &rt, uint64_t pos, uint64_t footprint, uint64_t ts);

	media &m_;
	commit_tracker &tracker_;
	write_gate &gate_;
	std::atomic<uint64_t> tickets_{0};
};

} // namespace pmemstream::detail

#endif
