// SPDX-License-Identifier: BSD-3-Clause
// Internal entry point: a stream over any media (tests plug in a simulated one).
#ifndef PMEMSTREAM_STREAM_FACTORY_HPP
#define PMEMSTREAM_STREAM_FACTORY_HPP

#include "media.hpp"

#include <pmemstream/stream.hpp>

namespace pmemstream::detail {

// Initialises a stream on an all-zero medium (unless options.read_only), or opens the one it
// holds. block_size 0 means "whatever the header says" when opening and 4096 when creating.
result<std::unique_ptr<stream>> open_on_media(std::unique_ptr<media> m, uint64_t block_size, const open_options &options);

} // namespace pmemstream::detail

#endif
