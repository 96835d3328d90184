// SPDX-License-Identifier: BSD-3-Clause
// Opening a stream: creating the header over an all-zero medium, validating it (rules H1-H2),
// then recovery (src/recovery/).
#include "engine/stream_impl.hpp"
#include "format/crc32c.hpp"
#include "format/dual_slot.hpp"
#include "stream_factory.hpp"

#include <cstring>

namespace pmemstream {

namespace detail {

namespace {

bool all_zero(const std::byte *p, uint64_t n) noexcept
{
	uint64_t i = 0;
	for (; i + 64 <= n; i += 64) {
		uint64_t acc = 0, w[8];
		std::memcpy(w, p + i, 64);
		for (uint64_t x : w)
			acc |= x;
		if (acc)
			return false;
	}
	for (; i < n; ++i)
		if (p[i] != std::byte{0})
			return false;
	return true;
}

uint32_t header_checksum(const format::stream_header &h) noexcept
{
	// The magic is excluded: turning "initialising" into "ready" is one atomic 8-byte store.
	return crc32c(reinterpret_cast<const std::byte *>(&h) + 8, offsetof(format::stream_header, checksum) - 8);
}

error bad_block_size(uint64_t bs)
{
	return error(errc::invalid_argument, "block size " + std::to_string(bs) + " is not a power of two between " +
						     std::to_string(format::min_block_size) + " and " +
						     std::to_string(format::max_block_size));
}

// Creation is crash-safe: the "initialising" magic is persisted alone first, so a file with
// any non-zero byte always carries our magic; until "ready" replaces it nothing but creation
// ever wrote to the file, and an interrupted creation is simply done again.
void initialise(media &m, uint64_t block_size)
{
	const uint64_t initialising = format::magic_initialising;
	m.copy_nodrain(m.base(), &initialising, sizeof(initialising));
	m.drain();

	format::stream_header h{};
	h.magic = format::magic_initialising;
	h.version = format::version;
	h.incompat_features = format::incompat_windowed | format::incompat_tx | format::incompat_ring;
	h.block_size = block_size;
	h.stream_size = m.size();
	h.arena_offset = format::arena_offset(block_size);
	h.arena_size = (m.size() - h.arena_offset) & ~(block_size - 1);
	h.checksum = header_checksum(h);
	m.copy_nodrain(m.base() + 8, reinterpret_cast<const std::byte *>(&h) + 8, sizeof(h) - 8);
	write_fresh_nodrain(m, format::state_slot_offset[0], format::state_slot_offset[1], format::state_slot{});
	format::span_slot sp{};
	sp.span_size = h.arena_size;
	sp.state = format::span_free;
	write_fresh_nodrain(m, h.arena_offset, h.arena_offset + format::span_slot_size, sp);
	m.drain();

	const uint64_t ready = format::magic_ready;
	m.copy_nodrain(m.base(), &ready, sizeof(ready));
	m.drain();
}

status check_room(const media &m, uint64_t bs)
{
	const uint64_t need = format::arena_offset(bs) + format::min_span(bs);
	if (m.size() < need)
		return error(errc::invalid_argument, "a stream with block size " + std::to_string(bs) + " needs at least " +
							     std::to_string(need) + " bytes; the file has " + std::to_string(m.size()));
	return {};
}

// Rule H2 (the magic, H1, is checked by the caller).
status check_header(const format::stream_header &h, uint64_t media_size, uint64_t block_size)
{
	if (h.checksum != header_checksum(h))
		return error(errc::corrupt, "stream header checksum mismatch");
	if (h.version != format::version)
		return error(errc::version_mismatch, "stream format version " + std::to_string(h.version) +
							     ", this library reads version " + std::to_string(format::version));
	if (h.incompat_features & ~format::known_incompat_features)
		return error(errc::version_mismatch, "the stream uses format features (bits " + std::to_string(h.incompat_features) +
							     ") this library does not know");
	if (!format::valid_block_size(h.block_size) || h.arena_offset != format::arena_offset(h.block_size) ||
	    h.arena_size % h.block_size != 0 || h.arena_size < format::min_span(h.block_size) ||
	    h.arena_offset > h.stream_size || h.arena_size > h.stream_size - h.arena_offset)
		return error(errc::corrupt, "stream header holds inconsistent sizes");
	if (h.stream_size > media_size)
		return error(errc::corrupt, "the stream needs " + std::to_string(h.stream_size) + " bytes but the file has " +
						    std::to_string(media_size) + " (truncated?)");
	if (block_size != 0 && block_size != h.block_size)
		return error(errc::parameter_mismatch, "the stream has block size " + std::to_string(h.block_size) + ", not " +
							       std::to_string(block_size));
	return {};
}

} // namespace

result<std::unique_ptr<stream>> open_on_media(std::unique_ptr<media> m, uint64_t block_size, const open_options &o)
{
	if (block_size != 0 && !format::valid_block_size(block_size))
		return bad_block_size(block_size);
	if (o.max_in_flight < 1 || o.max_in_flight > max_max_in_flight)
		return error(errc::invalid_argument, "max_in_flight " + std::to_string(o.max_in_flight) + " is not between 1 and " +
							     std::to_string(max_max_in_flight));
	if (o.recovery == recovery_mode::salvage && !m->read_only())
		return error(errc::invalid_argument, "salvage recovery needs a read-only stream");
	if (o.recovery == recovery_mode::skip_corrupt && (!m->read_only() || o.follow)) // format.md 8.7
		return error(errc::invalid_argument, "skip-corrupt recovery needs a read-only stream that follows no writer");
	if (o.follow && !m->read_only()) // live readers (issue 12)
		return error(errc::invalid_argument, "following a writer needs a read-only stream");
	if (m->size() < sizeof(format::stream_header))
		return error(errc::not_a_stream, "the file is too small (" + std::to_string(m->size()) + " bytes) to hold a stream");

	format::stream_header h;
	std::memcpy(&h, m->base(), sizeof(h));
	if (h.magic == 0 && all_zero(m->base(), m->size())) {
		if (m->read_only())
			return error(errc::not_a_stream, "the file is empty (all zero bytes); open it writable to create a stream");
		const uint64_t bs = block_size ? block_size : 4096;
		if (auto room = check_room(*m, bs); !room)
			return room.err();
		initialise(*m, bs);
		std::memcpy(&h, m->base(), sizeof(h));
	} else if (h.magic == format::magic_initialising) {
		// Creation was interrupted; nothing but creation ever wrote here. Do it again, with
		// the block size it was using when the header survived.
		if (m->read_only())
			return error(errc::not_a_stream, "stream creation was interrupted; open it writable to finish it");
		const bool header_ok = h.checksum == header_checksum(h) && format::valid_block_size(h.block_size);
		if (header_ok && block_size != 0 && block_size != h.block_size)
			return error(errc::parameter_mismatch, "the stream was being created with block size " +
								       std::to_string(h.block_size) + ", not " + std::to_string(block_size));
		const uint64_t bs = header_ok ? h.block_size : (block_size ? block_size : 4096);
		if (auto room = check_room(*m, bs); !room)
			return room.err();
		initialise(*m, bs);
		std::memcpy(&h, m->base(), sizeof(h));
	} else if (h.magic != format::magic_ready) {
		return error(errc::not_a_stream, "no pmemstream header (bad magic) and the file is not all zero bytes");
	}
	if (auto s = check_header(h, m->size(), block_size); !s)
		return s.err();

	auto p = std::make_unique<stream::impl>(std::move(m), h);
	if (auto s = p->recover(o); !s)
		return s.err();
	if (o.prefault && !p->m_->read_only())
		p->m_->prefault(p->base_ + h.arena_offset, h.arena_size);
	return stream::impl::wrap(std::move(p));
}

} // namespace detail

result<std::unique_ptr<stream>> stream::create(const std::string &path, const create_options &o)
{
	if (!format::valid_block_size(o.block_size))
		return detail::bad_block_size(o.block_size);
	const uint64_t min = format::arena_offset(o.block_size) + format::min_span(o.block_size);
	if (o.size < min)
		return error(errc::invalid_argument, "size " + std::to_string(o.size) + " is below the minimum of " +
							     std::to_string(min) + " bytes for block size " + std::to_string(o.block_size));
	// Exclusive, preallocated, locked, and checked to hold only zeroes (without faulting it in).
	auto file = detail::create_file_media(path, o.size);
	if (!file)
		return std::move(file).err();
	// Begun as an interrupted creation (format.md), which open_on_media finishes without
	// scanning the whole mapping for zeroes again.
	detail::media &m = *file->medium;
	const uint64_t initialising = format::magic_initialising;
	m.copy_nodrain(m.base(), &initialising, sizeof(initialising));
	m.drain();
	auto s = detail::open_on_media(std::move(file->medium), o.block_size,
				       {.prefault = o.prefault,
				        .commit = o.commit,
				        .max_in_flight = o.max_in_flight,
				        .checkpoint_bytes = o.checkpoint_bytes});
	if (!s)
		return s;
	if (auto p = file->publish(); !p)
		return p.err();
	return s;
}

result<std::unique_ptr<stream>> stream::open(const std::string &path, const open_options &o)
{
	auto m = detail::open_file_media(path, o.read_only);
	if (!m)
		return std::move(m).err();
	return detail::open_on_media(std::move(*m), o.block_size, o);
}

result<std::unique_ptr<stream>> stream::from_map(struct pmem2_map *map, uint64_t block_size, const open_options &o)
{
	if (!map)
		return error(errc::invalid_argument, "map is null");
	if (!format::valid_block_size(block_size))
		return detail::bad_block_size(block_size);
	return detail::open_on_media(detail::make_pmem2_media(map, o.read_only), block_size, o);
}

} // namespace pmemstream
