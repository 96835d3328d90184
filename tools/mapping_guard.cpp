// SPDX-License-Identifier: BSD-3-Clause
#include "mapping_guard.hpp"

#include "cli.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace cli {

namespace {

sigjmp_buf *volatile armed = nullptr;
volatile std::sig_atomic_t fault_code = 0;
std::string armed_path;

extern "C" void on_sigbus(int, siginfo_t *info, void *)
{
	sigjmp_buf *env = armed;
	if (env && (info->si_code == BUS_ADRERR || info->si_code == BUS_MCEERR_AR)) {
		fault_code = info->si_code;
		armed = nullptr;
		siglongjmp(*env, 1);
	}
	// Not a fault of a guarded read: with the default action back, returning re-runs the
	// faulting instruction and the signal ends the process as it would have without us.
	std::signal(SIGBUS, SIG_DFL);
}

void install_handler()
{
	static bool installed = false;
	if (installed)
		return;
	struct sigaction sa;
	std::memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, nullptr);
	installed = true;
}

} // namespace

namespace detail {

void arm_mapping_guard(sigjmp_buf *env, const std::string &path)
{
	install_handler();
	armed_path = path;
	armed = env;
	// The reads that may fault must not move above the arming (nor below the disarming).
	std::atomic_signal_fence(std::memory_order_seq_cst);
}

void disarm_mapping_guard() noexcept
{
	std::atomic_signal_fence(std::memory_order_seq_cst);
	armed = nullptr;
}

void report_mapping_fault()
{
	std::fflush(stdout);
	const char *why = fault_code == BUS_MCEERR_AR
		? "the medium reported an uncorrectable error (SIGBUS, BUS_MCEERR_AR) while the stream was read"
		: "the file shrank under its mapping while the stream was read (truncated by another process?); "
		  "reading past its new end raised SIGBUS";
	std::fprintf(stderr, "pmemstream: %s: %s\n", armed_path.c_str(), why);
	std::fflush(stderr);
	::_exit(exit_file);
}

} // namespace detail

void out_payload(std::span<const std::byte> data)
{
	std::byte copy[16384];
	for (size_t done = 0; done < data.size();) {
		size_t n = std::min(sizeof(copy), data.size() - done);
		std::memcpy(copy, data.data() + done, n);
		out_bytes(copy, n);
		done += n;
	}
}

} // namespace cli
