// SPDX-License-Identifier: BSD-3-Clause
// Every pmemstream::errc up to errc::last_ has a name, a PMEMSTREAM_E_* constant of value
// -(1000 + n), a pmemstream_strerror() text and the errno docs/c_api.md promises, so a code
// added to the C++ enum cannot be forgotten by the C API: the table below stops compiling when
// errc grows. Linked with the library's internals to reach the errno translation, which the C
// tests can exercise only for the errors they can provoke.
#include "c_api/c_api.hpp" // libpmemstream.h with the C handle renamed, and the C++ API

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>

namespace {

using pmemstream::errc;

struct expected {
	int code;
	int posix;
};

// In errc order, from errc::invalid_argument (1); the errno column is docs/c_api.md's table.
constexpr expected table[] = {
	{PMEMSTREAM_E_INVALID_ARGUMENT, EINVAL},
	{PMEMSTREAM_E_INVALID_HANDLE, EINVAL},
	{PMEMSTREAM_E_REGION_FULL, ENOSPC},
	{PMEMSTREAM_E_OUT_OF_SPACE, ENOSPC},
	{PMEMSTREAM_E_CORRUPT, EILSEQ},
	{PMEMSTREAM_E_VERSION_MISMATCH, ENOTSUP},
	{PMEMSTREAM_E_NOT_A_STREAM, EINVAL},
	{PMEMSTREAM_E_PARAMETER_MISMATCH, EINVAL},
	{PMEMSTREAM_E_IO, EIO},
	{PMEMSTREAM_E_READ_ONLY, EROFS},
	{PMEMSTREAM_E_BUSY, EBUSY},
	{PMEMSTREAM_E_ENTRY_TOO_LARGE, EMSGSIZE},
	{PMEMSTREAM_E_EXISTS, EEXIST},
	{PMEMSTREAM_E_MEDIA_FAILED, EIO},
	{PMEMSTREAM_E_TIMESTAMPS_EXHAUSTED, EOVERFLOW},
	{PMEMSTREAM_E_WRONG_PROCESS, EBADF},
	{PMEMSTREAM_E_TIMED_OUT, ETIMEDOUT},
	{PMEMSTREAM_E_TX_TOO_LARGE, E2BIG},
	{PMEMSTREAM_E_TX_FINISHED, EINVAL},
	{PMEMSTREAM_E_TRUNCATED, ESPIPE}, // 20, issue 14
	// live readers (issue 12)
	{PMEMSTREAM_E_REGION_FREED, ENOENT},
	{PMEMSTREAM_E_WRITER_GONE, EPIPE},
};
static_assert(std::size(table) == static_cast<size_t>(errc::last_) - 1,
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
		if (table[n - 1].code == 0)
			continue;
		const char *name = pmemstream::errc_name(e);
		check(std::strcmp(name, "unknown error") != 0, "errc_name() does not know the code", n);
		const expected &x = table[n - 1];
		check(x.code == -(PMEMSTREAM_E_BASE + n), "the C constant is not -(1000 + n)", n);
		check(pmemstream::c_api::posix_errno(x.code) == x.posix, "the errno is not the documented one", n);
		const char *text = pmemstream_strerror(x.code);
		check(text != nullptr && std::strcmp(text, name) == 0, "pmemstream_strerror() differs from errc_name()", n);
		for (int m = 1; m < n; m++)
			if (table[m - 1].code != 0)
				check(std::strcmp(name, pmemstream::errc_name(static_cast<errc>(m))) != 0, "two codes share a name", n);
	}
	check(pmemstream::c_api::posix_errno(PMEMSTREAM_E_INTERNAL) == ENOTRECOVERABLE, "internal error's errno", 999);
	check(pmemstream::c_api::posix_errno(-ENOMEM) == ENOMEM, "-ENOMEM's errno", 0);
	const int past_last = -(PMEMSTREAM_E_BASE + static_cast<int>(errc::last_));
	check(std::strcmp(pmemstream_strerror(past_last), "unknown error") == 0, "a code past errc::last_ has a name",
	      static_cast<int>(errc::last_));
	std::printf("%s\n", failures == 0 ? "error table OK" : "error table FAILED");
	return failures == 0 ? 0 : 1;
}
