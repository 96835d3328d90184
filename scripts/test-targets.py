#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Prints the CMake targets whose programs the selected CTest tests run.

Usage: ctest --preset P --show-only=json-v1 [-L ...] [-E ...] | test-targets.py BUILD_DIR

`make test` builds only these in its short AddressSanitizer and ThreadSanitizer passes instead
of the whole tree. ctest selects the tests (labels, exclusions) but leaves out the command of a
test whose program is not built yet, so the commands come from the add_test() lines of the
build tree's CTestTestfile.cmake files, which a configure alone writes.

A test whose program is in BUILD_DIR contributes it; a test that runs a script contributes the
programs of BUILD_DIR it is given as arguments (the CLI's tests take the tool's path, the
export check the shared library's). An executable's name is its target's (CMake's default,
which every test target here keeps), except the command-line tool (target pmemstream_cli, file
tools/pmemstream) and the shared library (target pmemstream, file src/libpmemstream.so.*), the
only programs a script is given. Exits non-zero when nothing is found, so that the caller's
build fails loudly instead of building the whole tree.
"""
import json
import os
import re
import sys

ADD_TEST = re.compile(r'^add_test\(\[=\[(.*?)\]=\]((?:\s+"[^"]*")+)\)\s*$')


def commands(build):
    """Test name -> argument list, from every CTestTestfile.cmake under build."""
    out = {}
    for root, _, files in os.walk(build):
        if "CTestTestfile.cmake" in files:
            with open(os.path.join(root, "CTestTestfile.cmake")) as f:
                for line in f:
                    m = ADD_TEST.match(line.strip())
                    if m:
                        out[m.group(1)] = re.findall(r'"([^"]*)"', m.group(2))
    return out


def target_of(path, build, script_arg):
    real = os.path.realpath(path)
    if not real.startswith(build):
        return None
    rel = real[len(build):]
    name = os.path.basename(rel)
    if rel == os.path.join("tools", "pmemstream"):
        return "pmemstream_cli"
    if name.startswith("libpmemstream.so"):
        return "pmemstream"
    return None if script_arg else name  # a script's other arguments are data, not programs


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.realpath(sys.argv[1]) + os.sep
    known = commands(build)
    targets = []
    for test in json.load(sys.stdin).get("tests", []):
        cmd = known.get(test.get("name"))
        if not cmd:
            sys.exit("test-targets: no add_test() line for " + str(test.get("name")))
        found = [target_of(cmd[0], build, False)] if target_of(cmd[0], build, False) else \
            [target_of(a, build, True) for a in cmd[1:]]
        for t in found:
            if t and t not in targets:
                targets.append(t)
    if not targets:
        sys.exit("test-targets: no test of the selection runs a program of " + build)
    print(" ".join(targets))


if __name__ == "__main__":
    main()
