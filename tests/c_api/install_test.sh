#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds programs against the installed
# files only: a C program using the original's API with pkg-config, and a CMake project with
# find_package(pmemstream). Runs them and checks their output.
# usage: install_test.sh <build dir> <this test's source dir> <C compiler> <cmake>
set -euo pipefail
build=$1
here=$2
cc=$3
cmake=$4
work=$(mktemp -d /tmp/pmemstream_c_api_install_XXXXXX)
trap 'rm -rf "$work" /dev/shm/pmemstream_c_api_install_$$_*' EXIT
prefix=$work/prefix

"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log"
pc=$(find "$prefix" -name libpmemstream.pc)
[ -n "$pc" ] || { echo "FAIL: libpmemstream.pc not installed"; exit 1; }
[ -f "$prefix/include/libpmemstream.h" ] || { echo "FAIL: libpmemstream.h not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")

# The .pc file names the configured prefix; point it at the temporary one.
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --define-variable=prefix="$prefix" --cflags --libs libpmemstream)
echo "pkg-config: $flags"
"$cc" -std=c99 -Wall -Wextra -Werror "$here/consumer/original_api.c" -o "$work/original_api" $flags \
	$(pkg-config --cflags --libs libpmem2)
ldd_out=$(LD_LIBRARY_PATH=$libdir ldd "$work/original_api")
grep -q "libpmemstream.so.0 => $libdir/" <<<"$ldd_out" || { echo "FAIL: not linked to the installed library:"; echo "$ldd_out"; exit 1; }
out=$(LD_LIBRARY_PATH=$libdir "$work/original_api" /dev/shm/pmemstream_c_api_install_$$_c)
echo "$out"
grep -qx "consumer OK" <<<"$out" || { echo "FAIL: pkg-config consumer"; exit 1; }

"$cmake" -S "$here/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_C_COMPILER="$cc" >"$work/consumer.log" 2>&1 || { cat "$work/consumer.log"; exit 1; }
"$cmake" --build "$work/consumer" -j2 >>"$work/consumer.log" 2>&1 || { cat "$work/consumer.log"; exit 1; }
out=$(LD_LIBRARY_PATH=$libdir "$work/consumer/cpp_api" /dev/shm/pmemstream_c_api_install_$$_cpp)
echo "$out"
grep -qx "cpp consumer OK" <<<"$out" || { echo "FAIL: find_package C++ consumer"; exit 1; }
out=$(LD_LIBRARY_PATH=$libdir "$work/consumer/original_api" /dev/shm/pmemstream_c_api_install_$$_c2)
grep -qx "consumer OK" <<<"$out" || { echo "FAIL: find_package C consumer"; echo "$out"; exit 1; }
echo "install test passed"
