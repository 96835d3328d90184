// SPDX-License-Identifier: BSD-3-Clause
#include <pmemstream/errors.hpp>

namespace pmemstream {
namespace {

class category : public std::error_category {
public:
	const char *name() const noexcept override
	{
		return "pmemstream";
	}
	std::string message(int ev) const override
	{
		return errc_name(static_cast<errc>(ev));
	}
};

} // namespace

const std::error_category &error_category() noexcept
{
	static const category c;
	return c;
}

const char *errc_name(errc e) noexcept
{
	switch (e) {
	case errc::ok: return "success";
	case errc::invalid_argument: return "invalid argument";
	case errc::invalid_handle: return "invalid handle";
	case errc::region_full: return "region full";
	case errc::out_of_space: return "out of space";
	case errc::corrupt: return "stream corrupt";
	case errc::version_mismatch: return "format version mismatch";
	case errc::not_a_stream: return "not a stream";
	case errc::parameter_mismatch: return "parameter mismatch";
	case errc::io_error: return "I/O error";
	case errc::read_only: return "stream is read-only";
	case errc::busy: return "busy";
	case errc::entry_too_large: return "entry too large";
	case errc::exists: return "file exists";
	case errc::media_failed: return "media failed";
	case errc::timestamps_exhausted: return "timestamps exhausted";
	case errc::wrong_process: return "stream belongs to another process";
	case errc::timed_out: return "timed out";
	case errc::tx_too_large: return "transaction too large";
	case errc::tx_finished: return "transaction already finished";
	case errc::truncated: return "position removed by a truncation"; // issue 14
	// live readers (issue 12)
	case errc::region_freed: return "region freed";
	case errc::writer_gone: return "writer gone";
	case errc::last_: break;
	}
	return "unknown error";
}

} // namespace pmemstream
