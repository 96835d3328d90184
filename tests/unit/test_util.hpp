// SPDX-License-Identifier: BSD-3-Clause
// Helpers shared by the unit tests: unique temporary stream files and byte helpers.
#ifndef PMEMSTREAM_TEST_UTIL_HPP
#define PMEMSTREAM_TEST_UTIL_HPP

#include <pmemstream/stream.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <string>
#include <unistd.h>
#include <vector>

namespace test {

inline std::string temp_path(const char *tag)
{
	static std::atomic<int> counter{0};
	const char *dir = std::getenv("PMEMSTREAM_TEST_DIR");
	return std::string(dir ? dir : "/tmp") + "/pmemstream-" + tag + "-" + std::to_string(::getpid()) + "-" +
		std::to_string(counter++);
}

// Removes a stream file and the readers' sidecar a killed writer of it may have left in
// /dev/shm (docs/files-and-processes.md 6).
inline void remove_stream_file(const std::string &path)
{
	struct stat st;
	if (::stat(path.c_str(), &st) == 0) {
		char name[96];
		std::snprintf(name, sizeof(name), "/pmemstream-%llx-%llx.readers", static_cast<unsigned long long>(st.st_dev),
			      static_cast<unsigned long long>(st.st_ino));
		::shm_unlink(name);
	}
	::unlink(path.c_str());
}

// A file path removed when the test ends.
struct temp_file {
	explicit temp_file(const char *tag = "t") : path(temp_path(tag))
	{
	}
	~temp_file()
	{
		remove_stream_file(path);
	}
	std::string path;
};

inline std::vector<std::byte> bytes(const std::string &s)
{
	std::vector<std::byte> v(s.size());
	if (!s.empty())
		std::memcpy(v.data(), s.data(), s.size());
	return v;
}

inline std::vector<std::byte> pattern(size_t n, unsigned seed)
{
	std::vector<std::byte> v(n);
	for (size_t i = 0; i < n; ++i)
		v[i] = static_cast<std::byte>((i * 131 + seed * 7 + (i >> 8)) & 0xFF);
	return v;
}

inline std::vector<std::byte> to_vec(std::span<const std::byte> s)
{
	return {s.begin(), s.end()};
}

inline std::unique_ptr<pmemstream::stream> create(const std::string &path, uint64_t size = 1 << 20, uint64_t block = 4096)
{
	auto s = pmemstream::stream::create(path, {size, block});
	EXPECT_TRUE(s.has_value()) << (s ? "" : s.err().message());
	return s ? std::move(*s) : nullptr;
}

inline std::unique_ptr<pmemstream::stream> reopen(const std::string &path, pmemstream::open_options o = {})
{
	auto s = pmemstream::stream::open(path, o);
	EXPECT_TRUE(s.has_value()) << (s ? "" : s.err().message());
	return s ? std::move(*s) : nullptr;
}

// Reads or writes raw bytes of a file (to damage images).
inline void poke(const std::string &path, uint64_t off, const void *data, size_t n)
{
	int fd = ::open(path.c_str(), O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(::pwrite(fd, data, n, static_cast<off_t>(off)), static_cast<ssize_t>(n));
	::close(fd);
}

inline std::vector<unsigned char> peek(const std::string &path, uint64_t off, size_t n)
{
	std::vector<unsigned char> v(n);
	int fd = ::open(path.c_str(), O_RDONLY);
	EXPECT_GE(fd, 0);
	EXPECT_EQ(::pread(fd, v.data(), n, static_cast<off_t>(off)), static_cast<ssize_t>(n));
	::close(fd);
	return v;
}

inline void flip_byte(const std::string &path, uint64_t off)
{
	auto b = peek(path, off, 1);
	b[0] ^= 0x5A;
	poke(path, off, b.data(), 1);
}

inline std::vector<pmemstream::entry> entries_of(const pmemstream::stream &s, pmemstream::region r)
{
	std::vector<pmemstream::entry> out;
	auto it = s.entries(r);
	EXPECT_TRUE(it.has_value());
	if (it)
		for (auto e : *it)
			out.push_back(e);
	return out;
}

inline std::vector<pmemstream::region> regions_of(const pmemstream::stream &s)
{
	std::vector<pmemstream::region> out;
	for (auto r : s.regions())
		out.push_back(r);
	return out;
}

} // namespace test

#endif
