// SPDX-License-Identifier: BSD-3-Clause
// stream::impl: the units of one open stream, wired together. Each concept lives in its own
// unit (docs/design.md 1); this class only owns them and holds what they share.
#ifndef PMEMSTREAM_ENGINE_STREAM_IMPL_HPP
#define PMEMSTREAM_ENGINE_STREAM_IMPL_HPP

#include "engine/commit_tracker.hpp"
#include "engine/follower.hpp"
#include "engine/region_catalog.hpp"
#include "engine/region_writer.hpp"
#include "engine/sidecar.hpp"
#include "engine/state_record.hpp"
#include "engine/visibility.hpp"
#include "engine/write_gate.hpp"
#include "media/media.hpp"

#include <pmemstream/stream.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

namespace pmemstream {

class stream::impl {
public:
	impl(std::unique_ptr<detail::media> m, const format::stream_header &h);
	~impl();

	static std::unique_ptr<stream> wrap(std::unique_ptr<impl> p)
	{
		return std::unique_ptr<stream>(new stream(std::move(p)));
	}

	// Recovery at open (src/recovery/): scan, plan, apply; then the catalog and the tracker.
	status recover(const open_options &o);

	// The live region named by r (and rt, when given: it must be that region's runtime of
	// this stream).
	result<region_runtime *> resolve(region r, region_runtime *rt) const;
	// What every writing call checks first: the stream takes writes (write_gate), and r (with
	// rt) names a live region of it.
	result<region_runtime *> writable(region r, region_runtime *rt) const
	{
		if (!gate_.open())
			return gate_.refusal();
		return resolve(r, rt);
	}
	// The committed entry at `e`, or invalid_handle. Lock-free; never reads outside a region.
	result<format::entry_header> committed_entry(const entry &e, const region_runtime **out = nullptr) const;

	std::unique_ptr<detail::media> m_;
	std::byte *const base_;
	const format::stream_header header_;
	const uint64_t instance_; // 1.. in order of construction, never reused
	detail::write_gate gate_;
	// The writer's visibility state lives in its readers' sidecar when it could make one, else
	// in own_vis_; a read-only stream's is always its own (its snapshot's watermark), and
	// sidecar_ is then the live writer's, for wait_for_commit() (docs/design.md 5.4).
	std::unique_ptr<detail::sidecar> sidecar_;
	detail::visibility_state own_vis_;
	detail::visibility_state &vis_;
	std::unique_ptr<detail::state_record> state_;
	detail::region_catalog catalog_;
	std::unique_ptr<detail::commit_tracker> tracker_;
	std::unique_ptr<detail::region_writer> writer_;
	recovery_report report_;

	// ---- live readers (issue 12, docs/design.md 5.4) ----
	// A read-only stream attached to a live writer's sidecar walks in place up to its
	// watermark (follower.hpp); null otherwise. Iterators and accessors poll it at each step.
	std::unique_ptr<detail::follower> follower_;
	// Waits until the committed watermark this stream's iterators use moves above `seen`
	// (for a follower: it has taken in entries above it). writer_gone (a read-only stream with
	// no live writer, or one that went), wrong_process (a child of fork()), timed_out.
	status wait_beyond(uint64_t seen, std::chrono::steady_clock::time_point deadline) const;
	// The wait of an iterator or a stream reader: until `check()` says anything but
	// invalid_handle (an entry is there, or an error), or the timeout; `past_end` is the
	// timed_out message.
	template <class Check>
	status wait_until_valid(Check &&check, std::chrono::nanoseconds timeout, const char *past_end) const
	{
		const auto deadline = detail::deadline_after(timeout);
		for (;;) {
			// The watermark before the look: an entry committed after it moves it.
			const uint64_t seen = vis_.committed.load(std::memory_order_acquire);
			auto st = check();
			if (st.code() != errc::invalid_handle)
				return st;
			if (timeout <= std::chrono::nanoseconds::zero())
				return error(errc::timed_out, past_end);
			if (auto w = wait_beyond(seen, deadline); !w)
				return w;
		}
	}
	// Why a read-only stream cannot follow: nullptr while it can.
	const char *not_following() const noexcept;
	// Fast reopen (docs/format.md 8.5): checkpoints while running, called by an append
	// whose region grew open_options::checkpoint_bytes past its checkpoint.
	void checkpoint_round() noexcept;
	std::mutex checkpoint_mutex_;

	// wait_committed / wait_persisted: invalid_argument for a timestamp not handed out yet.
	status check_waitable(uint64_t ts) const;

	// The commit worker (commit_policy): a thread that sweeps committed entries to durability
	// when enough are pending or the oldest has waited long enough. Asynchronous appends call
	// kick_worker(), which costs one load unless the worker sleeps and should wake.
	void start_worker(const commit_policy &policy);
	void stop_worker() noexcept;
	// After the append committed: marks asynchronous work (one store per batch, not per
	// append) and wakes the worker if it sleeps and the policy says so.
	void kick_worker() noexcept
	{
		if (!worker_)
			return;
		if (!async_pending_.load(std::memory_order_seq_cst))
			async_pending_.store(true, std::memory_order_seq_cst);
		if (worker_sleep_.load(std::memory_order_seq_cst) != sleep_none)
			kick_slow();
	}

private:
	enum : int { sleep_none, sleep_idle, sleep_delay };
	void kick_slow() noexcept;
	bool worker_due() const noexcept;
	void worker_loop();

	commit_policy policy_{};
	std::unique_ptr<std::thread> worker_;
	std::atomic<bool> worker_stop_{false};
	std::atomic<int> worker_sleep_{sleep_none};
	std::atomic<bool> async_pending_{false}; // asynchronous appends since the worker's last sweep
	std::atomic<uint64_t> worker_kick_{0}; // a futex word the worker sleeps on
};

} // namespace pmemstream

#endif
