// SPDX-License-Identifier: BSD-3-Clause
// The C++ API: each call checks what it needs and forwards to the unit that does the work
// (docs/design.md 1). Opening is in open.cpp, iterators in iterators.cpp.
#include "engine/stream_impl.hpp"

#include <pmemstream/stream.hpp>

#include <algorithm>
#include <ctime>

namespace pmemstream {

stream::stream(std::unique_ptr<impl> p) : impl_(std::move(p))
{
}

stream::~stream() = default;

// ==================================================================== regions

result<region> stream::region_allocate(uint64_t size)
{
	impl &s = *impl_;
	if (!s.gate_.open())
		return s.gate_.refusal();
	auto rt = s.catalog_.allocate(size);
	if (!rt) {
		if (rt.code() == errc::media_failed)
			s.gate_.fail(errc::media_failed);
		return std::move(rt).err();
	}
	return region{(*rt)->offset, (*rt)->id.load(std::memory_order_relaxed)};
}

status stream::region_free(region r)
{
	impl &s = *impl_;
	auto rt = s.writable(r, nullptr);
	if (!rt)
		return rt.err();
	auto st = s.catalog_.free(*rt, r.id, *s.state_, *s.tracker_);
	if (st.code() == errc::media_failed)
		s.gate_.fail(errc::media_failed);
	return st;
}

result<uint64_t> stream::region_size(region r) const
{
	auto rt = impl_->resolve(r, nullptr);
	if (!rt)
		return rt.err();
	return (*rt)->data_end.load(std::memory_order_relaxed) - (*rt)->data_begin.load(std::memory_order_relaxed);
}

result<uint64_t> stream::region_usable_size(region r) const
{
	auto rt = impl_->resolve(r, nullptr);
	if (!rt)
		return rt.err();
	// Lock-free: the fields may be read across a wrap or a cut, so nothing may underflow.
	const region_runtime &x = **rt;
	const uint64_t tail = x.tail.load(std::memory_order_acquire);
	const uint64_t end = x.append_end();
	const uint64_t left = end > tail ? end - tail : 0;
	// The ring (issue 14): the space before head, which a wrap reuses once the rest is used.
	const uint64_t data = x.data_begin.load(std::memory_order_relaxed);
	const uint64_t head_line = x.first.load(std::memory_order_acquire) & ~(format::cache_line - 1);
	if ((impl_->header_.incompat_features & format::incompat_ring) && x.wrap.load(std::memory_order_acquire) == 0 &&
	    head_line > data)
		return left + (head_line - data);
	return left;
}

result<uint64_t> stream::region_entry_count(region r) const
{
	auto rt = impl_->resolve(r, nullptr);
	if (!rt)
		return rt.err();
	return (*rt)->count.load(std::memory_order_acquire);
}

result<region_runtime *> stream::get_region_runtime(region r)
{
	return impl_->resolve(r, nullptr);
}

region_iterator stream::regions() const
{
	return region_iterator(this);
}

// ==================================================================== entries

result<appended> stream::append(region r, std::span<const std::byte> data, region_runtime *hint)
{
	impl &s = *impl_;
	auto rt = s.writable(r, hint);
	if (!rt)
		return rt.err();
	return s.writer_->append(**rt, r.id, data, false);
}

result<reservation> stream::reserve(region r, uint64_t size, region_runtime *hint)
{
	impl &s = *impl_;
	auto rt = s.writable(r, hint);
	if (!rt)
		return rt.err();
	return s.writer_->reserve(**rt, r.id, size);
}

result<uint64_t> stream::publish(region r, const entry &e, uint64_t size, region_runtime *hint)
{
	impl &s = *impl_;
	auto rt = s.writable(r, hint);
	if (!rt)
		return rt.err();
	return s.writer_->publish(**rt, r.id, e, size, false);
}

status stream::cancel(region r, const entry &e, region_runtime *hint)
{
	impl &s = *impl_;
	auto rt = s.writable(r, hint);
	if (!rt)
		return rt.err();
	return s.writer_->cancel(**rt, r.id, e);
}

// ==================================================================== asynchronous appends

result<appended> stream::async_append(region r, std::span<const std::byte> data, region_runtime *hint)
{
	impl &s = *impl_;
	auto rt = s.writable(r, hint);
	if (!rt)
		return rt.err();
	auto a = s.writer_->append(**rt, r.id, data, true);
	if (a)
		s.kick_worker();
	return a;
}

result<uint64_t> stream::async_publish(region r, const entry &e, uint64_t size, region_runtime *hint)
{
	impl &s = *impl_;
	auto rt = s.writable(r, hint);
	if (!rt)
		return rt.err();
	auto t = s.writer_->publish(**rt, r.id, e, size, true);
	if (t)
		s.kick_worker();
	return t;
}

namespace {

detail::commit_tracker::clock::time_point deadline_after(std::chrono::nanoseconds timeout)
{
	using clock = detail::commit_tracker::clock;
	const auto now = clock::now();
	if (timeout >= std::chrono::duration_cast<std::chrono::nanoseconds>(clock::time_point::max() - now))
		return clock::time_point::max();
	return now + std::max(timeout, std::chrono::nanoseconds(0));
}

} // namespace

status stream::impl::check_waitable(uint64_t ts) const
{
	if (ts > tracker_->last_issued())
		return error(errc::invalid_argument, "timestamp " + std::to_string(ts) + " was not handed out yet (the last is " +
							     std::to_string(tracker_->last_issued()) + ")");
	return {};
}

status stream::wait_committed(uint64_t ts, std::chrono::nanoseconds timeout) const
{
	const impl &s = *impl_;
	if (auto c = s.check_waitable(ts); !c)
		return c;
	if (!s.tracker_->wait_committed(ts, deadline_after(timeout)))
		return error(errc::timed_out, "timestamp " + std::to_string(ts) + " was not committed in time (committed: " +
						      std::to_string(s.tracker_->committed()) + ")");
	return {};
}

status stream::wait_persisted(uint64_t ts, std::chrono::nanoseconds timeout)
{
	impl &s = *impl_;
	if (auto c = s.check_waitable(ts); !c)
		return c;
	if (s.tracker_->persisted() >= ts)
		return {};
	if (s.gate_.forked())
		return s.gate_.refusal();
	if (!s.tracker_->ensure_persisted(ts, deadline_after(timeout))) {
		if (!s.m_->healthy()) {
			s.gate_.fail(errc::media_failed);
			return error(errc::media_failed, "the medium failed while persisting entries");
		}
		return error(errc::timed_out, "timestamp " + std::to_string(ts) + " was not persisted in time (persisted: " +
						      std::to_string(s.tracker_->persisted()) + ")");
	}
	return {};
}

bool stream::poll_persisted(uint64_t ts)
{
	impl &s = *impl_;
	if (s.tracker_->persisted() >= ts)
		return true;
	if (ts > s.tracker_->last_issued() || s.gate_.forked() || s.gate_.read_only())
		return false;
	// Only what is committed now can be swept; a sweep in progress is not waited for.
	if (s.tracker_->committed() >= ts)
		s.tracker_->sweep(true);
	return s.tracker_->persisted() >= ts;
}

result<uint64_t> stream::persist()
{
	impl &s = *impl_;
	if (s.gate_.read_only())
		return s.tracker_->persisted();
	if (s.gate_.forked())
		return s.gate_.refusal();
	const uint64_t c = s.tracker_->committed();
	if (!s.tracker_->ensure_persisted(c) || !s.m_->healthy()) {
		s.gate_.fail(errc::media_failed);
		return error(errc::media_failed, "the medium failed while persisting entries");
	}
	return s.tracker_->persisted();
}

result<std::span<const std::byte>> stream::entry_data(const entry &e) const
{
	auto h = impl_->committed_entry(e);
	if (!h)
		return h.err();
	return std::span<const std::byte>(impl_->base_ + e.offset + sizeof(format::entry_header), h->size);
}

result<uint64_t> stream::entry_size(const entry &e) const
{
	auto h = impl_->committed_entry(e);
	if (!h)
		return h.err();
	return uint64_t{h->size};
}

result<uint64_t> stream::entry_timestamp(const entry &e) const
{
	auto h = impl_->committed_entry(e);
	if (!h)
		return h.err();
	return uint64_t{h->timestamp};
}

result<region> stream::entry_region(const entry &e) const
{
	const region_runtime *rt = nullptr;
	auto h = impl_->committed_entry(e, &rt);
	if (!h)
		return h.err();
	return region{rt->offset, rt->id.load(std::memory_order_acquire)};
}

result<entry_iterator> stream::entries(region r) const
{
	auto rt = impl_->resolve(r, nullptr);
	if (!rt)
		return rt.err();
	return entry_iterator(this, *rt, (*rt)->id.load(std::memory_order_acquire));
}

stream_reader stream::reader() const
{
	return stream_reader(this);
}

// ==================================================================== state

uint64_t stream::committed_timestamp() const noexcept
{
	return impl_->tracker_->committed();
}

uint64_t stream::persisted_timestamp() const noexcept
{
	return impl_->tracker_->persisted();
}

uint64_t stream::last_timestamp() const noexcept
{
	return impl_->tracker_->last_issued();
}

uint64_t stream::wait_for_commit(uint64_t ts, uint64_t timeout_ns) const noexcept
{
	impl &s = *impl_;
	if (s.sidecar_ && s.m_->read_only()) {
		if (!s.sidecar_->writer_closed()) {
			const uint64_t w = detail::wait_committed_for(s.sidecar_->vis(), ts, timeout_ns, s.sidecar_->can_register());
			if (s.follower_)
				(void)s.follower_->poll(); // iterators see what the writer committed (issue 12)
			return w;
		}
	} else if (s.gate_.read_only() || s.gate_.forked()) {
		// Nothing moves this stream's watermark: sleep the timeout (a signal ends it early).
	} else {
		return detail::wait_committed_for(s.vis_, ts, timeout_ns, true);
	}
	struct timespec t{static_cast<time_t>(timeout_ns / 1000000000), static_cast<long>(timeout_ns % 1000000000)};
	::nanosleep(&t, nullptr);
	return committed_timestamp();
}

stream_info stream::info() const
{
	const impl &s = *impl_;
	const auto st = s.catalog_.stats();
	stream_info i;
	i.format_version = format::version;
	i.size = s.header_.stream_size;
	i.block_size = s.header_.block_size;
	i.arena_offset = s.header_.arena_offset;
	i.arena_size = s.header_.arena_size;
	i.region_count = st.regions;
	i.allocated_bytes = st.allocated_bytes;
	i.free_bytes = st.free_bytes;
	i.largest_free = st.largest_free;
	i.committed_timestamp = committed_timestamp();
	i.persisted_timestamp = persisted_timestamp();
	i.read_only = s.gate_.read_only();
	return i;
}

const recovery_report &stream::recovery() const noexcept
{
	return impl_->report_;
}

bool stream::read_only() const noexcept
{
	return impl_->gate_.read_only();
}

} // namespace pmemstream
