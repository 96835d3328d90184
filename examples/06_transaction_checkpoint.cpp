// SPDX-License-Identifier: BSD-3-Clause
// 06_transaction_checkpoint (C++): a key-value store's redo log with checkpoints. Every
// update is one entry "set key value" (or "del key") in the current log region. A checkpoint
// writes the whole map into a new region and frees every older region in one transaction:
// after a crash at any point either the new checkpoint and the frees are all there, or none of
// them is and the old regions still replay to the same map. (Without a transaction a crash
// between two frees brings deleted keys back.) Replaying is: every region in allocation order,
// every entry in order; a checkpoint region starts with "checkpoint" and resets the map.
// usage: 06_transaction_checkpoint [file]   (the file is created if missing and kept)
#include <pmemstream/stream.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using kv_map = std::map<std::string, std::string>;

int failed(const char *what, const pmemstream::error &e)
{
	std::fprintf(stderr, "%s: %s\n", what, e.message().c_str());
	return 1;
}

std::string text(pmemstream::stream &s, pmemstream::entry e)
{
	auto d = s.entry_data(e).value();
	return std::string(reinterpret_cast<const char *>(d.data()), d.size());
}

// Rebuilds the map from the log.
kv_map replay(pmemstream::stream &s)
{
	kv_map m;
	for (auto r : s.regions())
		for (auto e : s.entries(r).value()) {
			const std::string t = text(s, e);
			if (t == "checkpoint") {
				m.clear();
			} else if (t.rfind("set ", 0) == 0) {
				const auto sp = t.find(' ', 4);
				m[t.substr(4, sp - 4)] = t.substr(sp + 1);
			} else if (t.rfind("del ", 0) == 0) {
				m.erase(t.substr(4));
			}
		}
	return m;
}

// Writes the map into a new region and frees every other region, all in one transaction.
pmemstream::result<pmemstream::region> checkpoint(pmemstream::stream &s, const kv_map &m)
{
	uint64_t need = pmemstream::entry_footprint(10);
	for (const auto &[k, v] : m)
		need += pmemstream::entry_footprint(4 + k.size() + 1 + v.size());
	auto tx = s.begin_transaction();
	if (!tx)
		return std::move(tx).err();
	auto fresh = tx->region_allocate(need + 4096); // room for the updates that follow
	if (!fresh)
		return std::move(fresh).err();
	auto add = [&](const std::string &t) { return tx->append(*fresh, t.data(), t.size()); };
	if (auto st = add("checkpoint"); !st)
		return st.err();
	for (const auto &[k, v] : m)
		if (auto st = add("set " + k + " " + v); !st)
			return st.err();
	std::vector<pmemstream::region> old;
	for (auto r : s.regions())
		old.push_back(r);
	for (auto r : old)
		if (auto st = tx->region_free(r); !st)
			return st.err();
	if (auto c = tx->commit(); !c)
		return c.err();
	return *fresh;
}

} // namespace

int main(int argc, char **argv)
{
	const bool temporary = argc < 2;
	const std::string path = temporary ? "/dev/shm/pmemstream_example_06_" + std::to_string(getpid()) : argv[1];
	auto opened = std::filesystem::exists(path) ? pmemstream::stream::open(path)
						    : pmemstream::stream::create(path, {.size = 1 << 20, .block_size = 4096});
	if (!opened)
		return failed(path.c_str(), opened.err());
	auto &s = *opened.value();

	kv_map m = replay(s);
	std::printf("replayed %zu keys from %llu regions\n", m.size(), static_cast<unsigned long long>(s.info().region_count));
	auto log = s.region_allocate(4096);
	if (!log)
		return failed("region_allocate", log.err());
	int checkpoints = 0;
	for (int i = 0; i < 200; ++i) {
		const std::string key = "k" + std::to_string(i % 23);
		const std::string t = i % 7 == 3 ? "del " + key : "set " + key + " v" + std::to_string(i);
		auto a = s.append(*log, t.data(), t.size());
		if (!a && a.code() == pmemstream::errc::region_full) {
			// The log region is full: checkpoint into a new one and continue there.
			auto fresh = checkpoint(s, m);
			if (!fresh)
				return failed("checkpoint", fresh.err());
			log = *fresh;
			++checkpoints;
			a = s.append(*log, t.data(), t.size());
		}
		if (!a)
			return failed("append", a.err());
		if (t[0] == 'd')
			m.erase(key);
		else
			m[key] = t.substr(t.rfind(' ') + 1);
	}
	const kv_map again = replay(s);
	std::printf("%d checkpoints; %llu regions; %zu keys; replay %s\n", checkpoints,
		    static_cast<unsigned long long>(s.info().region_count), m.size(), again == m ? "matches" : "DIFFERS");
	opened.value().reset();
	if (temporary)
		std::filesystem::remove(path);
	return again == m ? 0 : 1;
}
