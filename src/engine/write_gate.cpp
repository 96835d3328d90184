// SPDX-License-Identifier: BSD-3-Clause
#include "engine/write_gate.hpp"

namespace pmemstream::detail {

error write_gate::refusal() const
{
	if (read_only_)
		return error(errc::read_only, "the stream was opened read-only");
	if (m_.forked())
		return error(errc::wrong_process, "the stream was opened by the parent of this process (before fork()); "
						  "a child must open the stream itself, after the parent closed it");
	if (failed_why_.load() == errc::timestamps_exhausted)
		return error(errc::timestamps_exhausted, "all 2^56 - 1 timestamps of the format are used; the stream takes no more writes");
	return error(errc::media_failed, "an earlier media error stopped all writes; reopen the stream");
}

} // namespace pmemstream::detail
