// SPDX-License-Identifier: BSD-3-Clause
// Crash-point exploration. A workload drives a stream on a simulated medium through an
// explorer, which keeps the model of acknowledged operations and knows the operation in
// flight. At every fence (and at sampled flushes, and right after each acknowledgement) the
// medium calls back; the explorer draws many power-failure images of that moment, recovers
// each with the real open path and checks it against the model. Some recoveries are crashed
// again at each of their own fences, and followed by appends that are crashed too.
#ifndef PMEMSTREAM_TEST_CRASH_EXPLORER_HPP
#define PMEMSTREAM_TEST_CRASH_EXPLORER_HPP

#include "sim_media.hpp"
#include "stream_check.hpp"

#include <pmemstream/stream.hpp>

#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace pmemstream::test {

struct explore_config {
	uint64_t images_per_fence = 600;
	uint64_t images_per_flush = 60;
	uint64_t flush_stride = 1;    // draw at every n-th flush
	uint64_t nested_every = 200;  // every n-th image is crashed again during and after recovery
	uint64_t nested_images = 4;   // images per fence of a nested run
	uint64_t readonly_every = 4;  // every n-th image is also opened read-only
	uint64_t seed = 1;

	// The defaults (what `make test` runs), with PMEMSTREAM_CRASH_IMAGES (images per fence;
	// images per flush follow) and PMEMSTREAM_CRASH_SEED applied.
	static explore_config from_env();
};

struct explore_figures {
	uint64_t points = 0;	     // crash points (fences, flushes, acknowledgements) explored
	uint64_t images = 0;	     // distinct crash images recovered and checked
	uint64_t nested_points = 0;  // crash points inside recovery / post-recovery appends
	uint64_t nested_images = 0;
	uint64_t violations = 0;
	explore_figures &operator+=(const explore_figures &o);
};

class explorer {
public:
	explorer(std::string name, uint64_t stream_size, uint64_t block_size, const explore_config &cfg);
	~explorer();

	// Creates the stream on a zeroed medium (crash points during creation included).
	void create();
	// Closes the stream (crash points during the clean close included) and opens the durable
	// image left behind (crash points during that recovery included); checks it.
	void reopen();
	void close();

	result<region> allocate(uint64_t size);
	status free(region r);
	result<entry> append(region r, uint64_t size);
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
	const stream_model &model() const
	{
		return model_;
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
	void explore(sim_media &m, sim_event e, const stream_model &mod, const pending_op &op, int depth);
	void check_image(const std::vector<std::byte> &img, const stream_model &mod, const pending_op &op, int depth,
			 const std::string &where);
	void violation(const std::string &where, const std::string &what);
	void after_ack();

	std::string name_;
	uint64_t size_;
	uint64_t block_size_;
	explore_config cfg_;
	std::unique_ptr<stream> stream_;
	sim_media *media_ = nullptr;
	std::shared_ptr<std::vector<std::byte>> closed_image_;
	stream_model model_;
	pending_op op_;
	std::string op_name_;
	explore_figures fig_;
	std::vector<std::string> reports_;
	std::set<std::string> kinds_;
	std::mt19937_64 data_rng_;
	uint64_t image_counter_ = 0;
	uint64_t drop_ = 0;
	bool creating_ = false;
	std::string nested_phase_;
	const std::vector<std::byte> *current_image_ = nullptr; // being checked
	const std::vector<std::byte> *parent_image_ = nullptr;  // whose recovery produced it
	uint64_t media_generation_ = 0;
};

} // namespace pmemstream::test

#endif
