// SPDX-License-Identifier: BSD-3-Clause
// libFuzzer entry point (built with clang++-14, see CMakeLists.txt and docs/reliability.md).
// The custom mutator adds the limit class to libFuzzer's own mutations: one input in three
// gets a whole field of a known structure set to a limit value, every checksum recomputed
// (fuzz_target.hpp mutate_field), which byte-level mutations almost never produce.
#include "fuzz_target.hpp"

#include <cstring>

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pmemstream::test::fuzz_image(data, size);
	return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	using namespace pmemstream::test;
	std::mt19937_64 rng(seed);
	if (size > 1 && rng() % 3 == 0) {
		std::vector<std::byte> img(reinterpret_cast<const std::byte *>(data + 1), reinterpret_cast<const std::byte *>(data + size));
		if (!mutate_field(img, rng).empty()) {
			data[0] = fix_records | fix_entries;
			std::memcpy(data + 1, img.data(), img.size());
			return size;
		}
	}
	return LLVMFuzzerMutate(data, size, max_size);
}
