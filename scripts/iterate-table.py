#!/usr/bin/env python3
"""Summarises several runs of pmemstream_iterate (--out JSON files) into the tables of
docs/benchmarks.md. Rates are the medians over runs of each run's median round; ratios are the
median (min-max) over runs of the ratio each run measured side by side."""
import json
import statistics
import sys


def spread(values, digits=2):
    return (f"**{statistics.median(values):.{digits}f}** "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    n = len(runs)
    cpus = sorted({r["config"]["cpu"] for r in runs})
    print(f"CPU: {', '.join(cpus)}; {n} runs of {runs[0]['config']['rounds']} rounds; "
          f"region {runs[0]['config']['region_bytes'] >> 20} MiB; "
          f"pmem2 granularity {runs[0]['config']['pmem2_granularity']}; load average (1, 5, 15 min) at "
          f"start / end of each run: {'; '.join(r['config'].get('loadavg_start_end', '?') for r in runs)}\n")

    def rows(k):
        return [r["results"][k] for r in runs]

    def gbps(row, name):
        return next(c["gbps"] for c in row["contenders"] if c["name"] == name)

    def med_gbps(rs, name):
        return statistics.median(gbps(r, name) for r in rs)

    sizes = range(len(runs[0]["results"]))
    print(f"| entry (B) | entries | stream GB/s | ceiling GB/s | stream/ceiling ({n} runs) | target |")
    print("|---:|---:|---:|---:|---:|---:|")
    for k in sizes:
        rs = rows(k)
        target = rs[0]["target_stream_ceiling"]
        print(f"| {rs[0]['size']} | {rs[0]['entries']} | {med_gbps(rs, 'stream'):.2f} | "
              f"{med_gbps(rs, 'ceiling'):.2f} | {spread([r['ratio_stream_ceiling'] for r in rs], 3)} | "
              f"{f'>= {target:.1f}' if target else '-'} |")

    print(f"\n| entry (B) | readers | stream 1T GB/s | stream 2T GB/s | stream 2T/1T ({n} runs) | "
          f"ceiling 2T/1T ({n} runs) | target |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for k in sizes:
        rs = rows(k)
        target = rs[0]["target_2t_1t"]
        print(f"| {rs[0]['size']} | one region each (2 x {runs[0]['config']['region_bytes'] >> 21} MiB) | "
              f"{med_gbps(rs, 'halves_stream_1t'):.2f} | {med_gbps(rs, 'halves_stream_2t'):.2f} | "
              f"{spread([r['ratio_halves_2t_1t'] for r in rs])} | "
              f"{spread([r['ratio_halves_ceiling_2t_1t'] for r in rs])} | >= {target:.1f} |")
        print(f"| {rs[0]['size']} | both over one region | {med_gbps(rs, 'stream'):.2f} | "
              f"{med_gbps(rs, 'same_stream_2t'):.2f} | {spread([r['ratio_same_2t_1t'] for r in rs])} | "
              f"{spread([r['ratio_same_ceiling_2t_1t'] for r in rs])} | >= {target:.1f} |")

    print(f"\n| entry (B) | entries | open ms ({n} runs) | open read-only ms ({n} runs) | close ms ({n} runs) |")
    print("|---:|---:|---:|---:|---:|")
    for k in sizes:
        rs = rows(k)
        print(f"| {rs[0]['size']} | {rs[0]['entries']} | "
              f"{spread([r['reopen']['open_median_ms'] for r in rs], 0)} | "
              f"{spread([r['reopen']['open_read_only_median_ms'] for r in rs], 0)} | "
              f"{spread([r['reopen']['close_median_ms'] for r in rs], 1)} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: iterate-table.py RUN.json...")
    main(sys.argv[1:])
