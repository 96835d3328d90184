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

std::string describe(const std::vector<pending_op> &ops)
{
	if (ops.empty())
		return "none";
	if (ops.size() > 1)
		return std::to_string(ops.size()) + " operations";
	const pending_op &op = ops[0];
	switch (op.kind) {
	case op_kind::none:
		return "none";
	case op_kind::allocate:
		return "allocate " + std::to_string(op.size);
	case op_kind::free:
		return "free";
	case op_kind::append:
		return "append " + std::to_string(op.data.size());
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
	crowded_points += o.crowded_points;
	violations += o.violations;
	fence_threads = std::max(fence_threads, o.fence_threads);
	reopened += o.reopened;
	unpersisted_points += o.unpersisted_points;
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

void explorer::violation(const std::string &where, const std::string &what, bool with_image)
{
	std::lock_guard g(report_mutex_);
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
		if (const char *dir = std::getenv("PMEMSTREAM_CRASH_DUMP"); dir && with_image && current_image_) {
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
	// Appending threads store while the hook of another one draws images.
	m.set_serialized(true);
	m.drop_drain(drop_);
	m.set_hook([this](sim_media &mm, sim_event e) { explore_live(mm, e); });
}

std::unique_ptr<detail::media> explorer::wrapped(std::unique_ptr<sim_media> m)
{
	if (wrap_)
		return wrap_(std::move(m));
	return m;
}

void explorer::observe_watermarks(const char *where)
{
	if (!stream_)
		return;
	if (auto v = hist_.observe(*stream_); !v.empty())
		violation(where, v, false);
}

void explorer::explore_live(sim_media &m, sim_event e)
{
	// The watermark at the crash instant is an observation too: (a) holds for it.
	observe_watermarks("watermarks at a crash point");
	explore(m, e, hist_.view(), 0);
}

void explorer::explore(sim_media &m, sim_event e, const expectation &x, int depth)
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
	if (depth == 0 && x.in_flight.size() > 1)
		++fig_.crowded_points;
	if (depth == 0 && std::any_of(x.in_flight.begin(), x.in_flight.end(),
				      [](const pending_op &op) { return op.kind == op_kind::append && op.timestamp != 0; }))
		++fig_.unpersisted_points;
	if (depth == 0 && e == sim_event::drain && fence_threads_.insert(std::this_thread::get_id()).second)
		fig_.fence_threads = fence_threads_.size();
	// The seed names the moment: medium, fence and flush counts; a failure can be replayed
	// (single-threaded workloads; with several threads the moments depend on the schedule).
	const uint64_t seed = cfg_.seed ^ (media_generation_ << 48) ^ (m.drains() << 24) ^ m.flushes() ^
			      (static_cast<uint64_t>(depth) << 60);
	std::mt19937_64 rng(seed);
	std::unordered_set<uint64_t> seen;
	std::vector<std::byte> img;
	const std::string flight = describe(x.in_flight);
	for (uint64_t attempt = 0; attempt < 3 * n && seen.size() < n; ++attempt) {
		const uint64_t fp = m.crash_image(rng, img);
		if (!seen.insert(fp).second)
			continue;
		char where[400];
		std::snprintf(where, sizeof(where),
			      "%s media %llu %s after fence %llu flush %llu, in flight %s%s%s, persisted watermark %llu, image seed %llu#%llu",
			      depth ? ("nested in " + nested_phase_).c_str() : "main", static_cast<unsigned long long>(media_generation_),
			      e == sim_event::drain ? "before fence" : e == sim_event::point ? "at point" : "at flush",
			      static_cast<unsigned long long>(m.drains()), static_cast<unsigned long long>(m.flushes()), flight.c_str(),
			      phase_.empty() || depth ? "" : ", ", depth ? "" : phase_.c_str(),
			      static_cast<unsigned long long>(x.persisted), static_cast<unsigned long long>(seed),
			      static_cast<unsigned long long>(attempt));
		check_image(img, x, depth, where);
	}
}

void explorer::check_image(const std::vector<std::byte> &img, const expectation &x, int depth, const std::string &where)
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
		open_options o = cfg_.open;
		o.read_only = true;
		auto r = detail::open_on_media(std::make_unique<sim_media>(img, true, cfg_.fence), 0, o);
		if (!r) {
			// A read-only open cannot finish a creation cut short; anything else must open.
			if (!(creating_ && r.code() == errc::not_a_stream))
				violation(where, std::string("read-only open of a crash image failed: ") + errc_name(r.code()) +
							 ": " + r.err().message());
		} else {
			for (auto &v : check_stream(**r, x))
				violation(where + " (read-only)", v);
		}
	}

	auto sm = std::make_unique<sim_media>(img, false, cfg_.fence);
	sim_media *raw = sm.get();
	if (nest) { // a second crash, during recovery
		parent_image_ = &img;
		nested_phase_ = "recovery";
		raw->set_hook([&](sim_media &mm, sim_event e) { explore(mm, e, x, 1); });
	}
	auto r = detail::open_on_media(std::move(sm), 0, cfg_.open);
	if (!r) {
		violation(where, std::string("open of a crash image failed: ") + errc_name(r.code()) + ": " + r.err().message());
		return;
	}
	stream_model seen;
	auto v = check_stream(**r, x, &seen);
	for (auto &w : v)
		violation(where, w);
	if (!nest || !v.empty()) {
		raw->set_hook({});
		return;
	}

	// Crashes during the appends that follow recovery, and during the close after them.
	expectation x2{seen, {}, 0};
	raw->set_hook([&](sim_media &mm, sim_event e) { explore(mm, e, x2, 1); });
	std::mt19937_64 rng(image_counter_);
	for (int k = 0; k < 3 && !x2.acked.regions.empty(); ++k) {
		nested_phase_ = "append " + std::to_string(k) + " after recovery";
		const region reg{x2.acked.regions[rng() % x2.acked.regions.size()].offset};
		auto data = make_payload(rng, rng() % 100);
		x2.in_flight = {pending_op{op_kind::append, reg.offset, 0, data, x2.acked.last_timestamp}};
		auto e = (*r)->append(reg, data);
		x2.in_flight.clear();
		if (e) {
			x2.acked.appended(reg, *e, *(*r)->entry_timestamp(*e), data);
		} else if (e.code() != errc::region_full) {
			violation(where + " (append after recovery)", e.err().message());
			break;
		}
	}
	for (auto &w : check_stream(**r, x2))
		violation(where + " (live after recovery and appends)", w);
	nested_phase_ = "close after recovery";
	auto closed = std::make_shared<std::vector<std::byte>>();
	raw->keep_on_destroy(closed);
	r->reset(); // the close is crashed too
	// And what the close left opens again with the same entries.
	auto again = detail::open_on_media(std::make_unique<sim_media>(*closed, false, cfg_.fence), 0, cfg_.open);
	if (!again) {
		violation(where + " (reopen after recovery, appends and a clean close)",
			  std::string("open failed: ") + errc_name(again.code()) + ": " + again.err().message());
		return;
	}
	++fig_.reopened;
	for (auto &w : check_stream(**again, x2))
		violation(where + " (reopen after recovery, appends and a clean close)", w);
}

void explorer::create()
{
	auto sm = std::make_unique<sim_media>(size_, false, cfg_.fence);
	attach(*sm);
	phase_ = "create";
	creating_ = true;
	auto r = detail::open_on_media(wrapped(std::move(sm)), block_size_, cfg_.open);
	creating_ = false;
	if (!r) {
		violation("create", r.err().message(), false);
		media_ = nullptr;
		return;
	}
	stream_ = std::move(*r);
	phase_.clear();
	media_->crash_point();
}

void explorer::close()
{
	if (!stream_)
		return;
	closed_image_ = std::make_shared<std::vector<std::byte>>();
	media_->keep_on_destroy(closed_image_);
	phase_ = "close";
	stream_.reset();
	media_ = nullptr;
	phase_.clear();
}

void explorer::reopen()
{
	close();
	auto sm = std::make_unique<sim_media>(*closed_image_, false, cfg_.fence);
	attach(*sm);
	phase_ = "reopen";
	auto r = detail::open_on_media(wrapped(std::move(sm)), 0, cfg_.open);
	phase_.clear();
	if (!r) {
		violation("reopen", std::string("open after a clean close failed: ") + r.err().message(), false);
		media_ = nullptr;
		return;
	}
	stream_ = std::move(*r);
	stream_model seen;
	for (auto &w : check_stream(*stream_, hist_.view(), &seen))
		violation("reopen after a clean close", w, false);
	hist_.reset(std::move(seen));
	media_->crash_point();
}

result<region> explorer::allocate(uint64_t size)
{
	const uint64_t id = hist_.submit(pending_op{op_kind::allocate, 0, size, {}});
	auto r = stream_->region_allocate(size);
	if (r) {
		auto sz = stream_->region_size(*r);
		hist_.allocated(id, *r, sz ? *sz : 0);
		media_->crash_point();
	} else {
		hist_.failed(id);
	}
	return r;
}

status explorer::free(region r)
{
	const uint64_t id = hist_.submit(pending_op{op_kind::free, r.offset, 0, {}});
	auto st = stream_->region_free(r);
	if (st) {
		hist_.freed(id);
		media_->crash_point();
	} else {
		hist_.failed(id);
	}
	return st;
}

result<entry> explorer::append(region r, uint64_t size)
{
	std::vector<std::byte> data;
	{
		std::lock_guard g(rng_mutex_);
		data = make_payload(data_rng_, size);
	}
	const uint64_t id = hist_.submit_append(r, data);
	auto e = stream_->append(r, data);
	if (e) {
		// The synchronous append returns committed and persisted.
		auto ts = stream_->entry_timestamp(*e);
		hist_.committed(id, *e, ts ? *ts : 0);
		hist_.persisted(id);
		observe_watermarks("watermarks after an append");
		media_->crash_point();
	} else {
		hist_.failed(id);
	}
	if (!e)
		return std::move(e).err();
	return entry(*e);
}

result<appended> explorer::async_append(region r, uint64_t size)
{
	std::vector<std::byte> data;
	{
		std::lock_guard g(rng_mutex_);
		data = make_payload(data_rng_, size);
	}
	const uint64_t id = hist_.submit_append(r, data);
	auto e = stream_->async_append(r, data);
	if (e) {
		hist_.committed(id, *e, e->timestamp);
		observe_watermarks("watermarks after an asynchronous append");
		media_->crash_point();
	} else {
		hist_.failed(id);
	}
	return e;
}

status explorer::wait_persisted(uint64_t ts)
{
	auto st = stream_->wait_persisted(ts);
	if (st) {
		observe_watermarks("watermarks after wait_persisted");
		media_->crash_point();
	}
	return st;
}

status explorer::reserve_publish(region r, uint64_t reserve_size, uint64_t publish_size)
{
	auto res = stream_->reserve(r, reserve_size);
	if (!res)
		return res.err();
	std::vector<std::byte> data;
	{
		std::lock_guard g(rng_mutex_);
		data = make_payload(data_rng_, publish_size);
	}
	if (publish_size)
		std::memcpy(res->data, data.data(), publish_size);
	phase_ = "filled reservation";
	media_->crash_point(); // stored, not published: nothing may be visible
	phase_.clear();
	const uint64_t id = hist_.submit_append(r, data);
	auto st = stream_->publish(r, res->ent, publish_size);
	if (st) {
		auto ts = stream_->entry_timestamp(res->ent);
		hist_.committed(id, res->ent, ts ? *ts : 0);
		hist_.persisted(id);
		observe_watermarks("watermarks after a publish");
		media_->crash_point();
	} else {
		hist_.failed(id);
	}
	if (!st)
		return st.err();
	return {};
}

void explorer::check_live()
{
	if (!stream_) {
		violation("live stream", "no stream (an open failed)", false);
		return;
	}
	for (auto &w : check_stream(*stream_, hist_.view()))
		violation("live stream (no crash)", w, false);
}

} // namespace pmemstream::test
