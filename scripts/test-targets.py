#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Prints the CMake targets whose executables the selected CTest tests run.

Usage: ctest --preset P --show-only=json-v1 [-L ...] [-E ...] | test-targets.py BUILD_DIR

`make test` builds only these in its short AddressSanitizer and ThreadSanitizer passes instead
of the whole tree.
A test whose command is a script contributes the programs of BUILD_DIR it is given as
arguments (the CLI's tests take the tool's path, the export check the shared library's). An
executable's name is its target's (CMake's default, which every test target here keeps), except
the command-line tool (target pmemstream_cli, file tools/pmemstream) and the shared library
(target pmemstream, file src/libpmemstream.so.*), the only programs a script is given.
"""
import json
import os
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.realpath(sys.argv[1]) + os.sep
    targets = []

    def add(path, script_arg):
        real = os.path.realpath(path)
        if not real.startswith(build):
            return
        rel = real[len(build):]
        name = os.path.basename(rel)
        if rel == os.path.join("tools", "pmemstream"):
            name = "pmemstream_cli"
        elif name.startswith("libpmemstream.so"):
            name = "pmemstream"
        elif script_arg:
            return  # a data file or folder of the test, not a program
        if name not in targets:
            targets.append(name)

    for test in json.load(sys.stdin).get("tests", []):
        cmd = test.get("command") or []
        if not cmd:
            continue
        if os.path.realpath(cmd[0]).startswith(build):
            add(cmd[0], False)
        else:
            for arg in cmd[1:]:
                add(arg, True)
    if not targets:
        sys.exit("test-targets: no test of the selection runs a program of " + build)
    print(" ".join(targets))


if __name__ == "__main__":
    main()
