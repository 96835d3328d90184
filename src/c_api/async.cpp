// SPDX-License-Identifier: BSD-3-Clause
// Asynchronous appends and their futures, persist() and the waits on the watermarks. The
// futures are plain C values: an append or publish is done (written and committed) when its
// future is made, so only a wait future ever runs; `kind` tells the generic functions which
// struct a base belongs to.
#include "c_api.hpp"

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <type_traits>

using namespace pmemstream::c_api;
using pmemstream::errc;

// The futures are ABI like the info structures: callers keep them in arrays.
static_assert(sizeof(pmemstream_future) == 8);
static_assert(sizeof(pmemstream_async_append_fut) == 32);
static_assert(sizeof(pmemstream_async_publish_fut) == 24);
static_assert(sizeof(pmemstream_async_wait_fut) == 40);
// The generic functions reach a future's output through its base, its first member.
template <typename Future>
constexpr bool starts_with_base = std::is_standard_layout_v<Future> && offsetof(Future, base) == 0;
static_assert(starts_with_base<pmemstream_async_append_fut>);
static_assert(starts_with_base<pmemstream_async_publish_fut>);
static_assert(starts_with_base<pmemstream_async_wait_fut>);

namespace {

// pmemstream_future::kind. The high half tells a future made here from zeroed or stray bytes.
enum future_kind : uint32_t {
	kind_append = 0x50530001,
	kind_publish = 0x50530002,
	kind_wait_committed = 0x50530003,
	kind_wait_persisted = 0x50530004,
};

constexpr uint32_t state_of(pmemstream_future_state s)
{
	return static_cast<uint32_t>(s);
}

std::chrono::nanoseconds to_timeout(uint64_t ns)
{
	if (ns >= static_cast<uint64_t>(pmemstream::stream::forever.count()))
		return pmemstream::stream::forever;
	return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

// The output's error_code of the future `f` belongs to; nullptr when it is not one of ours.
int *error_code_of(pmemstream_future *f) noexcept
{
	if (!f)
		return nullptr;
	switch (f->kind) {
	case kind_append: return &reinterpret_cast<pmemstream_async_append_fut *>(f)->output.error_code;
	case kind_publish: return &reinterpret_cast<pmemstream_async_publish_fut *>(f)->output.error_code;
	case kind_wait_committed:
	case kind_wait_persisted: return &reinterpret_cast<pmemstream_async_wait_fut *>(f)->output.error_code;
	default: return nullptr;
	}
}

// A wait future that has not completed yet; every other future of ours is complete.
bool is_wait(const pmemstream_future *f) noexcept
{
	return (f->kind == kind_wait_committed || f->kind == kind_wait_persisted) &&
	       f->state != state_of(PMEMSTREAM_FUTURE_STATE_COMPLETE);
}

template <typename Future>
Future completed(uint32_t kind, int code)
{
	Future f{};
	f.base.kind = kind;
	f.base.state = state_of(PMEMSTREAM_FUTURE_STATE_COMPLETE);
	f.output.error_code = code;
	return f;
}

void complete(pmemstream_async_wait_fut *f, int code, uint64_t watermark) noexcept
{
	f->output.error_code = code;
	f->output.watermark = code == 0 ? watermark : 0;
	f->base.state = state_of(PMEMSTREAM_FUTURE_STATE_COMPLETE);
}

uint64_t watermark_of(const pmemstream::stream &s, bool persisted) noexcept
{
	return persisted ? s.persisted_timestamp() : s.committed_timestamp();
}

// One step of a wait future that never blocks.
pmemstream_future_state poll_wait(pmemstream_async_wait_fut *f) noexcept
{
	const bool persisted = f->base.kind == kind_wait_persisted;
	const uint64_t ts = f->data.timestamp;
	int code = guarded([&] {
		auto s = cpp(f->data.stream);
		if (watermark_of(*s, persisted) >= ts || (persisted && s->poll_persisted(ts))) {
			complete(f, 0, watermark_of(*s, persisted));
			return 0;
		}
		// Not there yet. Nothing can fail a wait for commit once its timestamp was handed
		// out, and an entry before ts still being written only needs time; a zero-timeout
		// wait would spin for that (wait_word), so only a committed, unpersisted ts gets one.
		if (!persisted || s->committed_timestamp() < ts) {
			f->base.state = state_of(PMEMSTREAM_FUTURE_STATE_RUNNING);
			return 0;
		}
		// poll_persisted() swept and ts is still not persisted: a failed medium or a forked
		// child, which poll_persisted() cannot tell, or another thread's sweep in progress.
		// Only timed_out keeps the future running.
		auto st = s->wait_persisted(ts, std::chrono::nanoseconds(0));
		if (st) {
			complete(f, 0, watermark_of(*s, persisted));
			return 0;
		}
		if (st.code() == errc::timed_out) {
			f->base.state = state_of(PMEMSTREAM_FUTURE_STATE_RUNNING);
			return 0;
		}
		return fail(st.err());
	});
	if (code != 0)
		complete(f, code, 0);
	return static_cast<pmemstream_future_state>(f->base.state);
}

// Blocks on a wait future for up to `timeout`; 0, timed_out's code (the future keeps running)
// or the code it completed with.
int wait_wait(pmemstream_async_wait_fut *f, std::chrono::nanoseconds timeout) noexcept
{
	const bool persisted = f->base.kind == kind_wait_persisted;
	const uint64_t ts = f->data.timestamp;
	return guarded([&] {
		auto s = cpp(f->data.stream);
		if (ts == 0) {
			complete(f, 0, watermark_of(*s, persisted));
			return 0;
		}
		auto st = persisted ? s->wait_persisted(ts, timeout) : s->wait_committed(ts, timeout);
		if (st) {
			complete(f, 0, watermark_of(*s, persisted));
			return 0;
		}
		const int code = fail(st.err());
		if (st.code() == errc::timed_out)
			f->base.state = state_of(PMEMSTREAM_FUTURE_STATE_RUNNING);
		else
			complete(f, code, 0);
		return code;
	});
}

// A complete future's failure, reported again by a wait: the message of the thread's last
// failure is kept when that failure is this one (it says more than the code's name).
int report_completed(const char *name, int code) noexcept
{
	if (code == 0)
		return 0;
	if (pmemstream_errno() == code) {
		errno = posix_errno(code);
		return code;
	}
	char text[160];
	std::snprintf(text, sizeof(text), "%s: the future completed with an error: %s", name, pmemstream_strerror(code));
	record_error(code, text);
	return code;
}

int future_wait(const char *name, pmemstream_future *future, std::chrono::nanoseconds timeout) noexcept
{
	int *code = error_code_of(future);
	if (!code) {
		char text[160];
		std::snprintf(text, sizeof(text), "%s: %s", name,
			      future ? "not a future of pmemstream (not made by a pmemstream_async_* function)"
				     : "future is NULL");
		return invalid_argument(text);
	}
	if (!is_wait(future))
		return report_completed(name, *code);
	return wait_wait(reinterpret_cast<pmemstream_async_wait_fut *>(future), timeout);
}

int wait_watermark(const char *name, handle *stream, uint64_t timestamp, uint64_t timeout_ns, bool persisted) noexcept
{
	if (!stream) {
		char text[96];
		std::snprintf(text, sizeof(text), "%s: stream is NULL", name);
		return invalid_argument(text);
	}
	if (timestamp == 0)
		return 0;
	return guarded([&] {
		auto s = cpp(stream);
		auto st = persisted ? s->wait_persisted(timestamp, to_timeout(timeout_ns))
				    : s->wait_committed(timestamp, to_timeout(timeout_ns));
		return st ? 0 : fail(st.err());
	});
}

} // namespace

// Transactions (issue 13): pmemstream_tx_async_commit returns a publish future.
pmemstream_async_publish_fut pmemstream::c_api::completed_publish_future(int code, uint64_t timestamp) noexcept
{
	auto f = completed<pmemstream_async_publish_fut>(kind_publish, code);
	f.output.timestamp = code == 0 ? timestamp : 0;
	return f;
}

extern "C" {

uint64_t pmemstream_last_timestamp(handle *stream)
{
	if (!stream) {
		invalid_argument("pmemstream_last_timestamp: stream is NULL");
		return 0;
	}
	return cpp(stream)->last_timestamp();
}

int pmemstream_persist_errc(handle *stream, uint64_t *persisted_timestamp)
{
	if (!stream)
		return invalid_argument("pmemstream_persist: stream is NULL");
	return guarded([&] {
		auto r = cpp(stream)->persist();
		if (!r)
			return fail(r.err());
		if (persisted_timestamp)
			*persisted_timestamp = *r;
		return 0;
	});
}

int pmemstream_persist(handle *stream, uint64_t *persisted_timestamp)
{
	return drop_in(pmemstream_persist_errc(stream, persisted_timestamp));
}

int pmemstream_wait_committed_errc(handle *stream, uint64_t timestamp, uint64_t timeout_ns)
{
	return wait_watermark("pmemstream_wait_committed", stream, timestamp, timeout_ns, false);
}

int pmemstream_wait_committed(handle *stream, uint64_t timestamp, uint64_t timeout_ns)
{
	return drop_in(pmemstream_wait_committed_errc(stream, timestamp, timeout_ns));
}

int pmemstream_wait_persisted_errc(handle *stream, uint64_t timestamp, uint64_t timeout_ns)
{
	return wait_watermark("pmemstream_wait_persisted", stream, timestamp, timeout_ns, true);
}

int pmemstream_wait_persisted(handle *stream, uint64_t timestamp, uint64_t timeout_ns)
{
	return drop_in(pmemstream_wait_persisted_errc(stream, timestamp, timeout_ns));
}

struct pmemstream_async_append_fut pmemstream_async_append(handle *stream, struct vdm *vdm,
							   struct pmemstream_region region,
							   struct pmemstream_region_runtime *runtime, const void *data,
							   size_t size, struct pmemstream_entry *new_entry)
{
	(void)vdm; // the calling thread copies (libpmemstream.h)
	using fut = pmemstream_async_append_fut;
	if (!stream)
		return completed<fut>(kind_append, invalid_argument("pmemstream_async_append: stream is NULL"));
	if (!data && size > 0)
		return completed<fut>(kind_append,
				      invalid_argument("pmemstream_async_append: data is NULL and size is not 0"));
	fut f = completed<fut>(kind_append, 0);
	f.output.error_code = guarded([&] {
		auto r = cpp(stream)->async_append(cpp(region), data, size, cpp(runtime));
		if (!r)
			return fail(r.err());
		f.output.new_entry.offset = r->offset;
		f.output.timestamp = r->timestamp;
		if (new_entry)
			*new_entry = f.output.new_entry;
		return 0;
	});
	return f;
}

struct pmemstream_async_publish_fut pmemstream_async_publish(handle *stream, struct pmemstream_region region,
							     struct pmemstream_region_runtime *runtime,
							     struct pmemstream_entry entry, size_t size)
{
	using fut = pmemstream_async_publish_fut;
	if (!stream)
		return completed<fut>(kind_publish, invalid_argument("pmemstream_async_publish: stream is NULL"));
	fut f = completed<fut>(kind_publish, 0);
	f.output.error_code = guarded([&] {
		auto r = cpp(stream)->async_publish(cpp(region), cpp(entry), size, cpp(runtime));
		if (!r)
			return fail(r.err());
		f.output.timestamp = *r;
		return 0;
	});
	return f;
}

namespace {

pmemstream_async_wait_fut make_wait(const char *name, handle *stream, uint64_t timestamp, uint32_t kind) noexcept
{
	pmemstream_async_wait_fut f{};
	f.base.kind = kind;
	f.data.stream = stream;
	f.data.timestamp = timestamp;
	char text[160];
	if (!stream) {
		std::snprintf(text, sizeof(text), "%s: stream is NULL", name);
		complete(&f, invalid_argument(text), 0);
		return f;
	}
	const uint64_t last = cpp(stream)->last_timestamp();
	if (timestamp > last) {
		std::snprintf(text, sizeof(text), "%s: timestamp %llu was not handed out yet (the last is %llu)", name,
			      static_cast<unsigned long long>(timestamp), static_cast<unsigned long long>(last));
		complete(&f, invalid_argument(text), 0);
		return f;
	}
	f.base.state = state_of(PMEMSTREAM_FUTURE_STATE_IDLE);
	return f;
}

} // namespace

struct pmemstream_async_wait_fut pmemstream_async_wait_committed(handle *stream, uint64_t timestamp)
{
	return make_wait("pmemstream_async_wait_committed", stream, timestamp, kind_wait_committed);
}

struct pmemstream_async_wait_fut pmemstream_async_wait_persisted(handle *stream, uint64_t timestamp)
{
	return make_wait("pmemstream_async_wait_persisted", stream, timestamp, kind_wait_persisted);
}

enum pmemstream_future_state pmemstream_future_poll(struct pmemstream_future *future)
{
	if (!error_code_of(future)) {
		invalid_argument(future ? "pmemstream_future_poll: not a future of pmemstream (not made by a "
					  "pmemstream_async_* function)"
					: "pmemstream_future_poll: future is NULL");
		return PMEMSTREAM_FUTURE_STATE_COMPLETE;
	}
	if (!is_wait(future))
		return PMEMSTREAM_FUTURE_STATE_COMPLETE;
	return poll_wait(reinterpret_cast<pmemstream_async_wait_fut *>(future));
}

int pmemstream_future_wait_errc(struct pmemstream_future *future)
{
	return future_wait("pmemstream_future_wait", future, pmemstream::stream::forever);
}

int pmemstream_future_wait(struct pmemstream_future *future)
{
	return drop_in(pmemstream_future_wait_errc(future));
}

int pmemstream_future_wait_timeout_errc(struct pmemstream_future *future, uint64_t timeout_ns)
{
	return future_wait("pmemstream_future_wait_timeout", future, to_timeout(timeout_ns));
}

int pmemstream_future_wait_timeout(struct pmemstream_future *future, uint64_t timeout_ns)
{
	return drop_in(pmemstream_future_wait_timeout_errc(future, timeout_ns));
}

} // extern "C"
