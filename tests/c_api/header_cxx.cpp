// SPDX-License-Identifier: BSD-3-Clause
// libpmemstream.h used from C++ (extern "C" linkage, no C-only constructs), alone in its
// translation unit as docs/c_api.md prescribes.
#include <libpmemstream.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

int main()
{
	const std::string path = "/dev/shm/pmemstream_c_api_header_cxx_" + std::to_string(getpid());
	struct pmemstream *s = nullptr;
	int rc = pmemstream_create(&s, path.c_str(), 1 << 20, 0);
	if (rc != 0) {
		std::printf("create: %s\n", pmemstream_errormsg());
		return 1;
	}
	pmemstream_region r{};
	pmemstream_entry e{};
	rc = pmemstream_region_allocate(s, 100, &r);
	if (rc == 0)
		rc = pmemstream_append(s, r, nullptr, "c++", 3, &e);
	const bool ok = rc == 0 && pmemstream_entry_size(s, e) == 3 &&
			std::memcmp(pmemstream_entry_data(s, e), "c++", 3) == 0 &&
			pmemstream_region_free(s, pmemstream_region{r.offset + 8}) == -1 && errno == EINVAL &&
			pmemstream_errno() == PMEMSTREAM_E_INVALID_HANDLE &&
			pmemstream_region_free_errc(s, pmemstream_region{r.offset + 8}) == PMEMSTREAM_E_INVALID_HANDLE;
	// The futures and their macros from C++: returned by value, polled through their base.
	pmemstream_async_append_fut a = pmemstream_async_append(s, nullptr, r, nullptr, "async", 5, nullptr);
	pmemstream_async_wait_fut w = pmemstream_async_wait_persisted(s, a.output.timestamp);
	const bool async_ok = a.output.error_code == 0 &&
			      pmemstream_future_poll(PMEMSTREAM_FUTURE(&a)) == PMEMSTREAM_FUTURE_STATE_COMPLETE &&
			      pmemstream_future_wait_timeout(PMEMSTREAM_FUTURE(&w), PMEMSTREAM_WAIT_FOREVER) == 0 &&
			      PMEMSTREAM_FUTURE_OUTPUT(&w)->watermark >= a.output.timestamp &&
			      pmemstream_persisted_timestamp(s) >= a.output.timestamp;
	pmemstream_delete(&s);
	unlink(path.c_str());
	std::printf("%s\n", ok && async_ok ? "header_cxx OK" : "header_cxx FAILED");
	return ok && async_ok ? 0 : 1;
}
