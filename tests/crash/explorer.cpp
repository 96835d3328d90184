// SPDX-License-Identifier: BSD-3-Clause
#include "explorer.hpp"

#include "stream_factory.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

namespace pmemstream::test {
namespace {

uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = std::getenv(name);
	if (v == nullptr || *v == '\0')
		return dflt;
	return std::strtoull(v, nullptr, 0);
}

const char *kind_name(op_kind k)
{
	switch (k) {
	case op_kind::none:
		return "none";
	case op_kind::allocate:
		return "allocate";
	case op_kind::free:
		return "free";
	case op_kind::append:
		return "append";
	}
	return "?";
}

} // namespace

explore_config explore_config::from_env()
{
	explore_config c;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	c.images_per_fence /= 6; // sanitized builds run every check ~10x slower
#endif
	c.images_per_fence = std::max<uint64_t>(1, env_u64("PMEMSTREAM_CRASH_IMAGES", c.images_per_fence));
	c.images_per_flush = std::max<uint64_t>(1, c.images_per_fence / 10);
	c.seed = env_u64("PMEMSTREAM_CRASH_SEED", c.seed);
	return c;
}

explore_figures &explore_figures::operator+=(const explore_figures &o)
{
	points += o.points;
	images += o.images;
	nested_points += o.nested_points;
	nested_images += o.nested_images;
	violations += o.violations;
	return *this;
}

explorer::explorer(std::string name, uint64_t stream_size, uint64_t block_size, const explore_config &cfg)
    : name_(std::move(name)), size_(stream_size), block_size_(block_size), cfg_(cfg), data_rng_(cfg.seed * 7919 + 17)
{
}

explorer::~explorer()
{
	// Whatever the test left open is closed without exploring.
	if (media_)
		media_->set_hook({});
	stream_.reset();
}

void explorer::violation(const std::string &where, const std::string &what)
{
	++fig_.violations;
	// One report per kind of violation (the message without its numbers).
	std::string kind;
	for (char ch : what)
		if (!std::isdigit(static_cast<unsigned char>(ch)))
			kind += ch;
	if (reports_.size() < 50 && kinds_.insert(kind).second) {
		reports_.push_back("[" + name_ + "] " + where + ": " + what);
		std::fprintf(stderr, "VIOLATION %s\n", reports_.back().c_str());
		// PMEMSTREAM_CRASH_DUMP=dir keeps the image (and the one whose recovery crashed).
		if (const char *dir = std::getenv("PMEMSTREAM_CRASH_DUMP"); dir && current_image_) {
			const std::string base = std::string(dir) + "/" + name_ + "-" + std::to_string(reports_.size());
			auto dump = [](const std::string &path, const std::vector<std::byte> &img) {
				if (FILE *f = std::fopen(path.c_str(), "wb")) {
					std::fwrite(img.data(), 1, img.size(), f);
					std::fclose(f);
				}
			};
			dump(base + ".img", *current_image_);
			if (parent_image_)
				dump(base + ".parent.img", *parent_image_);
			std::fprintf(stderr, "  image written to %s.img\n", base.c_str());
		}
	}
}

void explorer::attach(sim_media &m)
{
	media_ = &m;
	++media_generation_;
	m.drop_drain(drop_);
	m.set_hook([this](sim_media &mm, sim_event e) { explore(mm, e, model_, op_, 0); });
}

void explorer::explore(sim_media &m, sim_event e, const stream_model &mod, const pending_op &op, int depth)
{
	uint64_t n;
	if (depth == 0) {
		if (e != sim_event::flush)
			n = cfg_.images_per_fence;
		else
			n = m.flushes() % cfg_.flush_stride == 0 ? cfg_.images_per_flush : 0;
	} else {
		n = e == sim_event::drain ? cfg_.nested_images : 0;
	}
	if (n == 0)
		return;
	(depth == 0 ? fig_.points : fig_.nested_points)++;
	// The seed names the moment: medium, fence and flush counts; a failure can be replayed.
	const uint64_t seed = cfg_.seed ^ (media_generation_ << 48) ^ (m.drains() << 24) ^ m.flushes() ^
			      (static_cast<uint64_t>(depth) << 60);
	std::mt19937_64 rng(seed);
	std::unordered_set<uint64_t> seen;
	std::vector<std::byte> img;
	for (uint64_t attempt = 0; attempt < 3 * n && seen.size() < n; ++attempt) {
		const uint64_t fp = m.crash_image(rng, img);
		if (!seen.insert(fp).second)
			continue;
		char where[320];
		std::snprintf(where, sizeof(where), "%s media %llu %s after fence %llu flush %llu, op %s (%s), image seed %llu#%llu",
			      depth ? ("nested in " + nested_phase_).c_str() : "main", static_cast<unsigned long long>(media_generation_),
			      e == sim_event::drain ? "before fence" : e == sim_event::point ? "at point" : "at flush", static_cast<unsigned long long>(m.drains()),
			      static_cast<unsigned long long>(m.flushes()), kind_name(op.kind), op_name_.c_str(),
			      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(attempt));
		check_image(img, mod, op, depth, where);
	}
}

void explorer::check_image(const std::vector<std::byte> &img, const stream_model &mod, const pending_op &op, int depth,
			   const std::string &where)
{
	(depth == 0 ? fig_.images : fig_.nested_images)++;
	const std::vector<std::byte> *saved_current = current_image_, *saved_parent = parent_image_;
	current_image_ = &img;
	if (depth == 0)
		parent_image_ = nullptr;
	struct restore {
		explorer *x;
		const std::vector<std::byte> *c, *p;
		~restore()
		{
			x->current_image_ = c;
			x->parent_image_ = p;
		}
	} restore_guard{this, saved_current, saved_parent};
	const bool nest = depth == 0 && (++image_counter_ % cfg_.nested_every) == 0;
	const bool ro = depth == 0 && (image_counter_ % cfg_.readonly_every) == 0;

	if (ro) {
		open_options o;
		o.read_only = true;
		auto r = detail::open_on_media(std::make_unique<sim_media>(img, true), 0, o);
		if (!r) {
			// A read-only open cannot finish a creation cut short; anything else must open.
			if (!(creating_ && r.code() == errc::not_a_stream))
				violation(where, std::string("read-only open of a crash image failed: ") + errc_name(r.code()) +
							 ": " + r.err().message());
		} else {
			for (auto &v : check_stream(**r, mod, op))
				violation(where + " (read-only)", v);
		}
	}

	auto sm = std::make_unique<sim_media>(img);
	sim_media *raw = sm.get();
	if (nest) { // a second crash, during recovery
		parent_image_ = &img;
		nested_phase_ = "recovery";
		raw->set_hook([&](sim_media &mm, sim_event e) { explore(mm, e, mod, op, 1); });
	}
	auto r = detail::open_on_media(std::move(sm), 0, {});
	if (!r) {
		violation(where, std::string("open of a crash image failed: ") + errc_name(r.code()) + ": " + r.err().message());
		return;
	}
	stream_model seen;
	auto v = check_stream(**r, mod, op, &seen);
	for (auto &x : v)
		violation(where, x);
	if (!nest || !v.empty()) {
		raw->set_hook({});
		return;
	}

	// Crashes during the appends that follow recovery, and during the close after them.
	stream_model m2 = seen;
	pending_op o2;
	raw->set_hook([&](sim_media &mm, sim_event e) { explore(mm, e, m2, o2, 1); });
	std::mt19937_64 rng(image_counter_);
	for (int k = 0; k < 3 && !m2.regions.empty(); ++k) {
		nested_phase_ = "append " + std::to_string(k) + " after recovery";
		const region reg{m2.regions[rng() % m2.regions.size()].offset};
		auto data = make_payload(rng, rng() % 100);
		o2 = pending_op{op_kind::append, reg.offset, 0, data};
		auto e = (*r)->append(reg, data);
		o2 = {};
		if (e) {
			m2.appended(reg, *e, *(*r)->entry_timestamp(*e), data);
		} else if (e.code() != errc::region_full) {
			violation(where + " (append after recovery)", e.err().message());
			break;
		}
	}
	for (auto &x : check_stream(**r, m2, o2))
		violation(where + " (live after recovery and appends)", x);
	nested_phase_ = "close after recovery";
	r->reset(); // the close is crashed too
}

void explorer::after_ack()
{
	if (media_)
		media_->crash_point();
}

void explorer::create()
{
	auto sm = std::make_unique<sim_media>(size_);
	attach(*sm);
	op_ = {};
	op_name_ = "create";
	creating_ = true;
	auto r = detail::open_on_media(std::move(sm), block_size_, {});
	creating_ = false;
	if (!r) {
		violation("create", r.err().message());
		media_ = nullptr;
		return;
	}
	stream_ = std::move(*r);
	op_name_.clear();
	after_ack();
}

void explorer::close()
{
	if (!stream_)
		return;
	closed_image_ = std::make_shared<std::vector<std::byte>>();
	media_->keep_on_destroy(closed_image_);
	op_ = {};
	op_name_ = "close";
	stream_.reset();
	media_ = nullptr;
	op_name_.clear();
}

void explorer::reopen()
{
	close();
	auto sm = std::make_unique<sim_media>(*closed_image_);
	attach(*sm);
	op_name_ = "reopen";
	auto r = detail::open_on_media(std::move(sm), 0, {});
	op_name_.clear();
	if (!r) {
		violation("reopen", std::string("open after a clean close failed: ") + r.err().message());
		media_ = nullptr;
		return;
	}
	stream_ = std::move(*r);
	stream_model seen;
	for (auto &x : check_stream(*stream_, model_, {}, &seen))
		violation("reopen after a clean close", x);
	model_ = std::move(seen);
	after_ack();
}

result<region> explorer::allocate(uint64_t size)
{
	op_ = pending_op{op_kind::allocate, 0, size, {}};
	op_name_ = "allocate " + std::to_string(size);
	auto r = stream_->region_allocate(size);
	op_ = {};
	if (r) {
		auto sz = stream_->region_size(*r);
		model_.allocated(*r, sz ? *sz : 0);
		after_ack();
	}
	op_name_.clear();
	return r;
}

status explorer::free(region r)
{
	op_ = pending_op{op_kind::free, r.offset, 0, {}};
	op_name_ = "free";
	auto st = stream_->region_free(r);
	op_ = {};
	if (st) {
		model_.freed(r);
		after_ack();
	}
	op_name_.clear();
	if (!st)
		return st.err();
	return {};
}

result<entry> explorer::append(region r, uint64_t size)
{
	auto data = make_payload(data_rng_, size);
	op_ = pending_op{op_kind::append, r.offset, 0, data};
	op_name_ = "append " + std::to_string(size);
	auto e = stream_->append(r, data);
	op_ = {};
	if (e) {
		auto ts = stream_->entry_timestamp(*e);
		model_.appended(r, *e, ts ? *ts : 0, data);
		after_ack();
	}
	op_name_.clear();
	if (!e)
		return std::move(e).err();
	return entry(*e);
}

status explorer::reserve_publish(region r, uint64_t reserve_size, uint64_t publish_size)
{
	op_name_ = "reserve " + std::to_string(reserve_size);
	auto res = stream_->reserve(r, reserve_size);
	if (!res) {
		op_name_.clear();
		return res.err();
	}
	auto data = make_payload(data_rng_, publish_size);
	if (publish_size)
		std::memcpy(res->data, data.data(), publish_size);
	op_name_ = "filled reservation";
	after_ack(); // stored, not published: nothing may be visible
	op_ = pending_op{op_kind::append, r.offset, 0, data};
	op_name_ = "publish " + std::to_string(publish_size);
	auto st = stream_->publish(r, res->ent, publish_size);
	op_ = {};
	if (st) {
		auto ts = stream_->entry_timestamp(res->ent);
		model_.appended(r, res->ent, ts ? *ts : 0, data);
		after_ack();
	}
	op_name_.clear();
	if (!st)
		return st.err();
	return {};
}

void explorer::check_live()
{
	if (!stream_) {
		violation("live stream", "no stream (an open failed)");
		return;
	}
	for (auto &x : check_stream(*stream_, model_, {}))
		violation("live stream (no crash)", x);
}

} // namespace pmemstream::test
