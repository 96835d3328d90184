// SPDX-License-Identifier: BSD-3-Clause
// libFuzzer entry point (built with clang++-14, see CMakeLists.txt and docs/reliability.md).
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pmemstream::test::fuzz_image(data, size);
	return 0;
}
