// SPDX-License-Identifier: BSD-3-Clause
// The public calls of live readers (issue 12, docs/design.md 5.4): waits for iterators,
// readers and the stream, and the writer query. The following itself is engine/follower.*.
#include "engine/stream_impl.hpp"
#include "util/hex.hpp"

namespace pmemstream {

using clock = std::chrono::steady_clock;

clock::time_point detail::deadline_after(std::chrono::nanoseconds timeout) noexcept
{
	const auto now = clock::now();
	if (timeout == stream::forever || timeout > clock::time_point::max() - now)
		return clock::time_point::max();
	return now + std::chrono::duration_cast<clock::duration>(std::max(timeout, std::chrono::nanoseconds::zero()));
}

namespace {

bool follower_gone(const stream::impl &s) noexcept
{
	return s.follower_ && s.follower_->gone();
}

} // namespace

status entry_iterator::check() const
{
	if (is_valid())
		return {};
	const stream::impl &s = *s_->impl_;
	if (follower_gone(s))
		return error(errc::writer_gone, s.not_following());
	if (rt_->id.load(std::memory_order_acquire) != id_)
		return error(errc::region_freed, "region " + detail::hex(rt_->offset) + " (id " + std::to_string(id_) + ") was freed");
	return error(errc::invalid_handle, "the iterator is past the last committed entry of region " + detail::hex(rt_->offset));
}

status entry_iterator::wait_for(std::chrono::nanoseconds timeout)
{
	return s_->impl_->wait_until_valid([this] { return check(); }, timeout, "the iterator is past the last committed entry");
}

stream::writer_state stream::writer() const noexcept
{
	const impl &s = *impl_;
	if (!s.m_->read_only())
		return writer_state::self;
	if (!s.follower_)
		return writer_state::none;
	return s.follower_->writer_alive() ? writer_state::following : writer_state::gone;
}

status stream::wait_for(uint64_t ts, std::chrono::nanoseconds timeout) const
{
	const impl &s = *impl_;
	const auto deadline = detail::deadline_after(timeout);
	if (s.follower_)
		(void)s.follower_->poll();
	const uint64_t target = ts == next_entry ? s.vis_.committed.load(std::memory_order_acquire) + 1 : ts;
	for (;;) {
		const uint64_t c = s.vis_.committed.load(std::memory_order_acquire);
		if (c >= target)
			return {};
		if (timeout <= std::chrono::nanoseconds::zero())
			return error(errc::timed_out, "timestamp " + std::to_string(target) + " is not committed yet");
		if (auto w = s.wait_beyond(c, deadline); !w)
			return w;
	}
}

} // namespace pmemstream
