// SPDX-License-Identifier: BSD-3-Clause
// 03_reserve_publish: build an entry in place instead of copying it. reserve() hands out the
// space at the end of the region; the object is constructed there with placement new, and
// publish() makes it committed and persisted. The reservation may be larger than what is
// finally published: here variable-length records reserve their maximum size and publish the
// bytes they used.
// usage: 03_reserve_publish [file]   (the file is created if missing and kept)
#include <pmemstream/stream.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>
#include <string_view>
#include <unistd.h>

namespace {

// A record with a fixed part and a variable-length name.
struct record {
	uint64_t id;
	uint32_t name_size;
	char name[60]; // the first name_size bytes are published

	record(uint64_t i, std::string_view n) : id(i), name_size(static_cast<uint32_t>(n.size()))
	{
		std::memcpy(name, n.data(), n.size());
	}
	uint64_t used_bytes() const
	{
		return offsetof(record, name) + name_size;
	}
};
// Entry data is 8-byte aligned.
static_assert(alignof(record) <= 8);

} // namespace

int main(int argc, char **argv)
{
	const bool temporary = argc < 2;
	const std::string path = temporary ? "/dev/shm/pmemstream_example_03_" + std::to_string(getpid()) : argv[1];
	auto opened = std::filesystem::exists(path) ? pmemstream::stream::open(path)
						    : pmemstream::stream::create(path, {.size = 1 << 20, .block_size = 4096});
	if (!opened) {
		std::fprintf(stderr, "%s: %s\n", path.c_str(), opened.err().message().c_str());
		return 1;
	}
	auto &stream = *opened.value();
	auto region = stream.region_allocate(4096);
	if (!region) {
		std::fprintf(stderr, "%s\n", region.err().message().c_str());
		return 1;
	}
	auto *rt = *stream.get_region_runtime(*region);

	const std::string_view names[] = {"ada", "grace", "barbara liskov"};
	for (uint64_t id = 0; id < 3; id++) {
		auto space = stream.reserve(*region, sizeof(record), rt);
		if (!space) {
			std::fprintf(stderr, "reserve: %s\n", space.err().message().c_str());
			return 1;
		}
		// Nothing is visible to readers until publish().
		auto *rec = new (space->data) record(id, names[id]);
		if (auto s = stream.publish(*region, space->ent, rec->used_bytes(), rt); !s) {
			std::fprintf(stderr, "publish: %s\n", s.err().message().c_str());
			return 1;
		}
		std::printf("published record %llu: reserved %zu bytes, used %llu\n", static_cast<unsigned long long>(id),
			    sizeof(record), static_cast<unsigned long long>(rec->used_bytes()));
	}

	int read = 0;
	auto entries = stream.entries(*region);
	for (pmemstream::entry e : *entries) {
		auto data = *stream.entry_data(e);
		// Copy out: only the published bytes are part of the entry.
		uint64_t id;
		uint32_t name_size;
		std::memcpy(&id, data.data() + offsetof(record, id), sizeof(id));
		std::memcpy(&name_size, data.data() + offsetof(record, name_size), sizeof(name_size));
		std::printf("entry ts %llu: record %llu '%.*s' (%zu bytes)\n",
			    static_cast<unsigned long long>(*stream.entry_timestamp(e)), static_cast<unsigned long long>(id),
			    static_cast<int>(name_size), reinterpret_cast<const char *>(data.data()) + offsetof(record, name),
			    data.size());
		read++;
	}
	opened.value().reset();
	if (temporary)
		std::filesystem::remove(path);
	std::printf("%d records read back\n", read);
	return 0;
}
