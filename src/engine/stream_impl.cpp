// SPDX-License-Identifier: BSD-3-Clause
#include "engine/stream_impl.hpp"
#include "recovery/recovery.hpp"
#include "util/futex.hpp"
#include "util/hex.hpp"

#include <cstring>
#include <pthread.h>

namespace pmemstream {

using format::entry_header;

namespace {
std::atomic<uint64_t> instances{0};

// A writer publishes its sidecar; a reader attaches to a live writer's.
std::unique_ptr<detail::sidecar> sidecar_for(const detail::media &m)
{
	uint64_t dev = 0, ino = 0;
	uint32_t mode = 0;
	if (!m.file_identity(dev, ino, mode))
		return nullptr;
	if (!m.read_only())
		return detail::sidecar::publish(dev, ino, mode);
	if (m.writer() != detail::media::writer_presence::present)
		return nullptr;
	return detail::sidecar::attach(dev, ino);
}
} // namespace

stream::impl::impl(std::unique_ptr<detail::media> m, const format::stream_header &h)
    : m_(std::move(m)),
      base_(m_->base()),
      header_(h),
      instance_(instances.fetch_add(1, std::memory_order_relaxed) + 1),
      gate_(*m_),
      sidecar_(sidecar_for(*m_)),
      vis_(sidecar_ && !m_->read_only() ? sidecar_->vis() : own_vis_),
      catalog_(this, *m_, h, vis_)
{
}

stream::impl::~impl()
{
	stop_worker();
	// A clean close persists what is committed, records each region's checkpoint and raises
	// the floor so the next open can tell damage from a torn tail. Not from a child of
	// fork(): the parent owns the file.
	if (!tracker_ || gate_.read_only() || gate_.failed() || gate_.forked())
		return;
	if (!tracker_->ensure_persisted(tracker_->committed()) || !m_->healthy())
		return;
	catalog_.write_checkpoints();
	const uint64_t p = tracker_->persisted();
	if (p == tracker_->last_issued())
		state_->close_at(p); // every timestamp handed out is on media: no lease needed
	else
		state_->raise_floor(p);
}

void stream::impl::checkpoint_round() noexcept
{
	// Fast reopen (format.md 8.5): the checkpoints of every region whose entries are all
	// persisted, then the floor up to them, so that the next open after a crash starts each
	// walk there. One round at a time; an append that finds one running goes on.
	std::unique_lock lk(checkpoint_mutex_, std::try_to_lock);
	if (!lk.owns_lock() || !gate_.open())
		return;
	// Asynchronous appends leave entries committed and not persisted: persist them first so
	// their regions get checkpoints too (one sweep per checkpoint_bytes appended).
	if (!tracker_->ensure_persisted(tracker_->committed()) || !m_->healthy())
		return;
	const uint64_t covered = catalog_.write_checkpoints(tracker_->persisted());
	state_->raise_floor(covered);
}

void stream::impl::start_worker(const commit_policy &policy)
{
	policy_ = policy;
	const bool on = policy.worker == commit_policy::worker_mode::on ||
			(policy.worker == commit_policy::worker_mode::automatic && m_->flush_syncs());
	if (on && !m_->read_only()) {
		tracker_->count_pending_bytes(); // the worker's max_bytes trigger reads it
		worker_ = std::make_unique<std::thread>([this] { worker_loop(); });
	}
}

void stream::impl::stop_worker() noexcept
{
	if (!worker_)
		return;
	if (gate_.forked()) {
		// The thread does not exist in a child of fork(); its handle must not be touched.
		(void)worker_.release();
		return;
	}
	worker_stop_.store(true, std::memory_order_seq_cst);
	worker_kick_.fetch_add(1, std::memory_order_seq_cst);
	detail::futex_wake_all(worker_kick_);
	worker_->join();
	worker_.reset();
}

bool stream::impl::worker_due() const noexcept
{
	const uint64_t c = tracker_->committed(), p = tracker_->persisted();
	return c - p >= policy_.max_entries || tracker_->pending_bytes() >= policy_.max_bytes;
}

void stream::impl::kick_slow() noexcept
{
	const int mode = worker_sleep_.load(std::memory_order_seq_cst);
	if (mode == sleep_none || (mode == sleep_delay && !worker_due()))
		return;
	worker_sleep_.store(sleep_none, std::memory_order_seq_cst);
	worker_kick_.fetch_add(1, std::memory_order_seq_cst);
	detail::futex_wake_all(worker_kick_);
}

void stream::impl::worker_loop()
{
	using clock = detail::commit_tracker::clock;
	// Named for top -H, gdb and the tests that watch it (15 characters at most).
	pthread_setname_np(pthread_self(), "pmemstream-cmt");
	while (!worker_stop_.load(std::memory_order_seq_cst)) {
		const uint64_t k = worker_kick_.load(std::memory_order_seq_cst);
		if (!async_pending_.load(std::memory_order_seq_cst)) {
			// Idle until an asynchronous append marks work (synchronous ones persist their own
			// entries; a worker racing them for the sweep would only add a hand-off). The
			// appender stores the mark, then looks at worker_sleep_; we store worker_sleep_,
			// then look at the mark (seq_cst both): one of us sees the other.
			worker_sleep_.store(sleep_idle, std::memory_order_seq_cst);
			if (!async_pending_.load(std::memory_order_seq_cst) && !worker_stop_.load(std::memory_order_seq_cst))
				detail::futex_wait(worker_kick_, k, clock::now() + std::chrono::milliseconds(50));
			worker_sleep_.store(sleep_none, std::memory_order_seq_cst);
			continue;
		}
		// Work is marked: let more gather unless the policy's count or bytes say now.
		if (!worker_due()) {
			worker_sleep_.store(sleep_delay, std::memory_order_seq_cst);
			if (!worker_due() && !worker_stop_.load(std::memory_order_seq_cst))
				detail::futex_wait(worker_kick_, worker_kick_.load(std::memory_order_seq_cst), clock::now() + policy_.max_delay);
			worker_sleep_.store(sleep_none, std::memory_order_seq_cst);
		}
		// Cleared before the sweep takes the committed watermark: an append that found the
		// mark set had committed before this, so the sweep covers it; a later one marks again.
		async_pending_.store(false, std::memory_order_seq_cst);
		tracker_->sweep(false);
		if (!m_->healthy()) {
			gate_.fail(errc::media_failed);
			tracker_->wake_all();
			return;
		}
	}
}

status stream::impl::recover(const open_options &o)
{
	const bool skip_corrupt = o.recovery == recovery_mode::skip_corrupt; // format.md 8.7
	const bool salvage = o.recovery == recovery_mode::salvage || skip_corrupt;
	const bool writable = !m_->read_only();
	// Fast reopen (format.md 8.5): trusted checkpoints spare the walk of sealed entries. The
	// modes that look for damage (salvage, repair) read everything.
	const bool full = o.verify == verify_mode::full || o.recovery != recovery_mode::strict;
	const auto depth = full ? detail::scan_depth::full : detail::scan_depth::checkpoint;
	detail::stream_scan scan;
	detail::recovery_plan plan;
	std::string why;
	bool live_writer = false;
	// A writer in another process that is still recovering may be trimming what a scan
	// would show: wait until it is done (a writer that dies meanwhile stops the wait).
	if (!writable && sidecar_) {
		const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
		while (!sidecar_->writer_recovered() && sidecar_->closed_state() == 0 &&
		       m_->writer() == detail::media::writer_presence::present && std::chrono::steady_clock::now() < until)
			std::this_thread::sleep_for(std::chrono::microseconds(200));
		if (!sidecar_->writer_recovered())
			sidecar_.reset(); // nothing to follow: a snapshot
	}
	// A read-only open may meet a writer appending in another process (format.md 8.4).
	if (writable ? !detail::scan_stream(base_, header_, scan, why, depth)
		     : !detail::recover_read_only(*m_, header_, salvage, scan, plan, live_writer, why, depth, skip_corrupt))
		return error(errc::corrupt, why);
	// Point-in-time repair (format.md 8.6): a stream with problems, or whose last repair a
	// crash interrupted, is cut back to the last moment before its first damage.
	const bool point_in_time = o.recovery == recovery_mode::point_in_time;
	const bool repair_pending = scan.state.value.reserved[format::state_repair_cut] != 0;
	if (repair_pending && !point_in_time && writable)
		return error(errc::corrupt, "a point-in-time repair of this stream was interrupted; open it with "
					    "recovery_mode::point_in_time to finish it");
	// Structural problems end the span walk: strict opens fail, salvage shows what precedes.
	if (!scan.problems.empty() && !salvage)
		return error(errc::corrupt, (point_in_time ? "cannot be repaired: " : "") + scan.problems.front().what);
	if (writable)
		plan = detail::plan_recovery(scan, salvage, writable);
	detail::repair_plan repair;
	const bool repairing = point_in_time && (!plan.problems.empty() || repair_pending);
	if (repairing && !detail::plan_point_in_time(base_, scan, plan, repair, why, writable))
		return error(errc::corrupt, plan.problems.empty() ? why : plan.problems.front().what + "; " + why);
	if (!plan.problems.empty() && !salvage && !repairing)
		return error(errc::corrupt, plan.problems.front().what);

	state_ = std::make_unique<detail::state_record>(*m_, scan.state);
	if (repairing && writable)
		detail::apply_point_in_time(*m_, scan, plan, repair, *state_);
	else if (repairing)
		detail::dry_run_layout(scan, plan); // the dry run shows what the repair would keep
	else if (writable)
		detail::apply_recovery(*m_, scan, plan, *state_);
	catalog_.load(scan, plan);
	const bool windowed = header_.incompat_features & format::incompat_windowed;
	tracker_ = std::make_unique<detail::commit_tracker>(vis_, *m_, writable && windowed ? state_.get() : nullptr, plan.last_issued);
	writer_ = std::make_unique<detail::region_writer>(*m_, *tracker_, gate_, windowed);

	if (writable) {
		catalog_.set_max_in_flight(windowed ? o.max_in_flight : 1);
		if (o.checkpoint_bytes != 0)
			writer_->set_checkpoint_hook(o.checkpoint_bytes, [this] { checkpoint_round(); });
		// The ring (issue 14): a full region reuses the space its prefix cuts freed.
		if (header_.incompat_features & format::incompat_ring) {
			catalog_.set_ring(true);
			writer_->set_wrap_hook([this](region_runtime &rt, uint64_t id, uint64_t need) {
				return catalog_.wrap(&rt, id, need, *state_, *tracker_);
			});
		}
		start_worker(o.commit);
		if (sidecar_) {
			catalog_.set_cut_table(&sidecar_->cuts()); // followers see truncations (5.4)
			sidecar_->mark_recovered(); // readers may open now (issue 12)
		}
	} else if (sidecar_ && o.follow) {
		follower_ = std::make_unique<detail::follower>(*this);
	}

	report_.regions = plan.regions.size();
	report_.entries = plan.entries;
	report_.torn_tails = plan.torn_tails;
	report_.trimmed_entries = plan.trimmed_entries;
	report_.live_writer = live_writer;
	for (const auto &sc : scan.regions)
		report_.checkpointed_regions += sc.from_checkpoint;
	if (repairing) {
		report_.repair_cut = repair.cut;
		for (const auto &d : repair.dropped)
			report_.dropped.push_back({d.region_offset, d.offset, d.entries, d.first_ts, d.last_ts, d.damaged, d.why});
	}
	for (auto *list : {&scan.problems, &plan.problems})
		for (auto &p : *list)
			report_.problems.push_back({p.region_offset, p.entry_offset, p.what});
	// Skip-corrupt salvage (format.md 8.7): every range stepped over, also as a problem.
	for (const auto &ro : plan.regions) {
		const auto &sc = scan.regions[ro.scan_index];
		for (const auto &g : sc.gaps) {
			const uint64_t bytes = g.next - g.offset;
			report_.skipped.push_back({sc.offset, g.offset, bytes, g.why ? g.why : "invalid entry"});
			report_.problems.push_back({sc.offset, g.offset,
						    "region " + detail::hex(sc.offset) + ": skipped " + std::to_string(bytes) +
							    " damaged bytes at " + detail::hex(g.offset) + " (" +
							    (g.why ? g.why : "invalid entry") + ")"});
		}
	}
	return {};
}

result<region_runtime *> stream::impl::resolve(region r, region_runtime *rt) const
{
	if (follower_ && !follower_->poll()) // a following reader (issue 12): regions allocated since
		return error(errc::writer_gone, not_following());
	if (rt) {
		if (rt->owner != this)
			return error(errc::invalid_handle, "the region runtime belongs to another stream");
		if (rt->offset != r.offset)
			return error(errc::invalid_handle, "the region runtime is the one of region " + detail::hex(rt->offset) +
								   ", not of " + detail::hex(r.offset));
		const uint64_t id = rt->id.load(std::memory_order_acquire);
		if (id != 0 && (r.id == 0 || r.id == id))
			return rt;
	} else if (region_runtime *found = catalog_.live_at(r.offset, r.id)) {
		return found;
	}
	return error(errc::invalid_handle, "no live region at offset " + detail::hex(r.offset) +
						   (r.id ? " with id " + std::to_string(r.id) : std::string()));
}

namespace {

// The last entry this thread found committed: readers ask for an entry's data, size and
// timestamp one after another. Valid while the stream's region layout is unchanged (a
// committed entry stays committed until its region is freed, which bumps the layout).
struct last_entry {
	uint64_t stream = 0; // stream::impl::instance_ (never reused, unlike an address)
	uint64_t offset = 0;
	uint64_t layout = 0;
	uint64_t region_id = 0;
	const region_runtime *rt = nullptr;
	entry_header header{};
};
// initial-exec: one load from the thread pointer instead of a call to __tls_get_addr.
__attribute__((tls_model("initial-exec"))) thread_local last_entry cached;

} // namespace

result<entry_header> stream::impl::committed_entry(const entry &e, const region_runtime **out) const
{
	if (follower_ && !follower_->poll())
		return error(errc::writer_gone, "the writer this read-only stream followed closed, died or was replaced; reopen");
	const uint64_t layout = vis_.layout_generation.load(std::memory_order_acquire);
	if (cached.stream == instance_ && cached.offset == e.offset && cached.layout == layout &&
	    (e.region_id == 0 || e.region_id == cached.region_id)) {
		if (out)
			*out = cached.rt;
		return cached.header;
	}
	const region_runtime *rt = catalog_.covering(e.offset);
	// A follower applies the writer's announced cuts of the region first, and trusts the
	// header only if no other began while it read it (docs/design.md 5.4, "Truncation").
	if (rt && follower_)
		(void)follower_->settle(rt, true);
	if (rt) {
		const uint64_t id = rt->id.load(std::memory_order_acquire);
		// The end of the entries that hold the offset: the tail, or a wrapped region's lap end.
		const uint64_t tail = rt->entries_end(e.offset);
		if (id != 0 && (e.region_id == 0 || e.region_id == id) && tail != 0 &&
		    (e.offset - rt->data_begin.load(std::memory_order_relaxed)) % format::entry_alignment == 0 &&
		    tail - e.offset >= sizeof(entry_header) &&
		    (!rt->gaps || !rt->in_gap(e.offset))) { // damage a skip-corrupt open stepped over
			entry_header h;
			std::memcpy(&h, base_ + e.offset, sizeof(h));
			const uint64_t ts = h.timestamp & format::timestamp_mask;
			if (ts != 0 && ts <= vis_.committed.load(std::memory_order_acquire) &&
			    !(h.timestamp & format::flag_padding) && format::entry_footprint(h.size) <= tail - e.offset &&
			    rt->id_after_reads() == id && (!follower_ || follower_->cuts_settled_after_reads(rt))) {
				if (out)
					*out = rt;
				h.timestamp = ts;
				cached = last_entry{instance_, e.offset, layout, id, rt, h};
				return h;
			}
		}
	}
	return error(errc::invalid_handle, "no committed entry at offset " + detail::hex(e.offset));
}

} // namespace pmemstream
