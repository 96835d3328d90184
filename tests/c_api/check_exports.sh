#!/usr/bin/env bash
# Checks the dynamic symbol table of libpmemstream.so: every function declared in
# libpmemstream.h is exported, no other C symbol is, every PMEMSTREAM_SPECIFIC_ERRORS mapping
# names two exported functions, and the C++ symbols are the public API only (no
# pmemstream::detail, stream::impl, anonymous namespaces or standard library code).
# usage: check_exports.sh <libpmemstream.so> <libpmemstream.h>
set -euo pipefail
lib=$1
header=$2
failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# "address type name@@VERSION" -> "name"; names of C++ symbols contain spaces.
exported=$(nm -DC --defined-only "$lib" | cut -d' ' -f3- | sed 's/@@*[A-Z_0-9.]*$//' | sort -u)
[ -n "$exported" ] || { echo "FAIL: no symbols in $lib"; exit 1; }
declared=$(grep -oE '\bpmemstream_[a-z0-9_]+ *\(' "$header" | tr -d ' (' | sort -u)
[ "$(echo "$declared" | wc -l)" -ge 30 ] || fail "found only $(echo "$declared" | wc -l) functions in $header"

for f in $declared; do
	grep -qx "$f" <<<"$exported" || fail "$f is declared in libpmemstream.h but not exported"
done

n_c=0
n_cpp=0
while IFS= read -r sym; do
	case "$sym" in
	LIBPMEMSTREAM_*) ;; # the version node
	pmemstream_*)
		n_c=$((n_c + 1))
		grep -qx "$sym" <<<"$declared" || fail "C symbol $sym is exported but not declared in the header"
		;;
	*pmemstream::detail::* | *"(anonymous namespace)"* | *pmemstream::stream::impl*)
		case "$sym" in
		# The public constructor takes the impl pointer type as a parameter; that is fine.
		"pmemstream::stream::stream(std::unique_ptr<pmemstream::stream::impl"*) n_cpp=$((n_cpp + 1)) ;;
		# So does the transaction's (issue 13), with its state.
		"pmemstream::transaction::transaction(std::unique_ptr<pmemstream::detail::tx_state"*) n_cpp=$((n_cpp + 1)) ;;
		*) fail "internal symbol exported: $sym" ;;
		esac
		;;
	pmemstream::stream::* | pmemstream::region_iterator::* | pmemstream::entry_iterator::* | \
		pmemstream::stream_reader::* | "pmemstream::error_category()" | "pmemstream::errc_name("* | \
		pmemstream::transaction::*) # transaction: issue 13
		n_cpp=$((n_cpp + 1))
		;;
	*) fail "unexpected symbol exported: $sym" ;;
	esac
done <<<"$exported"

# PMEMSTREAM_SPECIFIC_ERRORS maps each drop-in name to its _errc variant: both ends exported,
# and every declared variant mapped.
mappings=$(grep -E '^#define pmemstream_[a-z0-9_]+ pmemstream_[a-z0-9_]+$' "$header" | awk '{print $2, $3}')
[ "$(echo "$mappings" | wc -l)" -ge 18 ] || fail "found only $(echo "$mappings" | wc -l) PMEMSTREAM_SPECIFIC_ERRORS mappings"
while read -r from to; do
	[ "$to" = "${from}_errc" ] || fail "PMEMSTREAM_SPECIFIC_ERRORS maps $from to $to, not ${from}_errc"
	grep -qx "$from" <<<"$exported" || fail "$from is mapped but not exported"
	grep -qx "$to" <<<"$exported" || fail "$to is mapped to but not exported"
done <<<"$mappings"
for v in $(grep -E '_errc$' <<<"$declared"); do
	grep -qx "${v%_errc} $v" <<<"$mappings" || fail "$v is declared but ${v%_errc} is not mapped to it"
done

for needed in "pmemstream::stream::open(" "pmemstream::stream::append(" "pmemstream::error_category()"; do
	grep -qF "$needed" <<<"$exported" || fail "C++ API symbol $needed is not exported"
done

echo "$n_c C symbols, $n_cpp C++ symbols exported; $failures failures"
[ "$failures" -eq 0 ]
