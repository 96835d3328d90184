#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End-to-end tests of the pmemstream tool: runs the built binary the way a user would and
# checks output, exit codes and the one-line error rule.
# Usage: cli_test.sh PATH_TO_PMEMSTREAM_BINARY
set -u

BIN=${1:?usage: cli_test.sh PATH_TO_PMEMSTREAM_BINARY}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$SRC/tests/cli/lib.sh" test

# expect_fail NAME CODE CMD...: exit CODE (no signal, no crash) and exactly one line on stderr.
expect_fail() {
	local name=$1 code=$2
	shift 2
	run "$@"
	local lines
	lines=$(wc -l <"$DIR/err")
	if [ "$RC" -eq "$code" ] && [ "$lines" -eq 1 ] && [[ "$ERR" == "pmemstream: "* ]]; then
		ok
	else
		bad "$name" "expected exit $code and one 'pmemstream: ' line on stderr" "got exit $RC, $lines line(s): $ERR"
	fi
}

F=$DIR/stream

# ---- help and version ----
expect_ok "top-level help" "$BIN" --help
expect_contains "help lists commands" "$OUT" "region add"
expect_contains "help lists exit codes" "$OUT" "exit status"
for c in create info "region add" "region ls" "region rm" append cat dump tail check bench; do
	# shellcheck disable=SC2086
	expect_ok "help of $c" "$BIN" $c --help
	expect_contains "help of $c shows usage" "$OUT" "usage: pmemstream $c"
done
expect_ok "help COMMAND" "$BIN" help region add
expect_contains "help COMMAND shows usage" "$OUT" "usage: pmemstream region add"
expect_ok "version" "$BIN" --version
expect_contains "version text" "$OUT" "pmemstream "
# The library version is the project's, the format version the one the library writes.
project_version=$(sed -n 's/^project(pmemstream VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
format_version=$(sed -n 's/^inline constexpr uint64_t version = \([0-9]*\);.*/\1/p' "$SRC/src/format/format.hpp")
expect_contains "version: the tool's" "$OUT" "pmemstream $project_version"
expect_contains "version: the library's" "$OUT" "library version: $project_version"
expect_contains "version: the format's" "$OUT" "format version: $format_version"
run "$BIN" -V
expect_eq "-V is --version" "$OUT" "$("$BIN" --version)"
expect_fail "--version refuses an extra argument" 1 "$BIN" --version extra
expect_fail "-V refuses an extra argument" 1 "$BIN" -V extra
expect_ok "--help COMMAND" "$BIN" --help tail
expect_contains "--help COMMAND shows the command's usage" "$OUT" "usage: pmemstream tail"
expect_fail "help of an unknown command" 1 "$BIN" help frobnicate
run "$BIN" --help
expect_contains "help states how offsets are printed" "$OUT" "Offsets are printed in hex"
expect_contains "help lists exit status 6" "$OUT" "6 append interrupted"

# ---- create and info ----
expect_ok "create" "$BIN" create "$F" --size 1M
expect_eq "create is silent" "$OUT" ""
expect_ok "info" "$BIN" info "$F"
expect_contains "info size" "$OUT" "1048576"
expect_contains "info block size" "$OUT" "block size:          4096"
expect_contains "info version" "$OUT" "format version:"
expect_fail "create over a stream" 2 "$BIN" create "$F" --size 1M
expect_ok "create with block size" "$BIN" create "$DIR/b8k" --size 2M --block-size 8K
expect_ok "info --json" "$BIN" info "$DIR/b8k" --json
expect_eq "block size honoured" "$(json_field "$OUT" block_size 1)" "8192"
expect_eq "size with suffix" "$(json_field "$OUT" size 1)" "2097152"
expect_eq "no regions yet" "$(json_field "$OUT" regions 1)" "0"

# ---- regions ----
expect_ok "region add" "$BIN" region add "$F" --size 8K
R1=$OUT
[[ "$R1" =~ ^0x[0-9a-f]+$ ]] && ok || bad "region add prints a hex offset" "$R1"
expect_ok "region add (second)" "$BIN" region add "$F" --size 4K
R2=$OUT
expect_ok "region add (third)" "$BIN" region add "$F" --size=4K --json
R3=$(json_field "$OUT" offset 1)
expect_ok "region ls" "$BIN" region ls "$F"
expect_contains "region ls header" "$OUT" "REGION"
expect_contains "region ls first" "$OUT" "$R1"
expect_contains "region ls second" "$OUT" "$R2"
expect_eq "region ls rows" "$(wc -l <<<"$OUT")" "4"
expect_ok "region rm by decimal offset" "$BIN" region rm "$F" "$R3"
expect_ok "region ls --json" "$BIN" region ls "$F" --json
expect_eq "two regions left" "$(grep -o '"offset"' <<<"$OUT" | wc -l)" "2"
expect_eq "first region offset in json" "$(json_field "$OUT" offset 1)" "$((R1))"

# ---- append ----
expect_ok "append args" "$BIN" append "$F" "$R1" hello world
expect_eq "append is quiet" "$OUT" ""
expect_ok "append -v" "$BIN" append "$F" "$R1" -v third
[[ "$OUT" =~ ^0x[0-9a-f]+\ 5\ bytes,\ timestamp\ 3$ ]] && ok || bad "append -v line" "$OUT"
run bash -c "printf 'from stdin' | '$BIN' append '$F' '$R1'"
expect_eq "append stdin exit" "$RC" "0"
run bash -c "printf 'l1\nl2\n\nl4\n' | '$BIN' append '$F' '$R1' --lines --json"
expect_eq "append --lines exit" "$RC" "0"
expect_eq "append --lines makes 4 entries" "$(grep -o '"timestamp"' <<<"$OUT" | wc -l)" "4"
expect_eq "append --json timestamps" "$(json_field "$OUT" timestamp 4)" "8"
expect_ok "append to the second region by decimal offset" "$BIN" append "$F" "$((R2))" other
head -c 3000 /dev/urandom >"$DIR/blob"
run bash -c "'$BIN' append '$F' '$R2' <'$DIR/blob'"
expect_eq "append binary stdin" "$RC" "0"

# ---- cat ----
expect_ok "cat raw" "$BIN" cat "$F" "$R1"
expect_eq "cat raw concatenates" "$OUT" "helloworldthirdfrom stdinl1l2l4"
expect_ok "cat --lines" "$BIN" cat "$F" "$R1" --lines
expect_eq "cat --lines" "$OUT" "$(printf 'hello\nworld\nthird\nfrom stdin\nl1\nl2\n\nl4')"
"$BIN" cat "$F" "$R2" >"$DIR/blob.out" 2>/dev/null
(printf other; cat "$DIR/blob") | cmp -s - "$DIR/blob.out" && ok || bad "cat returns binary payloads byte for byte"
expect_ok "cat --hex" "$BIN" cat "$F" "$R1" --hex
expect_contains "cat --hex bytes" "$OUT" "68 65 6c 6c 6f"
expect_contains "cat --hex ascii" "$OUT" "|hello|"
expect_contains "cat --hex header" "$OUT" "5 bytes, timestamp 1"
expect_ok "cat --json" "$BIN" cat "$F" "$R1" --json
expect_contains "cat --json hex payload" "$OUT" '"hex":"68656c6c6f"'
expect_eq "cat --json entries" "$(grep -o '"offset"' <<<"$OUT" | wc -l)" "8"
expect_eq "cat --json first entry after region header" "$(json_field "$OUT" offset 1)" "$((R1 + 256))"
expect_ok "cat --json --base64" "$BIN" cat "$F" "$R1" --json --base64
expect_contains "cat --json base64 payload" "$OUT" '"base64":"aGVsbG8="'

# ---- dump ----
expect_ok "dump" "$BIN" dump "$F"
expect_contains "dump region line" "$OUT" "region $R1: "
expect_contains "dump second region" "$OUT" "└── region $R2"
expect_contains "dump entry offset" "$OUT" "$(printf '0x%x' $((R1 + 256)))"
expect_contains "dump leading bytes" "$OUT" "68 65 6c 6c 6f"
expect_contains "dump long payload elided" "$OUT" "..."
expect_ok "dump --json" "$BIN" dump "$F" --json
expect_contains "dump --json regions" "$OUT" '"regions":[{"offset":'"$((R1))"
expect_contains "dump --json head" "$OUT" '"head":"68656c6c6f"'

# ---- info after writes ----
expect_ok "info --json after writes" "$BIN" info "$F" --json
expect_eq "info regions" "$(json_field "$OUT" regions 1)" "2"
expect_eq "info entries" "$(json_field "$OUT" entries 1)" "10"
expect_eq "info committed timestamp" "$(json_field "$OUT" committed_timestamp 1)" "10"
expect_eq "info persisted timestamp" "$(json_field "$OUT" persisted_timestamp 1)" "10"
expect_ok "info after writes" "$BIN" info "$F"
expect_contains "info shows the committed watermark" "$OUT" "committed timestamp: 10"
expect_contains "info shows the persisted watermark" "$OUT" "persisted timestamp: 10"

# ---- tail without -f ----
expect_ok "tail" "$BIN" tail "$F" "$R1"
expect_eq "tail prints lines" "$(head -1 <<<"$OUT")" "hello"
expect_ok "tail -n 2" "$BIN" tail -n 2 "$F" "$R1"
expect_eq "tail -n 2 output" "$OUT" "$(printf '\nl4')"
expect_ok "tail --json" "$BIN" tail --json "$F" "$R1"
expect_eq "tail --json is one object per line" "$(wc -l <<<"$OUT")" "8"

# ---- check (clean) ----
expect_ok "check clean" "$BIN" check "$F"
expect_contains "check says clean" "$OUT" "clean"
expect_ok "check --json clean" "$BIN" check "$F" --json
expect_contains "check --json clean" "$OUT" '"clean":true'

# ---- region full and out of space ----
expect_ok "small region" "$BIN" region add "$F" --size 100
RS=$OUT
big=$(head -c 2000 /dev/zero | tr '\0' x)
expect_fail "region full" 4 "$BIN" append "$F" "$RS" "$big" "$big" "$big"
expect_contains "region full says how many were appended" "$ERR" "appended before it"
expect_ok "entries before a full region stay" "$BIN" region ls "$F" --json
expect_fail "stream out of space" 4 "$BIN" region add "$F" --size 2M

# ---- region rm and unknown regions ----
expect_ok "region rm" "$BIN" region rm "$F" "$RS"
expect_fail "cat of a freed region" 5 "$BIN" cat "$F" "$RS"
expect_fail "rm of a freed region" 5 "$BIN" region rm "$F" "$RS"
expect_fail "append to an unknown region" 5 "$BIN" append "$F" 0x12345 x
expect_fail "region that is not an offset" 1 "$BIN" cat "$F" 12abc
expect_fail "negative region" 1 "$BIN" cat "$F" -- -4096

# ---- corruption ----
C=$DIR/corrupt
"$BIN" create "$C" --size 1M
RC1=$("$BIN" region add "$C" --size 8K)
"$BIN" append "$C" "$RC1" first second third
run "$BIN" cat "$C" "$RC1" --json
E2=$(json_field "$OUT" offset 2)
E2HEX=$(printf '0x%x' "$E2")
flip_byte "$C" $((E2 + 16))
expect_fail "check finds a flipped payload byte" 3 "$BIN" check "$C"
expect_contains "check names the entry" "$OUT" "$E2HEX"
expect_contains "check says corrupt" "$OUT" "CORRUPT"
expect_contains "check reports the strict open failure" "$OUT" "strict open: failed"
expect_contains "check error line names the entry" "$ERR" "$E2HEX"
expect_not_contains "check does not tell the user to run check" "$ERR" "pmemstream check"
expect_contains "check counts the damaged region" "$OUT" "0 torn tail(s), 0 trimmed entries, 1 damaged region(s)"
expect_fail "check --json on corruption" 3 "$BIN" check "$C" --json
expect_contains "check --json not clean" "$OUT" '"clean":false'
expect_contains "check --json entry offset" "$OUT" "\"entry\":$E2"
expect_eq "check --json: damage is not a torn tail" "$(json_field "$OUT" torn_tails 1)" "0"
expect_eq "check --json: one damaged region" "$(json_field "$OUT" damaged_regions 1)" "1"
expect_fail "check -q" 3 "$BIN" check -q "$C"
expect_eq "check -q prints nothing" "$OUT" ""
expect_fail "info on a corrupt stream" 3 "$BIN" info "$C"
expect_fail "cat on a corrupt stream" 3 "$BIN" cat "$C" "$RC1"
expect_ok "cat --salvage" "$BIN" cat --salvage "$C" "$RC1" --lines
expect_eq "cat --salvage shows what precedes the damage" "$OUT" "first"
expect_ok "dump --salvage" "$BIN" dump --salvage "$C"
flip_byte "$C" $((E2 + 16))
expect_ok "check after repairing the byte" "$BIN" check "$C"

# A torn tail in one region, damage in another: counted apart.
RC2=$("$BIN" region add "$C" --size 4K)
"$BIN" append "$C" "$RC2" x y
run "$BIN" cat "$C" "$RC2" --json
EY=$(json_field "$OUT" offset 2)
# Stale bytes after the last entry (past its sealed tail) are a torn tail, not damage.
printf '\xab%.0s' $(seq 16) | dd of="$C" bs=1 seek=$((EY + 24)) conv=notrunc status=none
expect_ok "check with a torn tail is clean" "$BIN" check "$C" --json
expect_eq "check --json counts the torn tail" "$(json_field "$OUT" torn_tails 1)" "1"
expect_eq "check --json: a torn tail is no damage" "$(json_field "$OUT" damaged_regions 1)" "0"
flip_byte "$C" $((E2 + 16))
expect_fail "check with a torn tail and damage" 3 "$BIN" check "$C" --json
expect_eq "check --json: one torn tail beside the damage" "$(json_field "$OUT" torn_tails 1)" "1"
expect_eq "check --json: one damaged region beside the torn tail" "$(json_field "$OUT" damaged_regions 1)" "1"
expect_ok "info --salvage with a torn tail and damage" "$BIN" info --salvage --json "$C"
expect_eq "info --salvage: one torn tail" "$(json_field "$OUT" torn_tails 1)" "1"
expect_eq "info --salvage: one damaged region" "$(json_field "$OUT" damaged_regions 1)" "1"
flip_byte "$C" $((E2 + 16))

# Damage that salvage cannot get past: the stream header.
H=$DIR/header
cp "$C" "$H"
flip_byte "$H" 8
expect_fail "check of a damaged header" 3 "$BIN" check "$H"
expect_not_contains "check of a damaged header does not tell the user to run check" "$ERR" "pmemstream check"
expect_contains "check of a damaged header reports" "$OUT" "CORRUPT"
expect_contains "check of a damaged header says salvage failed" "$OUT" "salvage open failed"
expect_fail "check --json of a damaged header" 3 "$BIN" check "$H" --json
expect_contains "check --json of a damaged header" "$OUT" '"clean":false'
expect_fail "info of a damaged header still points to check" 3 "$BIN" info "$H"
expect_contains "info of a damaged header points to check" "$ERR" "run 'pmemstream check"
rm -f "$H"

# ---- a writer killed mid-stream leaves no corruption ----
K=$DIR/killed
"$BIN" create "$K" --size 64M
RK=$("$BIN" region add "$K" --size 48M)
"$BIN" append "$K" "$RK" --lines < <(seq 1 5000000) &
AP=$!
sleep 0.3
kill -KILL "$AP" 2>/dev/null
wait "$AP" 2>/dev/null
expect_ok "check after a killed writer" "$BIN" check "$K"
expect_contains "check after a killed writer is clean" "$OUT" "clean"
expect_ok "append after a killed writer" "$BIN" append "$K" "$RK" after-kill
expect_ok "tail after a killed writer" "$BIN" tail -n 1 "$K" "$RK"
expect_eq "the last entry follows the survivors" "$OUT" "after-kill"
rm -f "$K"

# ---- tail -f against a writer ----
T=$DIR/tail
"$BIN" create "$T" --size 1M
RT=$("$BIN" region add "$T" --size 16K)
"$BIN" append "$T" "$RT" before
"$BIN" tail -f --interval 20 "$T" "$RT" >"$DIR/tail.out" 2>"$DIR/tail.err" &
TP=$!
bg_pids+=("$TP")
wait_for() { # wait_for FILE TEXT: up to 5 s
	for _ in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
wait_for "$DIR/tail.out" before && ok || bad "tail -f prints existing entries" "$(cat "$DIR/tail.out")"
"$BIN" append "$T" "$RT" after-one after-two
printf 'piped-1\npiped-2\n' | "$BIN" append "$T" "$RT" --lines
wait_for "$DIR/tail.out" piped-2 && ok || bad "tail -f sees entries from another process" "$(cat "$DIR/tail.out")"
kill -INT "$TP"
wait "$TP"
expect_eq "tail -f exits 0 on SIGINT" "$?" "0"
expect_eq "tail -f output in order" "$(cat "$DIR/tail.out")" "$(printf 'before\nafter-one\nafter-two\npiped-1\npiped-2')"
expect_eq "tail -f wrote nothing on stderr" "$(cat "$DIR/tail.err")" ""
"$BIN" tail -f --json "$T" "$RT" >"$DIR/tail2.out" 2>/dev/null &
TP=$!
bg_pids+=("$TP")
wait_for "$DIR/tail2.out" '"timestamp":5' && ok || bad "tail -f --json starts with existing entries"
"$BIN" append "$T" "$RT" json-entry
wait_for "$DIR/tail2.out" '"timestamp":6' && ok || bad "tail -f --json sees a new entry" "$(cat "$DIR/tail2.out")"
kill -TERM "$TP"
wait "$TP"
expect_eq "tail -f exits 0 on SIGTERM" "$?" "0"

# tail -f ends (exit 5) when its region is freed, also when another region is allocated at
# the same offset at once (it used to print the new region's entries).
RU="$DIR/reuse"
"$BIN" create "$RU" --size 64K >/dev/null
RU1=$("$BIN" region add "$RU" --size 3840)
"$BIN" region add "$RU" --size 57088 >/dev/null # the rest: a new region can only go at RU1
"$BIN" append "$RU" "$RU1" first >/dev/null
"$BIN" tail -f --interval 20 "$RU" "$RU1" >"$DIR/tailru.out" 2>"$DIR/tailru.err" &
TRU=$!
wait_for "$DIR/tailru.out" first && ok || bad "tail -f prints the region's entry" "$(cat "$DIR/tailru.out")"
"$BIN" region rm "$RU" "$RU1"
RU2=$("$BIN" region add "$RU" --size 3840)
expect_eq "the new region has the freed one's offset" "$RU2" "$RU1"
"$BIN" append "$RU" "$RU2" intruder >/dev/null
for _ in $(seq 100); do kill -0 "$TRU" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$TRU" 2>/dev/null; then
	kill "$TRU"
	bad "tail -f ends when its region is freed and the offset reused" "still running"
else
	wait "$TRU"
	expect_eq "tail -f exits 5 when its region is replaced" "$?" "5"
fi
expect_eq "tail -f printed nothing of the new region" "$(cat "$DIR/tailru.out")" "first"

# tail -f without REGION follows every region merged in timestamp order, regions allocated
# while it runs too (issue 12).
RT2=$("$BIN" region add "$T" --size 16K)
"$BIN" tail -f "$T" >"$DIR/tailall.out" 2>"$DIR/tailall.err" &
TA=$!
bg_pids+=("$TA")
wait_for "$DIR/tailall.out" json-entry && ok || bad "tail -f without REGION prints existing entries" "$(cat "$DIR/tailall.out")"
"$BIN" append "$T" "$RT2" second-region
"$BIN" append "$T" "$RT" first-region
RT3=$("$BIN" region add "$T" --size 16K)
"$BIN" append "$T" "$RT3" third-region
wait_for "$DIR/tailall.out" third-region && ok || bad "tail -f without REGION sees every region" "$(cat "$DIR/tailall.out")"
kill -INT "$TA"
wait "$TA"
expect_eq "tail -f without REGION exits 0 on SIGINT" "$?" "0"
expect_eq "tail -f without REGION: timestamp order" "$(tail -3 "$DIR/tailall.out")" "$(printf 'second-region\nfirst-region\nthird-region')"

# ---- offsets: hex in human output, JSON numbers in --json ----
run "$BIN" region ls "$F" --json
expect_eq "region ls --json offset is the number region add printed in hex" "$(printf '0x%x' "$(json_field "$OUT" offset 1)")" "$R1"
run "$BIN" region ls "$F"
expect_contains "region ls prints the offset in hex" "$OUT" "$R1 "
RO=$("$BIN" region add "$F" --size 4K)
run "$BIN" region add "$F" --size 4K --json
RO2=$(json_field "$OUT" offset 1)
[[ "$RO2" =~ ^[0-9]+$ ]] && ok || bad "region add --json gives the offset as a number" "$OUT"
run "$BIN" append "$F" "$RO" -v hexed
OV=${OUT%% *}
run "$BIN" append "$F" "$RO" --json jsoned
OJ=$(json_field "$OUT" offset 1)
run "$BIN" cat "$F" "$RO" --json
expect_eq "append -v offset in hex" "$OV" "$(printf '0x%x' "$(json_field "$OUT" offset 1)")"
expect_eq "append --json offset as a number" "$OJ" "$(json_field "$OUT" offset 2)"
run "$BIN" cat "$F" "$RO" --hex
expect_contains "cat --hex names the entry in hex" "$OUT" "entry $(printf '0x%x' "$OJ"): 6 bytes"
run "$BIN" dump "$F"
expect_contains "dump names the region in hex" "$OUT" "region $RO: "
expect_contains "dump names the entry in hex" "$OUT" "$(printf '0x%x' "$OJ") "
run "$BIN" dump "$F" --json
expect_contains "dump --json gives the region as a number" "$OUT" "\"offset\":$((RO)),"
run "$BIN" info "$F" --json
AO=$(json_field "$OUT" arena_offset 1)
run "$BIN" info "$F"
expect_contains "info prints the arena offset in hex" "$OUT" "offset $(printf '0x%x' "$AO"),"
grep -q '^## Offsets' "$SRC/docs/cli.md" && ok || bad "docs/cli.md documents how offsets are printed"
grep -q '^Offsets (of regions, entries and the arena) are printed in hexadecimal' "$SRC/tools/pmemstream.1" && ok ||
	bad "pmemstream.1 documents how offsets are printed"
"$BIN" region rm "$F" "$RO"
"$BIN" region rm "$F" "$RO2"

# ---- append --lines appends each line as it arrives ----
A=$DIR/append
"$BIN" create "$A" --size 96M
RA=$("$BIN" region add "$A" --size 80M)
mkfifo "$DIR/lines"
"$BIN" append "$A" "$RA" --lines --json <"$DIR/lines" >"$DIR/append.out" 2>"$DIR/append.err" &
AP=$!
bg_pids+=("$AP")
exec 9>"$DIR/lines"
wait_cat() { # wait_cat FILE REGION LINE: up to 5 s for LINE to be one of the region's entries
	for _ in $(seq 100); do
		"$BIN" cat "$1" "$2" --lines 2>/dev/null | grep -qx -- "$3" && return 0
		sleep 0.05
	done
	return 1
}
echo first-line >&9
wait_cat "$A" "$RA" first-line && ok || bad "a line written to the pipe is visible while append --lines runs"
kill -0 "$AP" 2>/dev/null && ok || bad "append --lines waits for more input"
# While the input pauses the stream is closed, so another writer gets in.
other=busy
for _ in $(seq 40); do
	if "$BIN" append "$A" "$RA" other-writer 2>/dev/null; then other=ok; break; fi
	sleep 0.1
done
expect_eq "another writer can append while append --lines waits for input" "$other" "ok"
echo second-line >&9
wait_cat "$A" "$RA" second-line && ok || bad "append --lines reopens the stream for the next line"
# 50 MB of input in 1000-byte lines: the input is not held in memory.
yes "$(printf '%0999d' 7)" | head -n 50000 >&9
anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$AP/status" 2>/dev/null)
# Under ThreadSanitizer the shadow of the mapped stream file alone grows with every byte
# appended (about 220 MiB here), so the bound says nothing there; the developer build and the
# ASan pass check it.
if ldd "$BIN" 2>/dev/null | grep -q libtsan; then
	echo "note: append --lines memory bound not checked under ThreadSanitizer (shadow memory)"
	anon=""
fi
if [ -n "$anon" ]; then
	# Holding the input would take more than its 50 MB; the bound leaves room for a
	# sanitizer's shadow memory (about 28 MiB under ASan).
	[ "$anon" -lt 40960 ] && ok || bad "append --lines holds under 40 MiB of memory after 50 MB of input" "RssAnon: $anon kB"
fi
# The last lines may still be in the pipe's buffer (64 KiB): let the appender take them all
# (up to 30 s; a loaded machine under a sanitizer is slow), then stop it.
for _ in $(seq 300); do
	[ "$(json_field "$("$BIN" region ls "$A" --json 2>/dev/null)" entries 1)" = 50003 ] && break
	sleep 0.1
done
# SIGTERM while the input goes on: stops cleanly, everything appended so far stays.
kill -TERM "$AP"
wait "$AP"
expect_eq "append --lines exits 6 on SIGTERM" "$?" "6"
exec 9>&-
ours=$(grep -o '"timestamp"' "$DIR/append.out" | wc -l)
expect_eq "append --json listed every line" "$ours" "50002"
expect_eq "append --json is closed after SIGTERM" "$(tail -c 2 "$DIR/append.out")" "]"
expect_eq "one error line after SIGTERM" "$(wc -l <"$DIR/append.err")" "1"
expect_contains "the error line says how many were appended" "$(cat "$DIR/append.err")" "pmemstream: append: $A: stopped by SIGTERM after 50002 entries"
run "$BIN" region ls "$A" --json
expect_eq "the region holds every line appended before SIGTERM" "$(json_field "$OUT" entries 1)" "50003"
expect_ok "check after SIGTERM" "$BIN" check "$A"
expect_contains "check after SIGTERM is clean" "$OUT" "clean"
# A line longer than the read buffer, and a last line without a newline.
RL=$("$BIN" region add "$A" --size 1M)
{ head -c 200000 /dev/zero | tr '\0' L; printf '\nshort\nno-newline'; } >"$DIR/long"
run bash -c "'$BIN' append '$A' '$RL' --lines <'$DIR/long'"
expect_eq "append --lines of a long line" "$RC" "0"
"$BIN" cat "$A" "$RL" --lines | cmp -s - <(cat "$DIR/long"; echo) && ok ||
	bad "a line longer than the read buffer is one entry, a last line without newline another"
run "$BIN" region ls "$A" --json
expect_eq "the long line, a short one and the unterminated one" "$(json_field "$OUT" entries 2)" "3"
rm -f "$A"
# SIGTERM while a fast producer writes: the region holds exactly a prefix of the input.
Q=$DIR/term
"$BIN" create "$Q" --size 64M
RQ=$("$BIN" region add "$Q" --size 48M)
"$BIN" append "$Q" "$RQ" --lines --json < <(seq 1 5000000) >"$DIR/term.out" 2>"$DIR/term.err" &
AP=$!
bg_pids+=("$AP")
for _ in $(seq 100); do
	n=$("$BIN" region ls "$Q" --json 2>/dev/null | grep -o '"entries":[0-9]*' | cut -d: -f2)
	[ "${n:-0}" -gt 1000 ] && break
	sleep 0.05
done
kill -TERM "$AP"
wait "$AP"
expect_eq "append --lines stopped by SIGTERM mid-input exits 6" "$?" "6"
appended=$(grep -o '"timestamp"' "$DIR/term.out" | wc -l)
[ "$appended" -gt 1000 ] && [ "$appended" -lt 5000000 ] && ok || bad "SIGTERM came mid-input" "$appended entries appended"
expect_contains "the error line counts what --json listed" "$(cat "$DIR/term.err")" "after $appended entries"
"$BIN" cat "$Q" "$RQ" --lines >"$DIR/term.lines"
seq 1 "$appended" | cmp -s - "$DIR/term.lines" && ok || bad "the region holds exactly the lines appended before SIGTERM"
expect_ok "check after SIGTERM mid-input" "$BIN" check "$Q"
rm -f "$Q"
# SIGINT between DATA arguments ends the same way; a plain stdin entry that never ends too.
Q2=$DIR/term2
"$BIN" create "$Q2" --size 1M
RQ2=$("$BIN" region add "$Q2" --size 64K)
"$BIN" append "$Q2" "$RQ2" < <(sleep 30) 2>"$DIR/term2.err" &
AP=$!
bg_pids+=("$AP")
sleep 0.3
kill -INT "$AP"
wait "$AP"
expect_eq "append of unending stdin exits 6 on SIGINT" "$?" "6"
expect_contains "SIGINT is named" "$(cat "$DIR/term2.err")" "stopped by SIGINT after 0 entries"
run "$BIN" region ls "$Q2" --json
expect_eq "nothing appended from unfinished stdin" "$(json_field "$OUT" entries 1)" "0"
rm -f "$Q2"

# ---- a file truncated under a reader: an error, not SIGBUS ----
S=$DIR/shrink
"$BIN" create "$DIR/shrink.orig" --size 8M
RSH=$("$BIN" region add "$DIR/shrink.orig" --size 6M)
seq -f '%0999g' 1 5000 | "$BIN" append "$DIR/shrink.orig" "$RSH" --lines
mkfifo "$DIR/slow"
# truncated_under CMD...: runs CMD with its output into a pipe nobody reads yet, so that it stops
# early with the file mapped, cuts the file to half, then drains the pipe. Sets RC, ERR, OUTSIZE.
truncated_under() {
	cp "$DIR/shrink.orig" "$S"
	"$@" >"$DIR/slow" 2>"$DIR/err" &
	local p=$!
	exec 8<"$DIR/slow"
	head -c 1 <&8 >/dev/null
	sleep 0.2
	truncate -s 4M "$S"
	OUTSIZE=$(cat <&8 | wc -c)
	exec 8<&-
	wait "$p"
	RC=$?
	ERR=$(cat "$DIR/err")
}
expect_shrank() { # NAME: RC and ERR of a reader that met a truncated file
	if [ "$RC" -eq 2 ] && [ "$(wc -l <"$DIR/err")" -eq 1 ] && [[ "$ERR" == "pmemstream: $S: the file shrank"* ]]; then
		ok
	else
		bad "$1" "expected exit 2 and one 'the file shrank' line" "got exit $RC: $ERR"
	fi
}
truncated_under "$BIN" cat "$S" "$RSH" --lines
expect_shrank "cat of a file truncated under it"
[ $(((OUTSIZE + 1) % 1000)) -eq 0 ] && ok || bad "cat printed whole entries before the truncation" "$((OUTSIZE + 1)) bytes"
truncated_under "$BIN" cat "$S" "$RSH" --hex
expect_shrank "cat --hex of a file truncated under it"
truncated_under "$BIN" dump "$S" --bytes 64
expect_shrank "dump of a file truncated under it"
truncated_under "$BIN" tail "$S" "$RSH"
expect_shrank "tail of a file truncated under it"
truncated_under "$BIN" tail -f "$S" "$RSH"
expect_shrank "tail -f of a file truncated under it while it prints"
cp "$DIR/shrink.orig" "$S"
"$BIN" tail -f --interval 20 "$S" "$RSH" >/dev/null 2>"$DIR/err" &
TP=$!
bg_pids+=("$TP")
sleep 0.5
truncate -s 4M "$S"
for _ in $(seq 100); do
	kill -0 "$TP" 2>/dev/null || break
	sleep 0.05
done
if kill -0 "$TP" 2>/dev/null; then
	kill -KILL "$TP"
	bad "tail -f ends when the file is truncated to half" "still running after 5 s: $(head -3 "$DIR/err")"
	wait "$TP" 2>/dev/null
else
	wait "$TP"
	RC=$?
	ERR=$(cat "$DIR/err")
	expect_shrank "tail -f of a file truncated to half while it polls"
fi
rm -f "$S" "$DIR/shrink.orig"

# ---- the man page and docs/cli.md list every option of every command ----
MAN=$SRC/tools/pmemstream.1
DOC=$SRC/docs/cli.md
deroff() { sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g'; }
man_section() { # CMD: the man page's .SS section of CMD, fonts stripped
	awk -v c="$1" '/^\.S[SH] / { n = $0; sub(/^\.S[SH] /, "", n); gsub(/"/, "", n); on = ($1 == ".SS" && n == c); next } on' "$MAN" | deroff
}
doc_section() { # CMD: the docs/cli.md section whose synopsis starts "pmemstream CMD "
	awk -v c="pmemstream $1 " '
		/^#/ { if (found) { printf "%s", s; done = 1; exit } s = "" }
		{ s = s $0 "\n" }
		index($0, c) == 1 { found = 1 }
		END { if (found && !done) printf "%s", s }' "$DOC"
}
tokens() { tr '[]|' '   ' | tr -s ' ' | sed 's/^/ /; s/$/ /'; }
run "$BIN" --help
commands=$(sed -n '/^commands:/,/^$/p' <<<"$OUT" | awk 'NR > 1 && NF { n = ""; for (i = 1; i <= NF && $i ~ /^[a-z]+$/; i++) n = n (n == "" ? "" : " ") $i; print n }')
expect_eq "the help lists every command" "$(wc -l <<<"$commands")" "13" # 11 + region clear, truncate (issue 14)
while read -r c; do
	# shellcheck disable=SC2086
	help=$("$BIN" $c --help)
	args=$(head -1 <<<"$help" | sed -e "s/^usage: pmemstream $c //" -e 's/ \[OPTIONS\]$//')
	opts=$(sed -n '/^options:/,$p' <<<"$help" | grep -E '^  (-., |    )--' | grep -v -- '--help ')
	longs=$(sed -nE 's/^  (-., |    )--([a-z0-9-]+).*/--\2/p' <<<"$opts")
	for doc in man docs; do
		if [ $doc = man ]; then
			sect=$(man_section "$c")
			syn=$(grep -m1 -v '^\.' <<<"$sect")
		else
			sect=$(doc_section "$c")
			syn=$(grep -m1 "^pmemstream $c " <<<"$sect")
		fi
		[[ "$syn" == "pmemstream $c $args"* ]] && ok || bad "$doc synopsis of '$c' starts like its --help usage" "usage: $c $args" "synopsis: $syn"
		st=$(tokens <<<"$syn")
		while read -r line; do
			[ -n "$line" ] || continue
			long=$(sed -nE 's/^ *(-., )?(--[a-z0-9-]+).*/\2/p' <<<"$line")
			value=$(sed -nE 's/^ *(-., )?--[a-z0-9-]+ ([A-Z]+) .*/\2/p' <<<"$line")
			short=$(sed -nE 's/^ *-(.), .*/\1/p' <<<"$line")
			want="$long${value:+ $value}"
			[[ "$st" == *" $want "* ]] && ok || bad "$doc synopsis of '$c' lists $want" "synopsis: $syn"
			if [ -n "$short" ]; then
				grep -qE -- "(^|[^[:alnum:]-])-$short([^[:alnum:]-]|\$)" <<<"$sect" && ok ||
					bad "$doc section of '$c' names the short option -$short"
			fi
		done <<<"$opts"
		for o in $(grep -oE -- '--[a-z0-9-]+' <<<"$syn"); do
			grep -qx -- "$o" <<<"$longs" && ok || bad "$doc synopsis of '$c' lists $o, which --help does not"
		done
	done
done <<<"$commands"

# ---- bench ----
expect_ok "bench" "$BIN" bench "$DIR/bench" --count 300 --size 64,1K
expect_contains "bench table" "$OUT" "appends/s"
expect_eq "bench rows" "$(grep -cE '^ +[0-9]+ +300 ' <<<"$OUT")" "2"
expect_contains "bench names the persistence path" "$OUT" "persistence:  "
expect_contains "bench shows PMEM2_FORCE_GRANULARITY" "$OUT" "granularity:  PMEM2_FORCE_GRANULARITY=CACHE_LINE"
expect_contains "bench says what the forced granularity means" "$OUT" "cache-line granularity, forced by PMEM2_FORCE_GRANULARITY"
expect_contains "bench names the file system" "$OUT" "file system:  "
expect_contains "bench names the CPU" "$OUT" "cpu:  "
[ ! -e "$DIR/bench" ] && ok || bad "bench removes the file it created"
expect_ok "bench --json on an existing stream" "$BIN" bench "$F" --count 100 --size 16 --json
expect_contains "bench --json" "$OUT" '"entry_size":16'
expect_contains "bench --json granularity" "$OUT" '"force_granularity":"CACHE_LINE"'
expect_contains "bench --json file system" "$OUT" '"file_system":"'
expect_contains "bench --json CPU" "$OUT" '"cpu":"'
expect_contains "bench --json results" "$OUT" '"results":[{'
run env -u PMEM2_FORCE_GRANULARITY "$BIN" bench "$DIR/bench" --count 10 --size 16 --json
expect_contains "bench --json without PMEM2_FORCE_GRANULARITY" "$OUT" '"force_granularity":null'
if [ "$(stat -f -c %T "$DIR")" = tmpfs ]; then
	expect_contains "bench on tmpfs without a forced granularity measures msync" "$OUT" '"persistence":"msync per append'
fi
expect_contains "bench names the mode" "$OUT" '"mode":"sync","wait_every":null'
expect_contains "bench --json has the submit-to-persisted percentiles" "$OUT" '"persist_latency_p99_us":'
expect_ok "bench --async" "$BIN" bench "$DIR/bench" --async --count 300 --size 64,1K
expect_eq "bench --async rows" "$(grep -cE '^ +[0-9]+ +300 ' <<<"$OUT")" "2"
expect_contains "bench --async names the mode" "$OUT" "mode:         async (async_append, wait_persisted every 32 entries)"
expect_contains "bench --async: a fence per wait" "$OUT" "a fence per wait (cache-line granularity"
expect_contains "bench --async table has p50 and p99" "$OUT" "p50 us    p99 us"
expect_ok "bench --async --wait-every 0 --json" "$BIN" bench "$F" --async --wait-every 0 --count 100 --size 16 --json
expect_contains "bench --async --wait-every 0 --json mode" "$OUT" '"mode":"async","wait_every":0'
expect_contains "bench --async --json results" "$OUT" '"persist_latency_p50_us":'
expect_ok "bench --async --wait-every 7 on an existing stream" "$BIN" bench "$F" --async --wait-every 7 --count 50 --size 16
expect_contains "bench --wait-every N" "$OUT" "wait_persisted every 7 entries"
expect_fail "bench --wait-every without --async" 1 "$BIN" bench "$F" --wait-every 4
expect_fail "bench --wait-every that is not a number" 1 "$BIN" bench "$F" --async --wait-every x
expect_ok "bench leaves an existing stream's regions alone" "$BIN" region ls "$F" --json
expect_eq "bench freed its regions" "$(grep -o '"offset"' <<<"$OUT" | wc -l)" "2"

# ---- bad input ----
head -c 65536 /dev/urandom >"$DIR/junk"
head -c 65536 /dev/zero >"$DIR/zero"
expect_fail "no command" 1 "$BIN"
expect_fail "unknown command" 1 "$BIN" frobnicate
expect_fail "region without subcommand" 1 "$BIN" region
expect_fail "unknown region subcommand" 1 "$BIN" region frob "$F"
expect_fail "unknown option" 1 "$BIN" info "$F" --bogus
expect_fail "unknown short option" 1 "$BIN" info "$F" -z
expect_fail "flag given a value" 1 "$BIN" info "$F" --json=yes
expect_fail "option missing its value" 1 "$BIN" create "$DIR/x" --size
expect_fail "missing FILE" 1 "$BIN" info
expect_fail "extra argument" 1 "$BIN" info "$F" extra
expect_fail "create without --size" 1 "$BIN" create "$DIR/x"
expect_fail "size that does not parse" 1 "$BIN" create "$DIR/x" --size 12Q
expect_fail "negative size" 1 "$BIN" create "$DIR/x" --size -1M
expect_fail "size that overflows" 1 "$BIN" create "$DIR/x" --size 99999999999T
expect_fail "size too small for a stream" 1 "$BIN" create "$DIR/x" --size 100
expect_fail "block size not a power of two" 1 "$BIN" create "$DIR/x" --size 1M --block-size 1000
# Block size 2^63 used to crash creation and leave a file every later command crashed on.
expect_fail "block size 2^63" 1 "$BIN" create "$DIR/bs63" --size 4M --block-size 9223372036854775808
expect_eq "block size 2^63 leaves no file" "$([ -e "$DIR/bs63" ] && echo left || echo none)" "none"
expect_fail "block size above 1 GiB" 1 "$BIN" create "$DIR/bs63" --size 4M --block-size 2G
expect_ok "create after the refused block sizes" "$BIN" create "$DIR/bs63" --size 4M
expect_fail "region add without --size" 1 "$BIN" region add "$F"
expect_fail "region add size that does not parse" 1 "$BIN" region add "$F" --size lots
expect_fail "missing file" 2 "$BIN" info "$DIR/missing"
expect_fail "directory" 2 "$BIN" info "$DIR"
expect_fail "not a stream" 2 "$BIN" info "$DIR/junk"
expect_fail "all-zero file" 2 "$BIN" info "$DIR/zero"
expect_fail "check of a missing file" 2 "$BIN" check "$DIR/missing"
expect_fail "check of a non-stream" 2 "$BIN" check "$DIR/junk"
expect_fail "append to a non-stream" 2 "$BIN" append "$DIR/junk" 0x1000 x
expect_fail "dump of a non-stream" 2 "$BIN" dump "$DIR/junk"
expect_fail "tail -f of a missing file" 2 "$BIN" tail -f "$DIR/missing" 0x1000
expect_fail "tail of an unknown region" 5 "$BIN" tail "$F" 0x7000000
expect_fail "--lines with DATA" 1 "$BIN" append "$F" "$R1" --lines x
expect_fail "two output formats" 1 "$BIN" cat "$F" "$R1" --hex --json
expect_fail "--base64 without --json" 1 "$BIN" cat "$F" "$R1" --base64
expect_fail "tail interval 0" 1 "$BIN" tail -f --interval 0 "$F" "$R1"
expect_fail "bench --count 0" 1 "$BIN" bench "$DIR/x" --count 0
expect_fail "bench on a non-stream" 2 "$BIN" bench "$DIR/junk" --count 10
if [ -w /dev/full ]; then
	run bash -c "'$BIN' cat '$F' '$R1' --json >/dev/full"
	expect_eq "write error exit code" "$RC" "2"
	expect_contains "write error message" "$ERR" "pmemstream: writing to standard output"
fi
[ ! -e "$DIR/x" ] && ok || bad "failed commands leave no file behind"

# ---- bash completion (tools/pmemstream.bash-completion, installed with the tool) ----
# complete WORD...: the completions bash would offer for the last word.
complete_words() {
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _pmemstream
		printf "%s\n" "${COMPREPLY[@]}"' completion "$SRC/tools/pmemstream.bash-completion" "$@" 2>&1
}
OUT=$(complete_words "$BIN" "")
for c in create info region append cat dump tail check bench help --version; do
	expect_contains "completion offers $c" "$OUT" "$c"
done
for c in $("$BIN" --help | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p'); do
	grep -qx "$c" <<<"$OUT" && ok || bad "completion misses the command $c of --help"
done
expect_eq "completion of a prefix" "$(complete_words "$BIN" ch)" "check"
expect_eq "completion of region" "$(complete_words "$BIN" region "" | tr '\n' ' ')" "add ls rm clear --help "
OUT=$(complete_words "$BIN" append "$F" "$R1" --)
expect_contains "completion offers append's options" "$OUT" "--lines"
expect_contains "completion offers --help" "$OUT" "--help"
OUT=$(complete_words "$BIN" cat "$F" "")
expect_contains "completion offers the regions of FILE" "$OUT" "$(printf '0x%x' "$R1")"
expect_eq "no completion for an option's value" "$(complete_words "$BIN" create "$F" --size "")" ""
expect_contains "completion offers files for FILE" "$(complete_words "$BIN" info "$DIR/")" "$F"

finish cli_test
