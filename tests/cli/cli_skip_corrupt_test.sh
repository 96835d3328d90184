#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# --skip-corrupt (skip-corrupt salvage, docs/format.md 8.7): cat, dump and check show the
# entries behind a damaged one and report the range skipped; --salvage stops at the damage.
# Usage: cli_skip_corrupt_test.sh PATH_TO_PMEMSTREAM_BINARY
set -u

BIN=${1:?usage: cli_skip_corrupt_test.sh PATH_TO_PMEMSTREAM_BINARY}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" skip

# Every command reads /dev/null: a prompt must never wait for a terminal.
run() {
	"$@" >"$DIR/out" 2>"$DIR/err" </dev/null
	RC=$?
	OUT=$(cat "$DIR/out")
	ERR=$(cat "$DIR/err")
}
expect() { # NAME RC EXPECTED_STDOUT CMD...
	local name=$1 code=$2 want=$3
	shift 3
	run "$@"
	[ "$RC" -eq "$code" ] && ok || bad "$name: exit" "expected $code, got $RC" "stderr: $ERR"
	[ "$OUT" == "$want" ] && ok || bad "$name: output" "expected: $want" "actual: $OUT"
}

F=$DIR/s
"$BIN" create "$F" --size 1M || exit 1
R=$("$BIN" region add "$F" --size 8K) || exit 1
run "$BIN" append -v "$F" "$R" aaaa bbbb cccc dddd eeee
third=$(sed -n '3s/ .*//p' <<<"$OUT") # offset of cccc
[ -n "$third" ] || { echo "FAIL: append -v printed no offsets" >&2; exit 1; }
# One payload byte of cccc (after its 16-byte header).
printf 'X' | dd of="$F" bs=1 seek=$((third + 16)) conv=notrunc 2>/dev/null

run "$BIN" cat --lines "$F" "$R"
[ "$RC" -eq 3 ] && ok || bad "strict cat refuses the damaged stream" "exit $RC"
expect "salvage stops at the damage" 0 $'aaaa\nbbbb' "$BIN" cat --lines --salvage "$F" "$R"
expect "skip-corrupt shows the entries behind it" 0 $'aaaa\nbbbb\ndddd\neeee' "$BIN" cat --lines --skip-corrupt "$F" "$R"
run "$BIN" cat --salvage --skip-corrupt "$F" "$R"
[ "$RC" -eq 1 ] && ok || bad "--salvage with --skip-corrupt is a usage error" "exit $RC"
run "$BIN" dump --skip-corrupt "$F"
[ "$RC" -eq 0 ] && ok || bad "dump --skip-corrupt" "exit $RC" "$ERR"
expect_contains "dump --skip-corrupt counts the entries behind the damage" "$OUT" "4 entries"
run "$BIN" check --skip-corrupt "$F"
[ "$RC" -eq 3 ] && ok || bad "check --skip-corrupt still says corrupt" "exit $RC"
expect_contains "check --skip-corrupt walks every readable entry" "$OUT" "4 entries"
expect_contains "check --skip-corrupt reports the range" "$OUT" "skipped 24 damaged bytes at $(printf '0x%x' "$third")"

finish cli_skip_corrupt
