// SPDX-License-Identifier: BSD-3-Clause
// A mutex that refuses to be taken twice by one thread: std::mutex would deadlock (undefined
// behaviour), which a test sees only as a hang into its timeout. The catalog's lock uses it,
// since callbacks such as the checkpoint round take it and must not run under it. The owner
// word costs two relaxed stores per lock; the catalog is locked per region operation, never
// per append.
#ifndef PMEMSTREAM_UTIL_CHECKED_MUTEX_HPP
#define PMEMSTREAM_UTIL_CHECKED_MUTEX_HPP

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace pmemstream::detail {

class checked_mutex {
public:
	explicit checked_mutex(const char *name) noexcept : name_(name)
	{
	}
	void lock()
	{
		if (owner_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
			std::fprintf(stderr, "pmemstream: the %s is taken twice by one thread (a callback run under it?)\n", name_);
			std::abort();
		}
		m_.lock();
		owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
	}
	bool try_lock()
	{
		if (!m_.try_lock())
			return false;
		owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
		return true;
	}
	void unlock()
	{
		owner_.store(std::thread::id{}, std::memory_order_relaxed);
		m_.unlock();
	}

private:
	std::mutex m_;
	// The holder's id (only the holder stores it; another thread that reads it sees some
	// other id or none, never its own).
	std::atomic<std::thread::id> owner_{};
	const char *name_;
};

} // namespace pmemstream::detail

#endif
