// SPDX-License-Identifier: BSD-3-Clause
// SIGINT and SIGTERM as a request to stop. Commands that run until told to (tail -f) or until
// their input ends (append) install the handlers, check stop_requested() between entries and
// wait through wait_readable(), which a stop signal always cuts short.
#ifndef PMEMSTREAM_TOOLS_STOP_SIGNALS_HPP
#define PMEMSTREAM_TOOLS_STOP_SIGNALS_HPP

#include <cstdint>

namespace cli {

// Installs the handlers, with SA_RESTART so that a signal never fails a read, a write or a
// library call half way: only the waits below notice it.
void install_stop_handlers();
bool stop_requested() noexcept;
// "SIGTERM" or "SIGINT": the first stop signal received (nullptr before one arrived).
const char *stop_signal_name() noexcept;

enum class wait_result { ready, timeout, stopped };

// Waits until `fd` is readable (or at its end), `timeout_ms` passed (-1: no limit) or a stop
// signal arrived; fd -1 just sleeps. A signal that arrives just before the wait is not missed:
// the stop signals stay blocked except inside ppoll(). Another signal may end the wait early
// (reported as timeout). Fails with exit_file when polling fails.
wait_result wait_readable(int fd, int64_t timeout_ms);

} // namespace cli

#endif // PMEMSTREAM_TOOLS_STOP_SIGNALS_HPP
