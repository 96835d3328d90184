#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The truncation commands of the pmemstream tool (issue 14): region clear, truncate --before,
# --before-timestamp and --after, their output, exit codes and what check says after them.
# Usage: cli_truncate_test.sh PATH_TO_PMEMSTREAM_BINARY
set -u
BIN=${1:?usage: cli_truncate_test.sh PATH_TO_PMEMSTREAM_BINARY}
export PMEM2_FORCE_GRANULARITY=${PMEM2_FORCE_GRANULARITY:-CACHE_LINE}
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
DIR=$(mktemp -d "$base/pmemstream-cli-truncate.$$.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
passed=0
failed=0
check() { # NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then passed=$((passed + 1)); else
		failed=$((failed + 1))
		printf 'FAIL: %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3" >&2
	fi
}
F=$DIR/s
"$BIN" create "$F" --size 1M >/dev/null
A=$("$BIN" region add "$F" --size 4000)
B=$("$BIN" region add "$F" --size 4000)
offs=()
for x in a b c d e f; do
	offs+=("$("$BIN" append "$F" "$A" "$x" -v | cut -d' ' -f1)")
	"$BIN" append "$F" "$B" "B$x"
done
check "truncate --before" "2 entries removed" "$("$BIN" truncate "$F" "$A" --before "${offs[2]}" -v)"
check "after --before" "c d e f" "$("$BIN" cat "$F" "$A" --lines | tr '\n' ' ' | sed 's/ $//')"
check "truncate --after --json" '{"dropped":2}' "$("$BIN" truncate "$F" "$A" --after "${offs[3]}" --json)"
check "after --after" "c d" "$("$BIN" cat "$F" "$A" --lines | tr '\n' ' ' | sed 's/ $//')"
"$BIN" append "$F" "$A" g
check "append after --after" "c d g" "$("$BIN" cat "$F" "$A" --lines | tr '\n' ' ' | sed 's/ $//')"
check "truncate --before-timestamp" "1 entry removed" "$("$BIN" truncate "$F" "$A" --before-timestamp 6 -v)"
check "other region untouched" "6" "$("$BIN" cat "$F" "$B" --lines | wc -l)"
"$BIN" truncate "$F" "$A" --after "$((${offs[3]} + 8))" 2>/dev/null
check "not an entry exits 5" "5" "$?"
"$BIN" truncate "$F" "$A" 2>/dev/null
check "no option exits 1" "1" "$?"
"$BIN" truncate "$F" "$A" --before "${offs[3]}" --after "${offs[3]}" 2>/dev/null
check "two options exit 1" "1" "$?"
check "region clear" "2 entries removed" "$("$BIN" region clear "$F" "$A" -v)"
check "cleared region is empty" "0" "$("$BIN" cat "$F" "$A" --lines | wc -l)"
check "cleared region keeps its place" "$A $B" "$("$BIN" region ls "$F" --json | grep -oE '"offset":[0-9]+' | cut -d: -f2 |
	while read -r o; do printf '0x%x\n' "$o"; done | tr '\n' ' ' | sed 's/ $//')"
"$BIN" region clear "$F" 0x999000 2>/dev/null
check "clear of no region exits 5" "5" "$?"
"$BIN" check "$F" -q
check "check is clean after truncations" "0" "$?"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
