// SPDX-License-Identifier: BSD-3-Clause
// The pause of a spin-wait loop (less power, and no memory-order mis-speculation penalty when
// the awaited line changes).
#ifndef PMEMSTREAM_UTIL_CPU_RELAX_HPP
#define PMEMSTREAM_UTIL_CPU_RELAX_HPP

namespace pmemstream::detail {

inline void cpu_relax() noexcept
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#endif
}

} // namespace pmemstream::detail

#endif
