// SPDX-License-Identifier: BSD-3-Clause
// What every file of the C API shares: the C handle under a name C++ can live with, the casts
// between C handles and C++ objects, the one error translation (fail() records a code, its
// errno and its message together) and the guard that keeps exceptions out of C. Each concept of libpmemstream.h has its own .cpp beside this one.
#ifndef PMEMSTREAM_C_API_HPP
#define PMEMSTREAM_C_API_HPP

// struct pmemstream (C) and namespace pmemstream (C++) cannot share one scope, so the C API
// sees the C handle under another tag. The functions are extern "C": their symbols do not
// depend on the tag.
#define pmemstream pmemstream_c_handle
#include <libpmemstream.h>
#undef pmemstream

#include <pmemstream/stream.hpp>

#include <cerrno>
#include <exception>
#include <new>
#include <string>

struct pmemstream_c_handle;

namespace pmemstream::c_api {

using handle = pmemstream_c_handle;

constexpr int c_code(errc e)
{
	return -(PMEMSTREAM_E_BASE + static_cast<int>(e));
}

// Records the calling thread's last failure (errors.cpp): its specific code for
// pmemstream_errno(), its message for pmemstream_errormsg(), and errno = posix_errno(code).
void record_error(int code, const char *text) noexcept;
void record_error(int code, const std::string &text) noexcept;

// The one translation from a specific code (PMEMSTREAM_E_* or -errno) to the POSIX errno the
// C API sets (errors.cpp; the table is in docs/c_api.md).
int posix_errno(int code) noexcept;

inline int to_c_code(errc code) noexcept
{
	return c_code(code);
}

inline int fail(const error &err) noexcept
{
	const int code = to_c_code(err.code());
	if (err.message().empty())
		record_error(code, errc_name(err.code()));
	else
		record_error(code, err.message());
	return code;
}

inline int fail(errc code, const char *text) noexcept
{
	record_error(to_c_code(code), text);
	return to_c_code(code);
}

inline int invalid_argument(const char *text) noexcept
{
	return fail(errc::invalid_argument, text);
}

// The drop-in face of a function that returns int: the original returned -1 for every
// error. The function's _errc variant returns `code` itself. errno is set again here because
// destructors that ran since the failure was recorded are allowed to change it.
inline int drop_in(int code) noexcept
{
	if (code == 0)
		return 0;
	errno = posix_errno(code);
	return -1;
}

// Runs f, turning anything thrown (only allocation failure is expected) into a code.
template <typename F>
int guarded(F &&f) noexcept
{
	try {
		return f();
	} catch (const std::bad_alloc &) {
		record_error(-ENOMEM, "out of memory");
		return -ENOMEM;
	} catch (const std::exception &e) {
		record_error(PMEMSTREAM_E_INTERNAL, e.what());
		return PMEMSTREAM_E_INTERNAL;
	} catch (...) {
		record_error(PMEMSTREAM_E_INTERNAL, "unknown exception");
		return PMEMSTREAM_E_INTERNAL;
	}
}

inline stream *cpp(handle *s) noexcept
{
	return reinterpret_cast<stream *>(s);
}

inline handle *c(stream *s) noexcept
{
	return reinterpret_cast<handle *>(s);
}

inline region_runtime *cpp(pmemstream_region_runtime *rt) noexcept
{
	return reinterpret_cast<region_runtime *>(rt);
}

inline region cpp(pmemstream_region r) noexcept
{
	return region{r.offset};
}

inline entry cpp(pmemstream_entry e) noexcept
{
	return entry{e.offset};
}

// A complete publish future (async.cpp) with `code` and, on success, `timestamp`: also what
// pmemstream_tx_async_commit returns (tx.cpp).
pmemstream_async_publish_fut completed_publish_future(int code, uint64_t timestamp) noexcept;

} // namespace pmemstream::c_api

#endif // PMEMSTREAM_C_API_HPP
