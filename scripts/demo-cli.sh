#!/usr/bin/env bash
# Second half of `make demo`: the command-line tool on a stream of its own.
set -euo pipefail
tool=$1
file=${2%.pmem}-cli.pmem
rm -f "$file"
run() { echo "\$ pmemstream $*"; "$tool" "$@"; }
echo
echo "== the pmemstream tool =="
run create "$file" --size 1M
r=$("$tool" region add "$file" --size 4K)
echo "\$ pmemstream region add $file --size 4K"; echo "$r"
run append "$file" "$r" first second third
printf 'line one\nline two\n' | { echo "\$ printf 'line one\\nline two\\n' | pmemstream append $file $r --lines"; "$tool" append "$file" "$r" --lines; }
run cat "$file" "$r" --hex
run dump "$file"
run info "$file"
run check "$file"
run region ls "$file"
"$tool" tail -f "$file" "$r" & tp=$!
sleep 0.3
echo "\$ pmemstream append $file $r appended-while-tailing   # the tail -f started above prints it"
"$tool" append "$file" "$r" appended-while-tailing
sleep 0.3; kill -INT "$tp"; wait "$tp" || true
off=$("$tool" cat "$file" "$r" --json | grep -o '"offset":[0-9]*' | sed -n 2p | cut -d: -f2)
printf 'X' | dd of="$file" bs=1 seek=$((off + 16)) conv=notrunc status=none
echo "\$ pmemstream check $file   # after flipping one payload byte of the entry at $(printf 0x%x "$off")"
"$tool" check "$file" || echo "(exit status $?: corruption found)"
run bench "${file%.pmem}-bench.pmem" --count 2000
run bench "${file%.pmem}-bench.pmem" --count 2000 --async --wait-every 32
rm -f "$file" "${file%.pmem}-bench.pmem"
