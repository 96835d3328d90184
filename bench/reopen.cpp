// SPDX-License-Identifier: BSD-3-Clause
// Reopen cost (issue 14, docs/format.md 8.5): a stream holding --mib MiB of --size-byte entries
// in one region, reopened writable after a clean close and after a crash, by the fast path
// (checkpoints trusted) and by the full walk (open_options::verify = full). The crash is a copy
// of the file taken while the writer still has it open, after its last append returned (the
// checkpoints written while appending are in it, the clean close's are not); every round
// opens a fresh copy of it, since a writable open repairs what it opens. Each figure is the
// median of --rounds opens; docs/benchmarks.md explains the output.
#include "bench_util.hpp"

#include "format/format.hpp"

#include <pmemstream/stream.hpp>

#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace bench;
namespace ps = pmemstream;

namespace {

struct options {
	unsigned rounds = 7;
	uint64_t mib = 1024;
	uint64_t size = 64;
	uint64_t checkpoint_mib = ps::default_checkpoint_bytes >> 20;
	std::string dir = "/dev/shm";
	std::string out;
};

void usage()
{
	std::printf("usage: reopen [--rounds N] [--mib N] [--size BYTES] [--checkpoint-mib N] [--dir DIR] [--out results.json]\n");
}

options parse_args(int argc, char **argv)
{
	options o;
	parse_options(argc, argv, usage, [&](const std::string &a, const std::string &v) {
		if (a == "--rounds")
			o.rounds = static_cast<unsigned>(parse_u64(a, v));
		else if (a == "--mib")
			o.mib = parse_u64(a, v);
		else if (a == "--size")
			o.size = parse_u64(a, v);
		else if (a == "--checkpoint-mib")
			o.checkpoint_mib = parse_u64(a, v);
		else if (a == "--dir")
			o.dir = v;
		else if (a == "--out")
			o.out = v;
		else
			return false;
		return true;
	});
	return o;
}

void copy_file(const std::string &from, const std::string &to)
{
	const int in = ::open(from.c_str(), O_RDONLY);
	const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0)
		die("copy " + from + " to " + to + ": " + std::strerror(errno));
	std::vector<char> buf(8 << 20);
	for (;;) {
		const ssize_t n = ::read(in, buf.data(), buf.size());
		if (n < 0)
			die("read " + from + ": " + std::strerror(errno));
		if (n == 0)
			break;
		if (::write(out, buf.data(), static_cast<size_t>(n)) != n)
			die("write " + to + ": " + std::strerror(errno));
	}
	::close(in);
	::close(out);
}

struct figures {
	std::vector<double> open_ns, close_ns;
	uint64_t entries = 0, from_checkpoint = 0, trimmed = 0;
};

// Opens `path` writable with `verify`, closes it; `fresh` (if not empty) is copied over
// `path` first (not timed).
void measure(const std::string &path, const std::string &fresh, ps::verify_mode verify, unsigned rounds, figures &f)
{
	for (unsigned r = 0; r < rounds; ++r) {
		if (!fresh.empty())
			copy_file(fresh, path);
		ps::open_options o;
		o.verify = verify;
		const auto t0 = clock_type::now();
		auto s = ps::stream::open(path, o);
		const auto t1 = clock_type::now();
		if (!s)
			die("open " + path + ": " + s.err().message());
		f.open_ns.push_back(ns_since(t0, t1));
		f.entries = (*s)->recovery().entries;
		f.from_checkpoint = (*s)->recovery().checkpointed_regions;
		f.trimmed = (*s)->recovery().trimmed_entries;
		const auto t2 = clock_type::now();
		s->reset();
		f.close_ns.push_back(ns_since(t2));
	}
}

} // namespace

int main(int argc, char **argv)
{
	program_name = "reopen";
	options opt = parse_args(argc, argv);
	setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	const std::string cpu = cpu_model();
	const std::string load_start = loadavg();
	const std::string prefix = opt.dir + "/pmemstream_reopen_" + std::to_string(::getpid()) + "_";
	const std::string clean = prefix + "clean", crash = prefix + "crash", work = prefix + "work";
	const uint64_t data = opt.mib << 20;
	std::printf("# reopen: %llu MiB of %llu-byte entries in one region, checkpoints every %llu MiB while appending, "
		    "%u rounds, files in %s\n# CPU: %s (%ld online), load %s\n",
		    static_cast<unsigned long long>(opt.mib), static_cast<unsigned long long>(opt.size),
		    static_cast<unsigned long long>(opt.checkpoint_mib), opt.rounds, opt.dir.c_str(), cpu.c_str(),
		    ::sysconf(_SC_NPROCESSORS_ONLN), load_start.c_str());

	// Fill: one region of `data` bytes, appended until full.
	double fill_ns = 0;
	uint64_t appended = 0, used = 0, sealed = 0;
	{
		::unlink(clean.c_str());
		ps::create_options co;
		co.size = data + (16 << 20);
		co.block_size = 4096;
		co.checkpoint_bytes = opt.checkpoint_mib << 20;
		auto s = ps::stream::create(clean, co);
		if (!s)
			die("create " + clean + ": " + s.err().message());
		// Just short of a whole number of checkpoint intervals: the crash copy then holds the
		// most a crash can leave after the last checkpoint (an interval less a few entries).
		auto r = (*s)->region_allocate(data - 8192);
		if (!r)
			die("region_allocate: " + r.err().message());
		const auto payload = make_payload(opt.size);
		const auto t0 = clock_type::now();
		for (;;) {
			auto e = (*s)->append(*r, payload);
			if (!e) {
				if (e.code() == ps::errc::region_full)
					break;
				die("append: " + e.err().message());
			}
			++appended;
		}
		fill_ns = ns_since(t0);
		copy_file(clean, crash); // the crash: the writer has not closed the stream
		used = (*s)->region_size(*r).value() - (*s)->region_usable_size(*r).value();
	} // the clean close
	{
		// The checkpoint in the crash copy's region header (the slot with the larger sequence).
		pmemstream::format::span_slot slots[2];
		const int fd = ::open(crash.c_str(), O_RDONLY);
		if (fd < 0 || ::pread(fd, slots, sizeof(slots), 4096) != sizeof(slots))
			die("read " + crash);
		::close(fd);
		sealed = (slots[0].sequence > slots[1].sequence ? slots[0] : slots[1]).sealed_tail;
	}
	std::printf("# filled %llu entries in %.2f s (%.0f ns per append); the crash copy has %.1f MiB after its last "
		    "checkpoint\n",
		    static_cast<unsigned long long>(appended), fill_ns / 1e9, fill_ns / static_cast<double>(appended),
		    static_cast<double>(used - sealed) / (1 << 20));

	figures cf, cw, kf, kw;
	// Interleaved so that a slow moment of the machine hits every contender alike.
	for (unsigned r = 0; r < opt.rounds; ++r) {
		measure(clean, "", ps::verify_mode::checkpoint, 1, cf);
		measure(clean, "", ps::verify_mode::full, 1, cw);
		measure(work, crash, ps::verify_mode::checkpoint, 1, kf);
		measure(work, crash, ps::verify_mode::full, 1, kw);
	}
	const std::string load_end = loadavg();
	std::printf("\nWritable reopen of %llu MiB (%llu entries of %llu B), medians of %u (min-max):\n\n"
		    "| case | verify | open ms | min-max ms | close ms | regions from checkpoint | entries |\n"
		    "|---|---|---:|---:|---:|---:|---:|\n",
		    static_cast<unsigned long long>(opt.mib), static_cast<unsigned long long>(appended),
		    static_cast<unsigned long long>(opt.size), opt.rounds);
	auto row = [&](const char *c, const char *v, const figures &f) {
		std::printf("| %s | %s | %.2f | %.2f-%.2f | %.2f | %llu | %llu |\n", c, v, median(f.open_ns) / 1e6,
			    *std::min_element(f.open_ns.begin(), f.open_ns.end()) / 1e6,
			    *std::max_element(f.open_ns.begin(), f.open_ns.end()) / 1e6, median(f.close_ns) / 1e6,
			    static_cast<unsigned long long>(f.from_checkpoint), static_cast<unsigned long long>(f.entries));
	};
	row("after a clean close", "checkpoint", cf);
	row("after a clean close", "full", cw);
	row("after a crash", "checkpoint", kf);
	row("after a crash", "full", kw);
	std::printf("\nTargets: < 10 ms after a clean close, < 100 ms after a crash (fast path). Load %s -> %s\n",
		    load_start.c_str(), load_end.c_str());
	if (!opt.out.empty()) {
		FILE *f = open_out(opt.out);
		std::fprintf(f, "{\n  \"driver\": \"reopen\", \"cpu\": \"%s\", \"load\": \"%s / %s\", \"mib\": %llu, \"entry_bytes\": %llu,\n"
			     "  \"entries\": %llu, \"checkpoint_mib\": %llu, \"append_ns\": %.1f, \"crash_unsealed_bytes\": %llu,\n  \"cases\": [\n",
			     cpu.c_str(), load_start.c_str(), load_end.c_str(), static_cast<unsigned long long>(opt.mib),
			     static_cast<unsigned long long>(opt.size), static_cast<unsigned long long>(appended),
			     static_cast<unsigned long long>(opt.checkpoint_mib), fill_ns / static_cast<double>(appended),
			     static_cast<unsigned long long>(used - sealed));
		const std::pair<const char *, const figures *> cases[] = {
			{"clean_checkpoint", &cf}, {"clean_full", &cw}, {"crash_checkpoint", &kf}, {"crash_full", &kw}};
		for (size_t i = 0; i < 4; ++i) {
			std::fprintf(f, "    {\"name\": \"%s\", \"open_median_ms\": %.3f, \"open_ms\": ", cases[i].first,
				     median(cases[i].second->open_ns) / 1e6);
			write_array(f, cases[i].second->open_ns, "%.3f", 1e6);
			std::fprintf(f, "}%s\n", i + 1 < 4 ? "," : "");
		}
		std::fprintf(f, "  ]\n}\n");
		close_out(f, opt.out);
	}
	::unlink(clean.c_str());
	::unlink(crash.c_str());
	::unlink(work.c_str());
	return 0;
}
