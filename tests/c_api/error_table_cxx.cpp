// SPDX-License-Identifier: BSD-3-Clause
// Every pmemstream::errc up to errc::last_ has a name, a PMEMSTREAM_E_* constant of value
// -(1000 + n) and a pmemstream_strerror() text, so a code added to the C++ enum cannot be
// forgotten by the C API: the constant table below stops compiling when errc grows.
//
// libpmemstream.h and <pmemstream/errors.hpp> cannot share a translation unit as they are
// (struct pmemstream and namespace pmemstream), so the C handle is renamed here as the
// library's own C API files do.
#define pmemstream pmemstream_c_handle
#include <libpmemstream.h>
#undef pmemstream

#include <pmemstream/errors.hpp>

#include <cstdio>
#include <cstring>
#include <iterator>

namespace {

using pmemstream::errc;

// In errc order, from errc::invalid_argument (1).
constexpr int c_constants[] = {
	PMEMSTREAM_E_INVALID_ARGUMENT,	 PMEMSTREAM_E_INVALID_HANDLE,	PMEMSTREAM_E_REGION_FULL,
	PMEMSTREAM_E_OUT_OF_SPACE,	 PMEMSTREAM_E_CORRUPT,		PMEMSTREAM_E_VERSION_MISMATCH,
	PMEMSTREAM_E_NOT_A_STREAM,	 PMEMSTREAM_E_PARAMETER_MISMATCH, PMEMSTREAM_E_IO,
	PMEMSTREAM_E_READ_ONLY,		 PMEMSTREAM_E_BUSY,		PMEMSTREAM_E_ENTRY_TOO_LARGE,
	PMEMSTREAM_E_EXISTS,		 PMEMSTREAM_E_MEDIA_FAILED,	PMEMSTREAM_E_TIMESTAMPS_EXHAUSTED,
	PMEMSTREAM_E_WRONG_PROCESS,
};
static_assert(std::size(c_constants) == static_cast<size_t>(errc::last_) - 1,
	      "a pmemstream::errc has no PMEMSTREAM_E_* constant in libpmemstream.h (or this table is stale)");

int failures;

void check(bool ok, const char *what, int n)
{
	if (!ok) {
		std::printf("FAIL: %s (errc %d)\n", what, n);
		failures++;
	}
}

} // namespace

int main()
{
	for (int n = 1; n < static_cast<int>(errc::last_); n++) {
		const auto e = static_cast<errc>(n);
		const char *name = pmemstream::errc_name(e);
		check(std::strcmp(name, "unknown error") != 0, "errc_name() does not know the code", n);
		check(c_constants[n - 1] == -(PMEMSTREAM_E_BASE + n), "the C constant is not -(1000 + n)", n);
		const char *text = pmemstream_strerror(c_constants[n - 1]);
		check(text != nullptr && std::strcmp(text, name) == 0, "pmemstream_strerror() differs from errc_name()", n);
		for (int m = 1; m < n; m++)
			check(std::strcmp(name, pmemstream::errc_name(static_cast<errc>(m))) != 0, "two codes share a name", n);
	}
	const int past_last = -(PMEMSTREAM_E_BASE + static_cast<int>(errc::last_));
	check(std::strcmp(pmemstream_strerror(past_last), "unknown error") == 0, "a code past errc::last_ has a name",
	      static_cast<int>(errc::last_));
	std::printf("%s\n", failures == 0 ? "error table OK" : "error table FAILED");
	return failures == 0 ? 0 : 1;
}
