#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds programs against the installed
# files only, as a user outside this tree would, and runs them:
#  1. pkg-config, C, shared library (the original's API);
#  2. pkg-config, C++ with no -std flag of its own (libpmemstream++.pc must supply C++20);
#  3. pkg-config --static, C, linked with libpmemstream.a (Libs.private must bring the C++
#     runtime a C link step does not add);
#  4. find_package(pmemstream) from a project that sets no C++ standard: a C++ program (the
#     target must carry cxx_std_20), a C program on the shared library and one on the static;
#  5. find_package(pmemstream) from a project with LANGUAGES C only, shared and static (the
#     static target must name the C++ runtime when no C++ driver links).
# usage: install_test.sh <build dir> <this test's source dir> <C compiler> <cmake>
set -euo pipefail
build=$1
here=$2
cc=$3
cmake=$4
# The C++ compiler the library was built with, so the runtime libraries match.
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
[ -n "$cxx" ] || cxx=c++
work=$(mktemp -d /tmp/pmemstream_c_api_install_XXXXXX)
trap 'rm -rf "$work" /dev/shm/pmemstream_c_api_install_$$_*' EXIT
prefix=$work/prefix
failed=0
fail() {
	echo "FAIL: $*"
	failed=1
}

"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log"
pc=$(find "$prefix" -name libpmemstream.pc)
[ -n "$pc" ] || { echo "FAIL: libpmemstream.pc not installed"; exit 1; }
[ -f "$prefix/include/libpmemstream.h" ] || { echo "FAIL: libpmemstream.h not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
[ -f "$libdir/libpmemstream.a" ] || { echo "FAIL: libpmemstream.a not installed"; exit 1; }

# Runs a consumer and checks its last line; $1 is the expected line, the rest the command.
run_consumer() {
	local want=$1
	shift
	local out
	if ! out=$(LD_LIBRARY_PATH=$libdir "$@" 2>&1); then
		echo "$out"
		return 1
	fi
	echo "$out"
	[ "$(tail -n1 <<<"$out")" = "$want" ]
}

# The .pc files find their prefix from their own folder: no --define-variable needed.
export PKG_CONFIG_PATH=$(dirname "$pc")

# 1. pkg-config, C, shared.
flags=$(pkg-config --cflags --libs libpmemstream)
echo "pkg-config libpmemstream: $flags"
if "$cc" -std=c99 -Wall -Wextra -Werror "$here/consumer/original_api.c" -o "$work/original_api" $flags \
	$(pkg-config --cflags --libs libpmem2); then
	ldd_out=$(LD_LIBRARY_PATH=$libdir ldd "$work/original_api")
	grep -q "libpmemstream.so.0 => $libdir/" <<<"$ldd_out" || fail "not linked to the installed library: $ldd_out"
	run_consumer "consumer OK" "$work/original_api" /dev/shm/pmemstream_c_api_install_$$_c ||
		fail "pkg-config C consumer"
else
	fail "pkg-config C consumer does not build"
fi

# 2. pkg-config, C++, no standard given by the consumer.
if ! flags=$(pkg-config --cflags --libs libpmemstream++); then
	fail "libpmemstream++.pc not installed"
elif echo "pkg-config libpmemstream++: $flags" && "$cxx" -Wall -Wextra -Werror "$here/consumer/cpp_api.cpp" -o "$work/cpp_api_pc" $flags \
	2>"$work/cpp_pc.log"; then
	run_consumer "cpp consumer OK" "$work/cpp_api_pc" /dev/shm/pmemstream_c_api_install_$$_cpc ||
		fail "pkg-config C++ consumer"
else
	head -n 20 "$work/cpp_pc.log"
	fail "pkg-config C++ consumer (no -std) does not build"
fi

# 3. pkg-config --static, C, with the archive. -l:libpmemstream.a takes the place of
# -lpmemstream so that the linker cannot pick the shared library beside it; every other
# flag is pkg-config's own.
flags=$(pkg-config --static --cflags --libs libpmemstream)
echo "pkg-config --static libpmemstream: $flags"
grep -qw -- -lpmemstream <<<"$flags" || fail "no -lpmemstream in the static flags"
flags=$(sed 's/\(^\| \)-lpmemstream\( \|$\)/\1-l:libpmemstream.a\2/' <<<"$flags")
if "$cc" -std=c99 -Wall -Wextra -Werror "$here/consumer/original_api.c" -o "$work/original_api_static" $flags \
	2>"$work/static.log"; then
	if LD_LIBRARY_PATH=$libdir ldd "$work/original_api_static" | grep -q libpmemstream; then
		fail "the static consumer loads a shared libpmemstream"
	fi
	run_consumer "consumer OK" "$work/original_api_static" /dev/shm/pmemstream_c_api_install_$$_cs ||
		fail "pkg-config --static C consumer"
else
	echo "$(grep -c 'undefined reference' "$work/static.log" || true) undefined references, the first:"
	grep -m5 'undefined reference' "$work/static.log" || head -n 10 "$work/static.log"
	fail "pkg-config --static C consumer does not link"
fi

# Configures the consumer project in $1 (a folder under consumer/, or "." for consumer/
# itself) and builds and runs each program named in the rest: "target:expected last line".
# Each is built on its own so that one failure does not hide the others.
find_package_consumers() {
	local src=$here/consumer/$1 bin=$work/consumer_$(basename "$(realpath "$here/consumer/$1")")
	shift
	if ! "$cmake" -S "$src" -B "$bin" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" >"$bin.log" 2>&1; then
		cat "$bin.log"
		fail "find_package consumer project $src does not configure"
		return
	fi
	local t name
	for t in "$@"; do
		name=${t%%:*}
		if "$cmake" --build "$bin" --target "$name" >"$bin.$name.log" 2>&1; then
			run_consumer "${t#*:}" "$bin/$name" /dev/shm/pmemstream_c_api_install_$$_$name ||
				fail "find_package consumer $name"
		else
			echo "$(grep -c 'undefined reference' "$bin.$name.log" || true) undefined references; first errors:"
			grep -m8 -E 'error|undefined reference' "$bin.$name.log" || tail -n 20 "$bin.$name.log"
			fail "find_package consumer $name does not build"
		fi
	done
}

# 4. find_package, from a project that sets no C++ standard.
find_package_consumers . cpp_api:"cpp consumer OK" original_api:"consumer OK" original_api_static:"consumer OK"
# 5. find_package, from a project that enables C only.
find_package_consumers c_only c_only_shared:"consumer OK" c_only_static:"consumer OK"

[ $failed -eq 0 ] || exit 1
echo "install test passed"
