// SPDX-License-Identifier: BSD-3-Clause
#include "sim_media.hpp"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

namespace pmemstream::test {
namespace {

// Names the calling thread for the pending sets. Not std::thread::id: an exited thread's id
// may be given to a new thread, whose fence would then cover flushes it never issued.
uint64_t thread_key() noexcept
{
	static std::atomic<uint64_t> next{1};
	thread_local const uint64_t key = next.fetch_add(1, std::memory_order_relaxed);
	return key;
}

} // namespace

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

sim_media::sim_media(uint64_t size, bool read_only, fence_model f)
    : sim_storage(size), media(current_.data(), size, read_only), fence_(f)
{
}

sim_media::sim_media(const std::byte *image, uint64_t size, bool read_only, fence_model f)
    : sim_storage(size), media(current_.data(), size, read_only), fence_(f)
{
	if (size == 0)
		return;
	std::memcpy(current_.data(), image, size);
	std::memcpy(persisted_.data(), image, size);
}

sim_media::sim_media(const std::vector<std::byte> &image, bool read_only, fence_model f)
    : sim_media(image.data(), image.size(), read_only, f)
{
}

sim_media::~sim_media()
{
	if (sink_)
		*sink_ = persisted_image();
}

std::unique_lock<std::mutex> sim_media::serial_guard()
{
	return serialized_ ? std::unique_lock(serial_) : std::unique_lock<std::mutex>();
}

void sim_media::quiesced(const std::function<void()> &fn)
{
	assert(serialized_);
	std::lock_guard g(serial_);
	fn();
}

void sim_media::make_durable(uint64_t line, uint64_t seq, const std::byte *bytes, uint64_t n) noexcept
{
	uint64_t &d = durable_seq_[line];
	if (seq <= d)
		return; // a newer flush of the line is durable already
	d = seq;
	std::memcpy(persisted_.data() + line * line_size, bytes, n);
	for (auto &[tid, lines] : pending_) {
		auto it = lines.find(line);
		if (it == lines.end())
			continue;
		auto &snaps = it->second;
		std::erase_if(snaps, [seq](const snapshot &x) { return x.seq <= seq; });
		if (snaps.empty())
			lines.erase(it);
	}
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
	auto &mine = pending_[thread_key()];
	for (uint64_t l = first; l <= last; ++l) {
		const uint64_t off = l * line_size;
		const uint64_t n = std::min<uint64_t>(line_size, current_.size() - off);
		auto &snaps = mine[l];
		if (snaps.empty() || std::memcmp(snaps.back().bytes.data(), current_.data() + off, n) != 0)
			snaps.push_back(snapshot{++seq_, {current_.data() + off, current_.data() + off + n}});
	}
	++flushes_;
}

void sim_media::sync_range(const void *addr, size_t len) noexcept
{
	if (len == 0)
		return;
	std::lock_guard lock(mutex_);
	++flushes_;
	const auto *p = static_cast<const std::byte *>(addr);
	assert(p >= current_.data() && p + len <= current_.data() + current_.size());
	const uint64_t first = static_cast<uint64_t>(p - current_.data()) / line_size;
	const uint64_t last = (static_cast<uint64_t>(p - current_.data()) + len - 1) / line_size;
	for (uint64_t l = first; l <= last; ++l) {
		const uint64_t off = l * line_size;
		make_durable(l, ++seq_, current_.data() + off, std::min<uint64_t>(line_size, current_.size() - off));
	}
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
	auto g = serial_guard();
	if (fence_ == fence_model::range_sync) {
		// The crash point lies between the stores and the sync, as with an msync in progress.
		call_hook(sim_event::flush);
		sync_range(addr, len);
		return;
	}
	record_flush(addr, len);
	call_hook(sim_event::flush);
}

void sim_media::drain() noexcept
{
	auto g = serial_guard();
	call_hook(sim_event::drain);
	std::lock_guard lock(mutex_);
	++drains_;
	if (fence_ == fence_model::range_sync)
		return;
	auto it = pending_.find(thread_key());
	if (it == pending_.end())
		return;
	line_snapshots mine = std::move(it->second);
	pending_.erase(it);
	if (drains_ == drop_drain_)
		return;
	for (const auto &[l, snaps] : mine)
		make_durable(l, snaps.back().seq, snaps.back().bytes.data(), snaps.back().bytes.size());
}

void sim_media::copy_nodrain(void *dst, const void *src, size_t len) noexcept
{
	auto g = serial_guard();
	std::memmove(dst, src, len);
	if (fence_ == fence_model::range_sync) {
		call_hook(sim_event::flush);
		sync_range(dst, len);
		return;
	}
	record_flush(dst, len);
	call_hook(sim_event::flush);
}

void sim_media::set_nodrain(void *dst, int c, size_t len) noexcept
{
	auto g = serial_guard();
	std::memset(dst, c, len);
	if (fence_ == fence_model::range_sync) {
		call_hook(sim_event::flush);
		sync_range(dst, len);
		return;
	}
	record_flush(dst, len);
	call_hook(sim_event::flush);
}

void sim_media::store_lines(void *dst, const piece *pieces, size_t n, size_t unchanged) noexcept
{
	auto *d = static_cast<std::byte *>(dst);
	for (size_t i = 0; i < n; ++i) {
		const size_t skip = i == 0 ? std::min(unchanged, pieces[i].len) : 0;
		if (pieces[i].len > skip)
			store(d + skip, static_cast<const std::byte *>(pieces[i].src) + skip, pieces[i].len - skip);
		d += pieces[i].len;
	}
}

void sim_media::store(void *dst, const void *src, size_t len) noexcept
{
	auto g = serial_guard();
	std::memmove(dst, src, len);
}

void sim_media::fill(void *dst, int c, size_t len) noexcept
{
	auto g = serial_guard();
	std::memset(dst, c, len);
}

void sim_media::crash_point()
{
	auto g = serial_guard();
	call_hook(sim_event::point);
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
		for (auto t = pending_.begin(); !dirty && t != pending_.end(); ++t)
			if (auto it = t->second.find(l); it != t->second.end())
				for (const auto &snap : it->second)
					dirty = dirty || std::memcmp(snap.bytes.data(), persisted_.data() + off, n) != 0;
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
		// Versions the line may hold: durable (0), then each version any thread flushed and
		// has not fenced (one thread's fence does not keep another's lines from reaching the
		// medium), then as written; distinct, in flush order.
		std::vector<const std::byte *> versions{persisted_.data() + off};
		std::vector<const snapshot *> flushed;
		for (const auto &[tid, lines] : pending_)
			if (auto it = lines.find(l); it != lines.end())
				for (const auto &snap : it->second)
					flushed.push_back(&snap);
		std::sort(flushed.begin(), flushed.end(), [](const snapshot *a, const snapshot *b) { return a->seq < b->seq; });
		auto add = [&](const std::byte *v) {
			for (const std::byte *w : versions)
				if (std::memcmp(v, w, n) == 0)
					return;
			versions.push_back(v);
		};
		for (const snapshot *snap : flushed)
			add(snap->bytes.data());
		add(current_.data() + off);
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
