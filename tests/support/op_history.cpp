// SPDX-License-Identifier: BSD-3-Clause
#include "op_history.hpp"

#include <algorithm>
#include <cassert>

namespace pmemstream::test {

op_history::op_history(stream_model acked) : acked_(std::move(acked)), committed_floor_(acked_.last_timestamp)
{
}

uint64_t op_history::submit(pending_op op)
{
	std::lock_guard g(mutex_);
	if (op.kind == op_kind::append) {
		op.floor = std::max(committed_floor_, acked_.last_timestamp);
		op.timestamp = 0;
		op.offset = 0;
	}
	const uint64_t id = next_id_++;
	in_flight_.emplace(id, std::move(op));
	return id;
}

uint64_t op_history::submit_append(region r, std::span<const std::byte> data)
{
	return submit(pending_op{op_kind::append, r.offset, 0, {data.begin(), data.end()}});
}

void op_history::committed(uint64_t id, entry e, uint64_t timestamp)
{
	std::lock_guard g(mutex_);
	auto it = in_flight_.find(id);
	assert(it != in_flight_.end() && it->second.kind == op_kind::append);
	if (it == in_flight_.end())
		return;
	it->second.timestamp = timestamp;
	it->second.offset = e.offset;
	committed_floor_ = std::max(committed_floor_, timestamp);
	// A watermark observed before this thread got here may cover it already.
	raise_persisted_locked(0);
}

void op_history::persisted(uint64_t id)
{
	std::lock_guard g(mutex_);
	auto it = in_flight_.find(id);
	if (it == in_flight_.end())
		return; // a watermark moved it already
	assert(it->second.timestamp != 0 && "persisted() before committed()");
	raise_persisted_locked(it->second.timestamp);
}

void op_history::allocated(uint64_t id, region r, uint64_t size)
{
	std::lock_guard g(mutex_);
	acked_.allocated(r, size);
	in_flight_.erase(id);
}

void op_history::freed(uint64_t id)
{
	std::lock_guard g(mutex_);
	auto it = in_flight_.find(id);
	if (it == in_flight_.end())
		return;
	acked_.freed(region{it->second.region});
	in_flight_.erase(it);
}

void op_history::failed(uint64_t id)
{
	std::lock_guard g(mutex_);
	in_flight_.erase(id);
}

void op_history::raise_persisted_locked(uint64_t ts)
{
	persisted_ = std::max(persisted_, ts);
	// Every committed append at or below the watermark is persisted: acknowledged from now on.
	for (auto it = in_flight_.begin(); it != in_flight_.end();) {
		const pending_op &op = it->second;
		if (op.kind == op_kind::append && op.timestamp != 0 && op.timestamp <= persisted_) {
			acked_.appended(region{op.region}, entry{op.offset}, op.timestamp, op.data);
			it = in_flight_.erase(it);
		} else {
			++it;
		}
	}
}

std::string op_history::observe(uint64_t committed_ts, uint64_t persisted_ts)
{
	std::lock_guard g(mutex_);
	committed_floor_ = std::max(committed_floor_, committed_ts);
	raise_persisted_locked(persisted_ts);
	if (committed_ts < persisted_ts)
		return "committed watermark " + std::to_string(committed_ts) + " below the persisted watermark " +
		       std::to_string(persisted_ts) + " read before it";
	return {};
}

std::string op_history::observe(const stream &s)
{
	const uint64_t p = s.persisted_timestamp();
	const uint64_t c = s.committed_timestamp();
	return observe(c, p);
}

expectation op_history::view(const std::function<void()> &at_the_moment) const
{
	std::lock_guard g(mutex_);
	if (at_the_moment)
		at_the_moment();
	expectation x{acked_, {}, persisted_};
	x.in_flight.reserve(in_flight_.size());
	for (const auto &[id, op] : in_flight_)
		x.in_flight.push_back(op);
	return x;
}

stream_model op_history::acked() const
{
	std::lock_guard g(mutex_);
	return acked_;
}

uint64_t op_history::persisted_watermark() const
{
	std::lock_guard g(mutex_);
	return persisted_;
}

size_t op_history::in_flight() const
{
	std::lock_guard g(mutex_);
	return in_flight_.size();
}

void op_history::reset(stream_model now)
{
	std::lock_guard g(mutex_);
	acked_ = std::move(now);
	in_flight_.clear();
	committed_floor_ = std::max(committed_floor_, acked_.last_timestamp);
}

} // namespace pmemstream::test
