#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# pmemstream check --repair (point-in-time repair, docs/format.md 8.6): what it lists, that it
# asks, that --yes repairs, and that the repaired stream checks clean and takes appends.
# Usage: cli_repair_test.sh PATH_TO_PMEMSTREAM_BINARY
set -u

BIN=${1:?usage: cli_repair_test.sh PATH_TO_PMEMSTREAM_BINARY}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" repair

# Every command reads /dev/null: a prompt must never wait for a terminal.
run() {
	"$@" >"$DIR/out" 2>"$DIR/err" </dev/null
	RC=$?
	OUT=$(cat "$DIR/out")
	ERR=$(cat "$DIR/err")
}
expect_rc() {
	local name=$1 code=$2
	shift 2
	run "$@"
	if [ "$RC" -eq "$code" ]; then ok; else bad "$name" "expected exit $code, got $RC" "stdout: $OUT" "stderr: $ERR"; fi
}

F=$DIR/stream
"$BIN" create "$F" --size 1M
RA=$("$BIN" region add "$F" --size 8K)
RB=$("$BIN" region add "$F" --size 8K)
"$BIN" append "$F" "$RA" a1     # timestamp 1
"$BIN" append "$F" "$RB" b2     # 2
"$BIN" append "$F" "$RA" a3 a4  # 3 4
"$BIN" append "$F" "$RB" b5     # 5
run "$BIN" cat "$F" "$RA" --json
E3=$(json_field "$OUT" offset 2) # a3, timestamp 3
E3HEX=$(printf '0x%x' "$E3")

expect_rc "repair of a clean stream" 0 "$BIN" check --repair "$F"
expect_contains "nothing to repair" "$OUT" "nothing to repair"

flip_byte "$F" $((E3 + 16))
cp "$F" "$DIR/before"
expect_rc "check finds the damage" 3 "$BIN" check "$F"
expect_rc "repair without a terminal and without --yes refuses" 1 "$BIN" check --repair "$F"
expect_contains "it says how to confirm" "$ERR" "--yes"
expect_contains "the dry run lists the cut" "$OUT" "would drop every entry above timestamp 2"
expect_contains "the dry run names the damaged entry" "$OUT" "from $E3HEX, cut at damage"
if cmp -s "$F" "$DIR/before"; then ok; else bad "the refused repair wrote nothing"; fi

expect_rc "repair --yes" 0 "$BIN" check --repair --yes "$F"
expect_contains "repair reports the drop" "$OUT" "dropped every entry above timestamp 2: 2 entries dropped, 2 kept"
expect_contains "region a loses a4 (behind the damage)" "$OUT" "drops 1 entry (timestamps 4..4) from $E3HEX"
expect_contains "region b loses b5" "$OUT" "drops 1 entry (timestamps 5..5)"
expect_contains "repair verifies" "$OUT" "repaired; a strict open now succeeds"
expect_rc "check after the repair" 0 "$BIN" check "$F"
expect_rc "append after the repair" 0 "$BIN" append "$F" "$RA" a-new
run "$BIN" cat "$F" "$RA"
expect_contains "kept and new entries" "$OUT" "a1"
expect_contains "new entry" "$OUT" "a-new"
if [[ "$OUT" == *a3* || "$OUT" == *a4* ]]; then bad "dropped entries are gone" "$OUT"; else ok; fi
expect_rc "check after appending" 0 "$BIN" check "$F"

finish cli_repair
