// SPDX-License-Identifier: BSD-3-Clause
#include "engine/sidecar.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <new>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pmemstream::detail {

std::string sidecar::name_of(uint64_t dev, uint64_t ino)
{
	char buf[80];
	std::snprintf(buf, sizeof(buf), "/pmemstream-%llx-%llx.readers", static_cast<unsigned long long>(dev),
		      static_cast<unsigned long long>(ino));
	return buf;
}

sidecar::sidecar(sidecar_layout *map, bool writer, bool writable, std::string name, uint64_t ino) noexcept
    : map_(map), writer_(writer), writable_(writable), creator_(::getpid()), name_(std::move(name)), shm_ino_(ino)
{
}

void sidecar::supersede(const std::string &name) noexcept
{
	const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	struct stat st;
	void *p = MAP_FAILED;
	if (::fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(sidecar_layout)))
		p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	::close(fd);
	if (p == MAP_FAILED)
		return;
	auto *l = static_cast<sidecar_layout *>(p);
	// An older library's object (same header and visibility words) is marked too: its
	// followers stop instead of reading what this writer's recovery changes.
	if (l->magic.load(std::memory_order_acquire) == sidecar_layout::ready && l->version >= sidecar_layout::oldest_same_prefix &&
	    l->version <= sidecar_layout::current_version) {
		uint32_t open = 0;
		l->closed.compare_exchange_strong(open, 2, std::memory_order_seq_cst);
		l->vis.layout_generation.fetch_add(1, std::memory_order_seq_cst);
		futex_wake_all(l->vis.committed, true);
	}
	::munmap(p, 4096);
}

std::unique_ptr<sidecar> sidecar::publish(uint64_t dev, uint64_t ino, uint32_t mode) noexcept
{
	try {
		const std::string name = name_of(dev, ino);
		// A stale object is never reused: readers still attached to it keep their mapping and
		// see its writer closed or dead, new readers find the new one. The old object of a
		// writer that died is marked taken over first (before this writer's recovery writes
		// anything), so its followers stop at their next step instead of reading a stream
		// this writer may change under them (frees) without telling them.
		supersede(name);
		::shm_unlink(name.c_str());
		const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return nullptr;
		struct stat st;
		void *p = MAP_FAILED;
		if (::fchmod(fd, mode & 0666) == 0 && ::ftruncate(fd, 4096) == 0 && ::fstat(fd, &st) == 0)
			p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		::close(fd); // the mapping keeps the object
		if (p == MAP_FAILED) {
			::shm_unlink(name.c_str());
			return nullptr;
		}
		auto *l = new (p) sidecar_layout;
		l->writer_pid = ::getpid();
		l->magic.store(sidecar_layout::ready, std::memory_order_release);
		return std::unique_ptr<sidecar>(new sidecar(l, true, true, name, st.st_ino));
	} catch (...) {
		return nullptr;
	}
}

std::unique_ptr<sidecar> sidecar::attach(uint64_t dev, uint64_t ino) noexcept
{
	try {
		const std::string name = name_of(dev, ino);
		bool writable = true;
		int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
		if (fd < 0 && errno == EACCES) {
			writable = false;
			fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
		}
		if (fd < 0)
			return nullptr;
		struct stat st;
		void *p = MAP_FAILED;
		if (::fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(sidecar_layout)))
			p = ::mmap(nullptr, 4096, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
		::close(fd);
		if (p == MAP_FAILED)
			return nullptr;
		auto *l = static_cast<sidecar_layout *>(p);
		const bool live = l->magic.load(std::memory_order_acquire) == sidecar_layout::ready &&
				  l->version == sidecar_layout::current_version && !l->closed.load(std::memory_order_acquire) &&
				  (::kill(l->writer_pid, 0) == 0 || errno == EPERM);
		if (!live) {
			::munmap(p, 4096);
			return nullptr;
		}
		return std::unique_ptr<sidecar>(new sidecar(l, false, writable, name, st.st_ino));
	} catch (...) {
		return nullptr;
	}
}

sidecar::~sidecar()
{
	if (writer_ && creator_ == ::getpid()) {
		map_->closed.store(1, std::memory_order_release);
		// Waiters sleep on the watermark: move nothing, but wake them so they see `closed`.
		futex_wake_all(map_->vis.committed, true);
		// Unlink only our object: a later writer may have made a new one under the name.
		const int fd = ::shm_open(name_.c_str(), O_RDONLY | O_CLOEXEC, 0);
		if (fd >= 0) {
			struct stat st;
			const bool ours = ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_ino) == shm_ino_;
			::close(fd);
			if (ours)
				::shm_unlink(name_.c_str());
		}
	}
	::munmap(map_, 4096);
}

uint64_t wait_committed_for(visibility_state &v, uint64_t ts, uint64_t timeout_ns, bool can_register) noexcept
{
	using clock = std::chrono::steady_clock;
	const auto deadline = clock::now() + std::chrono::nanoseconds(std::min<uint64_t>(timeout_ns, uint64_t{1} << 62));
	for (int spin = 0; spin < 4096; ++spin) {
		const uint64_t w = v.committed.load(std::memory_order_acquire);
		if (w >= ts)
			return w;
#if defined(__x86_64__)
		__builtin_ia32_pause();
#endif
	}
	uint64_t w;
	for (;;) {
		// Registered anew before every look that may end in sleep: the waker takes all
		// registrations at once (wake_shared_waiters).
		if (can_register)
			v.shared_waiters.fetch_add(1, std::memory_order_seq_cst);
		w = v.committed.load(std::memory_order_seq_cst);
		if (w >= ts)
			break;
		const auto now = clock::now();
		if (now >= deadline)
			break;
		auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count();
		if (!can_register) // nobody wakes us: look again every millisecond
			left = std::min<int64_t>(left, 1000000);
		if (futex_wait(v.committed, w, std::chrono::steady_clock::now() + std::chrono::nanoseconds(left), true) == EINTR)
			break; // a signal: the caller looks at why
	}
	return v.committed.load(std::memory_order_acquire);
}

} // namespace pmemstream::detail
