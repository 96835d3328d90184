// SPDX-License-Identifier: BSD-3-Clause
// pmemstream-node: runs one member of a replicated stream, or talks to one as a client.
#include "client.hpp"
#include "node.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace pmemstream::replication;

namespace {

int usage()
{
	std::fprintf(stderr,
		     "usage:\n"
		     "  pmemstream-node run --id N --file PATH --address 127.0.0.1:PORT --client PORT\n"
		     "        [--bootstrap ID=ADDR,ID=ADDR,...] [--size BYTES] [--segment-size BYTES]\n"
		     "        [--snapshot-threshold N]\n"
		     "        [--snapshot-trailing N] [--election-timeout MS] [--verbose]\n"
		     "  pmemstream-node append --client PORT TEXT...   (appends each TEXT; prints its index)\n"
		     "  pmemstream-node read   --client PORT [FROM]    (committed entries from FROM)\n"
		     "  pmemstream-node follow --client PORT [FROM]    (and new ones as they commit)\n"
		     "  pmemstream-node status --client PORT\n"
		     "  pmemstream-node add    --client PORT ID ADDRESS\n"
		     "  pmemstream-node remove --client PORT ID\n");
	return 2;
}

int client_cmd(const std::string &cmd, int port, int argc, char **argv, int i)
{
	client c;
	if (!c.connect(port)) {
		std::fprintf(stderr, "pmemstream-node: cannot connect to 127.0.0.1:%d\n", port);
		return 1;
	}
	std::string line;
	if (cmd == "append") {
		int rc = 0;
		for (int tag = 0; i < argc; i++, tag++) {
			c.send("APPEND " + std::to_string(tag) + " " + hex_of(argv[i]));
			if (!c.recv_line(line, 30000))
				return 1;
			std::printf("%s\n", line.c_str());
			if (line.rfind("OK", 0) != 0)
				rc = 1;
		}
		return rc;
	}
	if (cmd == "read" || cmd == "follow") {
		std::string from = i < argc ? argv[i] : "1";
		c.send((cmd == "read" ? "READ " : "FOLLOW ") + from);
		while (c.recv_line(line, cmd == "read" ? 5000 : 1 << 30)) {
			if (line.rfind("E ", 0) == 0) {
				auto sp = line.find(' ', 2);
				std::printf("%s %s\n", line.substr(2, sp - 2).c_str(), unhex(line.substr(sp + 1)).c_str());
			} else {
				std::printf("%s\n", line.c_str());
				if (line.rfind("END", 0) == 0)
					return 0;
			}
			std::fflush(stdout);
		}
		return cmd == "read" ? 1 : 0;
	}
	if (cmd == "status") {
		c.send("STATUS");
	} else if (cmd == "add" && i + 1 < argc) {
		c.send(std::string("ADD ") + argv[i] + " " + argv[i + 1]);
	} else if (cmd == "remove" && i < argc) {
		c.send(std::string("REMOVE ") + argv[i]);
	} else {
		return usage();
	}
	if (!c.recv_line(line, 60000))
		return 1;
	std::printf("%s\n", line.c_str());
	return line.rfind("ERR", 0) == 0 ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	std::string cmd = argv[1];
	node_options o;
	int i = 2;
	for (; i < argc && std::strncmp(argv[i], "--", 2) == 0; i++) {
		std::string a = argv[i];
		auto val = [&]() -> std::string {
			if (i + 1 >= argc) {
				std::fprintf(stderr, "pmemstream-node: %s needs a value\n", a.c_str());
				std::exit(2);
			}
			return argv[++i];
		};
		if (a == "--id")
			o.id = std::strtoull(val().c_str(), nullptr, 10);
		else if (a == "--file")
			o.file = val();
		else if (a == "--address")
			o.address = val();
		else if (a == "--client")
			o.client_port = std::atoi(val().c_str());
		else if (a == "--size")
			o.file_size = std::strtoull(val().c_str(), nullptr, 10);
		else if (a == "--segment-size")
			o.segment_size = std::strtoull(val().c_str(), nullptr, 10);
		else if (a == "--snapshot-threshold")
			o.snapshot_threshold = static_cast<unsigned>(std::atoi(val().c_str()));
		else if (a == "--snapshot-trailing")
			o.snapshot_trailing = static_cast<unsigned>(std::atoi(val().c_str()));
		else if (a == "--election-timeout")
			o.election_timeout_ms = static_cast<unsigned>(std::atoi(val().c_str()));
		else if (a == "--verbose")
			o.verbose = true;
		else if (a == "--bootstrap") {
			std::string list = val();
			size_t at = 0;
			while (at < list.size()) {
				size_t comma = list.find(',', at);
				std::string item = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
				auto eq = item.find('=');
				if (eq == std::string::npos)
					return usage();
				o.bootstrap.emplace_back(std::strtoull(item.substr(0, eq).c_str(), nullptr, 10), item.substr(eq + 1));
				at = comma == std::string::npos ? list.size() : comma + 1;
			}
		} else
			return usage();
	}
	if (o.client_port <= 0)
		return usage();
	if (cmd == "run") {
		if (o.id == 0 || o.file.empty() || o.address.empty())
			return usage();
		return run_node(o);
	}
	return client_cmd(cmd, o.client_port, argc, argv, i);
}
