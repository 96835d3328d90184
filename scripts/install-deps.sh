#!/usr/bin/env bash
# Installs the Debian packages pmemstream needs to build, test and benchmark.
# Idempotent: installs only what is missing. Uses apt-get as root, sudo otherwise.
# dpkg-dev and file: `make package` (CPack's dpkg-shlibdeps); man-db and groff-base: the
# manual page test; gnuplot-nox: the charts of `make bench`.
set -euo pipefail

packages=(
  build-essential cmake pkg-config make python3
  libpmem2-dev libpmemlog-dev
  libgtest-dev libgmock-dev googletest librapidcheck-dev
  libbenchmark-dev
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
  dpkg-dev file man-db groff-base
  gnuplot-nox
  libraft-dev libuv1-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
