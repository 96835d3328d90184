#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Prints the CMake targets whose executables the selected CTest tests run.

Usage: ctest --preset P --show-only=json-v1 [-L ...] [-E ...] | test-targets.py BUILD_DIR

`make test` builds only these in its short ThreadSanitizer pass instead of the whole tree.
A test whose command is not a program of BUILD_DIR (a shell script, say) contributes nothing;
an executable's name is its target's (CMake's default, which every test target here keeps).
"""
import json
import os
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.realpath(sys.argv[1]) + os.sep
    targets = []
    for test in json.load(sys.stdin).get("tests", []):
        cmd = test.get("command") or []
        if cmd and os.path.realpath(cmd[0]).startswith(build):
            name = os.path.basename(cmd[0])
            if name not in targets:
                targets.append(name)
    if not targets:
        sys.exit("test-targets: no test of the selection runs a program of " + build)
    print(" ".join(targets))


if __name__ == "__main__":
    main()
