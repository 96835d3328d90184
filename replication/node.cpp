// SPDX-License-Identifier: BSD-3-Clause
#include "node.hpp"

#include "raft_io.hpp"
#include "raft_store.hpp"

#include <cerrno>
#include <csignal>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace pmemstream::replication {

namespace {

std::string to_hex(const std::byte *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	std::string s(2 * n, '0');
	for (size_t k = 0; k < n; k++) {
		auto b = static_cast<unsigned>(p[k]);
		s[2 * k] = digits[b >> 4];
		s[2 * k + 1] = digits[b & 15];
	}
	return s;
}

bool from_hex(const std::string &h, std::vector<std::byte> &out)
{
	if (h.size() % 2)
		return false;
	out.resize(h.size() / 2);
	for (size_t k = 0; k < out.size(); k++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = h[2 * k + j];
			unsigned d;
			if (c >= '0' && c <= '9')
				d = unsigned(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = unsigned(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				d = unsigned(c - 'A' + 10);
			else
				return false;
			v = v * 16 + d;
		}
		out[k] = std::byte(v);
	}
	return true;
}

struct node;

struct conn {
	uv_tcp_t tcp{};
	node *n = nullptr;
	uint64_t id = 0;
	std::string in;
	bool follow = false;
	uint64_t follow_next = 1;
	bool closing = false;
};

struct node {
	node_options o;
	uv_loop_t loop{};
	std::unique_ptr<raft_store> store;
	struct raft_uv_transport transport{};
	struct raft_io io{};
	struct raft_fsm fsm{};
	struct raft r{};
	uv_tcp_t server{};
	uv_signal_t sig_term{}, sig_int{};
	uv_timer_t pump{};
	uint64_t next_conn = 1;
	std::map<uint64_t, conn *> conns;
	bool closing = false;
	bool raft_started = false;
	// The state machine of a replicated log: what was applied, as a count and a hash chain.
	uint64_t applied = 0;
	uint64_t hash = 14695981039346656037ull;
};

void write_to(conn *c, std::string s)
{
	if (c->closing)
		return;
	struct wreq {
		uv_write_t w;
		std::string data;
	};
	auto *w = new wreq();
	w->data = std::move(s);
	uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
	if (uv_write(&w->w, reinterpret_cast<uv_stream_t *>(&c->tcp), &b, 1,
		     [](uv_write_t *req, int) { delete reinterpret_cast<wreq *>(req); }) != 0)
		delete w;
}

void close_conn(conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->n->conns.erase(c->id);
	uv_close(reinterpret_cast<uv_handle_t *>(&c->tcp), [](uv_handle_t *h) { delete static_cast<conn *>(h->data); });
}

const char *state_name(int s)
{
	switch (s) {
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	default:
		return "unavailable";
	}
}

// A command entry's raft buffer: the payload's length (8 bytes) and the payload, zero-padded
// to a multiple of 8 bytes. raft's uv transport sends entry buffers back to back but the
// receiver steps over them in 8-byte units, so every buffer handed to raft_apply must have a
// length that is a multiple of 8.
std::span<const std::byte> command_payload(std::span<const std::byte> buf)
{
	if (buf.size() < 8)
		return {};
	uint64_t len;
	std::memcpy(&len, buf.data(), 8);
	if (len > buf.size() - 8)
		return {};
	return buf.subspan(8, len);
}

// Committed command entries with index in [from, commit], at most max, as E lines.
uint64_t emit_entries(node *n, conn *c, uint64_t from, uint64_t max, std::string &out)
{
	uint64_t commit = std::min<uint64_t>(n->r.commit_index, n->store->last_index());
	uint64_t i = std::max(from, n->store->first_index());
	uint64_t sent = 0;
	for (; i <= commit && sent < max; i++) {
		auto e = n->store->entry(i);
		if (!e)
			break;
		if (e->type != RAFT_COMMAND)
			continue;
		auto payload = command_payload(e->data);
		out += "E " + std::to_string(i) + " " + to_hex(payload.data(), payload.size()) + "\n";
		sent++;
	}
	(void)c;
	return i;
}

void pump_followers(uv_timer_t *t)
{
	auto *n = static_cast<node *>(t->data);
	for (auto &[id, c] : n->conns) {
		if (!c->follow)
			continue;
		std::string out;
		c->follow_next = emit_entries(n, c, c->follow_next, 1000, out);
		if (!out.empty())
			write_to(c, std::move(out));
	}
}

struct apply_ctx {
	struct raft_apply req;
	node *n;
	uint64_t conn_id;
	std::string tag;
	uint64_t index;
};

void reply(node *n, uint64_t conn_id, std::string line)
{
	auto it = n->conns.find(conn_id);
	if (it != n->conns.end())
		write_to(it->second, std::move(line));
}

std::string not_leader(node *n, const std::string &tag)
{
	raft_id lid = 0;
	const char *laddr = nullptr;
	raft_leader(&n->r, &lid, &laddr);
	return "ERR " + tag + " NOTLEADER " + std::to_string(lid) + " " + (laddr ? laddr : "-") + "\n";
}

void do_append(node *n, conn *c, const std::string &tag, const std::string &hex)
{
	std::vector<std::byte> data;
	if (!from_hex(hex, data)) {
		write_to(c, "ERR " + tag + " BADHEX\n");
		return;
	}
	if (n->r.state != RAFT_LEADER) {
		write_to(c, not_leader(n, tag));
		return;
	}
	struct raft_buffer buf;
	buf.len = 8 + ((data.size() + 7) & ~size_t(7));
	buf.base = raft_malloc(buf.len);
	uint64_t len = data.size();
	std::memset(buf.base, 0, buf.len);
	std::memcpy(buf.base, &len, 8);
	if (len)
		std::memcpy(static_cast<char *>(buf.base) + 8, data.data(), len);
	auto *ctx = new apply_ctx{};
	ctx->n = n;
	ctx->conn_id = c->id;
	ctx->tag = tag;
	ctx->req.data = ctx;
	int rv = raft_apply(&n->r, &ctx->req, &buf, 1, [](struct raft_apply *req, int status, void *) {
		auto *x = static_cast<apply_ctx *>(req->data);
		if (status == 0)
			reply(x->n, x->conn_id, "OK " + x->tag + " " + std::to_string(x->index) + "\n");
		else
			reply(x->n, x->conn_id, "ERR " + x->tag + " " + raft_strerror(status) + "\n");
		delete x;
	});
	if (rv != 0) {
		raft_free(buf.base);
		write_to(c, rv == RAFT_NOTLEADER ? not_leader(n, tag) : "ERR " + tag + " " + raft_strerror(rv) + "\n");
		delete ctx;
		return;
	}
	ctx->index = raft_last_index(&n->r);
}

struct change_ctx {
	struct raft_change req;
	node *n;
	uint64_t conn_id;
	uint64_t id;
};

void do_add(node *n, conn *c, uint64_t id, const std::string &addr)
{
	auto *ctx = new change_ctx{};
	ctx->n = n;
	ctx->conn_id = c->id;
	ctx->id = id;
	ctx->req.data = ctx;
	int rv = raft_add(&n->r, &ctx->req, id, addr.c_str(), [](struct raft_change *req, int status) {
		auto *x = static_cast<change_ctx *>(req->data);
		if (status != 0) {
			reply(x->n, x->conn_id, std::string("ERR ADD ") + raft_strerror(status) + "\n");
			delete x;
			return;
		}
		// Added as a spare; promote it: raft catches it up before it votes.
		int rv2 = raft_assign(&x->n->r, &x->req, x->id, RAFT_VOTER, [](struct raft_change *req2, int st2) {
			auto *y = static_cast<change_ctx *>(req2->data);
			reply(y->n, y->conn_id,
			      st2 == 0 ? "OK ADD " + std::to_string(y->id) + "\n" : std::string("ERR ADD ") + raft_strerror(st2) + "\n");
			delete y;
		});
		if (rv2 != 0) {
			reply(x->n, x->conn_id, std::string("ERR ADD ") + raft_strerror(rv2) + "\n");
			delete x;
		}
	});
	if (rv != 0) {
		write_to(c, rv == RAFT_NOTLEADER ? not_leader(n, "ADD") : std::string("ERR ADD ") + raft_strerror(rv) + "\n");
		delete ctx;
	}
}

void do_remove(node *n, conn *c, uint64_t id)
{
	auto *ctx = new change_ctx{};
	ctx->n = n;
	ctx->conn_id = c->id;
	ctx->id = id;
	ctx->req.data = ctx;
	int rv = raft_remove(&n->r, &ctx->req, id, [](struct raft_change *req, int status) {
		auto *x = static_cast<change_ctx *>(req->data);
		reply(x->n, x->conn_id,
		      status == 0 ? "OK REMOVE " + std::to_string(x->id) + "\n" : std::string("ERR REMOVE ") + raft_strerror(status) + "\n");
		delete x;
	});
	if (rv != 0) {
		write_to(c, rv == RAFT_NOTLEADER ? not_leader(n, "REMOVE") : std::string("ERR REMOVE ") + raft_strerror(rv) + "\n");
		delete ctx;
	}
}

std::string status_line(node *n)
{
	raft_id lid = 0;
	const char *laddr = nullptr;
	raft_leader(&n->r, &lid, &laddr);
	std::ostringstream s;
	s << "STATUS id=" << n->o.id << " state=" << state_name(n->r.state) << " term=" << n->r.current_term
	  << " leader=" << lid << " commit=" << n->r.commit_index << " applied=" << n->r.last_applied
	  << " first=" << n->store->first_index() << " last=" << n->store->last_index()
	  << " snapshot=" << (n->store->snapshot() ? n->store->snapshot()->index : 0) << " members=";
	for (unsigned k = 0; k < n->r.configuration.n; k++) {
		const auto &srv = n->r.configuration.servers[k];
		if (k)
			s << ",";
		s << srv.id << ":" << (srv.role == RAFT_VOTER ? "voter" : srv.role == RAFT_STANDBY ? "standby" : "spare") << ":";
		if (n->r.state == RAFT_LEADER && n->r.leader_state.progress)
			s << n->r.leader_state.progress[k].match_index;
		else
			s << "-";
	}
	uint64_t calls, entries, persists;
	stream_io_append_counts(&n->io, &calls, &entries, &persists);
	s << " errors=" << stream_io_errors(&n->io) << " installs=" << stream_io_installs(&n->io)
	  << " append_calls=" << calls << " appended=" << entries << " persists=" << persists << "\n";
	return s.str();
}

void handle_line(node *n, conn *c, const std::string &line)
{
	std::istringstream in(line);
	std::string cmd;
	in >> cmd;
	if (cmd == "APPEND") {
		std::string tag, hex;
		in >> tag >> hex;
		do_append(n, c, tag, hex);
	} else if (cmd == "READ") {
		uint64_t from = 1, max = UINT64_MAX;
		in >> from >> max;
		std::string out;
		emit_entries(n, c, from, max, out);
		out += "END " + std::to_string(n->r.commit_index) + " " + std::to_string(n->store->first_index()) + "\n";
		write_to(c, std::move(out));
	} else if (cmd == "FOLLOW") {
		uint64_t from = 1;
		in >> from;
		c->follow = true;
		c->follow_next = from;
		pump_followers(&n->pump);
	} else if (cmd == "STATUS") {
		write_to(c, status_line(n));
	} else if (cmd == "ADD") {
		uint64_t id = 0;
		std::string addr;
		in >> id >> addr;
		do_add(n, c, id, addr);
	} else if (cmd == "REMOVE") {
		uint64_t id = 0;
		in >> id;
		do_remove(n, c, id);
	} else {
		write_to(c, "ERR - UNKNOWN " + cmd + "\n");
	}
}

void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	auto *c = static_cast<conn *>(s->data);
	if (nread < 0) {
		delete[] buf->base;
		close_conn(c);
		return;
	}
	c->in.append(buf->base, static_cast<size_t>(nread));
	delete[] buf->base;
	size_t pos;
	while (!c->closing && (pos = c->in.find('\n')) != std::string::npos) {
		std::string line = c->in.substr(0, pos);
		c->in.erase(0, pos + 1);
		handle_line(c->n, c, line);
	}
}

void on_connection(uv_stream_t *server, int status)
{
	auto *n = static_cast<node *>(server->data);
	if (status < 0 || n->closing)
		return;
	auto *c = new conn();
	c->n = n;
	c->id = n->next_conn++;
	uv_tcp_init(&n->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(server, reinterpret_cast<uv_stream_t *>(&c->tcp)) != 0) {
		uv_close(reinterpret_cast<uv_handle_t *>(&c->tcp), [](uv_handle_t *h) { delete static_cast<conn *>(h->data); });
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	n->conns[c->id] = c;
	uv_read_start(
		reinterpret_cast<uv_stream_t *>(&c->tcp),
		[](uv_handle_t *, size_t, uv_buf_t *b) {
			b->base = new char[65536];
			b->len = 65536;
		},
		on_read);
}

int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	auto *n = static_cast<node *>(fsm->data);
	n->applied++;
	auto *p = static_cast<const unsigned char *>(buf->base);
	for (size_t k = 0; k < buf->len; k++)
		n->hash = (n->hash ^ p[k]) * 1099511628211ull;
	*result = nullptr;
	return 0;
}

int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	auto *n = static_cast<node *>(fsm->data);
	*bufs = static_cast<struct raft_buffer *>(raft_malloc(sizeof(struct raft_buffer)));
	(*bufs)[0].len = 16;
	(*bufs)[0].base = raft_malloc(16);
	std::memcpy((*bufs)[0].base, &n->applied, 8);
	std::memcpy(static_cast<char *>((*bufs)[0].base) + 8, &n->hash, 8);
	*n_bufs = 1;
	return 0;
}

int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	auto *n = static_cast<node *>(fsm->data);
	if (buf->len != 16)
		return RAFT_MALFORMED;
	std::memcpy(&n->applied, buf->base, 8);
	std::memcpy(&n->hash, static_cast<char *>(buf->base) + 8, 8);
	raft_free(buf->base);
	return 0;
}

void shutdown(node *n)
{
	if (n->closing)
		return;
	n->closing = true;
	std::vector<conn *> cs;
	for (auto &[id, c] : n->conns)
		cs.push_back(c);
	for (conn *c : cs)
		close_conn(c);
	uv_close(reinterpret_cast<uv_handle_t *>(&n->server), nullptr);
	uv_close(reinterpret_cast<uv_handle_t *>(&n->pump), nullptr);
	uv_close(reinterpret_cast<uv_handle_t *>(&n->sig_term), nullptr);
	uv_close(reinterpret_cast<uv_handle_t *>(&n->sig_int), nullptr);
	if (n->raft_started)
		raft_close(&n->r, nullptr);
}

} // namespace

int run_node(const node_options &o)
{
	// A peer or client that goes away must not kill the member (writes to its socket).
	std::signal(SIGPIPE, SIG_IGN);
	auto n = std::make_unique<node>();
	n->o = o;
	if (uv_loop_init(&n->loop) != 0)
		return 1;

	store_options so;
	so.size = o.file_size;
	so.segment_size = o.segment_size;
	auto st = ::access(o.file.c_str(), F_OK) == 0 ? raft_store::open(o.file, so) : raft_store::create(o.file, so);
	if (!st) {
		std::fprintf(stderr, "pmemstream-node: %s: %s\n", o.file.c_str(), st.err().message().c_str());
		return 1;
	}
	n->store = std::move(st).value();

	std::string uv_dir = o.file + ".uv";
	if (::mkdir(uv_dir.c_str(), 0755) != 0 && errno != EEXIST) {
		std::fprintf(stderr, "pmemstream-node: mkdir %s: %s\n", uv_dir.c_str(), std::strerror(errno));
		return 1;
	}
	int rv = raft_uv_tcp_init(&n->transport, &n->loop);
	if (rv == 0)
		rv = stream_io_init(&n->io, &n->loop, uv_dir.c_str(), &n->transport, n->store.get());
	if (rv != 0) {
		std::fprintf(stderr, "pmemstream-node: raft io: %s\n", raft_strerror(rv));
		return 1;
	}
	n->fsm.version = 1;
	n->fsm.data = n.get();
	n->fsm.apply = fsm_apply;
	n->fsm.snapshot = fsm_snapshot;
	n->fsm.restore = fsm_restore;
	rv = raft_init(&n->r, &n->io, &n->fsm, o.id, o.address.c_str());
	if (rv != 0) {
		std::fprintf(stderr, "pmemstream-node: raft_init: %s (%s)\n", raft_strerror(rv), raft_errmsg(&n->r));
		return 1;
	}
	raft_set_election_timeout(&n->r, o.election_timeout_ms);
	raft_set_heartbeat_timeout(&n->r, o.heartbeat_timeout_ms);
	raft_set_snapshot_threshold(&n->r, o.snapshot_threshold);
	raft_set_snapshot_trailing(&n->r, o.snapshot_trailing);
	raft_set_pre_vote(&n->r, true);
	if (!o.bootstrap.empty()) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		for (auto &[id, addr] : o.bootstrap)
			raft_configuration_add(&conf, id, addr.c_str(), RAFT_VOTER);
		rv = raft_bootstrap(&n->r, &conf);
		raft_configuration_close(&conf);
		if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
			std::fprintf(stderr, "pmemstream-node: bootstrap: %s\n", raft_strerror(rv));
			return 1;
		}
	}
	rv = raft_start(&n->r);
	if (rv != 0) {
		std::fprintf(stderr, "pmemstream-node: raft_start: %s (%s)\n", raft_strerror(rv), raft_errmsg(&n->r));
		return 1;
	}
	n->raft_started = true;

	uv_tcp_init(&n->loop, &n->server);
	n->server.data = n.get();
	struct sockaddr_in addr;
	uv_ip4_addr("127.0.0.1", o.client_port, &addr);
	rv = uv_tcp_bind(&n->server, reinterpret_cast<const struct sockaddr *>(&addr), 0);
	if (rv == 0)
		rv = uv_listen(reinterpret_cast<uv_stream_t *>(&n->server), 64, on_connection);
	if (rv != 0) {
		std::fprintf(stderr, "pmemstream-node: client port %d: %s\n", o.client_port, uv_strerror(rv));
		return 1;
	}
	uv_timer_init(&n->loop, &n->pump);
	n->pump.data = n.get();
	uv_timer_start(&n->pump, pump_followers, 5, 5);
	for (uv_signal_t *s : {&n->sig_term, &n->sig_int}) {
		uv_signal_init(&n->loop, s);
		s->data = n.get();
	}
	uv_signal_start(&n->sig_term, [](uv_signal_t *s, int) { shutdown(static_cast<node *>(s->data)); }, SIGTERM);
	uv_signal_start(&n->sig_int, [](uv_signal_t *s, int) { shutdown(static_cast<node *>(s->data)); }, SIGINT);
	if (o.verbose)
		std::fprintf(stderr, "pmemstream-node %" PRIu64 ": raft %s, clients 127.0.0.1:%d\n", o.id, o.address.c_str(),
			     o.client_port);

	uv_run(&n->loop, UV_RUN_DEFAULT);

	raft_uv_tcp_close(&n->transport);
	stream_io_close(&n->io);
	n->store.reset(); // a clean close of the stream
	uv_loop_close(&n->loop);
	return 0;
}

} // namespace pmemstream::replication
