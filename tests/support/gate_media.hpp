// SPDX-License-Identifier: BSD-3-Clause
// A medium for tests that must stop one thread inside an operation: it forwards every call to
// a sim_media and can hold a chosen thread at its next call into the medium until released
// (an append then has its timestamp or claim and has not written yet).
#ifndef PMEMSTREAM_TEST_GATE_MEDIA_HPP
#define PMEMSTREAM_TEST_GATE_MEDIA_HPP

#include "sim_media.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace pmemstream::test {

using namespace std::chrono_literals;

// Forwards to a sim_media, and can stop one chosen thread at its next call into the medium
// (inside an append: its timestamp is taken, its entry not committed) until released.
class gate_media : public detail::media {
public:
	explicit gate_media(std::unique_ptr<sim_media> inner)
	    : media(inner->base(), inner->size(), inner->read_only()), inner_(std::move(inner))
	{
	}
	sim_media &inner()
	{
		return *inner_;
	}

	void flush(const void *addr, size_t len) noexcept override
	{
		gate();
		inner_->flush(addr, len);
	}
	void drain() noexcept override
	{
		gate();
		inner_->drain();
	}
	void copy_nodrain(void *dst, const void *src, size_t len) noexcept override
	{
		gate();
		inner_->copy_nodrain(dst, src, len);
	}
	void write_lines_nodrain(void *dst, const piece *pieces, size_t n, size_t unchanged) noexcept override
	{
		gate();
		inner_->write_lines_nodrain(dst, pieces, n, unchanged);
	}
	void set_nodrain(void *dst, int c, size_t len) noexcept override
	{
		gate();
		inner_->set_nodrain(dst, c, len);
	}
	void store_lines(void *dst, const piece *pieces, size_t n, size_t unchanged) noexcept override
	{
		gate();
		inner_->store_lines(dst, pieces, n, unchanged);
	}
	bool flush_syncs() const noexcept override
	{
		return inner_->flush_syncs();
	}
	bool healthy() const noexcept override
	{
		return inner_->healthy();
	}

	// The calling thread stops at its next call into the medium.
	void arm_for_this_thread()
	{
		std::lock_guard g(mutex_);
		target_ = std::this_thread::get_id();
		blocked_ = released_ = false;
		armed_.store(true, std::memory_order_release);
	}
	bool wait_blocked(std::chrono::milliseconds limit = 5000ms)
	{
		std::unique_lock lk(mutex_);
		return cv_.wait_for(lk, limit, [&] { return blocked_; });
	}
	void release()
	{
		std::lock_guard g(mutex_);
		released_ = true;
		cv_.notify_all();
	}

private:
	void gate() noexcept
	{
		if (!armed_.load(std::memory_order_acquire))
			return;
		std::unique_lock lk(mutex_);
		if (!armed_.load(std::memory_order_relaxed) || target_ != std::this_thread::get_id())
			return;
		armed_.store(false, std::memory_order_relaxed);
		blocked_ = true;
		cv_.notify_all();
		cv_.wait(lk, [&] { return released_; });
	}

	std::unique_ptr<sim_media> inner_;
	std::atomic<bool> armed_{false};
	std::mutex mutex_;
	std::condition_variable cv_;
	std::thread::id target_;
	bool blocked_ = false, released_ = false;
};

} // namespace pmemstream::test

#endif
