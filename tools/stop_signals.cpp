// SPDX-License-Identifier: BSD-3-Clause
#include "stop_signals.hpp"

#include "cli.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <string>

namespace cli {

namespace {

volatile std::sig_atomic_t stop_signal = 0;

extern "C" void on_stop_signal(int sig)
{
	if (stop_signal == 0)
		stop_signal = sig;
}

sigset_t stop_set()
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	return s;
}

} // namespace

void install_stop_handlers()
{
	struct sigaction sa;
	std::memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, nullptr);
	sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() noexcept
{
	return stop_signal != 0;
}

const char *stop_signal_name() noexcept
{
	switch (stop_signal) {
	case 0: return nullptr;
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	default: return "a signal";
	}
}

wait_result wait_readable(int fd, int64_t timeout_ms)
{
	sigset_t block = stop_set(), old;
	sigprocmask(SIG_BLOCK, &block, &old);
	wait_result r = wait_result::stopped;
	int err = 0;
	if (!stop_requested()) {
		struct pollfd p;
		p.fd = fd;
		p.events = POLLIN;
		p.revents = 0;
		struct timespec ts;
		ts.tv_sec = static_cast<time_t>(timeout_ms / 1000);
		ts.tv_nsec = static_cast<long>((timeout_ms % 1000) * 1000000);
		// ppoll() unblocks the stop signals only while it waits, so none slips in between the
		// check above and the wait. (poll/ppoll are never restarted, whatever SA_RESTART says.)
		int n = ::ppoll(fd >= 0 ? &p : nullptr, fd >= 0 ? 1 : 0, timeout_ms < 0 ? nullptr : &ts, &old);
		if (n > 0)
			r = wait_result::ready;
		else if (n == 0 || (errno == EINTR && !stop_requested()))
			r = wait_result::timeout;
		else if (errno != EINTR)
			err = errno;
	}
	sigprocmask(SIG_SETMASK, &old, nullptr);
	if (err != 0)
		fail(exit_file, std::string("waiting for input: ") + std::strerror(err));
	return r;
}

} // namespace cli
