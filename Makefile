# Entry points. Each target installs what is missing (Debian packages), configures, builds
# and runs; see README.md.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DEMO_FILE ?= /dev/shm/pmemstream-demo.pmem
CTEST_ARGS ?=
# Labels run again under the sanitizers by `make test-sanitizers` (short runs; the full ones
# are `make asan` and `make tsan`).
ASAN_SHORT_LABELS ?= unit|format|property|c_api|cli|fuzz
# Not again under ASan: the libFuzzer target builds with its own ASan+UBSan (the dev pass runs
# it), and the file, model and random-image tests do not depend on the granularity (the dev
# pass runs both).
ASAN_SHORT_EXCLUDE ?= ^fuzz_libfuzzer|^(unit_files|property_model|property_async|property_tx|format_damage|reopen_checkpoint)_PAGE$$
TSAN_SHORT_LABELS ?= concurrency
# The short TSan pass runs the cache-line variant of tests built for both granularities (the
# msync paths' threads are in crash_async's msync scenarios), and of the crash explorations only
# crash_async (crash_threads and crash_fences take minutes under TSan; the dev pass runs them);
# `make tsan` runs everything.
TSAN_SHORT_EXCLUDE ?= _PAGE$$|^crash_(threads|fences)$$

.PHONY: all deps build demo test test-all test-main test-sanitizers asan tsan bench bench-async package package-test clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	cmake --preset dev
	cmake --build --preset dev -j $(JOBS)

demo: build
	PMEM2_FORCE_GRANULARITY=CACHE_LINE ./build/demo/pmemstream_demo $(DEMO_FILE)
	@if [ -x build/tools/pmemstream ]; then bash scripts/demo-cli.sh build/tools/pmemstream $(DEMO_FILE); fi
	@if [ -x build/replication/pmemstream-node ]; then bash scripts/demo-raft.sh build; fi

# make test: every test in the developer build (about 9 minutes on 2 cores). The short
# sanitizer passes (another 12 minutes) are `make test-sanitizers`; CI (.ci/run) runs both,
# and `make test-all` does the same here.
test: test-main

test-all: test-main test-sanitizers

test-main: build
	ctest --preset dev -j $(JOBS) $(CTEST_ARGS)

test-sanitizers: deps
	cmake --preset asan
	# Each short pass builds only the programs it runs (scripts/test-targets.py), not the
	# whole tree (the crash tests, examples and demo are built and run by the dev pass).
	targets=$$(ctest --preset asan --show-only=json-v1 -L '$(ASAN_SHORT_LABELS)' -E '$(ASAN_SHORT_EXCLUDE)' \
		| python3 scripts/test-targets.py build-asan) && cmake --build --preset asan -j $(JOBS) --target $$targets
	ctest --preset asan -j $(JOBS) -L '$(ASAN_SHORT_LABELS)' -E '$(ASAN_SHORT_EXCLUDE)'
	cmake --preset tsan
	targets=$$(ctest --preset tsan --show-only=json-v1 -L '$(TSAN_SHORT_LABELS)' -E '$(TSAN_SHORT_EXCLUDE)' \
		| python3 scripts/test-targets.py build-tsan) && cmake --build --preset tsan -j $(JOBS) --target $$targets
	ctest --preset tsan -j $(JOBS) -L '$(TSAN_SHORT_LABELS)' -E '$(TSAN_SHORT_EXCLUDE)'

asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS) $(CTEST_ARGS)

tsan: deps
	cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS) $(CTEST_ARGS)

# make bench: the append driver BENCH_RUNS times (README table), the iteration driver
# BENCH_RUNS times (docs/benchmarks.md tables), the one- and two-thread append micro
# benchmarks, then the charts of every result file (scripts/bench-plots.py) into BENCH_PLOTS.
BENCH_RUNS ?= 3
BENCH_ROUNDS ?= 7
ITERATE_ROUNDS ?= 5
BENCH_PLOTS ?= docs/plots
bench: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)
	rm -f build-release/bench-*.json
	for i in $$(seq $(BENCH_RUNS)); do \
		./build-release/bench/pmemstream_append_compare --rounds $(BENCH_ROUNDS) --out build-release/bench-run$$i.json || exit 1; done
	for i in $$(seq $(BENCH_RUNS)); do \
		./build-release/bench/pmemstream_iterate --rounds $(ITERATE_ROUNDS) --out build-release/bench-iterate-run$$i.json || exit 1; done
	PMEM2_FORCE_GRANULARITY=$${PMEM2_FORCE_GRANULARITY:-CACHE_LINE} ./build-release/bench/pmemstream_micro \
		--benchmark_filter='^bm_append(_threads)?/(64|1024)' --benchmark_repetitions=$(BENCH_RUNS) \
		--benchmark_out=build-release/bench-threads.json --benchmark_out_format=json
	python3 scripts/bench-table.py $$(seq -f 'build-release/bench-run%g.json' $(BENCH_RUNS))
	python3 scripts/iterate-table.py $$(seq -f 'build-release/bench-iterate-run%g.json' $(BENCH_RUNS))
	python3 scripts/bench-plots.py --out $(BENCH_PLOTS) \
		--note "make bench BENCH_RUNS=$(BENCH_RUNS) BENCH_ROUNDS=$(BENCH_ROUNDS) ITERATE_ROUNDS=$(ITERATE_ROUNDS)" \
		build-release/bench-*.json

# Debian packages (cmake/package.cmake): libpmemstream0, libpmemstream-dev, pmemstream-tools,
# built from a release tree of the library, the tool and the manual pages only.
package: deps
	cmake --preset package
	cmake --build --preset package -j $(JOBS)
	cd build-package && cpack -G DEB
	@ls -l build-package/*.deb

# Builds the packages again from that tree, checks them, installs them (dpkg -i as root,
# else into a throw-away root), builds and runs programs against them, and removes them.
# `make test` runs the same script on the dev tree (ctest -L package).
package-test: package
	bash tests/package/package_test.sh build-package . \
		"$$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' build-package/CMakeCache.txt)" \
		"$$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' build-package/CMakeCache.txt)" cmake cpack

# Asynchronous appends and group commit (docs/benchmarks.md); its disk files go in build-release/bench.
bench-async: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target pmemstream_async_compare
	for i in $$(seq $(BENCH_RUNS)); do \
		./build-release/bench/pmemstream_async_compare --rounds 5 --out build-release/async-run$$i.json || exit 1; done
	python3 scripts/async-bench-table.py $$(seq -f 'build-release/async-run%g.json' $(BENCH_RUNS))
	python3 scripts/bench-plots.py --out $(BENCH_PLOTS) --note "make bench-async BENCH_RUNS=$(BENCH_RUNS)" \
		$$(seq -f 'build-release/async-run%g.json' $(BENCH_RUNS))

clean:
	rm -rf build build-release build-asan build-tsan build-package
