#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The Debian packages (cmake/package.cmake), as a user gets them:
#  1. builds the three packages with CPack from an already built tree (seconds);
#  2. checks their control data: names, dependencies (libpmem2, libstdc++6, the exact
#     libpmemstream0 for -dev), the shlibs file, and what each holds (every public function
#     of the header has a section-3 page in -dev);
#  3. installs them: with dpkg -i on this machine when run as root (CI runs as root on a fresh
#     machine) and none of them is installed yet, otherwise unpacked with dpkg -x into a
#     throw-away root (PMEMSTREAM_PACKAGE_TEST_ROOT=1 asks for that as root too);
#  4. builds a C program (pkg-config), a C++ program (pkg-config libpmemstream++) and a C
#     program with find_package(pmemstream) against the installed files only, and runs them;
#     runs the installed tool, its man pages and its bash completion;
#  5. removes the packages again (dpkg --purge) and checks that nothing is left.
# usage: package_test.sh <build dir> <source dir> <C compiler> <C++ compiler> <cmake> <cpack>
set -euo pipefail
build=$1
src=$2
cc=$3
cxx=$4
cmake=$5
cpack=$6
consumer=$src/tests/c_api/consumer
work=$(mktemp -d /tmp/pmemstream_package_XXXXXX)
packages=(pmemstream-tools libpmemstream-dev libpmemstream0)
installed_here=0
cleanup() {
	if [ $installed_here -eq 1 ]; then
		dpkg_locked --purge "${packages[@]}" >/dev/null 2>&1 || true
	fi
	rm -rf "$work" /dev/shm/pmemstream_package_$$_*
}
trap cleanup EXIT
failed=0
fail() {
	echo "FAIL: $*"
	failed=1
}
# dpkg, waiting up to a minute for a lock another dpkg or apt holds.
dpkg_locked() {
	local i
	for ((i = 0; i < 60; i++)); do
		if dpkg "$@" 2>"$work/dpkg.err"; then
			return 0
		fi
		grep -q "lock" "$work/dpkg.err" || {
			cat "$work/dpkg.err"
			return 1
		}
		sleep 1
	done
	cat "$work/dpkg.err"
	return 1
}

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || { echo "FAIL: no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"; exit 1; }

# ---- 1. build ----
if ! "$cpack" --config "$build/CPackConfig.cmake" -G DEB -B "$work/deb" >"$work/cpack.log" 2>&1; then
	tail -n 30 "$work/cpack.log"
	echo "FAIL: cpack -G DEB"
	exit 1
fi
deb() { ls "$work/deb/$1"_*.deb 2>/dev/null | head -n1; }
for p in "${packages[@]}"; do
	[ -n "$(deb "$p")" ] || { echo "FAIL: no $p package in $(ls "$work/deb")"; exit 1; }
done
lib=$(deb libpmemstream0) dev=$(deb libpmemstream-dev) tools=$(deb pmemstream-tools)
echo "built: $(cd "$work/deb" && ls ./*.deb | tr '\n' ' ')"

# ---- 2. control data and contents ----
field() { dpkg-deb -f "$1" "$2"; }
expect_field() { # package field extended-regex
	local v
	v=$(field "$1" "$2")
	grep -Eq -- "$3" <<<"$v" || fail "$(basename "$1"): $2 '$v' does not match '$3'"
}
for f in "$lib" "$dev" "$tools"; do
	expect_field "$f" Version "^$version-[0-9]+$"
	[ -n "$(field "$f" Maintainer)" ] || fail "$(basename "$f"): no Maintainer"
	[ -n "$(field "$f" Description)" ] || fail "$(basename "$f"): no Description"
done
expect_field "$lib" Depends "(^|, )libpmem2 \(>= [0-9.]+\)"
expect_field "$lib" Depends "(^|, )libstdc\+\+6 \(>= [0-9.]+\)"
expect_field "$lib" Section "^libs$"
expect_field "$dev" Depends "(^|, )libpmemstream0 \(= $version-[0-9]+\)"
expect_field "$dev" Depends "(^|, )libpmem2-dev"
expect_field "$tools" Depends "(^|, )libpmem2 \(>= [0-9.]+\)"
shlibs=$(dpkg-deb -I "$lib" shlibs 2>&1) || fail "libpmemstream0 has no shlibs file"
grep -Eq "^libpmemstream 0 libpmemstream0 \(>= $version" <<<"$shlibs" || fail "shlibs says '$shlibs'"

contents() { dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./|/|'; }
contents "$lib" >"$work/lib.files"
contents "$dev" >"$work/dev.files"
contents "$tools" >"$work/tools.files"
has() { grep -qx -- "$2" "$work/$1.files" || fail "$1 package lacks $2"; }
has lib /usr/lib/libpmemstream.so.0
grep -q "^/usr/include" "$work/lib.files" && fail "the library package holds headers"
has dev /usr/include/libpmemstream.h
has dev /usr/include/pmemstream/stream.hpp
has dev /usr/lib/libpmemstream.a
has dev /usr/lib/libpmemstream.so
has dev /usr/lib/pkgconfig/libpmemstream.pc
has dev /usr/lib/pkgconfig/libpmemstream++.pc
has dev /usr/lib/cmake/pmemstream/pmemstreamConfig.cmake
has dev /usr/share/man/man7/libpmemstream.7
grep -q "libpmemstream.so.0" "$work/dev.files" && fail "the dev package holds the shared library"
for f in $(python3 "$src/scripts/gen-man.py" --header "$src/include/libpmemstream.h" --list); do
	has dev "/usr/share/man/man3/$f.3"
done
has tools /usr/bin/pmemstream
has tools /usr/share/man/man1/pmemstream.1
has tools /usr/share/bash-completion/completions/pmemstream

# ---- 3. install ----
mode=root
if [ "$(id -u)" -eq 0 ] && [ "${PMEMSTREAM_PACKAGE_TEST_ROOT:-0}" != 1 ]; then
	mode=system
	for p in "${packages[@]}"; do
		if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed"; then
			echo "$p is installed on this machine already: testing in a throw-away root instead"
			mode=root
		fi
	done
fi
if [ $mode = system ]; then
	echo "installing with dpkg -i on this machine"
	installed_here=1
	if ! dpkg_locked -i "$lib" "$dev" "$tools" >"$work/dpkg.log"; then
		cat "$work/dpkg.log"
		echo "FAIL: dpkg -i"
		exit 1
	fi
	root=""
	prefix=/usr
	run_env=()
else
	echo "unpacking with dpkg -x into a throw-away root"
	root=$work/root
	for f in "$lib" "$dev" "$tools"; do
		dpkg -x "$f" "$root" || { echo "FAIL: dpkg -x $f"; exit 1; }
	done
	prefix=$root/usr
	export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
	run_env=(env LD_LIBRARY_PATH="$prefix/lib")
fi

# ---- 4. use ----
# run_ok NAME EXPECTED-LAST-LINE CMD...
run_ok() {
	local name=$1 want=$2 out
	shift 2
	if ! out=$("${run_env[@]}" "$@" 2>&1); then
		echo "$out"
		fail "$name fails"
		return
	fi
	[ "$(tail -n1 <<<"$out")" = "$want" ] || fail "$name printed '$(tail -n1 <<<"$out")'"
}
if flags=$(pkg-config --cflags --libs libpmemstream libpmem2) &&
	"$cc" -std=c99 -Wall -Wextra -Werror "$consumer/original_api.c" -o "$work/c_consumer" $flags; then
	# (/lib is /usr/lib on a merged-/usr system: compare the files, not the names.)
	loaded=$("${run_env[@]}" ldd "$work/c_consumer" | sed -n 's/^[[:space:]]*libpmemstream.so.0 => \([^ ]*\) .*/\1/p')
	[ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$(realpath "$prefix/lib/libpmemstream.so.0")" ] ||
		fail "the C program does not load the installed library but '$loaded'"
	run_ok "C program (pkg-config)" "consumer OK" "$work/c_consumer" /dev/shm/pmemstream_package_$$_c
else
	fail "C program does not build with pkg-config libpmemstream"
fi
if flags=$(pkg-config --cflags --libs libpmemstream++) &&
	"$cxx" -Wall -Wextra -Werror "$consumer/cpp_api.cpp" -o "$work/cpp_consumer" $flags 2>"$work/cxx.log"; then
	run_ok "C++ program (pkg-config)" "cpp consumer OK" "$work/cpp_consumer" /dev/shm/pmemstream_package_$$_cpp
else
	head -n 20 "$work/cxx.log"
	fail "C++ program does not build with pkg-config libpmemstream++"
fi
cmake_args=(-DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release)
[ $mode = system ] || cmake_args+=(-DCMAKE_PREFIX_PATH="$prefix")
if "$cmake" -S "$consumer/c_only" -B "$work/cmake_consumer" "${cmake_args[@]}" >"$work/cmake.log" 2>&1 &&
	"$cmake" --build "$work/cmake_consumer" --target c_only_shared >>"$work/cmake.log" 2>&1; then
	grep -q "pmemstream_DIR:PATH=$prefix/lib/cmake/pmemstream" "$work/cmake_consumer/CMakeCache.txt" ||
		fail "find_package found $(grep pmemstream_DIR "$work/cmake_consumer/CMakeCache.txt")"
	run_ok "C program (find_package)" "consumer OK" "$work/cmake_consumer/c_only_shared" /dev/shm/pmemstream_package_$$_cm
else
	tail -n 20 "$work/cmake.log"
	fail "C program does not build with find_package(pmemstream)"
fi

tool=$prefix/bin/pmemstream
run_ok "pmemstream --version" "format version: $(sed -n 's/^inline constexpr uint64_t version = \([0-9]*\);.*/\1/p' \
	"$src/src/format/format.hpp") (written, and the only one read)" "$tool" --version
run_ok "pmemstream create" "" "$tool" create /dev/shm/pmemstream_package_$$_t --size 1M
run_ok "pmemstream check" "" "$tool" check /dev/shm/pmemstream_package_$$_t --quiet
if command -v man >/dev/null 2>&1; then
	man_dir=$prefix/share/man
	for name in pmemstream pmemstream_entry_iterator_next libpmemstream; do
		if [ -e "$man_dir" ]; then
			MANWIDTH=100 man -M "$man_dir" -P cat "$name" >"$work/man.out" 2>&1 || fail "man $name: $(head -n3 "$work/man.out")"
		fi
	done
	grep -q "pmemstream_stream_reader_new(3)" "$work/man.out" || fail "man libpmemstream does not list the pages"
fi
comp=$prefix/share/bash-completion/completions/pmemstream
got=$(bash -c 'source "$1"; PATH=$2:$PATH; COMP_WORDS=(pmemstream ch); COMP_CWORD=1; _pmemstream; echo "${COMPREPLY[*]}"' \
	completion "$comp" "$prefix/bin" 2>&1)
[ "$got" = check ] || fail "the installed bash completion offers '$got' for 'pmemstream ch'"

# ---- 5. remove ----
if [ $mode = system ]; then
	dpkg_locked --purge "${packages[@]}" >"$work/dpkg.log" || { cat "$work/dpkg.log"; fail "dpkg --purge"; }
	installed_here=0
	for f in /usr/lib/libpmemstream.so.0 /usr/include/libpmemstream.h /usr/bin/pmemstream; do
		[ ! -e "$f" ] || fail "$f is still there after dpkg --purge"
	done
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed" && fail "$p still installed"
	done
fi

[ $failed -eq 0 ] || exit 1
echo "package test passed ($mode)"
