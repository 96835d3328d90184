// SPDX-License-Identifier: BSD-3-Clause
// A thread-safe record of the operations several threads submit to one stream, each with its
// own acknowledgement points, and of the watermarks they observe. Per operation: submitted
// (before the call), committed (the library handed out its entry and timestamp), persisted
// (the library said so, or a persisted watermark at or above its timestamp was observed).
// At any moment view() gives what a crash image of that moment may show, for check_stream().
//
// The two watermarks are kept apart although today's appends return both committed and
// persisted: an asynchronous append returns committed, and is persisted only later.
#ifndef PMEMSTREAM_TEST_OP_HISTORY_HPP
#define PMEMSTREAM_TEST_OP_HISTORY_HPP

#include "stream_check.hpp"

#include <pmemstream/stream.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace pmemstream::test {

class op_history {
public:
	explicit op_history(stream_model acked = {});

	// Before the call. For an append, `op.floor` is set here: every timestamp committed so
	// far is below the one the library will hand out. Returns the operation's id.
	uint64_t submit(pending_op op);
	uint64_t submit_append(region r, std::span<const std::byte> data);

	// The append returned its entry and timestamp: committed (visible to this process).
	void committed(uint64_t id, entry e, uint64_t timestamp);
	// The append is persisted (after committed()); with it, every smaller timestamp.
	void persisted(uint64_t id);
	// An allocation or free returned success (region operations persist on return).
	void allocated(uint64_t id, region r, uint64_t size);
	void freed(uint64_t id);
	// The call failed before writing anything (region_full, out_of_space): no trace allowed.
	void failed(uint64_t id);

	// One reading of both watermarks, persisted read first (both only grow, so a committed
	// watermark read later is never legitimately below it). Records the persisted one; returns
	// a violation (committed below persisted), empty if none.
	std::string observe(uint64_t committed_ts, uint64_t persisted_ts);
	std::string observe(const stream &s);

	// What a crash image of this moment may show. `at_the_moment`, when given, runs under the
	// history's lock, so no submission or acknowledgement falls between it and the view (take
	// the image there).
	expectation view(const std::function<void()> &at_the_moment = {}) const;
	stream_model acked() const;
	uint64_t persisted_watermark() const;
	size_t in_flight() const;

	// A clean reopen showed `now`: nothing is in flight any more.
	void reset(stream_model now);

private:
	void raise_persisted_locked(uint64_t ts);

	mutable std::mutex mutex_;
	stream_model acked_;
	std::map<uint64_t, pending_op> in_flight_; // by id, submission order
	uint64_t next_id_ = 1;
	uint64_t persisted_ = 0;	 // largest persisted watermark observed or implied
	uint64_t committed_floor_ = 0; // largest timestamp known committed
};

} // namespace pmemstream::test

#endif
