# SPDX-License-Identifier: BSD-3-Clause
# What the tool's test scripts share, sourced after BIN is set:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh" NAME
# A scratch folder DIR (in /dev/shm when it is writable) removed at exit with any pids left
# in bg_pids, cache-line persistence unless the caller chose otherwise, no core files, the
# pass/fail counters with ok and bad, and the helpers below. finish NAME prints the counts and
# is the script's exit status.
export PMEM2_FORCE_GRANULARITY=${PMEM2_FORCE_GRANULARITY:-CACHE_LINE}
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
DIR=$(mktemp -d "$base/pmemstream-cli-${1:?lib.sh needs a name for the scratch folder}.$$.XXXXXX")
bg_pids=()
cleanup() {
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$DIR"
}
trap cleanup EXIT
ulimit -c 0

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() {
	failed=$((failed + 1))
	echo "FAIL: $1" >&2
	[ $# -gt 1 ] && printf '  %s\n' "${@:2}" >&2
	return 0
}

# run CMD...: sets OUT, ERR, RC (a script may redefine it: a timeout, stdin from /dev/null).
run() {
	"$@" >"$DIR/out" 2>"$DIR/err"
	RC=$?
	OUT=$(cat "$DIR/out")
	ERR=$(cat "$DIR/err")
}

# expect_ok NAME CMD...: exit 0 and nothing on stderr.
expect_ok() {
	local name=$1
	shift
	run "$@"
	if [ "$RC" -eq 0 ] && [ -z "$ERR" ]; then ok; else bad "$name" "exit $RC" "stderr: $ERR"; fi
}

expect_eq() {
	if [ "$2" == "$3" ]; then ok; else bad "$1" "expected: $3" "actual:   $2"; fi
}

expect_contains() {
	if [[ "$2" == *"$3"* ]]; then ok; else bad "$1" "expected to contain: $3" "actual: $2"; fi
}

expect_not_contains() {
	if [[ "$2" != *"$3"* ]]; then ok; else bad "$1" "expected not to contain: $3" "actual: $2"; fi
}

# json_field TEXT KEY N: value of the Nth (1-based) numeric "KEY": in TEXT.
json_field() {
	grep -o "\"$2\":[0-9]*" <<<"$1" | sed -n "${3}p" | cut -d: -f2
}

# flip_byte FILE OFFSET: replaces the byte at OFFSET with its complement.
flip_byte() {
	local old
	old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\$(printf '%03o' $((255 - old)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# finish NAME: the counts; the status is failure when anything failed.
finish() {
	echo "$1: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
