#!/usr/bin/env python3
"""Summarises several runs of pmemstream_async_compare (--out JSON files) into the tables of
docs/benchmarks.md: per scenario and size, each contender's appends/s (median over runs of each
run's median round), and each ratio as the median (min-max) over runs of the ratio each run
measured side by side, with its target; for the disk scenario the submit-to-persisted
percentiles (median (min-max) over runs)."""
import json
import statistics
import sys


def spread(values, digits=2):
    return (f"**{statistics.median(values):.{digits}f}** "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    n = len(runs)
    cfg = runs[0]["config"]
    cpus = sorted({r["config"]["cpu"] for r in runs})
    print(f"CPU: {', '.join(cpus)} ({cfg['online_cpus']} online); {n} runs of {cfg['rounds']} rounds ({cfg.get('disk_rounds', cfg['rounds'])} on the disk); "
          f"max_in_flight {cfg['max_in_flight']}; commit worker max_entries {cfg['max_entries']}, "
          f"max_delay {cfg['max_delay_us']} us; load average (1, 5, 15 min) at start / end of each run: "
          f"{'; '.join(r['config'].get('loadavg_start_end', '?') for r in runs)}\n")
    names = [s["name"] for s in runs[0]["scenarios"]]
    for si, name in enumerate(names):
        scen = [r["scenarios"][si] for r in runs]
        s0 = scen[0]
        print(f"### {name}: {s0['what']}\n")
        print(f"Files in `{s0['dir']}` ({s0['fs']}), PMEM2_FORCE_GRANULARITY={s0['PMEM2_FORCE_GRANULARITY']}, "
              f"libpmem2 granularity: {s0['pmem2_granularity']}.\n")
        print("| size (B) | contender | appends/s | ns/append |")
        print("|---:|---|---:|---:|")
        for ri, row in enumerate(s0["rows"]):
            for ci, c in enumerate(row["contenders"]):
                ns = statistics.median(s["rows"][ri]["contenders"][ci]["median_ns"] for s in scen)
                print(f"| {row['size']} | {c['name']} | {1e9 / ns:.0f} | {ns:.1f} |")
        print()
        print(f"| size (B) | ratio | {n} runs | target | |")
        print("|---:|---|---:|---:|---|")
        for ri, row in enumerate(s0["rows"]):
            for k, rd in enumerate(row["ratios"]):
                vals = [s["rows"][ri]["ratios"][k]["value"] for s in scen]
                med = statistics.median(vals)
                print(f"| {row['size']} | {rd['name']} | {spread(vals)} | >= {rd['target']:.1f} | "
                      f"{'met' if med >= rd['target'] else 'missed'} |")
        if "latency_us" in s0:
            p50 = [s["latency_us"]["p50"] for s in scen]
            p99 = [s["latency_us"]["p99"] for s in scen]
            mx = [s["latency_us"]["max"] for s in scen]
            print(f"\nSubmit to persisted (64 B async appends, commit worker, nobody waiting; "
                  f"{s0['latency_us']['samples']} samples per run): p50 {spread(p50, 1)} us, "
                  f"p99 {spread(p99, 1)} us, max {spread(mx, 0)} us.")
        print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: async-bench-table.py RUN.json...")
    main(sys.argv[1:])
