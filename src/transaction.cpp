// SPDX-License-Identifier: BSD-3-Clause
// The C++ transaction object (issue 13): buffers members and hands them to
// detail::commit_transaction (engine/tx_commit.hpp), which writes them in one go.
#include "engine/stream_impl.hpp"
#include "engine/tx_commit.hpp"
#include "util/hex.hpp"

#include <pmemstream/stream.hpp>

#include <cstring>
#include <vector>

namespace pmemstream {

struct detail::tx_state {
	stream::impl *s = nullptr;
	bool active = true;
	std::vector<detail::tx_member> members;
	std::vector<std::byte> buf;
	// Bytes the members need in each region so far (few regions: a linear search is fine).
	std::vector<std::pair<region_runtime *, uint64_t>> need;
	std::vector<detail::region_catalog::tx_span> allocs;
	std::vector<detail::tx_free> frees;
	// The live region of the last append (not allocated or freed by this transaction).
	region_runtime *last_rt = nullptr;
	uint64_t last_id = 0;

	uint64_t count() const noexcept
	{
		return members.size() + allocs.size() + frees.size();
	}
	void clear()
	{
		for (const auto &a : allocs)
			s->catalog_.tx_release(a);
		allocs.clear();
		frees.clear();
		members.clear();
		buf.clear();
		need.clear();
		last_rt = nullptr;
	}
};

namespace {

error finished()
{
	return error(errc::tx_finished, "the transaction was already committed or aborted");
}

error too_large()
{
	return error(errc::tx_too_large, "a transaction holds at most " + std::to_string(max_tx_members) + " members");
}

} // namespace

transaction::transaction(std::unique_ptr<state> st) : st_(std::move(st))
{
}

transaction::transaction(transaction &&) noexcept = default;

transaction &transaction::operator=(transaction &&o) noexcept
{
	if (this != &o) {
		abort();
		st_ = std::move(o.st_);
	}
	return *this;
}

namespace {

// One finished transaction's state per thread, for the next begin_transaction(): a
// transaction then allocates nothing once its buffers have grown.
thread_local std::unique_ptr<detail::tx_state> spare;

} // namespace

transaction::~transaction()
{
	abort();
	if (st_ && !spare)
		spare = std::move(st_);
}

status transaction::append(region r, std::span<const std::byte> data)
{
	if (!st_ || !st_->active)
		return finished();
	state &t = *st_;
	if (!t.s->gate_.open())
		return t.s->gate_.refusal();
	region_runtime *target = nullptr;
	uint64_t target_id = 0, capacity = 0;
	for (const auto &a : t.allocs)
		if (a.off == r.offset && (r.id == 0 || r.id == a.counter)) {
			target = a.rt;
			target_id = a.counter;
			capacity = a.capacity();
		}
	if (!target) {
		if (t.last_rt && t.last_rt->offset == r.offset && (r.id == 0 || r.id == t.last_id) &&
		    t.last_rt->id.load(std::memory_order_acquire) == t.last_id) {
			target = t.last_rt; // the region of the previous member: no lookup
			target_id = t.last_id;
		} else {
			auto rt = t.s->writable(r, nullptr);
			if (!rt)
				return rt.err();
			target = *rt;
			target_id = target->id.load(std::memory_order_acquire);
			for (const auto &f : t.frees)
				if (f.rt == target)
					return error(errc::invalid_argument,
						     "region " + detail::hex(r.offset) + " is freed by this transaction");
			t.last_rt = target;
			t.last_id = target_id;
		}
		capacity = target->append_end() - target->tail.load(std::memory_order_acquire); // checked again at commit
	}
	if (data.size() > format::max_payload)
		return error(errc::entry_too_large,
			     "entry of " + std::to_string(data.size()) + " bytes; the limit is " + std::to_string(format::max_payload));
	if (t.count() >= max_tx_members)
		return too_large();
	region_runtime &reg = *target;
	auto it = std::find_if(t.need.begin(), t.need.end(), [&](const auto &p) { return p.first == &reg; });
	const uint64_t planned = it == t.need.end() ? 0 : it->second;
	const uint64_t fp = format::entry_footprint(data.size());
	const uint64_t left = capacity;
	if (planned + fp > left)
		return error(errc::region_full, "region " + detail::hex(reg.offset) + " has " + std::to_string(left) +
							" bytes left; the transaction's entries for it would need " +
							std::to_string(planned + fp));
	const uint64_t at = t.buf.size();
	t.buf.resize(at + data.size());
	if (!data.empty())
		std::memcpy(t.buf.data() + at, data.data(), data.size());
	t.members.push_back({&reg, target_id, at, static_cast<uint32_t>(data.size())});
	if (it == t.need.end())
		t.need.emplace_back(&reg, fp);
	else
		it->second += fp;
	return {};
}

result<uint64_t> transaction::finish(bool async)
{
	if (!st_ || !st_->active)
		return finished();
	state &t = *st_;
	t.active = false;
	stream::impl &s = *t.s;
	if (!s.gate_.open())
		return s.gate_.refusal();
	const detail::tx_units u{*s.m_, *s.tracker_, s.gate_, *s.state_, s.catalog_,
				 (s.header_.incompat_features & format::incompat_windowed) != 0, s.writer_.get()};
	auto r = detail::commit_transaction(u, t.members, t.buf.data(), t.allocs, t.frees, async);
	if (r && async)
		s.kick_worker();
	if (!r && r.code() == errc::media_failed)
		s.gate_.fail(errc::media_failed);
	// The spans of allocations go back only when the commit was refused before writing them:
	// once written (or after a media failure) they are not this transaction's to release, and
	// the free remainder of one may be set aside by another transaction already (found by
	// tx.concurrent_transactions_with_region_operations).
	if (r || r.code() == errc::media_failed)
		t.allocs.clear();
	t.clear();
	return r;
}

result<uint64_t> transaction::commit()
{
	return finish(false);
}

result<uint64_t> transaction::async_commit()
{
	return finish(true);
}

result<region> transaction::region_allocate(uint64_t size)
{
	if (!st_ || !st_->active)
		return finished();
	state &t = *st_;
	if (!t.s->gate_.open())
		return t.s->gate_.refusal();
	if (t.count() >= max_tx_members)
		return too_large();
	auto sp = t.s->catalog_.tx_reserve(size);
	if (!sp) {
		if (sp.code() == errc::media_failed)
			t.s->gate_.fail(errc::media_failed);
		return std::move(sp).err();
	}
	t.allocs.push_back(*sp);
	return region{sp->off, sp->counter};
}

status transaction::region_free(region r)
{
	if (!st_ || !st_->active)
		return finished();
	state &t = *st_;
	for (const auto &a : t.allocs)
		if (a.off == r.offset && (r.id == 0 || r.id == a.counter))
			return error(errc::invalid_argument, "region " + detail::hex(r.offset) + " is allocated by this transaction; abort it instead");
	auto rt = t.s->writable(r, nullptr);
	if (!rt)
		return rt.err();
	for (const auto &f : t.frees)
		if (f.rt == *rt)
			return error(errc::invalid_argument, "region " + detail::hex(r.offset) + " is already freed by this transaction");
	for (const auto &mb : t.members)
		if (mb.rt == *rt)
			return error(errc::invalid_argument, "region " + detail::hex(r.offset) + " holds entries of this transaction");
	if (t.count() >= max_tx_members)
		return too_large();
	t.frees.push_back({*rt, (*rt)->id.load(std::memory_order_acquire)});
	if (t.last_rt == *rt)
		t.last_rt = nullptr;
	return {};
}

void transaction::abort() noexcept
{
	if (!st_)
		return;
	st_->active = false;
	st_->clear();
}

uint64_t transaction::size() const noexcept
{
	return st_ ? st_->members.size() : 0;
}

bool transaction::active() const noexcept
{
	return st_ && st_->active;
}

result<transaction> stream::begin_transaction()
{
	if (!impl_->gate_.open())
		return impl_->gate_.refusal();
	if (!(impl_->header_.incompat_features & format::incompat_tx))
		return error(errc::version_mismatch, "the stream was created by a library without transactions (format feature "
						     "bit 1 absent); its readers could misread one");
	auto st = spare ? std::move(spare) : std::make_unique<detail::tx_state>();
	st->s = impl_.get();
	st->active = true;
	return transaction(std::move(st));
}

result<tx_membership> stream::entry_tx(const entry &e) const
{
	auto h = impl_->committed_entry(e);
	if (!h)
		return std::move(h).err();
	// committed_entry() strips the flags; the word on media still has them (a committed
	// entry's bytes never change while its region lives).
	uint64_t word;
	std::memcpy(&word, impl_->base_ + e.offset, sizeof(word));
	return tx_membership{(word & format::flag_tx) != 0, (word & format::flag_tx_end) != 0};
}

} // namespace pmemstream
