// SPDX-License-Identifier: BSD-3-Clause
#include "media/pmem2_media.hpp"

namespace pmemstream::detail {

thread_local pmem2_media::pending_range pmem2_media::pending;

std::unique_ptr<media> make_pmem2_media(struct pmem2_map *map, bool read_only)
{
	return std::make_unique<pmem2_media>(map, read_only);
}

} // namespace pmemstream::detail
