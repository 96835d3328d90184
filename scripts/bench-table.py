#!/usr/bin/env python3
"""Summarises several runs of pmemstream_append_compare (--out JSON files) into the README's
table: per size, the medians over runs of each contender's median-of-rounds time, and the
median (min-max) over runs of the ratios each run measured side by side."""
import json
import statistics
import sys


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    print(f"| size (B) | pmemstream ns/append | libpmemlog ns/append | ceiling ns/append | "
          f"stream/pmemlog ({len(runs)} runs) | stream/ceiling ({len(runs)} runs) | file B/entry | lines/append |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in range(len(runs[0]["results"])):
        rows = [r["results"][k] for r in runs]

        def ns(name):
            return statistics.median(
                next(c["median_ns"] for c in row["contenders"] if c["name"] == name) for row in rows)

        ceiling = statistics.median(
            min(c["median_ns"] for c in row["contenders"] if c["name"].startswith("ceiling")) for row in rows)
        to_log = [row["ratio_pmemstream_libpmemlog"] for row in rows]
        to_ceiling = [row["ratio_pmemstream_ceiling"] for row in rows]
        print(f"| {rows[0]['size']} | {ns('pmemstream'):.0f} | {ns('libpmemlog'):.0f} | {ceiling:.0f} | "
              f"**{statistics.median(to_log):.2f}** ({min(to_log):.2f}-{max(to_log):.2f}) | "
              f"**{statistics.median(to_ceiling):.2f}** ({min(to_ceiling):.2f}-{max(to_ceiling):.2f}) | "
              f"{rows[0]['pmemstream_bytes_per_entry']:.0f} | {rows[0]['pmemstream_lines_per_append']:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: bench-table.py RUN.json...")
    main(sys.argv[1:])
