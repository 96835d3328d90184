// SPDX-License-Identifier: BSD-3-Clause
// stream::impl: the units of one open stream, wired together. Each concept lives in its own
// unit (docs/design.md 1); this class only owns them and holds what they share.
#ifndef PMEMSTREAM_ENGINE_STREAM_IMPL_HPP
#define PMEMSTREAM_ENGINE_STREAM_IMPL_HPP

#include "engine/commit_tracker.hpp"
#include "engine/region_catalog.hpp"
#include "engine/region_writer.hpp"
#include "engine/sidecar.hpp"
#include "engine/state_record.hpp"
#include "engine/visibility.hpp"
#include "engine/write_gate.hpp"
#include "media/media.hpp"

#include <pmemstream/stream.hpp>

#include <memory>

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
};

} // namespace pmemstream

#endif
