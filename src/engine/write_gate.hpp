// SPDX-License-Identifier: BSD-3-Clause
// Whether this stream may write now, and why not: opened read-only, stopped by a media
// error, or used from a child process after fork() (the parent still writes: two writers
// would corrupt the stream). Checked at the start of every write; costs two relaxed loads.
#ifndef PMEMSTREAM_ENGINE_WRITE_GATE_HPP
#define PMEMSTREAM_ENGINE_WRITE_GATE_HPP

#include <pmemstream/errors.hpp>

#include <atomic>
#include <cstdint>

namespace pmemstream::detail {

// Incremented in every child right after fork() (pthread_atfork).
uint64_t fork_count() noexcept;

class write_gate {
public:
	explicit write_gate(bool read_only) : read_only_(read_only), forks_(fork_count())
	{
	}

	bool open() const noexcept
	{
		return !read_only_ && !failed_.load(std::memory_order_relaxed) && fork_count() == forks_;
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
		return fork_count() != forks_;
	}

private:
	const bool read_only_;
	const uint64_t forks_;
	std::atomic<bool> failed_{false};
	std::atomic<errc> failed_why_{errc::ok};
};

} // namespace pmemstream::detail

#endif
