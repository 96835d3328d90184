// SPDX-License-Identifier: BSD-3-Clause
#include "fuzz_target.hpp"

#include "crc32c.hpp"
#include "dual_slot.hpp"
#include "entry_codec.hpp"
#include "format.hpp"
#include "sim_media.hpp"
#include "stream_check.hpp"
#include "stream_factory.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pmemstream::test {
namespace {

struct fuzz_failure {
	std::string what;
};

[[noreturn]] void fail(const std::string &what)
{
	throw fuzz_failure{what};
}

bool refusal_allowed(errc c)
{
	return c == errc::not_a_stream || c == errc::corrupt || c == errc::version_mismatch || c == errc::invalid_argument;
}

volatile unsigned sink;

void touch(const result<std::span<const std::byte>> &d)
{
	if (!d)
		return;
	unsigned x = 0;
	for (std::byte b : *d)
		x += static_cast<unsigned>(b);
	sink = x;
}

// Every accessor on everything the stream shows; read_stream checks the geometry. Returns
// what the stream shows.
stream_model walk(const stream &s, const char *how, bool salvaged = false)
{
	std::vector<std::string> v;
	stream_model m = read_stream(s, v, salvaged);
	if (!v.empty())
		fail(std::string(how) + ": " + v.front());
	for (const auto &r : m.regions) {
		auto usable = s.region_usable_size(region{r.offset});
		if (!usable || *usable > r.size)
			fail(std::string(how) + ": region_usable_size");
		uint64_t used = 0;
		for (const auto &e : r.entries)
			used += entry_footprint(e.data.size());
		if (used > r.size)
			fail(std::string(how) + ": entries exceed their region");
		// Handles that are not entries must be refused, never read; if one is accepted, its
		// bytes must be readable (the sanitizer checks).
		for (uint64_t probe : {r.offset, r.offset + 8, r.offset + region_header_size + used + 8, r.offset + r.size + 120})
			touch(s.entry_data(entry{probe}));
	}
	for (uint64_t probe : {uint64_t{0}, uint64_t{8}, uint64_t{4096}, ~uint64_t{0} - 7})
		touch(s.entry_data(entry{probe}));
	(void)s.info();
	(void)s.recovery();
	(void)s.committed_timestamp();
	(void)s.persisted_timestamp();
	return m;
}

// What a reopen must show again: every region with its size and entries.
std::string differs(const stream_model &want, const stream_model &got)
{
	if (want.regions.size() != got.regions.size())
		return std::to_string(got.regions.size()) + " regions instead of " + std::to_string(want.regions.size());
	for (size_t i = 0; i < want.regions.size(); ++i) {
		const auto &w = want.regions[i];
		const auto &g = got.regions[i];
		if (w.offset != g.offset || w.size != g.size)
			return "region #" + std::to_string(i) + " moved or changed size";
		if (w.entries != g.entries)
			return "region #" + std::to_string(i) + " shows " + std::to_string(g.entries.size()) + " entries instead of " +
			       std::to_string(w.entries.size()) + " or other ones";
	}
	return {};
}

// The slot readers take (dual_slot.hpp read_dual, without the checksum): the larger of the
// sequences in 1 .. max_sequence.
const format::span_slot &slot_in_force(const format::span_slot (&s)[2])
{
	auto usable = [](const format::span_slot &x) { return x.sequence != 0 && x.sequence <= format::max_sequence; };
	if (!usable(s[0]))
		return s[1];
	return usable(s[1]) && s[1].sequence > s[0].sequence ? s[1] : s[0];
}

} // namespace

void check_image(const uint8_t *data, size_t size, fuzz_outcome &out);

void fix_checksums(std::vector<std::byte> &img, uint8_t flags)
{
	if (img.size() < format::header_area || !(flags & (fix_records | fix_entries)))
		return;
	auto *base = img.data();
	format::stream_header h;
	std::memcpy(&h, base, sizeof(h));
	h.checksum = detail::crc32c(base + 8, offsetof(format::stream_header, checksum) - 8);
	std::memcpy(base, &h, sizeof(h));
	for (uint64_t off : format::state_slot_offset) {
		format::state_slot s;
		std::memcpy(&s, base + off, sizeof(s));
		s.checksum = detail::slot_checksum(s, off);
		std::memcpy(base + off, &s, sizeof(s));
	}
	if (!format::valid_block_size(h.block_size) || h.arena_offset >= img.size() || h.arena_offset % 64 != 0)
		return;
	const uint64_t end = std::min<uint64_t>(img.size(), h.arena_offset + std::min<uint64_t>(h.arena_size, img.size()));
	for (uint64_t off = h.arena_offset; off + format::span_header_size <= end;) {
		format::span_slot s[2];
		for (int i = 0; i < 2; ++i) {
			const uint64_t slot = off + format::span_slot_size * static_cast<uint64_t>(i);
			std::memcpy(&s[i], base + slot, sizeof(s[i]));
			if (s[i].sequence != 0) {
				s[i].checksum = detail::slot_checksum(s[i], slot);
				std::memcpy(base + slot, &s[i], sizeof(s[i]));
			}
		}
		const format::span_slot &cur = slot_in_force(s);
		if (cur.span_size < format::span_header_size || cur.span_size % h.block_size != 0 || cur.span_size > end - off)
			break;
		if ((flags & fix_entries) && cur.state == format::span_region) {
			for (uint64_t pos = off + format::span_header_size; pos + sizeof(format::entry_header) <= off + cur.span_size;) {
				format::entry_header e;
				std::memcpy(&e, base + pos, sizeof(e));
				if (e.timestamp == 0 || e.size > off + cur.span_size - pos - sizeof(e))
					break;
				e.checksum = detail::entry_checksum(cur.epoch, e.timestamp, e.size, base + pos + sizeof(e));
				std::memcpy(base + pos, &e, sizeof(e));
				pos += format::entry_footprint(e.size);
			}
		}
		off += cur.span_size;
	}
}

fuzz_outcome fuzz_image(const uint8_t *data, size_t size)
{
	auto out = fuzz_check(data, size);
	if (!out.failure.empty()) {
		std::fprintf(stderr, "fuzz: %s\n", out.failure.c_str());
		std::abort();
	}
	return out;
}

fuzz_outcome fuzz_check(const uint8_t *data, size_t size)
{
	fuzz_outcome out;
	try {
		check_image(data, size, out);
	} catch (const fuzz_failure &f) {
		out.failure = f.what;
	}
	return out;
}

void check_image(const uint8_t *data, size_t size, fuzz_outcome &out)
{
	if (size == 0)
		return;
	const uint8_t flags = data[0];
	std::vector<std::byte> img((size - 1 + 63) / 64 * 64);
	if (size > 1)
		std::memcpy(img.data(), data + 1, size - 1);
	fix_checksums(img, flags);

	for (auto mode : {recovery_mode::strict, recovery_mode::salvage, recovery_mode::skip_corrupt}) { // skip_corrupt: issue 14
		open_options o;
		o.read_only = true;
		o.recovery = mode;
		o.verify = verify_mode::full; // a fast open trusts checkpoints (docs/format.md 8.5)
		auto r = detail::open_on_media(std::make_unique<sim_media>(img, true), 0, o);
		if (!r) {
			if (!refusal_allowed(r.code()))
				fail(std::string("read-only open refused with ") + errc_name(r.code()) + ": " + r.err().message());
			if (out.error.empty())
				out.error = errc_name(r.code());
			continue;
		}
		out.opened_read_only = true;
		walk(**r, mode == recovery_mode::strict ? "read-only" : mode == recovery_mode::salvage ? "salvage" : "skip-corrupt",
		     mode != recovery_mode::strict);
	}
	// A fast open trusts checkpoints (docs/format.md 8.5), so on a damaged image it may show
	// damaged sealed entries; it must still never crash nor read outside a region (the
	// sanitizers watch the reads).
	{
		auto r = detail::open_on_media(std::make_unique<sim_media>(img, true), 0, {.read_only = true});
		if (r)
			for (auto ri = (*r)->regions(); ri.is_valid(); ri.next()) {
				auto ei = (*r)->entries(ri.get());
				for (int k = 0; ei && ei->is_valid() && k < 100000; ei->next(), ++k) {
					auto d = (*r)->entry_data(ei->get());
					if (d && !d->empty()) {
						volatile int last = std::to_integer<int>(d->back());
						(void)last;
					}
				}
			}
	}

	auto wm = std::make_unique<sim_media>(img);
	// The durable image the writable session leaves at its clean close.
	auto closed = std::make_shared<std::vector<std::byte>>();
	wm->keep_on_destroy(closed);
	auto w = detail::open_on_media(std::move(wm), 0, {.verify = verify_mode::full});
	if (!w) {
		if (!refusal_allowed(w.code()))
			fail(std::string("writable open refused with ") + errc_name(w.code()) + ": " + w.err().message());
		if (out.error.empty())
			out.error = errc_name(w.code());
		return;
	}
	out.opened_writable = true;
	auto &s = **w;
	walk(s, "writable");
	// Timestamps live in 56 bits; beyond that the stream must have refused the image.
	if (s.committed_timestamp() > format::max_timestamp)
		fail("committed timestamp " + std::to_string(s.committed_timestamp()) + " beyond the format's limit");
	// A stream that opened must take writes without damage.
	std::vector<region> regs;
	for (auto it = s.regions(); it.is_valid() && regs.size() < 64; it.next())
		regs.push_back(it.get());
	const std::byte payload[40] = {};
	for (region r : regs) {
		auto e = s.append(r, payload, sizeof(payload));
		// timestamps_exhausted: the image's timestamps are at the format's limit (2^56).
		if (!e && e.code() != errc::region_full && e.code() != errc::timestamps_exhausted)
			fail(std::string("append: ") + e.err().message());
	}
	auto a = s.region_allocate(100);
	if (!a && a.code() != errc::out_of_space && a.code() != errc::timestamps_exhausted)
		fail(std::string("allocate: ") + a.err().message());
	if (!regs.empty()) {
		if (auto f = s.region_free(regs.front()); !f && f.code() != errc::timestamps_exhausted)
			fail(std::string("free: ") + f.err().message());
	}
	const stream_model written = walk(s, "after writes");
	w->reset();

	// The session must leave a stream that opens again, strict, and shows exactly what it
	// showed before the close: an update that runs a record past a limit (a sequence number
	// that wraps or leaves the readable range) destroys the record only at the next open.
	for (bool read_only : {true, false}) {
		open_options o;
		o.read_only = read_only;
		o.verify = verify_mode::full;
		auto r = detail::open_on_media(std::make_unique<sim_media>(*closed, read_only), 0, o);
		const char *how = read_only ? "reopen read-only" : "reopen writable";
		if (!r)
			fail(std::string(how) + " after a clean close refused with " + errc_name(r.code()) + ": " + r.err().message());
		if (auto d = differs(written, walk(**r, how)); !d.empty())
			fail(std::string(how) + " after a clean close: " + d);
	}
}

std::vector<field_site> field_sites(const std::vector<std::byte> &img)
{
	using format::entry_header;
	using format::span_slot;
	using format::state_slot;
	using format::stream_header;
	std::vector<field_site> out;
	if (img.size() < format::header_area)
		return out;
	struct field {
		uint64_t off;
		unsigned width;
		const char *name;
	};
#define PMEMSTREAM_FIELD(type, member) field{offsetof(type, member), sizeof(type::member), #type "." #member}
	static const field header[] = {
		PMEMSTREAM_FIELD(stream_header, magic),		PMEMSTREAM_FIELD(stream_header, version),
		PMEMSTREAM_FIELD(stream_header, block_size),	PMEMSTREAM_FIELD(stream_header, stream_size),
		PMEMSTREAM_FIELD(stream_header, arena_offset),	PMEMSTREAM_FIELD(stream_header, arena_size),
		PMEMSTREAM_FIELD(stream_header, incompat_features), {offsetof(stream_header, reserved), 8, "stream_header.reserved[0]"},
		PMEMSTREAM_FIELD(stream_header, reserved32),
	};
	static const field state[] = {
		PMEMSTREAM_FIELD(state_slot, sequence), PMEMSTREAM_FIELD(state_slot, ts_floor),
		PMEMSTREAM_FIELD(state_slot, ts_lease), {offsetof(state_slot, reserved), 8, "state_slot.reserved[0]"},
		PMEMSTREAM_FIELD(state_slot, reserved32),
	};
	static const field span[] = {
		PMEMSTREAM_FIELD(span_slot, sequence),	   PMEMSTREAM_FIELD(span_slot, span_size),
		PMEMSTREAM_FIELD(span_slot, epoch),	   PMEMSTREAM_FIELD(span_slot, id),
		PMEMSTREAM_FIELD(span_slot, state),	   PMEMSTREAM_FIELD(span_slot, max_in_flight),
		PMEMSTREAM_FIELD(span_slot, head),	   PMEMSTREAM_FIELD(span_slot, sealed_tail),
		PMEMSTREAM_FIELD(span_slot, sealed_count), PMEMSTREAM_FIELD(span_slot, sealed_last_ts),
		{offsetof(span_slot, reserved), 8, "span_slot.reserved[0]"}, PMEMSTREAM_FIELD(span_slot, reserved32),
	};
	static const field entry[] = {
		PMEMSTREAM_FIELD(entry_header, timestamp),
		{offsetof(entry_header, timestamp) + 7, 1, "entry_header.timestamp flags"},
		PMEMSTREAM_FIELD(entry_header, size),
	};
#undef PMEMSTREAM_FIELD
	for (const auto &f : header)
		out.push_back({field_kind::header, f.off, f.width, 0, f.name});
	for (int i = 0; i < 2; ++i)
		for (const auto &f : state)
			out.push_back({field_kind::state, format::state_slot_offset[i] + f.off, f.width,
				       format::state_slot_offset[1 - i] + f.off, f.name});

	const auto *base = img.data();
	stream_header h;
	std::memcpy(&h, base, sizeof(h));
	if (!format::valid_block_size(h.block_size) || h.arena_offset >= img.size())
		return out;
	const uint64_t end = std::min<uint64_t>(img.size(), h.arena_offset + std::min<uint64_t>(h.arena_size, img.size()));
	for (uint64_t off = h.arena_offset; off + format::span_header_size <= end;) {
		span_slot s[2];
		std::memcpy(s, base + off, sizeof(s));
		for (uint64_t i = 0; i < 2; ++i)
			for (const auto &f : span)
				out.push_back({field_kind::span, off + i * format::span_slot_size + f.off, f.width,
					       off + (1 - i) * format::span_slot_size + f.off, f.name});
		const span_slot &cur = slot_in_force(s);
		if (cur.span_size < format::span_header_size || cur.span_size % h.block_size != 0 || cur.span_size > end - off)
			break;
		if (cur.state == format::span_region && cur.head <= cur.span_size - format::span_header_size) {
			const uint64_t stop = off + cur.span_size;
			for (uint64_t pos = off + format::span_header_size + (cur.head & ~uint64_t{7});
			     pos + sizeof(format::entry_header) <= stop;) {
				format::entry_header e;
				std::memcpy(&e, base + pos, sizeof(e));
				if (e.timestamp == 0 || e.size > stop - pos - sizeof(e))
					break;
				for (const auto &f : entry)
					out.push_back({field_kind::entry, pos + f.off, f.width, 0, f.name});
				pos += format::entry_footprint(e.size);
			}
		}
		off += cur.span_size;
	}
	return out;
}

std::vector<uint64_t> limit_values(unsigned width)
{
	if (width == 1) {
		// Bits 56-63 of the timestamp word, seen as its top byte: every combination of tx
		// (bit 0 here), tx_end (1) and padding (2), then unknown bits.
		std::vector<uint64_t> v;
		for (uint64_t f = 0; f < 8; ++f)
			v.push_back(f);
		for (uint64_t f : {0x08, 0x09, 0x40, 0x80, 0xff})
			v.push_back(f);
		return v;
	}
	const uint64_t max = width == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * width)) - 1;
	std::vector<uint64_t> v = {0, 1, max - 1, max};
	for (uint64_t x : {uint64_t{1} << 31, uint64_t{1} << 32, (uint64_t{1} << 56) - 1, uint64_t{1} << 56,
			   (uint64_t{1} << 56) + 1, format::max_sequence - 1, format::max_sequence, format::max_sequence + 1,
			   uint64_t{1} << 63})
		if (x < max - 1 && x > 1)
			v.push_back(x);
	static_assert(format::max_sequence == format::max_generation && format::max_timestamp == (uint64_t{1} << 56) - 1,
		      "limit_values() names the format's limits");
	return v;
}

std::string mutate_field(std::vector<std::byte> &img, std::mt19937_64 &rng)
{
	const auto sites = field_sites(img);
	if (sites.empty())
		return {};
	// A structure kind first, so that the many entry headers do not crowd out the header.
	std::vector<const field_site *> of_kind;
	while (of_kind.empty()) {
		const auto k = static_cast<field_kind>(rng() % 4);
		for (const auto &s : sites)
			if (s.kind == k)
				of_kind.push_back(&s);
	}
	const field_site &f = *of_kind[rng() % of_kind.size()];
	const auto values = limit_values(f.width);
	const uint64_t v = values[rng() % values.size()];
	const bool both = f.mirror != 0 && rng() % 2 == 0;
	for (uint64_t off : {f.offset, both ? f.mirror : 0}) {
		if (off == 0 || off + f.width > img.size())
			continue;
		std::memcpy(img.data() + off, &v, f.width); // little-endian: the low bytes
	}
	char buf[160];
	std::snprintf(buf, sizeof(buf), "%s@0x%llx%s = 0x%llx", f.name, static_cast<unsigned long long>(f.offset),
		      both ? " (both slots)" : "", static_cast<unsigned long long>(v));
	return buf;
}

std::vector<std::vector<std::byte>> make_seed_images()
{
	std::vector<std::vector<std::byte>> out;
	auto build = [&](uint64_t size, uint64_t block, auto &&fill, bool crash) {
		auto sm = std::make_unique<sim_media>(size);
		sim_media *m = sm.get();
		auto shared = std::make_shared<std::vector<std::byte>>();
		m->keep_on_destroy(shared);
		auto r = detail::open_on_media(std::move(sm), block, {});
		if (!r)
			fail("seed: " + r.err().message());
		fill(**r);
		if (crash) { // the image as it is, before the clean close
			out.push_back(m->current_image());
			m->keep_on_destroy(nullptr);
			// Leave nothing behind: a crash here needs no close.
			r->reset();
			return;
		}
		r->reset();
		out.push_back(*shared);
	};
	std::vector<std::byte> bytes(300);
	for (size_t i = 0; i < bytes.size(); ++i)
		bytes[i] = static_cast<std::byte>(i * 7);
	auto few = [&](stream &s) {
		auto a = s.region_allocate(500).value();
		for (uint64_t n : {0, 1, 8, 63, 100})
			(void)s.append(a, bytes.data(), n);
	};
	auto many = [&](stream &s) {
		std::vector<region> rs;
		for (int i = 0; i < 5; ++i)
			if (auto r = s.region_allocate(300))
				rs.push_back(*r);
		for (size_t i = 0; i < 20; ++i)
			(void)s.append(rs[i % rs.size()], bytes.data(), i * 5);
		(void)s.region_free(rs[1]);
		(void)s.region_free(rs[2]);
	};
	auto none = [](stream &) {};
	build(4096 + 2048, 64, none, false);
	build(4096 + 2048, 64, few, false);
	build(4096 + 2048, 64, few, true);
	build(4096 + 4096, 256, many, false);
	build(4096 + 4096, 256, many, true);
	return out;
}

} // namespace pmemstream::test
