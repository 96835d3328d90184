// SPDX-License-Identifier: BSD-3-Clause
// Side-by-side comparison of durable groups of entries (issue 13): a transaction of N entries
// (one fence for the group), N synchronous appends (one fence each) and libpmemlog's
// pmemlog_appendv of the same N buffers, all on the pmem path (files in /dev/shm with
// PMEM2_FORCE_GRANULARITY=CACHE_LINE and PMEM_IS_PMEM_FORCE=1). The contenders alternate
// inside every round, in a rotating order; the figure is the median over rounds of ns per
// group. docs/benchmarks.md has the results.
#include "bench_util.hpp"

#include <pmemstream/stream.hpp>

#include <libpmemlog.h>
#include <sys/uio.h>

#include <cstdio>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

using namespace bench;

namespace {

struct options {
	unsigned rounds = 9;
	uint64_t groups = 20000; // per contender and round
	uint64_t members = 8;
	uint64_t size = 64;
	std::string dir = "/dev/shm";
	std::string out;
	std::string only; // profile one contender: tx, sync or pmemlog
};

void usage()
{
	std::printf("usage: tx_compare [--rounds N] [--groups N] [--members N] [--size BYTES] [--dir DIR]\n"
		    "                  [--out results.json] [--only tx|sync|pmemlog]\n");
}

class contender {
public:
	virtual ~contender() = default;
	virtual const char *name() const = 0;
	virtual void reset() = 0; // room for one round, outside the timing
	virtual void group(const std::byte *payload, uint64_t size, uint64_t members) = 0;
};

// pmemstream: one region per round, freed and allocated again by reset().
class stream_contender : public contender {
public:
	stream_contender(const std::string &path, uint64_t file_size, uint64_t region_size, bool tx)
	    : path_(path), region_size_(region_size), tx_(tx)
	{
		::unlink(path.c_str());
		pmemstream::create_options co;
		co.size = file_size;
		co.prefault = true;
		auto s = pmemstream::stream::create(path, co);
		if (!s)
			die("stream::create: " + s.err().message());
		s_ = std::move(*s);
	}
	~stream_contender() override
	{
		s_.reset();
		::unlink(path_.c_str());
	}
	const char *name() const override
	{
		return tx_ ? "pmemstream transaction" : "pmemstream sync appends";
	}
	void reset() override
	{
		if (r_.id != 0 && !s_->region_free(r_))
			die("region_free");
		auto r = s_->region_allocate(region_size_);
		if (!r)
			die("region_allocate: " + r.err().message());
		r_ = *r;
		rt_ = s_->get_region_runtime(r_).value();
	}
	void group(const std::byte *payload, uint64_t size, uint64_t members) override
	{
		if (!tx_) {
			for (uint64_t k = 0; k < members; ++k)
				if (!s_->append(r_, payload + k, size, rt_)) [[unlikely]]
					die("append");
			return;
		}
		auto tx = s_->begin_transaction();
		if (!tx) [[unlikely]]
			die("begin_transaction: " + tx.err().message());
		for (uint64_t k = 0; k < members; ++k)
			if (!tx->append(r_, payload + k, size)) [[unlikely]]
				die("transaction::append");
		auto c = tx->commit();
		if (!c) [[unlikely]]
			die("commit: " + c.err().message());
	}

private:
	std::string path_;
	uint64_t region_size_;
	bool tx_;
	std::unique_ptr<pmemstream::stream> s_;
	pmemstream::region r_{};
	pmemstream::region_runtime *rt_ = nullptr;
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
		return "libpmemlog appendv";
	}
	void reset() override
	{
		pmemlog_rewind(log_);
	}
	void group(const std::byte *payload, uint64_t size, uint64_t members) override
	{
		iov_.resize(members);
		for (uint64_t k = 0; k < members; ++k)
			iov_[k] = iovec{const_cast<std::byte *>(payload + k), size};
		if (pmemlog_appendv(log_, iov_.data(), static_cast<int>(members)) != 0) [[unlikely]]
			die(std::string("pmemlog_appendv: ") + pmemlog_errormsg());
	}

private:
	std::string path_;
	PMEMlogpool *log_ = nullptr;
	std::vector<iovec> iov_;
};

double run(contender &c, const std::byte *payload, const options &o)
{
	c.reset();
	const auto t0 = clock_type::now();
	for (uint64_t g = 0; g < o.groups; ++g)
		c.group(payload, o.size, o.members);
	return ns_since(t0) / static_cast<double>(o.groups);
}

} // namespace

int main(int argc, char **argv)
{
	program_name = "tx_compare";
	options o;
	parse_options(argc, argv, usage, [&](const std::string &a, const std::string &v) {
		if (a == "--rounds")
			o.rounds = static_cast<unsigned>(parse_u64(a, v));
		else if (a == "--groups")
			o.groups = parse_u64(a, v);
		else if (a == "--members")
			o.members = parse_u64(a, v);
		else if (a == "--size")
			o.size = parse_u64(a, v);
		else if (a == "--dir")
			o.dir = v;
		else if (a == "--out")
			o.out = v;
		else if (a == "--only")
			o.only = v;
		else
			return false;
		return true;
	});
	// Before the first mapping (see append_compare.cpp); a value the user set is kept.
	setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	setenv("PMEM_IS_PMEM_FORCE", "1", 0);

	const uint64_t footprint = pmemstream::entry_footprint(o.size);
	const uint64_t region_size = o.groups * o.members * footprint + (1 << 20);
	const uint64_t file_size = region_size * 2 + (8 << 20);
	const std::string prefix = o.dir + "/pmemstream_txbench_" + std::to_string(::getpid()) + "_";
	std::vector<std::unique_ptr<contender>> cs;
	cs.emplace_back(new stream_contender(prefix + "tx", file_size, region_size, true));
	cs.emplace_back(new stream_contender(prefix + "sync", file_size, region_size, false));
	cs.emplace_back(new pmemlog_contender(prefix + "log", std::max<uint64_t>(file_size, 2 << 20)));
	// Distinct bytes per member (payload + k), the same for every contender.
	const std::vector<std::byte> payload = make_payload(o.size + o.members);
	if (!o.only.empty()) {
		// For a profiler: one contender, no table.
		const size_t ci = o.only == "tx" ? 0 : o.only == "sync" ? 1 : o.only == "pmemlog" ? 2 : 3;
		if (ci == 3)
			die("--only takes tx, sync or pmemlog");
		for (unsigned round = 0; round < o.rounds; ++round)
			std::printf("%s: %.0f ns/group\n", cs[ci]->name(), run(*cs[ci], payload.data(), o));
		return 0;
	}

	// Warm-up: one round each, not reported (page faults, caches).
	for (auto &c : cs)
		(void)run(*c, payload.data(), o);

	std::vector<std::vector<double>> ns(cs.size());
	for (unsigned round = 0; round < o.rounds; ++round)
		for (size_t k = 0; k < cs.size(); ++k) {
			const size_t ci = (k + round) % cs.size();
			ns[ci].push_back(run(*cs[ci], payload.data(), o));
		}

	std::printf("# tx_compare: %u rounds x %llu groups of %llu entries of %llu bytes; files in %s\n",
		    o.rounds, static_cast<unsigned long long>(o.groups), static_cast<unsigned long long>(o.members),
		    static_cast<unsigned long long>(o.size), o.dir.c_str());
	std::printf("# PMEM2_FORCE_GRANULARITY=%s, PMEM_IS_PMEM_FORCE=%s; CPU %s; load %s\n\n",
		    env_or("PMEM2_FORCE_GRANULARITY", "").c_str(), env_or("PMEM_IS_PMEM_FORCE", "").c_str(),
		    cpu_model().c_str(), loadavg().c_str());
	std::printf("| contender | ns/group (median) | groups/s | entries/s | min | max |\n|---|---:|---:|---:|---:|---:|\n");
	std::vector<double> med;
	for (size_t ci = 0; ci < cs.size(); ++ci) {
		med.push_back(median(ns[ci]));
		const auto [lo, hi] = std::minmax_element(ns[ci].begin(), ns[ci].end());
		std::printf("| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n", cs[ci]->name(), med[ci], 1e9 / med[ci],
			    1e9 * static_cast<double>(o.members) / med[ci], *lo, *hi);
	}
	const double vs_sync = med[1] / med[0], vs_log = med[2] / med[0];
	std::printf("\nTargets: transaction >= 3x the synchronous appends: %.2fx (%s); >= 2x pmemlog_appendv: %.2fx (%s)\n",
		    vs_sync, vs_sync >= 3 ? "met" : "MISSED", vs_log, vs_log >= 2 ? "met" : "MISSED");

	if (!o.out.empty()) {
		FILE *f = open_out(o.out);
		std::fprintf(f, "{\n  \"config\": {\"rounds\": %u, \"groups\": %llu, \"members\": %llu, \"size\": %llu, \"dir\": \"%s\", "
			     "\"cpu\": \"%s\"},\n  \"ratio_tx_sync\": %.4f, \"ratio_tx_pmemlog\": %.4f,\n  \"contenders\": [\n",
			     o.rounds, static_cast<unsigned long long>(o.groups), static_cast<unsigned long long>(o.members),
			     static_cast<unsigned long long>(o.size), o.dir.c_str(), cpu_model().c_str(), vs_sync, vs_log);
		for (size_t ci = 0; ci < cs.size(); ++ci) {
			std::fprintf(f, "    {\"name\": \"%s\", \"median_ns_per_group\": %.2f, \"rounds_ns\": ", cs[ci]->name(), med[ci]);
			write_array(f, ns[ci]);
			std::fprintf(f, "}%s\n", ci + 1 < cs.size() ? "," : "");
		}
		std::fprintf(f, "  ]\n}\n");
		close_out(f, o.out);
	}
	return 0;
}
