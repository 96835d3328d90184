// SPDX-License-Identifier: BSD-3-Clause
// Sleeping on a 64-bit watermark word with a deadline. std::atomic<uint64_t>::wait has no
// timeout (and libstdc++ waits on a proxy word for 64-bit types), so the waits block on the
// word's low 32 bits with FUTEX_WAIT directly; every change of a watermark changes them (it
// would take 2^32 increments between two loads to hide one, and the caller loads again).
#ifndef PMEMSTREAM_UTIL_FUTEX_HPP
#define PMEMSTREAM_UTIL_FUTEX_HPP

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace pmemstream::detail {

inline const uint32_t *futex_word(const std::atomic<uint64_t> &w) noexcept
{
	static_assert(sizeof(std::atomic<uint64_t>) == 8 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
	return reinterpret_cast<const uint32_t *>(&w);
}

// Sleeps while the low half of `w` equals that of `seen`, at most until `deadline`. Returns
// on a wake, a change, a signal or the deadline: the caller loads `w` again. `shared`: the word
// may be in memory other processes map (FUTEX_WAIT without the private flag).
// Returns 0 or the errno (EAGAIN: the word had changed; ETIMEDOUT; EINTR).
inline int futex_wait(const std::atomic<uint64_t> &w, uint64_t seen, std::chrono::steady_clock::time_point deadline,
		      bool shared = false) noexcept
{
	const int op = shared ? FUTEX_WAIT_BITSET : FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG;
	timespec ts{};
	const timespec *tp = nullptr;
	if (deadline != std::chrono::steady_clock::time_point::max()) {
		// FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, which steady_clock is.
		const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
		ts.tv_sec = static_cast<time_t>(ns / 1000000000);
		ts.tv_nsec = static_cast<long>(ns % 1000000000);
		tp = &ts;
	}
	return ::syscall(SYS_futex, futex_word(w), op, static_cast<uint32_t>(seen), tp, nullptr, FUTEX_BITSET_MATCH_ANY) == 0 ? 0 : errno;
}

inline void futex_wake_all(const std::atomic<uint64_t> &w, bool shared = false) noexcept
{
	::syscall(SYS_futex, futex_word(w), shared ? FUTEX_WAKE : FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, nullptr, nullptr, 0);
}

} // namespace pmemstream::detail

#endif
