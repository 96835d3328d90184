// SPDX-License-Identifier: BSD-3-Clause
// Small helpers shared by the benchmark drivers: argument parsing, order statistics, payloads,
// the JSON results file, facts about the machine (CPU model, load) and the store granularity
// libpmem2 picks in a folder. Header-only: each driver is one translation unit.
#ifndef PMEMSTREAM_BENCH_UTIL_HPP
#define PMEMSTREAM_BENCH_UTIL_HPP

#include <libpmem2.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;

inline const char *program_name = "bench";

[[noreturn]] inline void die(const std::string &what)
{
	std::fprintf(stderr, "%s: %s\n", program_name, what.c_str());
	std::exit(1);
}

// A positive decimal number, or the program stops with a message naming the option.
inline uint64_t parse_u64(const std::string &opt, const std::string &s)
{
	char *end = nullptr;
	errno = 0;
	unsigned long long v = std::strtoull(s.c_str(), &end, 10);
	if (s.empty() || *end != '\0' || errno != 0 || v == 0)
		die("bad value for " + opt + ": '" + s + "'");
	return v;
}

inline std::vector<std::string> split(const std::string &v, char sep = ',')
{
	std::vector<std::string> out;
	size_t pos = 0;
	while (pos <= v.size()) {
		size_t next = v.find(sep, pos);
		if (next == std::string::npos)
			next = v.size();
		out.push_back(v.substr(pos, next - pos));
		pos = next + 1;
	}
	return out;
}

inline std::vector<uint64_t> parse_list(const std::string &opt, const std::string &v)
{
	std::vector<uint64_t> out;
	for (const auto &s : split(v))
		out.push_back(parse_u64(opt, s));
	return out;
}

// The argument loop of every driver: --help (or -h) prints the usage and exits; every other
// option takes one value, which `take(option, value)` consumes, returning false for an option
// it does not know: then the usage is printed and the program stops.
template <typename Take>
void parse_options(int argc, char **argv, void (*usage)(), Take take)
{
	for (int i = 1; i < argc; ++i) {
		const std::string a = argv[i];
		if (a == "--help" || a == "-h") {
			usage();
			std::exit(0);
		}
		if (i + 1 >= argc)
			die("missing value after " + a);
		const std::string v = argv[++i];
		if (!take(a, v)) {
			usage();
			die("unknown option " + a);
		}
	}
}

inline double median(std::vector<double> v)
{
	if (v.empty())
		return 0;
	std::sort(v.begin(), v.end());
	const size_t m = v.size() / 2;
	return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Nearest-rank percentile (p in 0..100) of unsorted values.
inline double percentile(std::vector<double> v, double p)
{
	if (v.empty())
		return 0;
	std::sort(v.begin(), v.end());
	size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
	rank = std::clamp<size_t>(rank, 1, v.size());
	return v[rank - 1];
}

inline double ns_since(clock_type::time_point t0, clock_type::time_point t1 = clock_type::now())
{
	return std::chrono::duration<double, std::nano>(t1 - t0).count();
}

// `n` bytes of a fixed pattern that is not all one value, for the drivers' appends.
inline std::vector<std::byte> make_payload(uint64_t n)
{
	std::vector<std::byte> p(n);
	for (size_t i = 0; i < p.size(); ++i)
		p[i] = static_cast<std::byte>((i * 131 + 7) & 0xff);
	return p;
}

// The results file of --out: open_out stops the program when `path` cannot be created,
// close_out when the writes to it did not all succeed.
inline FILE *open_out(const std::string &path)
{
	FILE *f = std::fopen(path.c_str(), "w");
	if (!f)
		die("cannot write " + path + ": " + std::strerror(errno));
	return f;
}

inline void close_out(FILE *f, const std::string &path)
{
	if (std::fclose(f) != 0)
		die("cannot write " + path + ": " + std::strerror(errno));
}

// `v` as a JSON array, each value divided by `divisor` and printed with `fmt`.
inline void write_array(FILE *f, const std::vector<double> &v, const char *fmt = "%.2f", double divisor = 1)
{
	std::fprintf(f, "[");
	for (size_t i = 0; i < v.size(); ++i) {
		if (i)
			std::fprintf(f, ", ");
		std::fprintf(f, fmt, v[i] / divisor);
	}
	std::fprintf(f, "]");
}

// `model name` of the first CPU in /proc/cpuinfo.
inline std::string cpu_model()
{
	std::ifstream f("/proc/cpuinfo");
	std::string line;
	while (std::getline(f, line))
		if (line.rfind("model name", 0) == 0) {
			auto colon = line.find(':');
			if (colon != std::string::npos)
				return line.substr(line.find_first_not_of(" \t", colon + 1));
		}
	return "unknown";
}

// The first three fields of /proc/loadavg.
inline std::string loadavg()
{
	std::ifstream f("/proc/loadavg");
	std::string a, b, c;
	if (!(f >> a >> b >> c))
		return "unknown";
	return a + " " + b + " " + c;
}

inline std::string env_or(const char *name, const char *fallback)
{
	const char *v = std::getenv(name);
	return v ? v : fallback;
}

// The folder of the running executable (for files that must be on the build folder's disk).
inline std::string exe_dir()
{
	char buf[4096];
	ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return ".";
	std::string p(buf, static_cast<size_t>(n));
	auto slash = p.rfind('/');
	return slash == std::string::npos ? "." : p.substr(0, slash);
}

inline const char *granularity_name(int g)
{
	switch (g) {
	case PMEM2_GRANULARITY_BYTE:
		return "byte";
	case PMEM2_GRANULARITY_CACHE_LINE:
		return "cache_line";
	case PMEM2_GRANULARITY_PAGE:
		return "page";
	}
	return "?";
}

// The store granularity libpmem2 gives a new mapping of a file in `dir` now (it reads
// PMEM2_FORCE_GRANULARITY at every pmem2_map_new): what a stream created there right after
// gets. "page" means msync.
inline std::string probe_granularity(const std::string &dir)
{
	const std::string path = dir + "/pmemstream_bench_probe_" + std::to_string(::getpid());
	int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open " + path + ": " + std::strerror(errno));
	std::string result = "?";
	if (::posix_fallocate(fd, 0, 1 << 20) == 0) {
		struct pmem2_config *cfg = nullptr;
		struct pmem2_source *src = nullptr;
		struct pmem2_map *map = nullptr;
		if (pmem2_config_new(&cfg) == 0 &&
		    pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE) == 0 &&
		    pmem2_source_from_fd(&src, fd) == 0 && pmem2_map_new(&map, cfg, src) == 0) {
			result = granularity_name(pmem2_map_get_store_granularity(map));
			pmem2_map_delete(&map);
		}
		pmem2_source_delete(&src);
		pmem2_config_delete(&cfg);
	}
	::close(fd);
	::unlink(path.c_str());
	return result;
}

// A file of `size` bytes at `path`, preallocated and mapped with libpmem2 at the granularity it
// picks for the medium (PMEM2_FORCE_GRANULARITY applies); unmapped and removed when destroyed.
// What the drivers' ceilings write into.
struct pmem2_mapped_file {
	pmem2_mapped_file(std::string file, uint64_t size) : path(std::move(file))
	{
		fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die("open " + path + ": " + std::strerror(errno));
		if (int e = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); e != 0)
			die("posix_fallocate " + path + ": " + std::strerror(e));
		struct pmem2_config *cfg = nullptr;
		struct pmem2_source *src = nullptr;
		int ret = pmem2_config_new(&cfg);
		if (ret == 0)
			ret = pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
		if (ret == 0)
			ret = pmem2_source_from_fd(&src, fd);
		if (ret == 0)
			ret = pmem2_map_new(&map, cfg, src);
		if (ret != 0)
			die(std::string("pmem2 mapping: ") + pmem2_errormsg());
		pmem2_source_delete(&src);
		pmem2_config_delete(&cfg);
	}
	~pmem2_mapped_file()
	{
		pmem2_map_delete(&map);
		::close(fd);
		::unlink(path.c_str());
	}
	pmem2_mapped_file(const pmem2_mapped_file &) = delete;
	pmem2_mapped_file &operator=(const pmem2_mapped_file &) = delete;
	std::byte *base() const
	{
		return static_cast<std::byte *>(pmem2_map_get_address(map));
	}

	std::string path;
	int fd = -1;
	struct pmem2_map *map = nullptr;
};

// The file system type of `dir` as /proc/self/mounts names it (longest matching mount point).
inline std::string fs_type(const std::string &dir)
{
	char real[4096];
	if (!::realpath(dir.c_str(), real))
		return "?";
	const std::string p = real;
	std::ifstream f("/proc/self/mounts");
	std::string dev, mnt, type, rest, best = "?";
	size_t best_len = 0;
	while (f >> dev >> mnt >> type && std::getline(f, rest)) {
		const bool under = p == mnt || (p.rfind(mnt, 0) == 0 && (mnt == "/" || p[mnt.size()] == '/'));
		if (under && mnt.size() >= best_len) {
			best = type;
			best_len = mnt.size();
		}
	}
	return best;
}

} // namespace bench

#endif
