// SPDX-License-Identifier: BSD-3-Clause
// An image to damage, for the tests of point-in-time repair and skip-corrupt salvage: two
// regions appended in turn and closed cleanly on a simulated medium; and what a stream shows
// of it, as the timestamps of each region.
#ifndef PMEMSTREAM_TEST_TWO_REGION_IMAGE_HPP
#define PMEMSTREAM_TEST_TWO_REGION_IMAGE_HPP

#include "sim_media.hpp"
#include "stream_factory.hpp"

#include <pmemstream/stream.hpp>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

namespace pmemstream::test {

using seen = std::map<uint64_t, std::vector<uint64_t>>; // region offset -> timestamps

inline seen timestamps(const stream &s)
{
	seen out;
	for (auto ri = s.regions(); ri.is_valid(); ri.next()) {
		auto &v = out[ri.get().offset];
		auto it = s.entries(ri.get());
		for (; it && it->is_valid(); it->next())
			v.push_back(s.entry_timestamp(it->get()).value());
	}
	return out;
}

struct image {
	std::vector<std::byte> bytes;
	region a, b;
	std::vector<entry> ea, eb; // ea[k] has timestamp 2k + 1, eb[k] 2k + 2
};

// Regions a and b of 6000 bytes in 32 KiB of blocks of 256, appended in turn (a: 1 3 5 ...,
// b: 2 4 6 ...) with 40-byte entries whose bytes are all 0x40 + k; closed cleanly, or (crash)
// the image of a power failure right after the last append.
inline image alternate(int n, bool crash = false)
{
	image img;
	auto sink = std::make_shared<std::vector<std::byte>>();
	auto sm = std::make_unique<sim_media>(4096 + 32 * 1024);
	sim_media *m = sm.get();
	sm->keep_on_destroy(sink);
	auto s = detail::open_on_media(std::move(sm), 256, {}).value();
	img.a = s->region_allocate(6000).value();
	img.b = s->region_allocate(6000).value();
	for (int k = 0; k < n; ++k) {
		std::byte d[40];
		std::memset(d, 0x40 + k, sizeof(d));
		img.ea.push_back(entry(s->append(img.a, d, sizeof(d)).value()));
		img.eb.push_back(entry(s->append(img.b, d, sizeof(d)).value()));
	}
	if (crash)
		img.bytes = m->persisted_image();
	s.reset();
	if (!crash)
		img.bytes = *sink;
	return img;
}

} // namespace pmemstream::test

#endif
