// SPDX-License-Identifier: BSD-3-Clause
// A mapped file that shrinks under its mapping (another process truncates it) makes every load
// past the new end raise SIGBUS, which by default kills the process; a media error on pmem does
// the same. The read-only commands (info, region ls, cat, dump, tail, check) run under
// guarded_read(), which turns such a SIGBUS into the tool's usual one-line error and exit 2.
//
// How: a SIGBUS handler siglongjmp()s back to the sigsetjmp() in guarded_read(); there the tool
// flushes standard output, prints the error and ends with _exit(). Why that is safe:
//  - The guarded commands only read: the file is mapped read-only, so the fault is a load and
//    nothing in the file is left half written.
//  - The jump may leave library code that holds a lock (the stream reads its region table under
//    a shared lock) or is half way through building a result. After the jump the tool calls
//    nothing in the library again and destroys none of its objects (_exit runs no destructors),
//    so no lock is waited for and no half-built state is looked at; the tool is single-threaded,
//    so no other thread is left waiting either. The frames the jump skips do not run their
//    destructors: C++ calls that undefined; with GCC and Clang on Linux the frames are simply
//    discarded, which only leaks memory that _exit returns a moment later.
//  - Standard I/O never reads the mapping: payloads are copied into the tool's own buffer
//    before they are written (out_payload), so the fault cannot come from inside stdio, and
//    flushing standard output after the jump writes only whole, already printed entries. The
//    heap is consistent too: malloc never touches the mapping.
// A SIGBUS outside guarded_read(), or of another kind than BUS_ADRERR (no file behind the
// address) or BUS_MCEERR_AR (media error), keeps the default action. Writers are not guarded.
#ifndef PMEMSTREAM_TOOLS_MAPPING_GUARD_HPP
#define PMEMSTREAM_TOOLS_MAPPING_GUARD_HPP

#include <csetjmp>
#include <cstddef>
#include <span>
#include <string>

namespace cli {

namespace detail {
void arm_mapping_guard(sigjmp_buf *env, const std::string &path);
void disarm_mapping_guard() noexcept;
[[noreturn]] void report_mapping_fault();
} // namespace detail

// Runs `read` (which returns an exit code); a SIGBUS it raises while reading the mapping of
// `path` ends the process with exit_file and "pmemstream: PATH: ..." on stderr.
template <typename F>
int guarded_read(const std::string &path, F &&read)
{
	sigjmp_buf env;
	// The signal mask is not saved (no syscall); SIGBUS is not blocked in its handler (SA_NODEFER).
	if (sigsetjmp(env, 0) != 0)
		detail::report_mapping_fault();
	detail::arm_mapping_guard(&env, path);
	struct disarm {
		~disarm()
		{
			detail::disarm_mapping_guard();
		}
	} d;
	return read();
}

// Writes bytes that may live in a stream's mapping to standard output through a copy, so that
// a fault while reading them happens in the tool's code, never inside stdio.
void out_payload(std::span<const std::byte> data);

} // namespace cli

#endif // PMEMSTREAM_TOOLS_MAPPING_GUARD_HPP
