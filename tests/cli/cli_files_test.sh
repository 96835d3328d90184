#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The file layer seen from the pmemstream tool (docs/files-and-processes.md): what create does
# with an existing file, files that are not files (a FIFO must not hang), a full file system,
# and two creators racing for one path.
# Usage: cli_files_test.sh PATH_TO_PMEMSTREAM_BINARY
set -u

BIN=${1:?usage: cli_files_test.sh PATH_TO_PMEMSTREAM_BINARY}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" files

# run CMD...: sets OUT, ERR, RC. Every command gets 20 s: a hang is a failure, not a stuck run.
run() {
	timeout 20 "$@" >"$DIR/out" 2>"$DIR/err"
	RC=$?
	OUT=$(cat "$DIR/out")
	ERR=$(cat "$DIR/err")
}

# expect_fail NAME CODE TEXT CMD...: exit CODE, one 'pmemstream: ' line on stderr holding TEXT.
expect_fail() {
	local name=$1 code=$2 text=$3
	shift 3
	run "$@"
	local lines
	lines=$(wc -l <"$DIR/err")
	if [ "$RC" -eq "$code" ] && [ "$lines" -eq 1 ] && [[ "$ERR" == "pmemstream: "* ]] && [[ "$ERR" == *"$text"* ]]; then
		ok
	else
		bad "$name" "expected exit $code and one 'pmemstream: ' line with: $text" "got exit $RC, $lines line(s): $ERR"
	fi
}

allocated() { echo $(($(stat -c %b "$1") * $(stat -c %B "$1"))); }

# ---- what is not a file ----
mkfifo "$DIR/fifo"
for c in info check dump "region ls"; do
	# shellcheck disable=SC2086
	expect_fail "$c of a FIFO" 2 "not a regular file or DAX device (a FIFO)" "$BIN" $c "$DIR/fifo"
done
expect_fail "create over a FIFO" 2 "not a regular file or DAX device (a FIFO)" "$BIN" create "$DIR/fifo" --size 1M
expect_fail "region add to a FIFO" 2 "not a regular file or DAX device (a FIFO)" "$BIN" region add "$DIR/fifo" --size 4K
for dev in /dev/zero /dev/null; do
	[ -c "$dev" ] || continue
	expect_fail "info $dev" 2 "not a regular file or DAX device" "$BIN" info "$dev"
done
expect_fail "info of a directory" 2 "directory" "$BIN" info "$DIR"

# ---- create over what exists ----
printf 'just some text\n' >"$DIR/text"
cp "$DIR/text" "$DIR/text.orig"
expect_fail "create over a text file" 2 "is not a stream: it holds non-zero bytes that are not a pmemstream header; refusing to overwrite it" \
	"$BIN" create "$DIR/text" --size 1M
cmp -s "$DIR/text" "$DIR/text.orig" && ok || bad "the text file is untouched"

expect_ok "create" "$BIN" create "$DIR/s" --size 1M
expect_fail "create over a stream" 2 "already holds a stream" "$BIN" create "$DIR/s" --size 1M

truncate -s 16K "$DIR/small"
expect_ok "create over a smaller sparse file" "$BIN" create "$DIR/small" --size 1M
expect_ok "info of it" "$BIN" info "$DIR/small" --json
expect_eq "the stream has the requested size" "$(json_field "$OUT" size 1)" "1048576"
[ "$(allocated "$DIR/small")" -ge 1048576 ] && ok || bad "the stream is preallocated" "$(allocated "$DIR/small") bytes allocated"

truncate -s 1G "$DIR/big"
expect_fail "create over a larger zero file" 1 "1073741824" "$BIN" create "$DIR/big" --size 64K
expect_eq "the larger file keeps its size" "$(stat -c %s "$DIR/big")" "1073741824"
[ "$(allocated "$DIR/big")" -lt 1048576 ] && ok || bad "refusing it allocated nothing" "$(allocated "$DIR/big") bytes allocated"
printf 'x' | dd of="$DIR/big" bs=1 seek=$((1024 * 1024 * 1024 - 1)) conv=notrunc status=none
expect_fail "create over a sparse file with one byte at its end" 2 "is not a stream" "$BIN" create "$DIR/big" --size 1G
[ "$(allocated "$DIR/big")" -lt 1048576 ] && ok || bad "the zero check faults no hole in" "$(allocated "$DIR/big") bytes allocated"
rm -f "$DIR/big"

# ---- a failed create leaves nothing behind ----
run bash -c "trap '' XFSZ; ulimit -f 256; exec '$BIN' create '$DIR/limited' --size 4M"
expect_eq "create beyond the file size limit fails" "$RC" "2"
[[ "$ERR" == *"cannot preallocate"* ]] && ok || bad "it says why" "$ERR"
[ ! -e "$DIR/limited" ] && ok || bad "no file is left behind after a failed create"

# A tmpfs too small for the stream, in a mount namespace of its own (root only).
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
	mkdir "$DIR/tiny"
	run unshare -m bash -c "mount -t tmpfs -o size=1M tmpfs '$DIR/tiny' &&
		{ '$BIN' create '$DIR/tiny/s' --size 4M; echo \"rc=\$? left=\$(ls -A '$DIR/tiny' | wc -l)\";
		  truncate -s 8M '$DIR/tiny/sparse'; '$BIN' create '$DIR/tiny/sparse' --size 8M; echo \"rc=\$?\"; }"
	[[ "$OUT" == *"rc=2 left=0"* ]] && ok || bad "create on a full tmpfs fails and leaves no file" "$OUT" "$ERR"
	[[ "$ERR" == *"No space left on device"* ]] && ok || bad "a full file system says so" "$ERR"
	[[ "$OUT" == *$'\n'"rc=2" ]] && ok || bad "create over a sparse file larger than its tmpfs fails cleanly (no SIGBUS)" "$OUT"
	rmdir "$DIR/tiny"
fi

# ---- two creators racing for one path ----
rounds=0
both=0
for i in $(seq 1 150); do
	rm -f "$DIR/race"
	[ $((i % 2)) -eq 0 ] && truncate -s 32K "$DIR/race"
	"$BIN" create "$DIR/race" --size 64K 2>/dev/null &
	a=$!
	"$BIN" create "$DIR/race" --size 128K 2>/dev/null &
	b=$!
	wait $a
	ra=$?
	wait $b
	rb=$?
	rounds=$((rounds + 1))
	if [ $((ra == 0)) -eq $((rb == 0)) ]; then
		both=$((both + 1))
		echo "round $i: exits $ra and $rb" >&2
	fi
done
expect_eq "exactly one of two racing creators wins ($rounds rounds)" "$both" "0"

finish cli_files
