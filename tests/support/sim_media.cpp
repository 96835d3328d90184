// SPDX-License-Identifier: BSD-3-Clause
#include "sim_media.hpp"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

namespace pmemstream::test {

aligned_buffer::aligned_buffer(uint64_t size) : size_(size)
{
	const uint64_t rounded = (size + line_size - 1) / line_size * line_size;
	void *p = std::aligned_alloc(line_size, rounded == 0 ? line_size : rounded);
	if (p == nullptr)
		throw std::bad_alloc();
	std::memset(p, 0, rounded == 0 ? line_size : rounded);
	data_.reset(static_cast<std::byte *>(p));
}

void aligned_buffer::deleter::operator()(std::byte *p) const noexcept
{
	std::free(p);
}

sim_media::sim_media(uint64_t size, bool read_only) : sim_storage(size), media(current_.data(), size, read_only)
{
}

sim_media::sim_media(const std::byte *image, uint64_t size, bool read_only)
    : sim_storage(size), media(current_.data(), size, read_only)
{
	if (size == 0)
		return;
	std::memcpy(current_.data(), image, size);
	std::memcpy(persisted_.data(), image, size);
}

sim_media::sim_media(const std::vector<std::byte> &image, bool read_only) : sim_media(image.data(), image.size(), read_only)
{
}

sim_media::~sim_media()
{
	if (sink_)
		*sink_ = persisted_image();
}

void sim_media::record_flush(const void *addr, size_t len) noexcept
{
	if (len == 0)
		return;
	std::lock_guard lock(mutex_);
	const auto *p = static_cast<const std::byte *>(addr);
	assert(p >= current_.data() && p + len <= current_.data() + current_.size());
	const uint64_t first = static_cast<uint64_t>(p - current_.data()) / line_size;
	const uint64_t last = (static_cast<uint64_t>(p - current_.data()) + len - 1) / line_size;
	for (uint64_t l = first; l <= last; ++l) {
		const uint64_t off = l * line_size;
		const uint64_t n = std::min<uint64_t>(line_size, current_.size() - off);
		auto &snaps = pending_[l];
		if (snaps.empty() || std::memcmp(snaps.back().data(), current_.data() + off, n) != 0)
			snaps.emplace_back(current_.data() + off, current_.data() + off + n);
	}
	++flushes_;
}

void sim_media::call_hook(sim_event e)
{
	// The hook may run the stream code on other media, never re-enter this one.
	if (hook_ && !in_hook_) {
		in_hook_ = true;
		hook_(*this, e);
		in_hook_ = false;
	}
}

void sim_media::flush(const void *addr, size_t len) noexcept
{
	record_flush(addr, len);
	call_hook(sim_event::flush);
}

void sim_media::drain() noexcept
{
	call_hook(sim_event::drain);
	std::lock_guard lock(mutex_);
	++drains_;
	if (drains_ == drop_drain_) {
		pending_.clear();
		return;
	}
	for (const auto &[l, snaps] : pending_)
		std::memcpy(persisted_.data() + l * line_size, snaps.back().data(), snaps.back().size());
	pending_.clear();
}

void sim_media::copy_nodrain(void *dst, const void *src, size_t len) noexcept
{
	std::memmove(dst, src, len);
	flush(dst, len);
}

void sim_media::set_nodrain(void *dst, int c, size_t len) noexcept
{
	std::memset(dst, c, len);
	flush(dst, len);
}

std::vector<uint64_t> sim_media::dirty_lines() const
{
	std::lock_guard lock(mutex_);
	return dirty_lines_locked();
}

std::vector<uint64_t> sim_media::dirty_lines_locked() const
{
	std::vector<uint64_t> out;
	const uint64_t lines = (current_.size() + line_size - 1) / line_size;
	for (uint64_t l = 0; l < lines; ++l) {
		const uint64_t off = l * line_size;
		const uint64_t n = std::min<uint64_t>(line_size, current_.size() - off);
		bool dirty = std::memcmp(current_.data() + off, persisted_.data() + off, n) != 0;
		if (!dirty) {
			auto it = pending_.find(l);
			if (it != pending_.end())
				for (const auto &snap : it->second)
					dirty = dirty || std::memcmp(snap.data(), persisted_.data() + off, n) != 0;
		}
		if (dirty)
			out.push_back(l);
	}
	return out;
}

uint64_t sim_media::crash_image(std::mt19937_64 &rng, std::vector<std::byte> &out, const image_options &opt) const
{
	std::lock_guard lock(mutex_);
	out.assign(persisted_.data(), persisted_.data() + persisted_.size());
	uint64_t fp = 0xcbf29ce484222325ull;
	auto mix = [&fp](uint64_t v) { fp = (fp ^ v) * 0x100000001b3ull; };
	std::uniform_real_distribution<double> coin(0.0, 1.0);
	for (uint64_t l : dirty_lines_locked()) {
		const uint64_t off = l * line_size;
		const uint64_t n = std::min<uint64_t>(line_size, current_.size() - off);
		// Versions the line may hold: durable (0), then each flushed one, then as written.
		std::vector<const std::byte *> versions{persisted_.data() + off};
		if (auto it = pending_.find(l); it != pending_.end())
			for (const auto &snap : it->second)
				if (std::memcmp(snap.data(), current_.data() + off, n) != 0)
					versions.push_back(snap.data());
		versions.push_back(current_.data() + off);
		auto pick_new = [&]() -> size_t { return 1 + rng() % (versions.size() - 1); };
		mix(l);
		if (coin(rng) < opt.tear_probability) {
			mix(3);
			for (uint64_t w = 0; w < n; w += 8) {
				const size_t v = (rng() & 1) ? pick_new() : 0;
				mix(static_cast<uint64_t>(v));
				std::memcpy(out.data() + off + w, versions[v] + w, std::min<uint64_t>(8, n - w));
			}
		} else {
			const size_t v = coin(rng) < opt.keep_probability ? pick_new() : 0;
			mix(static_cast<uint64_t>(v));
			std::memcpy(out.data() + off, versions[v], n);
		}
	}
	return fp;
}

std::vector<std::byte> sim_media::current_image() const
{
	return {current_.data(), current_.data() + current_.size()};
}

std::vector<std::byte> sim_media::persisted_image() const
{
	std::lock_guard lock(mutex_);
	return {persisted_.data(), persisted_.data() + persisted_.size()};
}

} // namespace pmemstream::test
