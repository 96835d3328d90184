// SPDX-License-Identifier: BSD-3-Clause
// Crash-point exploration. A workload drives a stream on a simulated medium through an
// explorer, which records every operation in an op_history: acknowledged ones, and those in
// flight (appends may come from several threads at once). At every fence (and at sampled
// flushes, and right after each acknowledgement) the medium calls back, on whichever thread
// stored; the explorer draws many power-failure images of that moment, recovers each with the
// real open path and checks it against the history, the persisted watermark observed then
// included. Some recoveries are crashed again at each of their own fences, and followed by
// appends that are crashed too.
#ifndef PMEMSTREAM_TEST_CRASH_EXPLORER_HPP
#define PMEMSTREAM_TEST_CRASH_EXPLORER_HPP

#include "op_history.hpp"
#include "sim_media.hpp"
#include "stream_check.hpp"

#include <pmemstream/stream.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pmemstream::test {

struct explore_config {
	uint64_t images_per_fence = 300;
	uint64_t images_per_flush = 60;
	uint64_t flush_stride = 1;    // draw at every n-th flush
	uint64_t nested_every = 200;  // every n-th image is crashed again during and after recovery
	uint64_t nested_images = 4;   // images per fence of a nested run
	uint64_t readonly_every = 4;  // every n-th image is also opened read-only
	uint64_t seed = 1;
	// The medium of the live stream and of every recovery.
	sim_media::fence_model fence = sim_media::fence_model::per_thread;
	// The options of every open, the live stream's and each recovery's (read_only is set for
	// the read-only ones): e.g. checkpoint_bytes for checkpoints while running.
	open_options open{};

	// The defaults (what `make test` runs), with PMEMSTREAM_CRASH_IMAGES (images per fence;
	// images per flush follow) and PMEMSTREAM_CRASH_SEED applied.
	static explore_config from_env();
};

struct explore_figures {
	uint64_t points = 0;	     // crash points (fences, flushes, acknowledgements) explored
	uint64_t images = 0;	     // distinct crash images recovered and checked
	uint64_t nested_points = 0;  // crash points inside recovery / post-recovery appends
	uint64_t nested_images = 0;
	uint64_t crowded_points = 0; // crash points with several operations in flight
	uint64_t violations = 0;
	uint64_t fence_threads = 0;  // distinct threads whose fences were crash points (+=: the larger)
	uint64_t reopened = 0;	     // nested runs whose stream, after its appends and close, was opened again
	uint64_t unpersisted_points = 0; // crash points with an append committed and not known persisted
	explore_figures &operator+=(const explore_figures &o);
};

class explorer {
public:
	// Puts a medium of the test's own between the stream and the simulated one (a group
	// commit, say); it must forward to the sim_media it is given, which it owns.
	using media_wrapper = std::function<std::unique_ptr<detail::media>(std::unique_ptr<sim_media>)>;

	explorer(std::string name, uint64_t stream_size, uint64_t block_size, const explore_config &cfg);
	~explorer();

	// Applies to the live media from the next create() or reopen() on.
	void wrap_media(media_wrapper w)
	{
		wrap_ = std::move(w);
	}

	// Creates the stream on a zeroed medium (crash points during creation included).
	void create();
	// Closes the stream (crash points during the clean close included) and opens the durable
	// image left behind (crash points during that recovery included); checks it.
	void reopen();
	void close();

	// append() may be called from several threads at once (each its own acknowledgement
	// point); everything else from one thread while no append runs.
	result<region> allocate(uint64_t size);
	status free(region r);
	result<entry> append(region r, uint64_t size);
	// An asynchronous append (any thread, like append()): committed on return, acknowledged
	// once a persisted watermark at or above its timestamp is observed (wait_persisted()).
	result<appended> async_append(region r, uint64_t size);
	// stream::wait_persisted(ts), then the watermarks observed and a crash point.
	status wait_persisted(uint64_t ts);
	// reserve(reserve_size), fill publish_size bytes, crash point, publish(publish_size).
	status reserve_publish(region r, uint64_t reserve_size, uint64_t publish_size);

	// Drops the n-th drain of the medium (counted from creation / the last reopen).
	void drop_drain(uint64_t n)
	{
		drop_ = n;
		if (media_)
			media_->drop_drain(n);
	}
	uint64_t drains() const
	{
		return media_ ? media_->drains() : 0;
	}
	// Checks the live stream against the model (no crash): a sanity check of the workload.
	void check_live();

	stream &s()
	{
		return *stream_;
	}
	// False after a create or reopen that failed (a violation): s() names nothing then.
	bool live() const
	{
		return stream_ != nullptr;
	}
	stream_model model() const
	{
		return hist_.acked();
	}
	const explore_figures &figures() const
	{
		return fig_;
	}
	const std::vector<std::string> &reports() const
	{
		return reports_;
	}
	std::mt19937_64 &data_rng()
	{
		return data_rng_;
	}

private:
	void attach(sim_media &m);
	std::unique_ptr<detail::media> wrapped(std::unique_ptr<sim_media> m);
	void explore_live(sim_media &m, sim_event e);
	void explore(sim_media &m, sim_event e, const expectation &x, int depth);
	void check_image(const std::vector<std::byte> &img, const expectation &x, int depth, const std::string &where);
	// `with_image`: called from the hook, which owns current_image_.
	void violation(const std::string &where, const std::string &what, bool with_image = true);
	void observe_watermarks(const char *where);

	std::string name_;
	uint64_t size_;
	uint64_t block_size_;
	explore_config cfg_;
	media_wrapper wrap_;
	std::unique_ptr<stream> stream_;
	sim_media *media_ = nullptr;
	std::shared_ptr<std::vector<std::byte>> closed_image_;
	op_history hist_;
	// What the single-threaded methods are doing (create, close, a filled reservation).
	std::string phase_;
	explore_figures fig_;
	// Guards reports_, kinds_ and fig_.violations: violations come from appending threads.
	std::mutex report_mutex_;
	std::vector<std::string> reports_;
	std::set<std::string> kinds_;
	std::mutex rng_mutex_;
	std::mt19937_64 data_rng_;
	// Used by the hook only, which the serialised medium runs one at a time.
	uint64_t image_counter_ = 0;
	uint64_t drop_ = 0;
	bool creating_ = false;
	std::string nested_phase_;
	const std::vector<std::byte> *current_image_ = nullptr; // being checked
	const std::vector<std::byte> *parent_image_ = nullptr;  // whose recovery produced it
	uint64_t media_generation_ = 0;
	std::set<std::thread::id> fence_threads_;
};

} // namespace pmemstream::test

#endif
