// SPDX-License-Identifier: BSD-3-Clause
// Side-by-side comparison of synchronous single-thread appends: pmemstream, libpmemlog and the
// one-fence ceiling (copy the payload into a pmem2 mapping and persist it once). Contenders
// are interleaved inside every round so that machine noise hits them alike; the figure
// reported is the median over rounds. docs/benchmarks.md explains how to read the output.
#include "bench_util.hpp"

#include <pmemstream/stream.hpp>

#include <libpmem2.h>
#include <libpmemlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace bench;

namespace {

struct options {
	unsigned rounds = 7;
	uint64_t ops = 50000;
	std::vector<uint64_t> sizes = {8, 64, 256, 1024, 4096};
	std::string dir = "/dev/shm";
	std::string out;
	uint64_t file_mib = 64;
};

void usage()
{
	std::printf("usage: append_compare [--rounds N] [--ops N] [--sizes a,b,c] [--dir DIR]\n"
		    "                      [--file-mib N] [--out results.json]\n");
}

options parse_args(int argc, char **argv)
{
	options o;
	parse_options(argc, argv, usage, [&](const std::string &a, const std::string &v) {
		if (a == "--rounds")
			o.rounds = static_cast<unsigned>(parse_u64(a, v));
		else if (a == "--ops")
			o.ops = parse_u64(a, v);
		else if (a == "--dir")
			o.dir = v;
		else if (a == "--out")
			o.out = v;
		else if (a == "--file-mib")
			o.file_mib = parse_u64(a, v);
		else if (a == "--sizes")
			o.sizes = parse_list(a, v);
		else
			return false;
		return true;
	});
	return o;
}

// One way of appending. The timed loop of each contender lives in append_n() so the virtual
// call is paid once per chunk, not once per append.
class contender {
public:
	virtual ~contender() = default;
	virtual const char *name() const = 0;
	// How many appends of `size` bytes fit before the log is full.
	virtual uint64_t room(uint64_t size) = 0;
	// Empties the log (not timed).
	virtual void reset() = 0;
	// Appends `n` entries of `size` bytes from `payload`; n <= room(size).
	virtual void append_n(const std::byte *payload, uint64_t size, uint64_t n) = 0;
	// Checks, after append_n (not timed), that the appends happened.
	virtual void verify(uint64_t size, uint64_t n) = 0;
};

class stream_contender : public contender {
public:
	stream_contender(const std::string &path, uint64_t file_size) : path_(path)
	{
		auto s = pmemstream::stream::create(path, {.size = file_size, .block_size = 4096});
		if (!s)
			die("stream::create: " + s.err().message());
		stream_ = std::move(*s);
		region_size_ = stream_->info().largest_free;
		allocate();
	}
	~stream_contender() override
	{
		stream_.reset();
		::unlink(path_.c_str());
	}
	const char *name() const override
	{
		return "pmemstream";
	}
	uint64_t room(uint64_t size) override
	{
		return usable() / pmemstream::entry_footprint(size);
	}
	void reset() override
	{
		if (auto st = stream_->region_free(region_); !st)
			die("region_free: " + st.err().message());
		allocate();
	}
	void append_n(const std::byte *payload, uint64_t size, uint64_t n) override
	{
		const uint64_t fp = pmemstream::entry_footprint(size);
		uint64_t lines = 0;
		for (uint64_t i = 0; i < n; ++i) {
			auto e = stream_->append(region_, payload, size, runtime_);
			if (!e) [[unlikely]]
				die("stream::append: " + e.err().message());
			lines += ((e->offset + fp - 1) >> 6) - (e->offset >> 6) + 1;
		}
		lines_ += lines;
	}
	void verify(uint64_t, uint64_t n) override
	{
		auto count = stream_->region_entry_count(region_);
		if (!count || *count != count_ + n)
			die("pmemstream: region holds a wrong number of entries");
		count_ = *count;
		uint64_t u = usable();
		consumed_ += used_before_ - u;
		used_before_ = u;
		entries_ += n;
	}

	// Statistics since the last take_stats().
	struct stats {
		uint64_t entries = 0;
		uint64_t bytes = 0; // of region space
		uint64_t lines = 0; // distinct cache lines covered, summed over entries
	};
	stats take_stats()
	{
		stats s{entries_, consumed_, lines_};
		entries_ = consumed_ = lines_ = 0;
		return s;
	}

private:
	void allocate()
	{
		auto r = stream_->region_allocate(region_size_);
		if (!r)
			die("region_allocate: " + r.err().message());
		region_ = *r;
		auto rt = stream_->get_region_runtime(region_);
		if (!rt)
			die("get_region_runtime: " + rt.err().message());
		runtime_ = *rt;
		count_ = 0;
		used_before_ = usable();
	}
	uint64_t usable()
	{
		auto u = stream_->region_usable_size(region_);
		if (!u)
			die("region_usable_size: " + u.err().message());
		return *u;
	}

	std::string path_;
	std::unique_ptr<pmemstream::stream> stream_;
	uint64_t region_size_ = 0;
	pmemstream::region region_;
	pmemstream::region_runtime *runtime_ = nullptr;
	uint64_t count_ = 0;
	uint64_t used_before_ = 0;
	uint64_t entries_ = 0, consumed_ = 0, lines_ = 0;
};

class pmemlog_contender : public contender {
public:
	pmemlog_contender(const std::string &path, uint64_t file_size) : path_(path)
	{
		::unlink(path.c_str());
		log_ = pmemlog_create(path.c_str(), file_size, 0644);
		if (!log_)
			die(std::string("pmemlog_create: ") + pmemlog_errormsg());
	}
	~pmemlog_contender() override
	{
		pmemlog_close(log_);
		::unlink(path_.c_str());
	}
	const char *name() const override
	{
		return "libpmemlog";
	}
	uint64_t room(uint64_t size) override
	{
		return (pmemlog_nbyte(log_) - static_cast<uint64_t>(pmemlog_tell(log_))) / size;
	}
	void reset() override
	{
		pmemlog_rewind(log_);
	}
	void append_n(const std::byte *payload, uint64_t size, uint64_t n) override
	{
		for (uint64_t i = 0; i < n; ++i)
			if (pmemlog_append(log_, payload, size) != 0) [[unlikely]]
				die(std::string("pmemlog_append: ") + pmemlog_errormsg());
	}
	void verify(uint64_t size, uint64_t n) override
	{
		uint64_t t = static_cast<uint64_t>(pmemlog_tell(log_));
		if (t < n * size)
			die("libpmemlog: write offset did not advance");
	}

private:
	std::string path_;
	PMEMlogpool *log_ = nullptr;
};

// What a log with one fence per append cannot beat: the payload copied to the next 8-byte
// aligned position of a pmem2 mapping and persisted, no header, no checksum, no metadata.
class ceiling_contender : public contender {
public:
	enum class flavour { flush_drain, memcpy_default, memcpy_nontemporal };

	ceiling_contender(const std::string &path, uint64_t file_size, flavour f) : file_(path, file_size), flavour_(f)
	{
		base_ = static_cast<std::byte *>(pmem2_map_get_address(file_.map));
		size_ = file_size;
		flush_ = pmem2_get_flush_fn(file_.map);
		drain_ = pmem2_get_drain_fn(file_.map);
		memcpy_ = pmem2_get_memcpy_fn(file_.map);
	}
	const char *name() const override
	{
		switch (flavour_) {
		case flavour::flush_drain:
			return "ceiling:memcpy+flush+drain";
		case flavour::memcpy_default:
			return "ceiling:pmem2_memcpy";
		case flavour::memcpy_nontemporal:
			return "ceiling:pmem2_memcpy_nt";
		}
		return "?";
	}
	uint64_t room(uint64_t size) override
	{
		return (size_ - pos_) / step(size);
	}
	void reset() override
	{
		pos_ = 0;
	}
	void append_n(const std::byte *payload, uint64_t size, uint64_t n) override
	{
		const uint64_t st = step(size);
		std::byte *p = base_ + pos_;
		switch (flavour_) {
		case flavour::flush_drain:
			for (uint64_t i = 0; i < n; ++i, p += st) {
				std::memcpy(p, payload, size);
				flush_(p, size);
				drain_();
			}
			break;
		case flavour::memcpy_default:
			for (uint64_t i = 0; i < n; ++i, p += st)
				memcpy_(p, payload, size, 0);
			break;
		case flavour::memcpy_nontemporal:
			for (uint64_t i = 0; i < n; ++i, p += st)
				memcpy_(p, payload, size, PMEM2_F_MEM_NONTEMPORAL);
			break;
		}
		pos_ += n * st;
	}
	void verify(uint64_t size, uint64_t n) override
	{
		if (pos_ < n * step(size))
			die("ceiling: position did not advance");
	}
	pmem2_granularity granularity() const
	{
		return pmem2_map_get_store_granularity(file_.map);
	}

private:
	static uint64_t step(uint64_t size)
	{
		return (size + 7) & ~uint64_t(7);
	}

	pmem2_mapped_file file_;
	flavour flavour_;
	std::byte *base_ = nullptr;
	uint64_t size_ = 0;
	uint64_t pos_ = 0;
	pmem2_flush_fn flush_ = nullptr;
	pmem2_drain_fn drain_ = nullptr;
	pmem2_memcpy_fn memcpy_ = nullptr;
};

// Runs n appends, wrapping (untimed) when the log fills; returns the timed nanoseconds.
double run(contender &c, const std::byte *payload, uint64_t size, uint64_t n)
{
	double ns = 0;
	while (n > 0) {
		uint64_t k = std::min(n, c.room(size));
		if (k == 0) {
			c.reset();
			k = std::min(n, c.room(size));
			if (k == 0)
				die(std::string(c.name()) + ": an entry of " + std::to_string(size) +
				    " bytes does not fit in an empty log; raise --file-mib");
		}
		auto t0 = clock_type::now();
		c.append_n(payload, size, k);
		auto t1 = clock_type::now();
		ns += ns_since(t0, t1);
		c.verify(size, k);
		n -= k;
	}
	return ns;
}

} // namespace

int main(int argc, char **argv)
{
	program_name = "append_compare";
	options opt = parse_args(argc, argv);

	// Both must be in the environment before the first mapping: libpmem2 reads the
	// granularity in pmem2_map_new, libpmem reads PMEM_IS_PMEM_FORCE at its first
	// pmem_is_pmem() (made by pmemlog_create). A value the user set is kept.
	setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	setenv("PMEM_IS_PMEM_FORCE", "1", 0);

	const uint64_t file_size = opt.file_mib << 20;
	const std::string prefix = opt.dir + "/pmemstream_bench_" + std::to_string(::getpid()) + "_";

	std::vector<std::unique_ptr<contender>> cs;
	auto *stream_c = new stream_contender(prefix + "stream", file_size);
	cs.emplace_back(stream_c);
	cs.emplace_back(new pmemlog_contender(prefix + "pmemlog", file_size));
	auto *ceil0 = new ceiling_contender(prefix + "ceiling0", file_size, ceiling_contender::flavour::flush_drain);
	cs.emplace_back(ceil0);
	cs.emplace_back(new ceiling_contender(prefix + "ceiling1", file_size, ceiling_contender::flavour::memcpy_default));
	cs.emplace_back(
		new ceiling_contender(prefix + "ceiling2", file_size, ceiling_contender::flavour::memcpy_nontemporal));
	const size_t n_ceiling_first = 2;

	const uint64_t max_size = *std::max_element(opt.sizes.begin(), opt.sizes.end());
	const std::vector<std::byte> payload = make_payload(max_size);

	// Warm-up (not reported): touch every page of every file so that no contender pays the
	// first-touch page faults inside a timed section.
	for (auto &c : cs) {
		c->reset();
		uint64_t n = c->room(max_size);
		if (n > 0) {
			c->append_n(payload.data(), max_size, n);
			c->verify(max_size, n);
		}
		c->reset();
	}
	(void)stream_c->take_stats();

	std::printf("# append_compare: %u rounds x %llu appends per contender and size; files in %s (%llu MiB each)\n",
		    opt.rounds, static_cast<unsigned long long>(opt.ops), opt.dir.c_str(),
		    static_cast<unsigned long long>(opt.file_mib));
	std::printf("# PMEM2_FORCE_GRANULARITY=%s (pmem2 store granularity: %s), PMEM_IS_PMEM_FORCE=%s\n\n",
		    env_or("PMEM2_FORCE_GRANULARITY", "").c_str(), granularity_name(ceil0->granularity()),
		    env_or("PMEM_IS_PMEM_FORCE", "").c_str());

	const size_t nc = cs.size();
	const size_t nsz = opt.sizes.size();
	// ns_per_op[size][contender][round]
	std::vector<std::vector<std::vector<double>>> ns_per_op(nsz, std::vector<std::vector<double>>(nc));
	std::vector<stream_contender::stats> sstats(nsz);

	for (unsigned round = 0; round < opt.rounds; ++round) {
		for (size_t si = 0; si < nsz; ++si) {
			const uint64_t size = opt.sizes[si];
			// Rotate the order so that no contender always runs first (or right after another).
			for (size_t k = 0; k < nc; ++k) {
				size_t ci = (k + round + si) % nc;
				double t = run(*cs[ci], payload.data(), size, opt.ops);
				ns_per_op[si][ci].push_back(t / static_cast<double>(opt.ops));
				if (ci == 0) {
					auto st = stream_c->take_stats();
					sstats[si].entries += st.entries;
					sstats[si].bytes += st.bytes;
					sstats[si].lines += st.lines;
				}
			}
		}
	}

	struct row {
		uint64_t size;
		std::vector<double> med; // median ns per append, per contender
		size_t best_ceiling;
		double bytes_per_entry, lines_per_append;
	};
	std::vector<row> rows;
	for (size_t si = 0; si < nsz; ++si) {
		row rw{opt.sizes[si], {}, n_ceiling_first, 0, 0};
		for (size_t ci = 0; ci < nc; ++ci)
			rw.med.push_back(median(ns_per_op[si][ci]));
		for (size_t ci = n_ceiling_first; ci < nc; ++ci)
			if (rw.med[ci] < rw.med[rw.best_ceiling])
				rw.best_ceiling = ci;
		const double e = static_cast<double>(std::max<uint64_t>(sstats[si].entries, 1));
		rw.bytes_per_entry = static_cast<double>(sstats[si].bytes) / e;
		rw.lines_per_append = static_cast<double>(sstats[si].lines) / e;
		rows.push_back(rw);
	}

	auto per_s = [](double ns) { return 1e9 / ns; };
	std::printf("| size (B) | pmemstream appends/s | ns/append | libpmemlog appends/s | ns/append | "
		    "ceiling appends/s | ns/append | stream/pmemlog | stream/ceiling | file B/entry | lines/append |\n");
	std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (const row &rw : rows) {
		const double s = rw.med[0], l = rw.med[1], c = rw.med[rw.best_ceiling];
		std::printf("| %llu | %.0f | %.1f | %.0f | %.1f | %.0f | %.1f | %.2f | %.2f | %.1f | %.2f |\n",
			    static_cast<unsigned long long>(rw.size), per_s(s), s, per_s(l), l, per_s(c), c, l / s, c / s,
			    rw.bytes_per_entry, rw.lines_per_append);
	}

	std::printf("\nCeiling flavours, median ns/append (the table uses the fastest):\n\n| size (B) |");
	for (size_t ci = n_ceiling_first; ci < nc; ++ci)
		std::printf(" %s |", cs[ci]->name());
	std::printf("\n|---:|");
	for (size_t ci = n_ceiling_first; ci < nc; ++ci)
		std::printf("---:|");
	std::printf("\n");
	for (const row &rw : rows) {
		std::printf("| %llu |", static_cast<unsigned long long>(rw.size));
		for (size_t ci = n_ceiling_first; ci < nc; ++ci)
			std::printf(" %.1f |", rw.med[ci]);
		std::printf("\n");
	}

	std::printf("\nTargets: stream/pmemlog >= 1.8 up to 1 KiB, >= 1.4 above; stream/ceiling >= 0.8.\n");
	for (const row &rw : rows) {
		const double vs_log = rw.med[1] / rw.med[0], vs_ceil = rw.med[rw.best_ceiling] / rw.med[0];
		const double want = rw.size <= 1024 ? 1.8 : 1.4;
		std::printf("- %llu B: vs libpmemlog %.3f (%s), vs ceiling %.3f (%s)\n",
			    static_cast<unsigned long long>(rw.size), vs_log, vs_log >= want ? "met" : "MISSED", vs_ceil,
			    vs_ceil >= 0.8 ? "met" : "MISSED");
	}

	if (!opt.out.empty()) {
		FILE *f = open_out(opt.out);
		std::fprintf(f, "{\n  \"config\": {\"rounds\": %u, \"ops\": %llu, \"dir\": \"%s\", \"file_bytes\": %llu, "
			     "\"pmem2_granularity\": \"%s\", \"PMEM2_FORCE_GRANULARITY\": \"%s\", "
			     "\"PMEM_IS_PMEM_FORCE\": \"%s\"},\n  \"results\": [\n",
			     opt.rounds, static_cast<unsigned long long>(opt.ops), opt.dir.c_str(),
			     static_cast<unsigned long long>(file_size), granularity_name(ceil0->granularity()),
			     env_or("PMEM2_FORCE_GRANULARITY", "").c_str(), env_or("PMEM_IS_PMEM_FORCE", "").c_str());
		for (size_t si = 0; si < nsz; ++si) {
			const row &rw = rows[si];
			std::fprintf(f, "    {\"size\": %llu, \"pmemstream_bytes_per_entry\": %.2f, "
				     "\"pmemstream_lines_per_append\": %.3f, \"ceiling\": \"%s\",\n"
				     "     \"ratio_pmemstream_libpmemlog\": %.4f, \"ratio_pmemstream_ceiling\": %.4f,\n"
				     "     \"contenders\": [\n",
				     static_cast<unsigned long long>(rw.size), rw.bytes_per_entry, rw.lines_per_append,
				     cs[rw.best_ceiling]->name(), rw.med[1] / rw.med[0], rw.med[rw.best_ceiling] / rw.med[0]);
			for (size_t ci = 0; ci < nc; ++ci) {
				std::fprintf(f, "       {\"name\": \"%s\", \"median_ns\": %.2f, \"appends_per_s\": %.0f, \"rounds_ns\": ",
					     cs[ci]->name(), rw.med[ci], per_s(rw.med[ci]));
				write_array(f, ns_per_op[si][ci]);
				std::fprintf(f, "}%s\n", ci + 1 < nc ? "," : "");
			}
			std::fprintf(f, "     ]}%s\n", si + 1 < nsz ? "," : "");
		}
		std::fprintf(f, "  ]\n}\n");
		close_out(f, opt.out);
	}
	return 0;
}
