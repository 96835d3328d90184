// SPDX-License-Identifier: BSD-3-Clause
// A blocking client of a node's line protocol (node.hpp), for the CLI, tests and benchmark.
#ifndef PMEMSTREAM_REPLICATION_CLIENT_HPP
#define PMEMSTREAM_REPLICATION_CLIENT_HPP

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace pmemstream::replication {

class client {
public:
	client() = default;
	client(const client &) = delete;
	client &operator=(const client &) = delete;
	~client()
	{
		close();
	}
	bool connect(int port)
	{
		close();
		fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
		if (fd_ < 0)
			return false;
		sockaddr_in a{};
		a.sin_family = AF_INET;
		a.sin_port = htons(static_cast<uint16_t>(port));
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (::connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
			close();
			return false;
		}
		int one = 1;
		::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		return true;
	}
	void close()
	{
		if (fd_ >= 0)
			::close(fd_);
		fd_ = -1;
		buf_.clear();
	}
	bool connected() const
	{
		return fd_ >= 0;
	}
	bool send(const std::string &line)
	{
		std::string s = line + "\n";
		size_t off = 0;
		while (off < s.size()) {
			ssize_t w = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
			if (w <= 0)
				return false;
			off += static_cast<size_t>(w);
		}
		return true;
	}
	// One line (without '\n'); false on EOF, error or timeout_ms without a whole line.
	bool recv_line(std::string &line, int timeout_ms = 5000)
	{
		for (;;) {
			auto pos = buf_.find('\n');
			if (pos != std::string::npos) {
				line = buf_.substr(0, pos);
				buf_.erase(0, pos + 1);
				return true;
			}
			pollfd p{fd_, POLLIN, 0};
			if (::poll(&p, 1, timeout_ms) <= 0)
				return false;
			char tmp[65536];
			ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
			if (r <= 0)
				return false;
			buf_.append(tmp, static_cast<size_t>(r));
		}
	}

private:
	int fd_ = -1;
	std::string buf_;
};

inline std::string hex_of(const std::string &s)
{
	static const char d[] = "0123456789abcdef";
	std::string h;
	for (unsigned char c : s) {
		h += d[c >> 4];
		h += d[c & 15];
	}
	return h;
}

inline std::string unhex(const std::string &h)
{
	std::string s;
	auto v = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
	for (size_t k = 0; k + 1 < h.size(); k += 2)
		s += static_cast<char>(v(h[k]) * 16 + v(h[k + 1]));
	return s;
}

} // namespace pmemstream::replication

#endif
