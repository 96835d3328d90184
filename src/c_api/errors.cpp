// SPDX-License-Identifier: BSD-3-Clause
// Error codes, their names and errno values, and the per-thread last error of the C API.
#include "c_api.hpp"

#include <cerrno>
#include <system_error>

using namespace pmemstream::c_api;
using pmemstream::errc;

// The header's codes must follow errc, which is never renumbered.
static_assert(c_code(errc::invalid_argument) == PMEMSTREAM_E_INVALID_ARGUMENT);
static_assert(c_code(errc::invalid_handle) == PMEMSTREAM_E_INVALID_HANDLE);
static_assert(c_code(errc::region_full) == PMEMSTREAM_E_REGION_FULL);
static_assert(c_code(errc::out_of_space) == PMEMSTREAM_E_OUT_OF_SPACE);
static_assert(c_code(errc::corrupt) == PMEMSTREAM_E_CORRUPT);
static_assert(c_code(errc::version_mismatch) == PMEMSTREAM_E_VERSION_MISMATCH);
static_assert(c_code(errc::not_a_stream) == PMEMSTREAM_E_NOT_A_STREAM);
static_assert(c_code(errc::parameter_mismatch) == PMEMSTREAM_E_PARAMETER_MISMATCH);
static_assert(c_code(errc::io_error) == PMEMSTREAM_E_IO);
static_assert(c_code(errc::read_only) == PMEMSTREAM_E_READ_ONLY);
static_assert(c_code(errc::busy) == PMEMSTREAM_E_BUSY);
static_assert(c_code(errc::entry_too_large) == PMEMSTREAM_E_ENTRY_TOO_LARGE);
static_assert(c_code(errc::exists) == PMEMSTREAM_E_EXISTS);
static_assert(c_code(errc::media_failed) == PMEMSTREAM_E_MEDIA_FAILED);
static_assert(c_code(errc::timestamps_exhausted) == PMEMSTREAM_E_TIMESTAMPS_EXHAUSTED);
static_assert(c_code(errc::wrong_process) == PMEMSTREAM_E_WRONG_PROCESS);
static_assert(c_code(errc::timed_out) == PMEMSTREAM_E_TIMED_OUT);
static_assert(c_code(errc::tx_too_large) == PMEMSTREAM_E_TX_TOO_LARGE);
static_assert(c_code(errc::tx_finished) == PMEMSTREAM_E_TX_FINISHED);
static_assert(c_code(errc::truncated) == PMEMSTREAM_E_TRUNCATED); // issue 14
// live readers (issue 12)
static_assert(c_code(errc::region_freed) == PMEMSTREAM_E_REGION_FREED);
static_assert(c_code(errc::writer_gone) == PMEMSTREAM_E_WRITER_GONE);
// The internal code stays out of errc's range however far errc grows.
static_assert(c_code(errc::last_) > PMEMSTREAM_E_INTERNAL);
// The public structures are ABI: their sizes never change (new facts use reserved fields).
static_assert(sizeof(pmemstream_region) == 8 && sizeof(pmemstream_entry) == 8);
static_assert(sizeof(pmemstream_region_info) == 64);
static_assert(sizeof(pmemstream_entry_info) == 64);
static_assert(sizeof(pmemstream_info) == 160);

namespace {

// The calling thread's last failure; successful calls leave both alone.
thread_local int last_code;
thread_local std::string last_message;

} // namespace

namespace pmemstream::c_api {

void record_error(int code, const char *text) noexcept
{
	last_code = code;
	try {
		last_message = text;
	} catch (...) {
		last_message.clear();
	}
	errno = posix_errno(code);
}

void record_error(int code, const std::string &text) noexcept
{
	record_error(code, text.c_str());
}

int posix_errno(int code) noexcept
{
	if (code < 0 && code > -PMEMSTREAM_E_BASE)
		return -code; // already a negated errno (-ENOMEM)
	if (code == PMEMSTREAM_E_INTERNAL)
		return ENOTRECOVERABLE;
	// No default: a new errc fails to compile (-Wswitch) until it has an errno here.
	switch (static_cast<errc>(-code - PMEMSTREAM_E_BASE)) {
	case errc::ok: return 0;
	case errc::invalid_argument: return EINVAL;
	case errc::invalid_handle: return EINVAL;
	case errc::region_full: return ENOSPC;
	case errc::out_of_space: return ENOSPC;
	case errc::corrupt: return EILSEQ;
	case errc::version_mismatch: return ENOTSUP;
	case errc::not_a_stream: return EINVAL;
	case errc::parameter_mismatch: return EINVAL;
	case errc::io_error: return EIO;
	case errc::read_only: return EROFS;
	case errc::busy: return EBUSY;
	case errc::entry_too_large: return EMSGSIZE;
	case errc::exists: return EEXIST;
	case errc::media_failed: return EIO;
	case errc::timestamps_exhausted: return EOVERFLOW;
	case errc::wrong_process: return EBADF;
	case errc::timed_out: return ETIMEDOUT;
	case errc::tx_too_large: return E2BIG;
	case errc::tx_finished: return EINVAL;
	case errc::truncated: return ESPIPE; // issue 14: the position is gone; seek again
	// live readers (issue 12)
	case errc::region_freed: return ENOENT;
	case errc::writer_gone: return EPIPE;
	case errc::last_: break;
	}
	return EINVAL;
}

} // namespace pmemstream::c_api

extern "C" {

const char *pmemstream_strerror(int code)
{
	if (code == 0)
		return "success";
	// What every failing function returns in the drop-in mode; -EPERM is never a code here.
	if (code == -1)
		return "failed (pmemstream_errno() has the specific code)";
	if (code <= -(PMEMSTREAM_E_BASE + 1) && code > c_code(errc::last_))
		return pmemstream::errc_name(static_cast<errc>(-code - PMEMSTREAM_E_BASE));
	if (code == PMEMSTREAM_E_INTERNAL)
		return "internal error";
	if (code < 0 && code > -PMEMSTREAM_E_BASE) {
		thread_local std::string text;
		try {
			text = std::generic_category().message(-code);
			return text.c_str();
		} catch (...) {
			return "unknown system error";
		}
	}
	return "unknown error";
}

const char *pmemstream_errormsg(void)
{
	return last_message.c_str();
}

int pmemstream_errno(void)
{
	return last_code;
}

} // extern "C"
