#!/usr/bin/env bash
# The manual pages against include/libpmemstream.h: every public function has a page (its own
# or a .so alias that man follows), every page renders without a groff warning, and every
# page's EXAMPLE builds against the header and runs against the built library.
# usage: man_test.sh <source dir> <C compiler> <libpmemstream.so>
set -euo pipefail
src=$1
cc=$2
lib=$3
work=$(mktemp -d /tmp/pmemstream_man_XXXXXX)
trap 'rm -rf "$work" /dev/shm/pmemstream_man_$$_*' EXIT
header=$src/include/libpmemstream.h
gen=(python3 "$src/scripts/gen-man.py" --header "$header" --src "$src/docs/man")
failed=0
fail() {
	echo "FAIL: $*"
	failed=1
}

# 1. Coverage, as the generator judges it (sections of the header listed by pages).
"${gen[@]}" --check || fail "gen-man.py --check"

# 2. Generate, and look every function up as a reader would.
"${gen[@]}" --out "$work/man" --guide "$src/docs/c_api.md" --version test >/dev/null || {
	echo "FAIL: gen-man.py does not generate"
	exit 1
}
mapfile -t functions < <("${gen[@]}" --list)
[ ${#functions[@]} -gt 0 ] || fail "no function found in $header"
have_man=0
command -v man >/dev/null 2>&1 && have_man=1
for f in "${functions[@]}"; do
	page=$work/man/man3/$f.3
	if [ ! -f "$page" ]; then
		fail "$f: no man3/$f.3"
		continue
	fi
	# An alias is one .so line naming an existing page.
	if head -n1 "$page" | grep -q '^\.so '; then
		target=$work/man/$(sed -n '1s/^\.so //p' "$page")
		[ -f "$target" ] || fail "$f: alias to missing $target"
		page=$target
	fi
	grep -q "^\\.SH NAME" "$page" || fail "$f: $page has no NAME"
	# The function is on its page: in NAME and SYNOPSIS (as written, with \- for -).
	grep -q "$f" "$page" || fail "$f: not mentioned on $(basename "$page")"
done
if [ $have_man -eq 1 ]; then
	# man follows the alias: one rendering per page is enough to prove .so works.
	out=$(MANWIDTH=120 man -M "$work/man" -P cat pmemstream_entry_iterator_next 2>&1) ||
		fail "man pmemstream_entry_iterator_next: $out"
	grep -q "PMEMSTREAM_ENTRY_ITERATOR_NEW(3)" <<<"$out" || fail "man pmemstream_entry_iterator_next does not show pmemstream_entry_iterator_new(3)"
	grep -q "pmemstream_entry_iterator_next()" <<<"$out" || fail "man pmemstream_entry_iterator_next does not describe it"
else
	echo "man not installed: skipping the man lookups"
fi

# 3. Every page has the sections of a PMDK page and renders without warnings (groff-base).
command -v groff >/dev/null 2>&1 || echo "groff not installed: skipping the rendering check"
for page in "$work"/man/man3/*.3 "$work"/man/man7/*.7; do
	head -n1 "$page" | grep -q '^\.so ' && continue
	for s in NAME SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS EXAMPLE "SEE ALSO"; do
		case $page in *.7) [ "$s" = SYNOPSIS ] || [ "$s" = DESCRIPTION ] || [ "$s" = ERRORS ] || [ "$s" = NAME ] || continue ;; esac
		grep -q "^\\.SH $s\$" "$page" || grep -q "^\\.SH \"$s\"\$" "$page" || fail "$(basename "$page"): no $s section"
	done
	command -v groff >/dev/null 2>&1 || continue
	warnings=$(cd "$work/man" && groff -t -man -Tutf8 -ww -z "$page" 2>&1) || true
	[ -z "$warnings" ] || fail "$(basename "$page") renders with warnings: $warnings"
done

# 4. The examples build (C99, warnings as errors) and run.
"${gen[@]}" --examples "$work/examples"
libdir=$(dirname "$lib")
n=0
for ex in "$work"/examples/*.c; do
	name=$(basename "$ex" .c)
	n=$((n + 1))
	if ! "$cc" -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I "$src/include" "$ex" -o "$work/$name" \
		-L "$libdir" -lpmemstream 2>"$work/$name.log"; then
		head -n 20 "$work/$name.log"
		fail "the EXAMPLE of $name(3) does not build"
		continue
	fi
	if ! out=$(LD_LIBRARY_PATH=$libdir PMEM2_FORCE_GRANULARITY=CACHE_LINE "$work/$name" /dev/shm/pmemstream_man_$$_$name 2>&1); then
		echo "$out"
		fail "the EXAMPLE of $name(3) fails"
	fi
	rm -f /dev/shm/pmemstream_man_$$_$name
done
[ $n -gt 0 ] || fail "no EXAMPLE found"

[ $failed -eq 0 ] || exit 1
echo "man pages test passed: ${#functions[@]} functions, $n examples"
