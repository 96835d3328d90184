// SPDX-License-Identifier: BSD-3-Clause
// A deterministic mutation fuzzer over valid images, built with the main compiler so that the
// whole suite can run it under ASan+UBSan (PMEMSTREAM_SANITIZE=address). Two classes of input:
//  - classic: bit flips, random bytes, interesting 8-byte values written over the header, the
//    state record, span headers and entry headers, truncation, splices between images; half
//    get their checksums recomputed so that the structural rules, not the checksum, must
//    reject them;
//  - limits (one input in three): one or two whole fields of known structures (by offset
//    from format.hpp) set to values at the limits of the field and of the format (0, 1,
//    max - 1, max, 2^31, 2^32, 2^56 - 1, 2^56, 2^62, 2^63, ...), every checksum recomputed:
//    values a checksum cannot catch, which only the validity rules stand between and the code.
// A failing input is saved as fuzz-failure-<pid>.bin in the working directory.
#include "format.hpp"
#include "fuzz_target.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <unistd.h>

using namespace pmemstream;
using namespace pmemstream::test;

namespace {

std::vector<uint8_t> current;
uint64_t iteration = 0; // of the input in `current` (0: a seed or a replay)

void save_current(int)
{
	char name[64];
	std::snprintf(name, sizeof(name), "fuzz-failure-%d.bin", static_cast<int>(getpid()));
	const int fd = ::open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		ssize_t ignored = ::write(fd, current.data(), current.size());
		(void)ignored;
		::close(fd);
	}
	char msg[128];
	const int len = std::snprintf(msg, sizeof(msg), "fuzz_mutate: input %llu failed, saved as %s (replay with --replay)\n",
				      static_cast<unsigned long long>(iteration), name);
	ssize_t ignored = ::write(2, msg, static_cast<size_t>(len));
	(void)ignored;
	std::signal(SIGABRT, SIG_DFL);
	std::raise(SIGABRT);
}

// Offsets worth hitting: fields of the records the format defines.
uint64_t structural_offset(std::mt19937_64 &rng, const std::vector<std::byte> &img)
{
	format::stream_header h;
	std::memcpy(&h, img.data(), sizeof(h));
	const uint64_t block = format::valid_block_size(h.block_size) ? h.block_size : 64;
	switch (rng() % 5) {
	case 0:
		return rng() % 128; // header
	case 1:
		return 256 + rng() % 128; // state slots
	case 2: { // a span header at some block of the arena
		const uint64_t blocks = img.size() > format::header_area ? (img.size() - format::header_area) / block : 1;
		return format::header_area + (rng() % std::max<uint64_t>(blocks, 1)) * block + rng() % 128;
	}
	default: // anywhere (entry headers and payloads)
		return rng() % img.size();
	}
}

uint64_t interesting(std::mt19937_64 &rng, const std::vector<std::byte> &img)
{
	const uint64_t values[] = {0,
				   1,
				   2,
				   63,
				   64,
				   128,
				   256,
				   4096,
				   img.size(),
				   img.size() - 4096,
				   img.size() + 64,
				   uint64_t{1} << 32,
				   uint64_t{1} << 56,
				   (uint64_t{1} << 56) - 1,
				   ~uint64_t{0},
				   ~uint64_t{0} - 63,
				   format::magic_ready,
				   format::magic_initialising};
	if (rng() % 4 == 0)
		return rng();
	return values[rng() % std::size(values)];
}

const char usage[] = R"(usage:
  fuzz_mutate [iterations] [seed]     run (defaults: PMEMSTREAM_FUZZ_ITERATIONS or 20000
                                      (5000 under sanitizers), seed 1); prints the outcomes
                                      of each class of input (classic, limits)
  fuzz_mutate --limits [iter] [seed]  only the limit class
  fuzz_mutate --write-seeds DIR       write the seed corpus for the libFuzzer target
  fuzz_mutate --replay FILE...        run saved inputs (e.g. a crash file) and say what they do
  fuzz_mutate --help
)";

// Limit class: fields set to limit values, every checksum recomputed (input flag byte).
std::vector<uint8_t> mutate_limits(std::mt19937_64 &rng, const std::vector<std::vector<std::byte>> &seeds)
{
	std::vector<std::byte> img = seeds[rng() % seeds.size()];
	const int n = 1 + static_cast<int>(rng() % 2);
	for (int k = 0; k < n; ++k)
		(void)mutate_field(img, rng);
	std::vector<uint8_t> input(img.size() + 1);
	input[0] = fix_records | fix_entries;
	std::memcpy(input.data() + 1, img.data(), img.size());
	return input;
}

std::vector<uint8_t> mutate(std::mt19937_64 &rng, const std::vector<std::vector<std::byte>> &seeds)
{
	std::vector<std::byte> img = seeds[rng() % seeds.size()];
	const int n = 1 + static_cast<int>(rng() % 6);
	for (int k = 0; k < n && !img.empty(); ++k) {
		switch (rng() % 7) {
		case 0: { // bit flip
			const uint64_t off = structural_offset(rng, img) % img.size();
			img[off] ^= static_cast<std::byte>(1u << (rng() % 8));
			break;
		}
		case 1: // random byte
			img[structural_offset(rng, img) % img.size()] = static_cast<std::byte>(rng());
			break;
		case 2:
		case 3: { // an interesting aligned word
			const uint64_t off = (structural_offset(rng, img) % img.size()) & ~uint64_t(7);
			const uint64_t v = interesting(rng, img);
			std::memcpy(img.data() + off, &v, std::min<uint64_t>(8, img.size() - off));
			break;
		}
		case 4: // a 4-byte value (entry sizes, span states)
		{
			const uint64_t off = (structural_offset(rng, img) % img.size()) & ~uint64_t(3);
			const uint32_t v = static_cast<uint32_t>(interesting(rng, img));
			std::memcpy(img.data() + off, &v, std::min<uint64_t>(4, img.size() - off));
			break;
		}
		case 5: // truncate
			if (rng() % 3 == 0)
				img.resize((rng() % img.size()) & ~uint64_t(63));
			break;
		default: { // splice a cache line from another image
			const auto &other = seeds[rng() % seeds.size()];
			const uint64_t from = (rng() % other.size()) & ~uint64_t(63);
			const uint64_t to = (rng() % img.size()) & ~uint64_t(63);
			std::memcpy(img.data() + to, other.data() + from, std::min<uint64_t>({64, img.size() - to, other.size() - from}));
			break;
		}
		}
	}
	std::vector<uint8_t> input(img.size() + 1);
	input[0] = static_cast<uint8_t>(rng() % 4);
	if (!img.empty())
		std::memcpy(input.data() + 1, img.data(), img.size());
	return input;
}

std::vector<uint8_t> read_file(const char *path)
{
	std::ifstream f(path, std::ios::binary);
	return {std::istreambuf_iterator<char>(f), {}};
}

} // namespace

int main(int argc, char **argv)
{
	std::vector<std::string> args(argv + 1, argv + argc);
	if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
		std::fputs(usage, stdout);
		return 0;
	}
	if (args.size() >= 2 && args[0] == "--write-seeds") {
		int k = 0;
		for (const auto &img : make_seed_images())
			for (uint8_t flags : {uint8_t{0}, fix_records}) {
				const std::string path = args[1] + "/seed-" + std::to_string(k++);
				std::ofstream f(path, std::ios::binary);
				f.put(static_cast<char>(flags));
				f.write(reinterpret_cast<const char *>(img.data()), static_cast<std::streamsize>(img.size()));
			}
		std::printf("fuzz_mutate: %d seed inputs written to %s\n", k, args[1].c_str());
		return 0;
	}
	std::signal(SIGABRT, save_current);
	if (!args.empty() && args[0] == "--replay") {
		for (size_t i = 1; i < args.size(); ++i) {
			current = read_file(args[i].c_str());
			auto o = fuzz_image(current.data(), current.size());
			std::printf("%s: %s\n", args[i].c_str(), o.opened_writable ? "opened" : o.error.c_str());
		}
		return 0;
	}
	const bool limits_only = !args.empty() && args[0] == "--limits";
	if (limits_only)
		args.erase(args.begin());
	for (const auto &a : args)
		if (a.empty() || a[0] == '-') {
			std::fprintf(stderr, "fuzz_mutate: unknown option %s\n%s", a.c_str(), usage);
			return 2;
		}
	const char *env = std::getenv("PMEMSTREAM_FUZZ_ITERATIONS");
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	const uint64_t dflt = 2500; // every image costs ~20x more under the sanitizers (the dev pass runs 20000)
#else
	const uint64_t dflt = 20000;
#endif
	const uint64_t iterations = !args.empty() ? std::strtoull(args[0].c_str(), nullptr, 0) : env ? std::strtoull(env, nullptr, 0) : dflt;
	const uint64_t seed = args.size() >= 2 ? std::strtoull(args[1].c_str(), nullptr, 0) : 1;
	const auto seeds = make_seed_images();
	std::mt19937_64 rng(seed);
	std::map<std::string, std::map<std::string, uint64_t>> outcomes; // class -> outcome -> count
	for (const auto &img : seeds) { // the seeds themselves must open
		current.assign(1, 0);
		current.insert(current.end(), reinterpret_cast<const uint8_t *>(img.data()),
			       reinterpret_cast<const uint8_t *>(img.data()) + img.size());
		if (!fuzz_image(current.data(), current.size()).opened_writable) {
			std::fprintf(stderr, "fuzz_mutate: a seed image does not open\n");
			return 1;
		}
	}
	for (uint64_t i = 0; i < iterations; ++i) {
		iteration = i + 1;
		const bool limits = limits_only || rng() % 3 == 0;
		current = limits ? mutate_limits(rng, seeds) : mutate(rng, seeds);
		auto o = fuzz_image(current.data(), current.size());
		++outcomes[limits ? "limits" : "classic"]
			  [o.opened_writable ? (o.error.empty() ? "opened" : "opened writable, refused read-only") : o.error];
	}
	std::printf("fuzz_mutate: %llu mutated images, seed %llu\n", static_cast<unsigned long long>(iterations),
		    static_cast<unsigned long long>(seed));
	for (auto &[cls, counts] : outcomes) {
		std::printf("  %s:", cls.c_str());
		for (auto &[k, v] : counts)
			std::printf(" %s %llu;", k.c_str(), static_cast<unsigned long long>(v));
		std::printf("\n");
	}
	return 0;
}
