// SPDX-License-Identifier: BSD-3-Clause
// A struct raft_io whose storage methods (load, bootstrap, recover, set_term, set_vote,
// append, truncate, snapshot_put, snapshot_get) run on a raft_store, and whose transport,
// timers, time, randomness and async work are those of raft's own libuv io (raft_uv_init
// over a raft_uv_tcp_init transport), which this one wraps. docs/replication.md says why.
//
// Both raft's core and the uv io keep state in the raft_io they are given: the core reads
// io->data (its struct raft) in every callback, the uv io reads io->impl. The wrapper owns a
// second raft_io for the uv io (its impl stays the uv io's) and copies the outer io->data
// into it before init and start, so the ticks and messages the uv io delivers with its own
// raft_io still find raft's struct.
#ifndef PMEMSTREAM_REPLICATION_RAFT_IO_HPP
#define PMEMSTREAM_REPLICATION_RAFT_IO_HPP

#include "raft_store.hpp"

#include <uv.h>
extern "C" { // raft 0.15's headers lack C++ guards
#include <raft.h>
#include <raft/uv.h>
}

namespace pmemstream::replication {

// Fills `io`. `uv_dir` is a directory the uv io requires for its own metadata files; it never
// receives raft entries, terms, votes or snapshots (those go to `store`). The store, loop and
// transport must outlive the io. Returns 0 or a RAFT_* code.
int stream_io_init(struct raft_io *io, uv_loop_t *loop, const char *uv_dir, struct raft_uv_transport *transport,
		   raft_store *store);
// Frees what stream_io_init allocated; call after raft_close's callback has run.
void stream_io_close(struct raft_io *io);

// Storage failures seen (for status and tests).
uint64_t stream_io_errors(struct raft_io *io);
// Snapshots installed from a leader since start.
uint64_t stream_io_installs(struct raft_io *io);
// raft append calls, the entries they carried, and the persists that made them durable
// (one for all the appends queued in a loop iteration), since start.
void stream_io_append_counts(struct raft_io *io, uint64_t *calls, uint64_t *entries, uint64_t *persists);

} // namespace pmemstream::replication

#endif
