// SPDX-License-Identifier: BSD-3-Clause
// Whether this stream may write now, and why not: opened read-only, stopped by a media
// error, or used from a child process after fork() (the parent still writes: two writers
// would corrupt the stream; the medium counts forks). Checked at the start of every write;
// costs two relaxed loads.
#ifndef PMEMSTREAM_ENGINE_WRITE_GATE_HPP
#define PMEMSTREAM_ENGINE_WRITE_GATE_HPP

#include "media/media.hpp"

#include <pmemstream/errors.hpp>

#include <atomic>
#include <cstdint>

namespace pmemstream::detail {

class write_gate {
public:
	explicit write_gate(const media &m) : m_(m), read_only_(m.read_only())
	{
	}

	bool open() const noexcept
	{
		return !read_only_ && !failed_.load(std::memory_order_relaxed) && !m_.forked();
	}
	// Why a write is refused; only when !open().
	error refusal() const;

	// Sticky: the medium reported a failure or the format ran out of timestamps.
	void fail(errc why) noexcept
	{
		errc none = errc::ok;
		failed_why_.compare_exchange_strong(none, why);
		failed_.store(true, std::memory_order_relaxed);
	}
	bool failed() const noexcept
	{
		return failed_.load(std::memory_order_relaxed);
	}
	bool read_only() const noexcept
	{
		return read_only_;
	}
	// A child of fork(): it must not write, nor record a clean close.
	bool forked() const noexcept
	{
		return m_.forked();
	}

private:
	const media &m_;
	const bool read_only_;
	std::atomic<bool> failed_{false};
	std::atomic<errc> failed_why_{errc::ok};
};

} // namespace pmemstream::detail

#endif
