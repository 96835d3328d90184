// SPDX-License-Identifier: BSD-3-Clause
// Transactions (issue 13): commit makes every member visible and durable at once with
// consecutive timestamps, abort and destruction leave no trace, a member that does not fit is
// refused and nothing is written, readers in other threads never see part of a transaction,
// and a synchronous commit on persistent memory fences once for the whole group (counted on
// the simulated medium).
#include "crc32c.hpp"
#include "format.hpp"
#include "sim_media.hpp"
#include "stream_factory.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

using namespace pmemstream;
using namespace pmemstream::test;
using namespace ::test;

namespace {

// Payload of member `k` of transaction `tx` (of `n` members): the three numbers, then filler.
std::vector<std::byte> member(uint32_t tx, uint32_t k, uint32_t n, size_t size = 64)
{
	std::vector<std::byte> v = pattern(std::max<size_t>(size, 12), tx * 31 + k);
	std::memcpy(v.data(), &tx, 4);
	std::memcpy(v.data() + 4, &k, 4);
	std::memcpy(v.data() + 8, &n, 4);
	return v;
}

uint32_t word(std::span<const std::byte> d, size_t at)
{
	uint32_t x;
	std::memcpy(&x, d.data() + at, 4);
	return x;
}

std::vector<std::vector<std::byte>> contents(const stream &s, region r)
{
	std::vector<std::vector<std::byte>> out;
	for (auto e : entries_of(s, r))
		out.push_back(to_vec(s.entry_data(e).value()));
	return out;
}

} // namespace

TEST(tx, commit_makes_every_member_visible_with_one_block_of_timestamps)
{
	temp_file f;
	auto s = create(f.path);
	region a = s->region_allocate(4096).value(), b = s->region_allocate(4096).value(), c = s->region_allocate(4096).value();
	ASSERT_TRUE(s->append(a, bytes("before")).has_value());
	auto tx = s->begin_transaction().value();
	EXPECT_TRUE(tx.active());
	ASSERT_TRUE(tx.append(a, member(1, 0, 5)));
	ASSERT_TRUE(tx.append(b, member(1, 1, 5)));
	ASSERT_TRUE(tx.append(a, member(1, 2, 5)));
	ASSERT_TRUE(tx.append(c, member(1, 3, 5)));
	ASSERT_TRUE(tx.append(b, member(1, 4, 5)));
	EXPECT_EQ(tx.size(), 5u);
	// Buffered: nothing is visible before the commit.
	EXPECT_EQ(s->region_entry_count(b).value(), 0u);
	const uint64_t before = s->committed_timestamp();
	auto last = tx.commit();
	ASSERT_TRUE(last.has_value()) << last.err().message();
	EXPECT_FALSE(tx.active());
	EXPECT_EQ(*last, before + 5);
	EXPECT_GE(s->persisted_timestamp(), *last);

	auto check = [&](const stream &st) {
		EXPECT_EQ(contents(st, a), (std::vector<std::vector<std::byte>>{bytes("before"), member(1, 0, 5), member(1, 2, 5)}));
		EXPECT_EQ(contents(st, b), (std::vector<std::vector<std::byte>>{member(1, 1, 5), member(1, 4, 5)}));
		EXPECT_EQ(contents(st, c), (std::vector<std::vector<std::byte>>{member(1, 3, 5)}));
		// Timestamp order is the members' order.
		auto rd = st.reader();
		rd.seek_first();
		ASSERT_TRUE(rd.is_valid());
		rd.next();
		for (uint32_t k = 0; k < 5; ++k, rd.next()) {
			ASSERT_TRUE(rd.is_valid());
			EXPECT_EQ(rd.timestamp(), before + 1 + k);
			EXPECT_EQ(word(st.entry_data(rd.get()).value(), 4), k);
		}
		EXPECT_FALSE(rd.is_valid());
	};
	check(*s);
	s.reset();
	s = reopen(f.path);
	check(*s);
	EXPECT_EQ(s->recovery().trimmed_entries, 0u);
	// Plain appends after a transaction work and come after it.
	auto p = s->append(b, bytes("after"));
	ASSERT_TRUE(p.has_value());
	EXPECT_GT(p->timestamp, *last);
}

TEST(tx, abort_leaves_no_trace)
{
	temp_file f;
	auto s = create(f.path);
	region a = s->region_allocate(4096).value();
	const uint64_t room = s->region_usable_size(a).value();
	auto tx = s->begin_transaction().value();
	ASSERT_TRUE(tx.append(a, member(1, 0, 2)));
	ASSERT_TRUE(tx.append(a, member(1, 1, 2)));
	tx.abort();
	EXPECT_FALSE(tx.active());
	EXPECT_EQ(tx.size(), 0u);
	tx.abort(); // idempotent
	EXPECT_EQ(tx.append(a, member(1, 2, 2)).code(), errc::tx_finished);
	EXPECT_EQ(tx.commit().code(), errc::tx_finished);
	EXPECT_EQ(tx.async_commit().code(), errc::tx_finished);
	EXPECT_EQ(s->region_usable_size(a).value(), room);
	EXPECT_EQ(s->last_timestamp(), 0u); // not even a timestamp was taken
	s.reset();
	s = reopen(f.path);
	EXPECT_EQ(s->region_entry_count(a).value(), 0u);
	EXPECT_EQ(s->recovery().trimmed_entries, 0u);
}

TEST(tx, destroying_an_uncommitted_transaction_aborts_it)
{
	temp_file f;
	auto s = create(f.path);
	region a = s->region_allocate(4096).value();
	{
		auto tx = s->begin_transaction().value();
		ASSERT_TRUE(tx.append(a, member(1, 0, 1)));
	}
	{
		// Moved-from and assigned-over transactions too.
		auto t1 = s->begin_transaction().value();
		ASSERT_TRUE(t1.append(a, member(2, 0, 1)));
		auto t2 = std::move(t1);
		EXPECT_FALSE(t1.active());
		EXPECT_EQ(t1.append(a, member(2, 1, 1)).code(), errc::tx_finished);
		t2 = s->begin_transaction().value(); // aborts the one it replaces
		EXPECT_TRUE(t2.active());
		EXPECT_EQ(t2.size(), 0u);
	}
	EXPECT_EQ(s->region_entry_count(a).value(), 0u);
	s.reset();
	s = reopen(f.path);
	EXPECT_EQ(s->region_entry_count(a).value(), 0u);
}

TEST(tx, member_that_does_not_fit_is_refused_and_nothing_is_written)
{
	temp_file f;
	auto s = create(f.path);
	region a = s->region_allocate(1000).value(), b = s->region_allocate(1000).value();
	const uint64_t room = s->region_usable_size(a).value(); // 3840 with 4 KiB blocks
	auto tx = s->begin_transaction().value();
	ASSERT_TRUE(tx.append(b, member(1, 0, 3)));
	ASSERT_TRUE(tx.append(a, member(1, 1, 3, room - 16 - 64))); // leaves exactly 64 bytes
	auto st = tx.append(a, member(1, 2, 3, 64 - 16 + 8));	    // 72 bytes: 8 too many
	EXPECT_EQ(st.code(), errc::region_full) << st.err().message();
	EXPECT_TRUE(tx.active());
	EXPECT_EQ(tx.size(), 2u);
	EXPECT_EQ(tx.append(a, member(1, 2, 3, 48)).code(), errc::ok); // fills the region exactly
	// The room went to a plain append meanwhile: the commit is refused, whole.
	ASSERT_TRUE(s->append(a, bytes("x")).has_value());
	auto c = tx.commit();
	EXPECT_EQ(c.code(), errc::region_full);
	EXPECT_EQ(s->region_entry_count(a).value(), 1u);
	EXPECT_EQ(s->region_entry_count(b).value(), 0u);
	s.reset();
	s = reopen(f.path);
	EXPECT_EQ(contents(*s, a), (std::vector<std::vector<std::byte>>{bytes("x")}));
	EXPECT_EQ(s->region_entry_count(b).value(), 0u);
	EXPECT_EQ(s->recovery().trimmed_entries, 0u);
}

TEST(tx, bad_members_get_specific_errors)
{
	temp_file f;
	auto s = create(f.path, 4 << 20);
	region a = s->region_allocate(3 << 20).value();
	region gone = s->region_allocate(4096).value();
	ASSERT_TRUE(s->region_free(gone));
	auto tx = s->begin_transaction().value();
	EXPECT_EQ(tx.append(gone, bytes("x")).code(), errc::invalid_handle);
	EXPECT_EQ(tx.append(region{12345, 0}, bytes("x")).code(), errc::invalid_handle);
	for (uint64_t k = 0; k < max_tx_members; ++k)
		ASSERT_TRUE(tx.append(a, nullptr, 0));
	EXPECT_EQ(tx.append(a, nullptr, 0).code(), errc::tx_too_large);
	auto last = tx.commit();
	ASSERT_TRUE(last.has_value()) << last.err().message();
	EXPECT_EQ(*last, max_tx_members);
	EXPECT_EQ(s->region_entry_count(a).value(), max_tx_members);
	// A region freed between the member and the commit.
	region b = s->region_allocate(4096).value();
	auto t2 = s->begin_transaction().value();
	ASSERT_TRUE(t2.append(a, bytes("y")));
	ASSERT_TRUE(t2.append(b, bytes("z")));
	ASSERT_TRUE(s->region_free(b));
	EXPECT_EQ(t2.commit().code(), errc::invalid_handle);
	EXPECT_EQ(s->region_entry_count(a).value(), max_tx_members);
	// An empty transaction writes nothing.
	auto t3 = s->begin_transaction().value();
	EXPECT_EQ(t3.commit().value(), s->committed_timestamp());
	EXPECT_EQ(s->last_timestamp(), max_tx_members);
}

TEST(tx, read_only_stream_refuses_transactions)
{
	temp_file f;
	create(f.path).reset();
	open_options o;
	o.read_only = true;
	auto s = reopen(f.path, o);
	EXPECT_EQ(s->begin_transaction().code(), errc::read_only);
}

TEST(tx, async_commit_is_visible_at_once_and_durable_after_wait_persisted)
{
	temp_file f;
	auto s = create(f.path);
	region a = s->region_allocate(4096).value(), b = s->region_allocate(4096).value();
	auto tx = s->begin_transaction().value();
	for (uint32_t k = 0; k < 8; ++k)
		ASSERT_TRUE(tx.append(k % 2 ? a : b, member(7, k, 8)));
	auto last = tx.async_commit();
	ASSERT_TRUE(last.has_value());
	EXPECT_GE(s->committed_timestamp(), *last);
	EXPECT_EQ(s->region_entry_count(a).value(), 4u);
	ASSERT_TRUE(s->wait_persisted(*last));
	s.reset();
	s = reopen(f.path);
	EXPECT_EQ(s->region_entry_count(a).value() + s->region_entry_count(b).value(), 8u);
}

// Readers follow the stream while a writer commits transactions of 8 members over three
// regions (and plain appends between them): a reader that meets a transaction's first member
// finds every other member committed in timestamp order right behind it, without waiting.
TEST(tx, readers_in_other_threads_never_see_part_of_a_transaction)
{
	temp_file f;
	auto s = create(f.path, 8 << 20);
	region r[3];
	for (auto &x : r)
		x = s->region_allocate(2 << 20).value();
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	constexpr uint32_t txs = 150, n = 8; // make test runs this under both sanitizers
#else
	constexpr uint32_t txs = 600, n = 8;
#endif
	std::atomic<bool> done{false};
	std::atomic<uint64_t> partial{0}, seen_tx{0};
	auto reader = [&] {
		auto rd = s->reader();
		rd.seek_first();
		uint32_t expect_tx = 0, expect_k = 0; // inside a transaction: the next member due
		bool inside = false;
		for (;;) {
			if (!rd.is_valid()) {
				if (inside)
					++partial; // a member is committed, the next one of its block is not
				inside = false;
				if (done.load())
					break;
				std::this_thread::yield();
				continue;
			}
			auto d = s->entry_data(rd.get()).value();
			if (d.size() >= 12 && word(d, 8) == n) {
				const uint32_t t = word(d, 0), k = word(d, 4);
				if (inside && (t != expect_tx || k != expect_k))
					++partial;
				inside = k + 1 < n;
				expect_tx = t;
				expect_k = k + 1;
				if (k == n - 1)
					++seen_tx;
			} else if (inside) {
				++partial;
				inside = false;
			}
			rd.next();
		}
	};
	std::thread t1(reader), t2(reader);
	for (uint32_t t = 0; t < txs; ++t) {
		auto tx = s->begin_transaction().value();
		for (uint32_t k = 0; k < n; ++k)
			ASSERT_TRUE(tx.append(r[(t + k) % 3], member(t, k, n, 16 + (k * 8))));
		ASSERT_TRUE((t % 3 ? tx.commit() : tx.async_commit()).has_value());
		if (t % 5 == 0) {
			ASSERT_TRUE(s->append(r[t % 3], bytes("plain")).has_value());
		}
	}
	done = true;
	t1.join();
	t2.join();
	EXPECT_EQ(partial.load(), 0u);
	EXPECT_EQ(seen_tx.load(), 2u * txs);
}

// On persistent memory the members are written with non-temporal stores and flushes and
// drained once: one fence for the whole group (the previous entries being persisted).
TEST(tx, synchronous_commit_fences_once_for_the_group)
{
	auto sm = std::make_unique<sim_media>(1 << 20);
	sim_media *m = sm.get();
	auto s = detail::open_on_media(std::move(sm), 4096, {}).value();
	region a = s->region_allocate(8192).value(), b = s->region_allocate(8192).value();
	ASSERT_TRUE(s->append(a, bytes("plain")).has_value());
	for (int round = 0; round < 3; ++round) {
		auto tx = s->begin_transaction().value();
		for (uint32_t k = 0; k < 8; ++k)
			ASSERT_TRUE(tx.append(k % 2 ? a : b, member(round, k, 8)));
		const uint64_t drains = m->drains();
		auto last = tx.commit();
		ASSERT_TRUE(last.has_value());
		EXPECT_EQ(m->drains() - drains, 1u) << "round " << round;
		// Every member is durable: the image with nothing but fenced stores shows them.
		auto img = m->persisted_image();
		auto r = detail::open_on_media(std::make_unique<sim_media>(img, true), 0, {.read_only = true});
		ASSERT_TRUE(r.has_value());
		EXPECT_EQ((*r)->committed_timestamp(), *last);
	}
}

// ---- region allocations and frees in transactions ----

TEST(tx, allocation_appends_and_frees_commit_together)
{
	temp_file f;
	auto s = create(f.path);
	region old1 = s->region_allocate(4096).value(), old2 = s->region_allocate(4096).value(), keep = s->region_allocate(4096).value();
	ASSERT_TRUE(s->append(old1, bytes("k1=v1")).has_value());
	ASSERT_TRUE(s->append(old2, bytes("k2=v2")).has_value());
	auto tx = s->begin_transaction().value();
	auto fresh = tx.region_allocate(8000);
	ASSERT_TRUE(fresh.has_value()) << fresh.err().message();
	// Not a region for anyone else before the commit.
	EXPECT_EQ(s->append(*fresh, bytes("x")).code(), errc::invalid_handle);
	EXPECT_EQ(regions_of(*s).size(), 3u);
	ASSERT_TRUE(tx.append(*fresh, bytes("k1=v1")));
	ASSERT_TRUE(tx.append(*fresh, bytes("k2=v2")));
	ASSERT_TRUE(tx.append(keep, bytes("checkpoint")));
	ASSERT_TRUE(tx.region_free(old1));
	ASSERT_TRUE(tx.region_free(old2));
	EXPECT_EQ(s->region_entry_count(old1).value(), 1u); // still there until the commit
	auto last = tx.commit();
	ASSERT_TRUE(last.has_value()) << last.err().message();
	std::vector<std::vector<std::byte>> in_fresh{bytes("k1=v1"), bytes("k2=v2")};
	auto check = [&](const stream &st) {
		EXPECT_EQ(st.region_size(old1).code(), errc::invalid_handle);
		EXPECT_EQ(st.region_size(old2).code(), errc::invalid_handle);
		EXPECT_EQ(contents(st, *fresh), in_fresh);
		EXPECT_EQ(contents(st, keep), (std::vector<std::vector<std::byte>>{bytes("checkpoint")}));
		EXPECT_GE(st.region_size(*fresh).value(), 8000u);
		auto rs = regions_of(st);
		ASSERT_EQ(rs.size(), 2u);
		EXPECT_EQ(rs[0], keep);
		EXPECT_EQ(rs[1], *fresh);
	};
	check(*s);
	// The new region takes plain appends; the space of the freed ones is free again.
	ASSERT_TRUE(s->append(*fresh, bytes("k3=v3")).has_value());
	in_fresh.push_back(bytes("k3=v3"));
	const uint64_t free_before = s->info().free_bytes;
	s.reset();
	s = reopen(f.path);
	EXPECT_EQ(s->recovery().trimmed_entries, 0u);
	EXPECT_EQ(s->info().free_bytes, free_before);
	EXPECT_EQ(s->region_entry_count(*fresh).value(), 3u);
	check(*s);
}

TEST(tx, aborted_allocation_and_free_leave_no_trace)
{
	temp_file f;
	auto s = create(f.path, 1 << 20);
	region a = s->region_allocate(4096).value();
	ASSERT_TRUE(s->append(a, bytes("stays")).has_value());
	const auto before = s->info();
	{
		auto tx = s->begin_transaction().value();
		region big = tx.region_allocate(before.largest_free).value();
		ASSERT_TRUE(tx.append(big, bytes("never")));
		ASSERT_TRUE(tx.region_free(a));
		// The span is set aside: a plain allocation cannot have it meanwhile.
		EXPECT_EQ(s->region_allocate(before.largest_free).code(), errc::out_of_space);
	} // destroyed: aborted
	EXPECT_EQ(s->info().free_bytes, before.free_bytes);
	EXPECT_EQ(s->info().largest_free, before.largest_free);
	EXPECT_EQ(contents(*s, a), (std::vector<std::vector<std::byte>>{bytes("stays")}));
	s.reset();
	s = reopen(f.path);
	EXPECT_EQ(s->info().region_count, 1u);
	EXPECT_EQ(s->info().free_bytes, before.free_bytes);
	EXPECT_EQ(contents(*s, a), (std::vector<std::vector<std::byte>>{bytes("stays")}));
	EXPECT_TRUE(s->region_allocate(before.largest_free).has_value());
}

TEST(tx, frees_alone_commit_by_a_padding_entry)
{
	temp_file f;
	auto s = create(f.path);
	region a = s->region_allocate(4096).value(), b = s->region_allocate(4096).value();
	ASSERT_TRUE(s->append(a, bytes("a")).has_value());
	auto tx = s->begin_transaction().value();
	ASSERT_TRUE(tx.region_free(a));
	ASSERT_TRUE(tx.region_free(b));
	auto last = tx.commit();
	ASSERT_TRUE(last.has_value()) << last.err().message();
	EXPECT_EQ(*last, 2u); // the commit record's timestamp
	EXPECT_EQ(s->info().region_count, 0u);
	s.reset();
	s = reopen(f.path);
	EXPECT_EQ(s->info().region_count, 0u);
	EXPECT_EQ(s->recovery().entries, 0u);
	// An allocation alone commits by a padding entry in its own region, which shows nothing.
	auto t2 = s->begin_transaction().value();
	region n = t2.region_allocate(100).value();
	ASSERT_TRUE(t2.commit().has_value());
	EXPECT_EQ(s->region_entry_count(n).value(), 0u);
	EXPECT_TRUE(entries_of(*s, n).empty());
	s.reset();
	s = reopen(f.path);
	EXPECT_EQ(s->region_entry_count(n).value(), 0u);
	EXPECT_TRUE(s->append(n, bytes("first")).has_value());
}

TEST(tx, region_operations_refuse_misuse)
{
	temp_file f;
	auto s = create(f.path, 1 << 20);
	region a = s->region_allocate(4096).value(), b = s->region_allocate(4096).value();
	auto tx = s->begin_transaction().value();
	EXPECT_EQ(tx.region_allocate(0).code(), errc::invalid_argument);
	EXPECT_EQ(tx.region_allocate(64 << 20).code(), errc::out_of_space);
	region n = tx.region_allocate(1000).value(); // one 4 KiB block: 3840 usable bytes
	EXPECT_EQ(tx.append(n, member(1, 0, 1, 3840 - 16 + 8)).code(), errc::region_full);
	EXPECT_EQ(tx.append(n, member(1, 0, 1, 3840 - 16)).code(), errc::ok);
	EXPECT_EQ(tx.region_free(n).code(), errc::invalid_argument);
	ASSERT_TRUE(tx.append(a, bytes("x")));
	EXPECT_EQ(tx.region_free(a).code(), errc::invalid_argument); // holds a member
	ASSERT_TRUE(tx.region_free(b));
	EXPECT_EQ(tx.region_free(b).code(), errc::invalid_argument);
	EXPECT_EQ(tx.append(b, bytes("y")).code(), errc::invalid_argument);
	EXPECT_EQ(tx.region_free(region{a.offset + 4096 * 7, 0}).code(), errc::invalid_handle);
	ASSERT_TRUE(tx.commit().has_value());
	EXPECT_EQ(s->region_entry_count(n).value(), 1u);
	EXPECT_EQ(s->region_size(b).code(), errc::invalid_handle);
	EXPECT_EQ(tx.region_allocate(10).code(), errc::tx_finished);
	EXPECT_EQ(tx.region_free(a).code(), errc::tx_finished);
}

TEST(tx, stream_without_the_transaction_feature_refuses_transactions)
{
	// A stream as libraries before transactions created it: feature bit 1 clear.
	auto sm = std::make_unique<sim_media>(1 << 20);
	sim_media *m = sm.get();
	auto img = std::make_shared<std::vector<std::byte>>();
	m->keep_on_destroy(img);
	detail::open_on_media(std::move(sm), 4096, {}).value().reset();
	format::stream_header h;
	std::memcpy(&h, img->data(), sizeof(h));
	ASSERT_TRUE(h.incompat_features & format::incompat_tx);
	h.incompat_features &= ~format::incompat_tx;
	h.checksum = detail::crc32c(reinterpret_cast<const std::byte *>(&h) + 8, offsetof(format::stream_header, checksum) - 8);
	std::memcpy(img->data(), &h, sizeof(h));
	auto s = detail::open_on_media(std::make_unique<sim_media>(*img), 0, {});
	ASSERT_TRUE(s.has_value()) << s.err().message();
	EXPECT_EQ((*s)->begin_transaction().code(), errc::version_mismatch);
}

TEST(tx, entry_tx_tells_members_and_the_last)
{
	temp_file f;
	auto s = create(f.path);
	region a = s->region_allocate(4096).value(), b = s->region_allocate(4096).value();
	auto plain = s->append(a, bytes("plain")).value();
	auto tx = s->begin_transaction().value();
	ASSERT_TRUE(tx.append(a, bytes("m0")));
	ASSERT_TRUE(tx.append(b, bytes("m1")));
	ASSERT_TRUE(tx.commit().has_value());
	auto ea = entries_of(*s, a), eb = entries_of(*s, b);
	ASSERT_EQ(ea.size(), 2u);
	ASSERT_EQ(eb.size(), 1u);
	auto p = s->entry_tx(plain).value();
	EXPECT_FALSE(p.member);
	auto m0 = s->entry_tx(ea[1]).value(), m1 = s->entry_tx(eb[0]).value();
	EXPECT_TRUE(m0.member);
	EXPECT_FALSE(m0.last);
	EXPECT_TRUE(m1.member);
	EXPECT_TRUE(m1.last);
	EXPECT_EQ(s->entry_tx(entry{ea[1].offset + 8, 0}).code(), errc::invalid_handle);
#ifdef PMEMSTREAM_CLI_PATH
	// The tool shows the membership: dump names each member's transaction by its first
	// timestamp, cat --json marks members and the last one.
	s.reset();
	auto run = [](const std::string &cmd) {
		std::string out;
		FILE *pipe = ::popen(cmd.c_str(), "r");
		EXPECT_NE(pipe, nullptr);
		char buf[4096];
		size_t n;
		while (pipe && (n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
			out.append(buf, n);
		if (pipe)
			::pclose(pipe);
		return out;
	};
	const std::string dump = run(std::string(PMEMSTREAM_CLI_PATH) + " dump " + f.path);
	EXPECT_NE(dump.find("ts 2      6d 30 tx@2"), std::string::npos) << dump;
	EXPECT_NE(dump.find("tx@2 end"), std::string::npos) << dump;
	const std::string json = run(std::string(PMEMSTREAM_CLI_PATH) + " dump --json " + f.path);
	EXPECT_NE(json.find("\"tx\":2,\"tx_end\":false"), std::string::npos) << json;
	EXPECT_NE(json.find("\"tx\":2,\"tx_end\":true"), std::string::npos) << json;
	const std::string cat = run(std::string(PMEMSTREAM_CLI_PATH) + " cat --json " + f.path + " " + std::to_string(b.offset));
	EXPECT_NE(cat.find("\"tx\":\"end\""), std::string::npos) << cat;
#endif
}

// Transactions from several threads over shared regions (locked in any order by their
// members), with allocations and frees of their own regions, beside plain appends and plain
// allocations and frees: no deadlock, and every committed member is there after a reopen.
// Found a committed allocation's span released again by its transaction while another one had
// set aside the free rest of it (on a file in /tmp, where msync makes the threads interleave;
// on /dev/shm the window is rarely hit).
TEST(tx, concurrent_transactions_with_region_operations)
{
	temp_file f;
	auto s = create(f.path, 16 << 20);
	region shared[3];
	for (auto &r : shared)
		r = s->region_allocate(1 << 20).value();
	constexpr int threads = 3;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	constexpr int rounds = 60;
#else
	constexpr int rounds = 250;
#endif
	std::atomic<uint64_t> committed_shared{0};
	std::atomic<int> failures{0};
	std::latch start(threads + 1);
	auto work = [&](int t) {
		start.arrive_and_wait();
		std::vector<region> own;
		for (int i = 0; i < rounds; ++i) {
			auto tx = s->begin_transaction().value();
			uint64_t mine = 0;
			for (int k = 0; k < 4; ++k) // shared regions in an order of this thread's own
				if (tx.append(shared[(t + k * (t + 1)) % 3], member(static_cast<uint32_t>(t), static_cast<uint32_t>(i), 4)))
					++mine;
			region fresh{};
			if (i % 2 == 0) {
				auto r = tx.region_allocate(2000);
				if (r && tx.append(*r, bytes("fresh")))
					fresh = *r;
			}
			if (i % 3 == 0 && !own.empty()) {
				if (auto st = tx.region_free(own.back()); !st && failures++ < 5)
					ADD_FAILURE() << "region_free: " << st.err().message();
				own.pop_back();
			}
			auto c = i % 2 ? tx.commit() : tx.async_commit();
			if (!c) {
				if (failures++ < 5)
					ADD_FAILURE() << "commit: " << c.err().message();
				continue;
			}
			committed_shared += mine;
			if (fresh.id)
				own.push_back(fresh);
		}
	};
	std::thread plain([&] {
		start.arrive_and_wait();
		for (int i = 0; i < rounds; ++i) {
			auto r = s->region_allocate(3000);
			if (!r) {
				if (failures++ < 5)
					ADD_FAILURE() << "plain allocate: " << r.err().message() << "; regions "
						      << s->info().region_count << ", free bytes " << s->info().free_bytes
						      << ", largest " << s->info().largest_free;
				continue;
			}
			auto a = s->append(*r, bytes("p"));
			auto st = s->region_free(*r);
			if ((!a || !st) && failures++ < 5)
				ADD_FAILURE() << "plain append/free: " << (a ? st.err().message() : a.err().message());
		}
	});
	std::vector<std::thread> pool;
	for (int t = 0; t < threads; ++t)
		pool.emplace_back(work, t);
	for (auto &th : pool)
		th.join();
	plain.join();
	EXPECT_EQ(failures.load(), 0);
	ASSERT_TRUE(s->persist().has_value());
	uint64_t in_shared = 0;
	for (auto r : shared)
		in_shared += s->region_entry_count(r).value();
	EXPECT_EQ(in_shared, committed_shared.load());
	const uint64_t regions_live = s->info().region_count;
	s.reset();
	s = reopen(f.path);
	EXPECT_EQ(s->info().region_count, regions_live);
	uint64_t after = 0;
	for (auto r : shared)
		after += s->region_entry_count(r).value();
	EXPECT_EQ(after, committed_shared.load());
	EXPECT_EQ(s->recovery().trimmed_entries, 0u);
}

// A transaction allocates through the same steering as region_allocate (region_catalog's
// choose_free): freeing two regions and allocating their sizes again, the smaller first, in
// one transaction must fit, each at its old offset.
TEST(tx, freed_sizes_allocated_again_by_a_transaction_smaller_first_fit)
{
	constexpr auto blocks = [](uint64_t n) { return n * 4096 - 256; };
	temp_file f;
	auto s = ::test::create(f.path, 4096 + 64 * 4096, 4096);
	region a = s->region_allocate(blocks(10)).value();
	(void)s->region_allocate(blocks(6)).value();
	region b = s->region_allocate(blocks(16)).value();
	(void)s->region_allocate(s->info().largest_free).value();
	ASSERT_TRUE(s->region_free(a));
	ASSERT_TRUE(s->region_free(b));
	auto tx = s->begin_transaction().value();
	auto small = tx.region_allocate(blocks(10));
	ASSERT_TRUE(small.has_value()) << small.err().message();
	auto large = tx.region_allocate(blocks(16));
	ASSERT_TRUE(large.has_value()) << large.err().message();
	ASSERT_TRUE(tx.append(*large, bytes("in the larger one")));
	ASSERT_TRUE(tx.commit());
	EXPECT_EQ(small->offset, a.offset);
	EXPECT_EQ(large->offset, b.offset);
	EXPECT_EQ(s->region_size(*large).value(), blocks(16));
	EXPECT_EQ(s->region_entry_count(*large).value(), 1u);
}
