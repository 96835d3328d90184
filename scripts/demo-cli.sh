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
rm -f "$file"
