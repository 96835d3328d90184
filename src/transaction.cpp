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

struct transaction::state {
	stream::impl *s = nullptr;
	bool active = true;
	std::vector<detail::tx_member> members;
	std::vector<std::byte> buf;
	// Bytes the members need in each region so far (few regions: a linear search is fine).
	std::vector<std::pair<region_runtime *, uint64_t>> need;
};

namespace {

error finished()
{
	return error(errc::tx_finished, "the transaction was already committed or aborted");
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

transaction::~transaction()
{
	abort();
}

status transaction::append(region r, std::span<const std::byte> data)
{
	if (!st_ || !st_->active)
		return finished();
	state &t = *st_;
	auto rt = t.s->writable(r, nullptr);
	if (!rt)
		return rt.err();
	if (data.size() > format::max_payload)
		return error(errc::entry_too_large,
			     "entry of " + std::to_string(data.size()) + " bytes; the limit is " + std::to_string(format::max_payload));
	if (t.members.size() >= max_tx_members)
		return error(errc::tx_too_large, "a transaction holds at most " + std::to_string(max_tx_members) + " members");
	region_runtime &reg = **rt;
	auto it = std::find_if(t.need.begin(), t.need.end(), [&](const auto &p) { return p.first == &reg; });
	const uint64_t planned = it == t.need.end() ? 0 : it->second;
	const uint64_t fp = format::entry_footprint(data.size());
	const uint64_t left = reg.data_end.load(std::memory_order_relaxed) - reg.tail.load(std::memory_order_acquire);
	if (planned + fp > left)
		return error(errc::region_full, "region " + detail::hex(reg.offset) + " has " + std::to_string(left) +
							" bytes left; the transaction's entries for it would need " +
							std::to_string(planned + fp));
	const uint64_t at = t.buf.size();
	t.buf.resize(at + data.size());
	if (!data.empty())
		std::memcpy(t.buf.data() + at, data.data(), data.size());
	t.members.push_back({&reg, reg.id.load(std::memory_order_acquire), at, static_cast<uint32_t>(data.size())});
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
	auto r = detail::commit_transaction(*s.m_, *s.tracker_, s.gate_, *s.state_,
					    s.header_.incompat_features & format::incompat_windowed, t.members, t.buf.data(), async);
	if (r && async)
		s.kick_worker();
	t.members.clear();
	t.buf.clear();
	t.need.clear();
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

void transaction::abort() noexcept
{
	if (!st_)
		return;
	st_->active = false;
	st_->members.clear();
	st_->buf.clear();
	st_->need.clear();
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
	auto st = std::make_unique<transaction::state>();
	st->s = impl_.get();
	return transaction(std::move(st));
}

} // namespace pmemstream
