// SPDX-License-Identifier: BSD-3-Clause
// A model of what a stream acknowledged, and a checker that reads a (recovered) stream through
// the public API and lists every way it departs from the model: lost or altered acknowledged
// entries, torn or stale entries, timestamp holes, entries below an observed persisted
// watermark missing, missing, duplicated or overlapping regions, iterations that do not end.
// Several operations may be in flight (submitted by several threads, or committed and not yet
// persisted); op_history.hpp records them as threads run.
#ifndef PMEMSTREAM_TEST_STREAM_CHECK_HPP
#define PMEMSTREAM_TEST_STREAM_CHECK_HPP

#include <pmemstream/stream.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace pmemstream::test {

struct model_entry {
	uint64_t offset = 0;
	uint64_t timestamp = 0;
	std::vector<std::byte> data;
	friend bool operator==(const model_entry &, const model_entry &) = default;
};

struct model_region {
	uint64_t offset = 0;
	uint64_t size = 0; // usable bytes, as region_size() reported at allocation
	std::vector<model_entry> entries;
};

// Acknowledged state: every operation that returned success.
struct stream_model {
	std::vector<model_region> regions; // allocation order
	std::set<uint64_t> gone;	   // timestamps of entries in freed regions
	uint64_t last_timestamp = 0;	   // largest timestamp acknowledged (or observed)

	model_region *find(uint64_t offset);
	const model_region *find(uint64_t offset) const;
	void allocated(region r, uint64_t size);
	// Keeps the region's entries in offset order (threads may record out of order).
	void appended(region r, entry e, uint64_t timestamp, std::span<const std::byte> data);
	void freed(region r);
};

// An operation under way when the crash happens: it may have taken effect or not, but
// nothing else may differ from the model.
enum class op_kind {
	none,
	allocate, // size = requested size
	free,	  // region
	append,	  // region, data (append or publish)
};

struct pending_op {
	op_kind kind = op_kind::none;
	uint64_t region = 0;
	uint64_t size = 0;
	std::vector<std::byte> data;
	// Appends: every timestamp committed before the submission is <= floor, so the entry's
	// is larger. Once the library handed them out (committed), its timestamp and offset;
	// 0 until then.
	uint64_t floor = 0;
	uint64_t timestamp = 0;
	uint64_t offset = 0;
};

// What a crash image of one moment may show.
struct expectation {
	stream_model acked; // persisted and acknowledged: present, exact
	// Submitted, not known persisted: each may be visible or not. Appends any number (in one
	// region or several); at most one allocate and one free.
	std::vector<pending_op> in_flight;
	// The largest persisted_timestamp() observed before the crash: every timestamp up to it
	// is visible (or belongs to a freed region), committed ones with their exact bytes.
	uint64_t persisted = 0;
};

// Checks `s` against `x`; returns the violations (empty = consistent). When `observed` is
// given it receives the stream's content as a model (to continue from after recovery).
std::vector<std::string> check_stream(const stream &s, const expectation &x, stream_model *observed = nullptr);
// The same with one operation in flight, which started after everything in `m` (its
// timestamp, if it appended, is above m.last_timestamp).
std::vector<std::string> check_stream(const stream &s, const stream_model &m, const pending_op &op, stream_model *observed = nullptr);

// Reads the whole content of `s` into a model, with bounded iterations; problems (an
// iteration that does not end, an accessor that fails) go to `violations`. A salvaged
// stream need not account for the arena behind the damage (`salvaged`).
stream_model read_stream(const stream &s, std::vector<std::string> &violations, bool salvaged = false);

// Deterministic payload bytes.
std::vector<std::byte> make_payload(std::mt19937_64 &rng, uint64_t size);

} // namespace pmemstream::test

#endif
