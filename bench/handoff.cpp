// SPDX-License-Identifier: BSD-3-Clause
// Writer-to-reader hand-off across processes (issue 12), side by side in one run:
//  - floor: two processes ping-ponging on one shared word (half a round trip): the machine's
//    busy-poll floor for any cross-process hand-off;
//  - spin: a reader process following the stream (read-only, follow) and spinning on its
//    iterator's is_valid(); the writer appends one 64-byte entry that carries its
//    CLOCK_MONOTONIC write time, then waits for the reader's acknowledgement;
//  - futex: the same with a reader blocked in entry_iterator::wait_for (FUTEX_WAIT), the
//    writer appending one entry every --gap-us so that the reader is asleep each time;
//  - idle: the CPU time (getrusage) of a reader blocked in wait_for while nothing is appended;
//  - throughput: synchronous 64-byte appends with 0, 1, 2 and 4 reader processes attached
//    (blocked readers following every entry, and spinning ones), rounds rotated, medians.
// Persistence path: cache-line flushes on a /dev/shm file (PMEM2_FORCE_GRANULARITY=CACHE_LINE).
// docs/benchmarks.md has the command and how to read the output.
#include "bench_util.hpp"

#include <pmemstream/stream.hpp>

#include <atomic>
#include <csignal>
#include <ctime>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>

using namespace bench;
namespace ps = pmemstream;
using namespace std::chrono_literals;

namespace {

struct options {
	uint64_t samples = 20000; // hand-offs per latency scenario
	uint64_t futex_samples = 2000;
	uint64_t gap_us = 300; // futex scenario: time between appends
	uint64_t ops = 200000; // appends per throughput contender and round
	unsigned rounds = 3;
	double idle_seconds = 1.0;
	std::string dir = "/dev/shm";
	std::string out;
};

void usage()
{
	std::printf("usage: handoff [--samples N] [--futex-samples N] [--gap-us N] [--ops N] [--rounds N] [--idle-ms N] [--dir D] "
		    "[--out FILE.json]\n");
}

options parse_args(int argc, char **argv)
{
	options o;
	parse_options(argc, argv, usage, [&](const std::string &a, const std::string &v) {
		if (a == "--samples")
			o.samples = parse_u64(a, v);
		else if (a == "--futex-samples")
			o.futex_samples = parse_u64(a, v);
		else if (a == "--gap-us")
			o.gap_us = parse_u64(a, v);
		else if (a == "--ops")
			o.ops = parse_u64(a, v);
		else if (a == "--rounds")
			o.rounds = static_cast<unsigned>(parse_u64(a, v));
		else if (a == "--idle-ms")
			o.idle_seconds = static_cast<double>(parse_u64(a, v)) / 1000.0;
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

uint64_t mono_ns() noexcept
{
	timespec t;
	::clock_gettime(CLOCK_MONOTONIC, &t);
	return static_cast<uint64_t>(t.tv_sec) * 1000000000u + static_cast<uint64_t>(t.tv_nsec);
}

inline void cpu_relax() noexcept
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#endif
}

// What the processes share: acknowledgements, latencies, readiness.
struct shared {
	alignas(64) std::atomic<uint64_t> ping{0};
	alignas(64) std::atomic<uint64_t> pong{0};
	alignas(64) std::atomic<uint64_t> ack{0};   // the reader saw this many entries
	alignas(64) std::atomic<uint32_t> ready{0}; // readers attached
	std::atomic<uint32_t> stop{0};
	std::atomic<uint64_t> idle_cpu_ns{0};
	std::atomic<uint64_t> idle_wakeups{0};
	double lat[1 << 20];
};

shared *make_shared()
{
	void *p = ::mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap failed");
	return new (p) shared;
}

template <typename F>
pid_t child(F &&f)
{
	const pid_t pid = ::fork();
	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		f();
		_exit(0);
	}
	return pid;
}

void reap(pid_t pid)
{
	int st = 0;
	::waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("a child process failed (status " + std::to_string(st) + ")");
}

struct stream_file {
	std::string path;
	std::unique_ptr<ps::stream> s;
	ps::region r;
	explicit stream_file(const options &o, const char *tag)
	{
		path = o.dir + "/pmemstream-handoff-" + tag + "-" + std::to_string(::getpid());
		::unlink(path.c_str());
		// Prefaulted: first-touch page faults would otherwise dominate the throughput figures.
		auto c = ps::stream::create(path, {.size = 64ull << 20, .prefault = true});
		if (!c)
			die("create " + path + ": " + c.err().message());
		s = std::move(*c);
		auto a = s->region_allocate(60ull << 20);
		if (!a)
			die("region_allocate: " + a.err().message());
		r = *a;
	}
	~stream_file()
	{
		s.reset();
		::unlink(path.c_str());
	}
};

struct lat_stats {
	double p50 = 0, p99 = 0, p999 = 0;
};

lat_stats stats_of(const double *v, uint64_t n)
{
	std::vector<double> x(v, v + n);
	return {percentile(x, 50), percentile(x, 99), percentile(x, 99.9)};
}

// ---- floor: ping-pong on a shared word
lat_stats run_floor(shared &sh, uint64_t n)
{
	sh.ping = 0;
	sh.pong = 0;
	const pid_t p = child([&] {
		for (uint64_t i = 1; i <= n; ++i) {
			while (sh.ping.load(std::memory_order_acquire) != i)
				cpu_relax();
			sh.pong.store(i, std::memory_order_release);
		}
	});
	for (uint64_t i = 1; i <= n; ++i) {
		const uint64_t t0 = mono_ns();
		sh.ping.store(i, std::memory_order_release);
		while (sh.pong.load(std::memory_order_acquire) != i)
			cpu_relax();
		sh.lat[i - 1] = static_cast<double>(mono_ns() - t0) / 2;
	}
	reap(p);
	return stats_of(sh.lat, n);
}

// A reader process following `path`: for each entry, the latency from the write time in its
// payload; `spin` spins on is_valid(), otherwise it waits in wait_for.
pid_t start_reader(shared &sh, const std::string &path, ps::region r, bool spin, uint64_t n, bool record)
{
	return child([&, r, spin, n, record] {
		auto o = ps::stream::open(path, {.read_only = true, .follow = true});
		if (!o || (*o)->writer() != ps::stream::writer_state::following)
			_exit(2);
		auto it = *(*o)->entries(r);
		sh.ready.fetch_add(1);
		for (uint64_t i = 0; i < n; ++i) {
			if (spin) {
				while (!it.is_valid()) {
					if (sh.stop.load(std::memory_order_relaxed))
						_exit(0);
					cpu_relax();
				}
			} else {
				for (;;) {
					auto st = it.wait_for(100ms);
					if (st)
						break;
					if (sh.stop.load() || st.code() != ps::errc::timed_out)
						_exit(st.code() == ps::errc::timed_out ? 0 : 3);
				}
			}
			const uint64_t now = mono_ns();
			auto d = (*o)->entry_data(it.get());
			if (!d || d->size() < 8)
				_exit(4);
			uint64_t t0;
			std::memcpy(&t0, d->data(), 8);
			if (record)
				sh.lat[i] = static_cast<double>(now - t0);
			it.next();
			if (record)
				sh.ack.store(i + 1, std::memory_order_release);
		}
	});
}

lat_stats run_handoff(const options &o, shared &sh, bool spin)
{
	stream_file f(o, spin ? "spin" : "futex");
	const uint64_t n = spin ? o.samples : o.futex_samples;
	sh.ready = 0;
	sh.ack = 0;
	sh.stop = 0;
	const pid_t p = start_reader(sh, f.path, f.r, spin, n, true);
	while (sh.ready.load() == 0)
		std::this_thread::sleep_for(1ms);
	auto payload = make_payload(64);
	for (uint64_t i = 0; i < n; ++i) {
		if (!spin) {
			// Let the reader fall asleep in the kernel first.
			const uint64_t until = mono_ns() + o.gap_us * 1000;
			std::this_thread::sleep_for(std::chrono::microseconds(o.gap_us * 3 / 4));
			while (mono_ns() < until)
				cpu_relax();
		}
		const uint64_t t0 = mono_ns();
		std::memcpy(payload.data(), &t0, 8);
		if (!f.s->append(f.r, payload))
			die("append failed");
		while (sh.ack.load(std::memory_order_acquire) != i + 1)
			cpu_relax();
	}
	reap(p);
	return stats_of(sh.lat, n);
}

// ---- idle: a blocked reader's CPU time while nothing is appended
void run_idle(const options &o, shared &sh, double &cpu_us_per_s, double &wakeups_per_s)
{
	stream_file f(o, "idle");
	sh.ready = 0;
	const double secs = o.idle_seconds;
	const pid_t p = child([&] {
		auto s = ps::stream::open(f.path, {.read_only = true, .follow = true});
		if (!s)
			_exit(2);
		auto it = *(*s)->entries(f.r);
		sh.ready.fetch_add(1);
		rusage a, b;
		::getrusage(RUSAGE_SELF, &a);
		auto st = it.wait_for(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(secs)));
		::getrusage(RUSAGE_SELF, &b);
		if (st.code() != ps::errc::timed_out)
			_exit(3);
		auto ns = [](const timeval &t) { return static_cast<uint64_t>(t.tv_sec) * 1000000000u + static_cast<uint64_t>(t.tv_usec) * 1000u; };
		sh.idle_cpu_ns = ns(b.ru_utime) + ns(b.ru_stime) - ns(a.ru_utime) - ns(a.ru_stime);
		sh.idle_wakeups = static_cast<uint64_t>(b.ru_nvcsw - a.ru_nvcsw);
	});
	reap(p);
	cpu_us_per_s = static_cast<double>(sh.idle_cpu_ns.load()) / 1000.0 / secs;
	wakeups_per_s = static_cast<double>(sh.idle_wakeups.load()) / secs;
}

double cpu_seconds_self()
{
	rusage u;
	::getrusage(RUSAGE_SELF, &u);
	return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ---- throughput: appends with k reader processes attached; also per second of the writer's
// own CPU time (*per_cpu), which tells cache-line traffic from a core taken by the readers
double run_throughput(const options &o, shared &sh, unsigned k, bool spin, double *per_cpu)
{
	stream_file f(o, "tput");
	sh.ready = 0;
	sh.stop = 0;
	std::vector<pid_t> ps_;
	for (unsigned i = 0; i < k; ++i)
		ps_.push_back(start_reader(sh, f.path, f.r, spin, o.ops, false));
	while (sh.ready.load() != k)
		std::this_thread::sleep_for(1ms);
	auto payload = make_payload(64);
	const double c0 = cpu_seconds_self();
	const auto t0 = clock_type::now();
	for (uint64_t i = 0; i < o.ops; ++i)
		if (!f.s->append(f.r, payload))
			die("append failed");
	const double secs = ns_since(t0) / 1e9;
	*per_cpu = static_cast<double>(o.ops) / std::max(cpu_seconds_self() - c0, 1e-6);
	sh.stop = 1;
	for (pid_t p : ps_)
		reap(p);
	return static_cast<double>(o.ops) / secs;
}

} // namespace

int main(int argc, char **argv)
{
	program_name = "handoff";
	const options o = parse_args(argc, argv);
	::setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	const std::string load0 = loadavg();
	std::printf("# handoff: CPU: %s (%ld online); load average %s; %s, granularity %s\n", cpu_model().c_str(),
		    ::sysconf(_SC_NPROCESSORS_ONLN), load0.c_str(), o.dir.c_str(), std::getenv("PMEM2_FORCE_GRANULARITY"));
	std::fflush(stdout);
	shared *sh = make_shared();

	const lat_stats floor = run_floor(*sh, o.samples);
	const lat_stats spin = run_handoff(o, *sh, true);
	const lat_stats fut = run_handoff(o, *sh, false);
	std::printf("\n%-34s %10s %10s %10s\n", "hand-off latency (ns)", "p50", "p99", "p99.9");
	std::printf("%-34s %10.0f %10.0f %10.0f\n", "busy-poll floor (shared word)", floor.p50, floor.p99, floor.p999);
	std::printf("%-34s %10.0f %10.0f %10.0f\n", "spinning reader (is_valid)", spin.p50, spin.p99, spin.p999);
	std::printf("%-34s %10.0f %10.0f %10.0f\n", "blocked reader (wait_for, futex)", fut.p50, fut.p99, fut.p999);
	std::fflush(stdout);

	double idle_cpu = 0, idle_wake = 0;
	run_idle(o, *sh, idle_cpu, idle_wake);
	std::printf("\nidle blocked reader: %.1f us CPU per second, %.1f voluntary context switches per second (%.1f s)\n",
		    idle_cpu, idle_wake, o.idle_seconds);
	std::fflush(stdout);

	const unsigned counts[] = {0, 1, 2, 4};
	std::vector<double> blocked[4], spinning[4], blocked_cpu[4], spinning_cpu[4];
	for (unsigned round = 0; round < o.rounds; ++round)
		for (unsigned j = 0; j < 4; ++j) {
			const unsigned c = (j + round) % 4; // rotate the order
			double pc = 0;
			blocked[c].push_back(run_throughput(o, *sh, counts[c], false, &pc));
			blocked_cpu[c].push_back(pc);
			if (counts[c] != 0) {
				spinning[c].push_back(run_throughput(o, *sh, counts[c], true, &pc));
				spinning_cpu[c].push_back(pc);
			}
		}
	const double base = median(blocked[0]), base_cpu = median(blocked_cpu[0]);
	std::printf("\n%-34s %12s %8s %16s %8s\n", "writer throughput (64 B appends)", "appends/s", "vs none", "per writer CPU-s",
		    "vs none");
	for (unsigned c = 0; c < 4; ++c) {
		std::printf("%-34s %12.0f %8.3f %16.0f %8.3f\n", (std::to_string(counts[c]) + " reader(s), wait_for").c_str(),
			    median(blocked[c]), median(blocked[c]) / base, median(blocked_cpu[c]), median(blocked_cpu[c]) / base_cpu);
		if (c)
			std::printf("%-34s %12.0f %8.3f %16.0f %8.3f\n", (std::to_string(counts[c]) + " reader(s), spinning").c_str(),
				    median(spinning[c]), median(spinning[c]) / base, median(spinning_cpu[c]), median(spinning_cpu[c]) / base_cpu);
	}
	const std::string load1 = loadavg();
	std::printf("\n# load average at the end: %s\n", load1.c_str());
	if (!o.out.empty()) {
		FILE *f = open_out(o.out);
		std::fprintf(f, "{\"cpu\": \"%s\", \"load_start\": \"%s\", \"load_end\": \"%s\",\n", cpu_model().c_str(), load0.c_str(),
			     load1.c_str());
		auto lat = [&](const char *name, const lat_stats &l) {
			std::fprintf(f, " \"%s\": {\"p50_ns\": %.0f, \"p99_ns\": %.0f, \"p999_ns\": %.0f},\n", name, l.p50, l.p99, l.p999);
		};
		lat("floor", floor);
		lat("spin", spin);
		lat("futex", fut);
		std::fprintf(f, " \"idle_cpu_us_per_s\": %.2f, \"idle_wakeups_per_s\": %.2f,\n", idle_cpu, idle_wake);
		std::fprintf(f, " \"throughput\": [");
		for (unsigned c = 0; c < 4; ++c)
			std::fprintf(f, "%s{\"readers\": %u, \"wait_for\": %.0f, \"spinning\": %.0f, \"wait_for_per_cpu_s\": %.0f, \"spinning_per_cpu_s\": %.0f}",
				     c ? ", " : "", counts[c], median(blocked[c]), c ? median(spinning[c]) : median(blocked[c]),
				     median(blocked_cpu[c]), c ? median(spinning_cpu[c]) : median(blocked_cpu[c]));
		std::fprintf(f, "]}\n");
		close_out(f, o.out);
	}
	::munmap(sh, sizeof(shared));
	return 0;
}
