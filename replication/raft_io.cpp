// SPDX-License-Identifier: BSD-3-Clause
#include "raft_io.hpp"

#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>

namespace pmemstream::replication {

namespace {

struct stream_io {
	struct raft_io inner; // the uv io (transport, timers); first member
	struct raft_io *outer = nullptr;
	raft_store *store = nullptr;
	uv_loop_t *loop = nullptr;
	uv_async_t async{};
	bool async_open = false;
	// Storage calls complete at once; raft wants their callbacks later, from the loop. An
	// append's entries are written at once too, but persisted here, once for every append
	// queued since (group commit across raft's append calls): the callback gets the status.
	struct completion {
		uint64_t persist_ts; // 0: nothing to persist
		std::function<void(int)> fn;
	};
	std::deque<completion> done;
	raft_io_close_cb close_cb = nullptr;
	int pending_close = 0;
	uint64_t errors = 0;
	uint64_t installs = 0; // snapshot_put with trailing 0: a snapshot installed from the leader
	uint64_t append_calls = 0, appended_entries = 0, persists = 0;
};

stream_io *self(struct raft_io *io)
{
	return static_cast<stream_io *>(io->impl);
}

int fail(stream_io *w, const status &st)
{
	w->errors++;
	std::snprintf(w->outer->errmsg, RAFT_ERRMSG_BUF_SIZE, "pmemstream: %s", st.err().message().c_str());
	return RAFT_IOERR;
}

void run_done(uv_async_t *a)
{
	auto *w = static_cast<stream_io *>(a->data);
	while (!w->done.empty()) {
		uint64_t ts = 0;
		for (const auto &c : w->done)
			ts = std::max(ts, c.persist_ts);
		int persisted = 0;
		if (ts != 0) {
			w->persists++;
			auto st = w->store->persist_through(ts);
			persisted = st ? 0 : fail(w, st);
		}
		auto batch = std::move(w->done); // callbacks may queue more
		w->done.clear();
		for (auto &c : batch)
			c.fn(c.persist_ts ? persisted : 0);
	}
}

void later(stream_io *w, std::function<void(int)> f, uint64_t persist_ts = 0)
{
	w->done.push_back({persist_ts, std::move(f)});
	uv_async_send(&w->async);
}

int io_init(struct raft_io *io, raft_id id, const char *address)
{
	stream_io *w = self(io);
	w->inner.data = io->data;
	int rv = w->inner.init(&w->inner, id, address);
	if (rv != 0) {
		std::memcpy(io->errmsg, w->inner.errmsg, RAFT_ERRMSG_BUF_SIZE);
		return rv;
	}
	uv_async_init(w->loop, &w->async, run_done);
	w->async.data = w;
	w->async_open = true;
	return 0;
}

void maybe_closed(stream_io *w)
{
	if (--w->pending_close == 0 && w->close_cb)
		w->close_cb(w->outer);
}

void async_closed(uv_handle_t *h)
{
	maybe_closed(static_cast<stream_io *>(h->data));
}

void inner_closed(struct raft_io *inner)
{
	maybe_closed(reinterpret_cast<stream_io *>(inner));
}

void io_close(struct raft_io *io, raft_io_close_cb cb)
{
	stream_io *w = self(io);
	w->close_cb = cb;
	run_done(&w->async); // outstanding completions first, as the uv io finishes its disk I/O
	w->pending_close = 2;
	if (w->async_open)
		uv_close(reinterpret_cast<uv_handle_t *>(&w->async), async_closed);
	else
		w->pending_close--;
	w->inner.close(&w->inner, inner_closed);
}

int io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
	stream_io *w = self(io);
	w->inner.data = io->data;
	return w->inner.start(&w->inner, msecs, tick, recv);
}

struct raft_snapshot *to_raft_snapshot(const snapshot_record &s)
{
	auto *snap = static_cast<struct raft_snapshot *>(raft_malloc(sizeof(struct raft_snapshot)));
	if (!snap)
		return nullptr;
	snap->index = s.index;
	snap->term = s.term;
	snap->configuration_index = s.conf_index;
	raft_configuration_init(&snap->configuration);
	for (const auto &m : s.conf) {
		if (raft_configuration_add(&snap->configuration, m.id, m.address.c_str(), static_cast<int>(m.role)) != 0) {
			raft_configuration_close(&snap->configuration);
			raft_free(snap);
			return nullptr;
		}
	}
	snap->n_bufs = 1;
	snap->bufs = static_cast<struct raft_buffer *>(raft_malloc(sizeof(struct raft_buffer)));
	snap->bufs[0].len = s.data.size();
	snap->bufs[0].base = raft_malloc(s.data.size() ? s.data.size() : 1);
	if (!s.data.empty())
		std::memcpy(snap->bufs[0].base, s.data.data(), s.data.size());
	return snap;
}

int io_load(struct raft_io *io, raft_term *term, raft_id *voted_for, struct raft_snapshot **snapshot,
	    raft_index *start_index, struct raft_entry *entries[], size_t *n_entries)
{
	stream_io *w = self(io);
	raft_store &st = *w->store;
	*term = st.term();
	*voted_for = st.vote();
	*snapshot = nullptr;
	if (st.snapshot()) {
		*snapshot = to_raft_snapshot(*st.snapshot());
		if (!*snapshot)
			return RAFT_NOMEM;
	}
	*start_index = st.first_index();
	*n_entries = st.entry_count();
	*entries = nullptr;
	if (*n_entries == 0)
		return 0;
	*entries = static_cast<struct raft_entry *>(raft_malloc(*n_entries * sizeof(struct raft_entry)));
	for (size_t k = 0; k < *n_entries; k++) {
		auto rec = st.entry(st.first_index() + k);
		if (!rec) {
			for (size_t j = 0; j < k; j++)
				raft_free((*entries)[j].buf.base);
			raft_free(*entries);
			*entries = nullptr;
			return fail(w, rec.err());
		}
		auto &e = (*entries)[k];
		e.term = rec->term;
		e.type = rec->type;
		e.buf.len = rec->data.size();
		e.buf.base = raft_malloc(e.buf.len ? e.buf.len : 1);
		if (e.buf.len)
			std::memcpy(e.buf.base, rec->data.data(), e.buf.len);
		e.batch = nullptr;
	}
	return 0;
}

int append_conf(stream_io *w, uint64_t term, const struct raft_configuration *conf)
{
	struct raft_buffer buf;
	int rv = raft_configuration_encode(conf, &buf);
	if (rv != 0)
		return rv;
	log_record r{w->store->last_index() + 1, term, RAFT_CHANGE,
		     std::span<const std::byte>(static_cast<const std::byte *>(buf.base), buf.len)};
	auto st = w->store->append(std::span(&r, 1));
	raft_free(buf.base);
	return st ? 0 : fail(w, st);
}

int io_bootstrap(struct raft_io *io, const struct raft_configuration *conf)
{
	stream_io *w = self(io);
	raft_store &st = *w->store;
	if (st.term() != 0 || st.entry_count() != 0 || st.snapshot())
		return RAFT_CANTBOOTSTRAP;
	// The entry first: a crash before the term leaves a store that is not pristine either.
	if (int rv = append_conf(w, 1, conf); rv != 0)
		return rv;
	auto s = st.set_term_vote(1, 0);
	return s ? 0 : fail(w, s);
}

int io_recover(struct raft_io *io, const struct raft_configuration *conf)
{
	stream_io *w = self(io);
	return append_conf(w, w->store->term(), conf);
}

int io_set_term(struct raft_io *io, raft_term term)
{
	stream_io *w = self(io);
	auto s = w->store->set_term_vote(term, 0);
	return s ? 0 : fail(w, s);
}

int io_set_vote(struct raft_io *io, raft_id id)
{
	stream_io *w = self(io);
	auto s = w->store->set_term_vote(w->store->term(), id);
	return s ? 0 : fail(w, s);
}

int io_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *msg, raft_io_send_cb cb)
{
	stream_io *w = self(io);
	int rv = w->inner.send(&w->inner, req, msg, cb);
	if (rv != 0)
		std::memcpy(io->errmsg, w->inner.errmsg, RAFT_ERRMSG_BUF_SIZE);
	return rv;
}

int io_append(struct raft_io *io, struct raft_io_append *req, const struct raft_entry entries[], unsigned n,
	      raft_io_append_cb cb)
{
	stream_io *w = self(io);
	std::vector<log_record> recs(n);
	uint64_t next = w->store->last_index() + 1;
	for (unsigned k = 0; k < n; k++) {
		recs[k] = {next + k, entries[k].term, entries[k].type,
			   std::span<const std::byte>(static_cast<const std::byte *>(entries[k].buf.base), entries[k].buf.len)};
	}
	// Written now, persisted with every other append queued before the callbacks run.
	w->append_calls++;
	w->appended_entries += n;
	auto ts = w->store->append_nowait(recs);
	if (!ts) {
		int status = fail(w, ts.err());
		later(w, [req, cb, status](int) { cb(req, status); });
		return 0;
	}
	later(w, [req, cb](int persisted) { cb(req, persisted); }, *ts);
	return 0;
}

int io_truncate(struct raft_io *io, raft_index index)
{
	stream_io *w = self(io);
	auto st = w->store->truncate(index);
	return st ? 0 : fail(w, st);
}

int io_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
		    const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	stream_io *w = self(io);
	snapshot_record s;
	s.index = snapshot->index;
	s.term = snapshot->term;
	s.conf_index = snapshot->configuration_index;
	for (unsigned k = 0; k < snapshot->configuration.n; k++) {
		const auto &srv = snapshot->configuration.servers[k];
		s.conf.push_back({srv.id, static_cast<uint32_t>(srv.role), srv.address});
	}
	for (unsigned k = 0; k < snapshot->n_bufs; k++) {
		auto *b = static_cast<const std::byte *>(snapshot->bufs[k].base);
		s.data.insert(s.data.end(), b, b + snapshot->bufs[k].len);
	}
	if (trailing == 0)
		w->installs++;
	auto st = w->store->put_snapshot(s, trailing);
	int status = st ? 0 : fail(w, st);
	later(w, [req, cb, status](int) { cb(req, status); });
	return 0;
}

int io_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req, raft_io_snapshot_get_cb cb)
{
	stream_io *w = self(io);
	struct raft_snapshot *snap = nullptr;
	int status = 0;
	if (w->store->snapshot()) {
		snap = to_raft_snapshot(*w->store->snapshot());
		if (!snap)
			status = RAFT_NOMEM;
	} else {
		status = RAFT_NOTFOUND;
	}
	later(w, [req, cb, snap, status](int) { cb(req, snap, status); });
	return 0;
}

raft_time io_time(struct raft_io *io)
{
	stream_io *w = self(io);
	return w->inner.time(&w->inner);
}

int io_random(struct raft_io *io, int min, int max)
{
	stream_io *w = self(io);
	return w->inner.random(&w->inner, min, max);
}

int io_async_work(struct raft_io *io, struct raft_io_async_work *req, raft_io_async_work_cb cb)
{
	stream_io *w = self(io);
	return w->inner.async_work(&w->inner, req, cb);
}

} // namespace

int stream_io_init(struct raft_io *io, uv_loop_t *loop, const char *uv_dir, struct raft_uv_transport *transport,
		   raft_store *store)
{
	auto *w = new stream_io();
	std::memset(&w->inner, 0, sizeof w->inner);
	int rv = raft_uv_init(&w->inner, loop, uv_dir, transport);
	if (rv != 0) {
		std::memcpy(io->errmsg, w->inner.errmsg, RAFT_ERRMSG_BUF_SIZE);
		delete w;
		return rv;
	}
	w->outer = io;
	w->store = store;
	w->loop = loop;
	io->version = w->inner.version;
	io->impl = w;
	io->init = io_init;
	io->close = io_close;
	io->load = io_load;
	io->start = io_start;
	io->bootstrap = io_bootstrap;
	io->recover = io_recover;
	io->set_term = io_set_term;
	io->set_vote = io_set_vote;
	io->send = io_send;
	io->append = io_append;
	io->truncate = io_truncate;
	io->snapshot_put = io_snapshot_put;
	io->snapshot_get = io_snapshot_get;
	io->time = io_time;
	io->random = io_random;
	io->async_work = w->inner.version >= 2 && w->inner.async_work ? io_async_work : nullptr;
	return 0;
}

void stream_io_close(struct raft_io *io)
{
	stream_io *w = self(io);
	raft_uv_close(&w->inner);
	delete w;
	io->impl = nullptr;
}

uint64_t stream_io_errors(struct raft_io *io)
{
	return self(io)->errors;
}

uint64_t stream_io_installs(struct raft_io *io)
{
	return self(io)->installs;
}

void stream_io_append_counts(struct raft_io *io, uint64_t *calls, uint64_t *entries, uint64_t *persists)
{
	*calls = self(io)->append_calls;
	*entries = self(io)->appended_entries;
	*persists = self(io)->persists;
}

} // namespace pmemstream::replication
