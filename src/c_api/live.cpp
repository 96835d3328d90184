// SPDX-License-Identifier: BSD-3-Clause
// Live readers (issue 12): the stream's wait and the writer query. The iterators' and readers'
// waits are in iterators.cpp, beside their C structures.
#include "c_api.hpp"

using namespace pmemstream::c_api;

extern "C" {

int pmemstream_wait_for_errc(handle *stream, uint64_t timestamp, uint64_t timeout_ns)
{
	if (!stream)
		return invalid_argument("pmemstream_wait_for: stream is NULL");
	return guarded([&] {
		const auto t = timeout_ns >= static_cast<uint64_t>(pmemstream::stream::forever.count())
				       ? pmemstream::stream::forever
				       : std::chrono::nanoseconds(static_cast<int64_t>(timeout_ns));
		auto st = cpp(stream)->wait_for(timestamp, t);
		return st ? 0 : fail(st.err());
	});
}

int pmemstream_wait_for(handle *stream, uint64_t timestamp, uint64_t timeout_ns)
{
	return drop_in(pmemstream_wait_for_errc(stream, timestamp, timeout_ns));
}

int pmemstream_writer_state(handle *stream)
{
	if (!stream)
		return drop_in(invalid_argument("pmemstream_writer_state: stream is NULL"));
	using ws = pmemstream::stream::writer_state;
	switch (cpp(stream)->writer()) {
	case ws::self: return PMEMSTREAM_WRITER_SELF;
	case ws::following: return PMEMSTREAM_WRITER_FOLLOWING;
	case ws::gone: return PMEMSTREAM_WRITER_GONE;
	case ws::none: return PMEMSTREAM_WRITER_NONE;
	}
	return PMEMSTREAM_WRITER_NONE;
}

} // extern "C"
