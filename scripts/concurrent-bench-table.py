#!/usr/bin/env python3
"""Summarises several runs of pmemstream_concurrent_compare (--out JSON files) into the tables
of docs/benchmarks.md ("Concurrent appends"): per size, each configuration's appends/s as the
median (min-max) over runs of each run's median round, and each ratio as the median (min-max)
over runs of the ratio each run reports (itself the median of the ratios within its rounds),
with its target."""
import json
import statistics
import sys


def spread(values, fmt):
    return f"**{fmt(statistics.median(values))}** ({fmt(min(values))}-{fmt(max(values))})"


def rate(v):
    return f"{v / 1e6:.2f} M"


def ratio(v):
    return f"{v:.2f}"


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    n = len(runs)
    cfg = runs[0]["config"]
    print(f"CPU: {', '.join(sorted({r['config']['cpu'] for r in runs}))} ({cfg['online_cpus']} online); "
          f"{n} runs of {cfg['rounds']} rounds x {cfg['ms']} ms; async batch {cfg['batch']}; files in "
          f"{cfg['dir']} ({cfg['fs']}), PMEM2_FORCE_GRANULARITY={cfg['PMEM2_FORCE_GRANULARITY']}, libpmem2 "
          f"granularity {cfg['pmem2_granularity']}; load average at start / end of each run: "
          f"{'; '.join(r['config']['loadavg_start_end'] for r in runs)}\n")
    sizes = [s["size"] for s in runs[0]["results"]]
    print("| configuration | threads | " + " | ".join(f"{s} B appends/s" for s in sizes) + " |")
    print("|---|---:|" + "---:|" * len(sizes))
    for ci, c in enumerate(runs[0]["results"][0]["contenders"]):
        cells = []
        for si in range(len(sizes)):
            vals = [r["results"][si]["contenders"][ci]["median_appends_per_s"] for r in runs]
            full = any(r["results"][si]["contenders"][ci]["capped"] for r in runs)
            cells.append(spread(vals, rate) + (" (file full)" if full else ""))
        print(f"| {c['name']} | {c['threads']} | " + " | ".join(cells) + " |")
    print()
    print("| ratio | " + " | ".join(f"{s} B" for s in sizes) + " | target |")
    print("|---|" + "---:|" * len(sizes) + "---:|")
    for ri, rd in enumerate(runs[0]["results"][0]["ratios"]):
        cells = []
        for si in range(len(sizes)):
            vals = [r["results"][si]["ratios"][ri]["median"] for r in runs]
            med = statistics.median(vals)
            mark = "" if rd["target"] == 0 else (" met" if med >= rd["target"] else " missed")
            cells.append(spread(vals, ratio) + mark)
        target = f">= {rd['target']:.2f}" if rd["target"] else "info"
        print(f"| {rd['name']} | " + " | ".join(cells) + f" | {target} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: concurrent-bench-table.py RUN.json...")
    main(sys.argv[1:])
