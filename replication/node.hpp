// SPDX-License-Identifier: BSD-3-Clause
// One member of a replicated stream: raft (libraft) over a raft_store, raft's libuv TCP
// transport for the members, and a line protocol for clients on another loopback port.
//
// Client protocol (one request per line, replies are lines; hex is lowercase):
//   APPEND <tag> <hex>      -> OK <tag> <index>             once raft committed it (a majority
//                              persisted it) and this member applied it; only on the leader,
//                              else ERR <tag> NOTLEADER <leader-id> <leader-address>
//   READ <from> <max>       -> E <index> <hex> lines for the committed command entries with
//                              index >= from (at most max), then END <commit-index> <first>,
//                              where first is the first index this member still holds
//   FOLLOW <from>           -> E lines as entries commit, until the client closes
//   STATUS                  -> one line: id state term leader commit applied first last
//                              members (id:role:match for each member; match only on the
//                              leader, else -), errors, installs, append_calls,
//                              appended and persists (raft append calls, the entries they
//                              carried, the persists that made them durable)
//   ADD <id> <address>      -> OK ADD <id> once the member is a voter (leader only)
//   REMOVE <id>             -> OK REMOVE <id> (leader only)
//   SNAPSHOT                -> not a command: members take snapshots by the thresholds
#ifndef PMEMSTREAM_REPLICATION_NODE_HPP
#define PMEMSTREAM_REPLICATION_NODE_HPP

#include <cstdint>
#include <string>
#include <vector>

namespace pmemstream::replication {

struct node_options {
	uint64_t id = 0;
	std::string file;	     // the stream file (created when missing)
	std::string address;	     // raft address, 127.0.0.1:PORT
	int client_port = 0;	     // client protocol on 127.0.0.1
	std::vector<std::pair<uint64_t, std::string>> bootstrap; // initial members (empty: join later)
	uint64_t file_size = 256ull << 20;
	uint64_t segment_size = 4ull << 20; // usable bytes of each log region (store_options)
	unsigned snapshot_threshold = 1024;
	unsigned snapshot_trailing = 256;
	unsigned election_timeout_ms = 1000;
	unsigned heartbeat_timeout_ms = 100;
	bool verbose = false;
};

// Runs the member until SIGTERM or SIGINT; returns the process exit code.
int run_node(const node_options &o);

} // namespace pmemstream::replication

#endif
