#!/usr/bin/env python3
"""Draws the benchmark charts (SVG, with gnuplot) from the JSON files the bench drivers write.

Every JSON file given is classified by its content and goes to the charts of its kind; a kind
with no file draws nothing, and a file of no known kind is named and skipped. So a new driver
gets a chart by adding one entry to CHARTS (a test of the JSON, and a function that draws).
Each chart states the machine (CPU model from the JSON or /proc/cpuinfo), the date of the
measurement and the command that measured it.

  pmemstream_append_compare --out    append-latency.svg: ns per append by entry size, against
                                     libpmemlog and the ceiling (median over runs, min-max bars)
  pmemstream_iterate --out           iterate.svg: reading through the C API against reading the
                                     mapping, one and two threads
  pmemstream_micro --benchmark_out   append-threads.svg: appends/s with 1 and 2 threads (own
                                     regions); micro-<name>.svg: any other Google Benchmark file
  any other results[].size +         <name>.svg: ns by size per contender (async or group
  .contenders[].{name, median_ns}    commit drivers, until they get a chart of their own)

usage: bench-plots.py --out DIR FILE.json...
"""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile


def cpu_model(runs):
    for r in runs:
        cpu = r.get("config", {}).get("cpu")
        if cpu:
            return cpu
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        m = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
        model = m.group(1).strip() if m else "unknown CPU"
        flags = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
        extra = [x for x in ("clwb", "clflushopt", "avx512f") if flags and x in flags.group(1).split()]
        return model + (f" ({', '.join(extra)})" if extra else "")
    except OSError:
        return "unknown CPU"


def machine(runs):
    cpus = os.cpu_count() or 0
    for r in runs:
        cpus = r.get("config", {}).get("online_cpus", cpus)
        cpus = r.get("context", {}).get("num_cpus", cpus)
    return f"{cpu_model(runs)}, {cpus} CPUs"


def load_of(runs):
    """The load averages the results recorded, else the one now (the charts are drawn right
    after the runs): a busy machine explains slow figures."""
    loads = []
    for r in runs:
        if r.get("config", {}).get("loadavg_start_end"):
            loads.append(r["config"]["loadavg_start_end"].split()[0])
        elif r.get("context", {}).get("load_avg"):
            loads.append(f"{r['context']['load_avg'][0]:.2f}")
    if loads:
        return "load average " + " / ".join(loads) + " at the start"
    try:
        with open("/proc/loadavg") as f:
            return "load average " + f.read().split()[0] + " when drawn"
    except OSError:
        return "load average unknown"


def date_of(paths, runs):
    for r in runs:
        d = r.get("context", {}).get("date")
        if d:
            return d[:10]
    t = max(os.path.getmtime(p) for p in paths)
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).date().isoformat()


def gp_escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


PREVIEW_PNG = False  # --png: PNG instead of SVG, to look at a chart where no SVG viewer is


NOTE = ""  # --note: how the runs were made (e.g. the make command), added to every footer


def draw(out_svg, title, footer, script, data):
    """Runs gnuplot on `script` (which refers to the data files by name) in a temp folder.
    `footer` is a list of lines: the machine and date first, then the command."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, rows in data.items():
            with open(os.path.join(tmp, name), "w") as f:
                for row in rows:
                    f.write(" ".join(str(x) for x in row) + "\n")
        terminal = 'svg size 960,600 dynamic enhanced font "sans,13" background rgb "white"'
        if PREVIEW_PNG:
            terminal = 'pngcairo size 960,600 enhanced font "sans,10" background rgb "white"'
            out_svg = out_svg[:-4] + ".png"
        head = f"""set terminal {terminal}
set output "{gp_escape(os.path.abspath(out_svg))}"
set title "{gp_escape(title)}" font "sans,15"
set bmargin 7
""" + "".join(f'set label {90 + i} "{gp_escape(line)}" at screen 0.01, screen {0.075 - 0.03 * i:.3f} left '
              f'font "sans,10" noenhanced\n' for i, line in enumerate(footer + ([NOTE] if NOTE else []))) + """
set grid ytics lc rgb "#dddddd"
set key top left box opaque
"""
        with open(os.path.join(tmp, "plot.gp"), "w") as f:
            f.write(head + script)
        subprocess.run(["gnuplot", "plot.gp"], cwd=tmp, check=True)
    print(f"wrote {out_svg}")


# ---- pmemstream_append_compare ----------------------------------------------------------------

def is_append_compare(j):
    r = j.get("results")
    return isinstance(r, list) and r and "ratio_pmemstream_libpmemlog" in r[0]


def plot_append(files, out):
    runs = [j for _, j in files]
    paths = [p for p, _ in files]
    rows = []
    for k in range(len(runs[0]["results"])):
        per_run = [r["results"][k] for r in runs]

        def ns(row, name):
            if name == "ceiling":
                return min(c["median_ns"] for c in row["contenders"] if c["name"].startswith("ceiling"))
            return next(c["median_ns"] for c in row["contenders"] if c["name"] == name)

        line = [k, per_run[0]["size"]]
        for name in ("pmemstream", "libpmemlog", "ceiling"):
            v = [ns(row, name) for row in per_run]
            line += [statistics.median(v), min(v), max(v)]
        ratio = [row["ratio_pmemstream_libpmemlog"] for row in per_run]
        line.append(statistics.median(ratio))
        rows.append(line)
    cfg = runs[0]["config"]
    footer = [f"{machine(runs)}; measured {date_of(paths, runs)}; {cfg['dir']}, granularity "
              f"{cfg['pmem2_granularity']}, PMEM_IS_PMEM_FORCE={cfg.get('PMEM_IS_PMEM_FORCE', '')}",
              f"bench/pmemstream_append_compare --rounds {cfg['rounds']} --ops {cfg['ops']}: {len(runs)} run(s); "
              f"medians over runs, bars min-max; {load_of(runs)}"]
    script = """set ylabel "ns per append (lower is better)"
set xlabel "entry size (bytes)"
set yrange [0:*]
set xtics ()
stats "d" using 1 nooutput
set xrange [-0.5:STATS_max+0.5]
plot "d" using 1:3:4:5:xtic(2) with yerrorlines lw 2 pt 7 lc rgb "#1f77b4" title "pmemstream", \\
     "" using 1:6:7:8 with yerrorlines lw 2 pt 5 lc rgb "#d62728" title "libpmemlog", \\
     "" using 1:9:10:11 with yerrorlines lw 2 pt 9 dt 2 lc rgb "#555555" title "ceiling (bare copy + one persist)", \\
     "" using 1:3:(sprintf("%.2fx", $12)) with labels offset 0,-1.2 font ",10" textcolor rgb "#1f77b4" notitle
"""
    draw(os.path.join(out, "append-latency.svg"),
         "Synchronous append by entry size\n{/*0.8 pmemstream against libpmemlog and the one-fence ceiling; "
         "labels: speed-up over libpmemlog}", footer, script, {"d": rows})


# ---- pmemstream_iterate -------------------------------------------------------------------------

def is_iterate(j):
    r = j.get("results")
    return isinstance(r, list) and r and "ratio_stream_ceiling" in r[0]


def plot_iterate(files, out):
    runs = [j for _, j in files]
    paths = [p for p, _ in files]
    names = [("stream", "C API, 1 thread"), ("ceiling", "raw reads, 1 thread"),
             ("halves_stream_2t", "C API, 2 threads (region each)"),
             ("halves_ceiling_2t", "raw reads, 2 threads (region each)"),
             ("same_stream_2t", "C API, 2 threads (one region)"),
             ("same_ceiling_2t", "raw reads, 2 threads (one region)")]
    rows = []
    for k in range(len(runs[0]["results"])):
        per_run = [r["results"][k] for r in runs]
        line = [f'"{per_run[0]["size"]} B"']
        for name, _ in names:
            line.append(statistics.median(next(c["gbps"] for c in row["contenders"] if c["name"] == name)
                                          for row in per_run))
        rows.append(line)
    cfg = runs[0]["config"]
    footer = [f"{machine(runs)}; measured {date_of(paths, runs)}; a {cfg['region_bytes'] >> 20} MiB region in "
              f"{cfg['dir']}, every payload byte read",
              f"bench/pmemstream_iterate --rounds {cfg['rounds']}: {len(runs)} run(s), medians; {load_of(runs)}"]
    colours = ["#1f77b4", "#aaaaaa", "#2ca02c", "#cccccc", "#98df8a", "#e5e5e5"]
    plots = []
    for i, (name, label) in enumerate(names):
        plots.append(f'"d" using {i + 2}{":xtic(1)" if i == 0 else ""} lc rgb "{colours[i]}" title "{label}"')
    script = ("""set ylabel "GB/s of payload (higher is better)"
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border rgb "#333333"
set boxwidth 0.9
set key top left
plot """ + ", \\\n     ".join(plots) + "\n")
    draw(os.path.join(out, "iterate.svg"),
         "Reading every entry\n{/*0.8 through the C API iterator against reading the same bytes from the mapping}",
         footer, script, {"d": rows})


# ---- Google Benchmark (pmemstream_micro) --------------------------------------------------------

def is_google_benchmark(j):
    return "context" in j and isinstance(j.get("benchmarks"), list)


def gb_medians(j):
    """{run name: (real time in ns, threads)}: the median aggregate when there are repetitions,
    else the single run."""
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    out = {}
    for b in j["benchmarks"]:
        name = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        if b.get("run_type") == "aggregate" or name not in out:
            out[name] = (b["real_time"] * scale.get(b.get("time_unit", "ns"), 1.0), b.get("threads", 1))
    return out


def plot_micro(files, out):
    for path, j in files:
        med = gb_medians(j)
        footer = [f"{machine([j])}; measured {date_of([path], [j])}",
                  f"bench/{os.path.basename(j['context'].get('executable', '?'))} (Google Benchmark) -> "
                  f"{os.path.basename(path)}: medians of repetitions; {load_of([j])}"]
        # Appends from one and two threads, each thread in its own region.
        sizes = []
        for name in med:
            m = re.match(r"^bm_append/(\d+)$", name)
            if m and any(re.match(rf"^bm_append_threads/{m.group(1)}/", n) for n in med):
                sizes.append(int(m.group(1)))
        if sizes:
            rows = []
            for s in sorted(sizes):
                one = 1e9 / med[f"bm_append/{s}"][0] / 1e6
                two_name = next(n for n in med if re.match(rf"^bm_append_threads/{s}/", n))
                t, threads = med[two_name]
                rows.append([f'"{s} B"', one, threads * 1e9 / t / 1e6])
            script = """set ylabel "million appends/s, all threads (higher is better)"
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border rgb "#333333"
set boxwidth 0.9
plot "d" using 2:xtic(1) lc rgb "#1f77b4" title "1 thread", "" using 3 lc rgb "#2ca02c" title "2 threads, a region each"
"""
            draw(os.path.join(out, "append-threads.svg"),
                 "Synchronous appends from one and two threads\n{/*0.8 each thread appends to its own region}", footer, script, {"d": rows})
        # Everything else of the file: one bar per benchmark (so a new family shows up).
        rest = [(n, v[0]) for n, v in med.items() if not re.match(r"^bm_append(_threads)?/", n)]
        if rest:
            stem = os.path.splitext(os.path.basename(path))[0]
            rows = [[f'"{n}"', t] for n, t in rest]
            script = f"""set xlabel "ns per iteration (real time, lower is better)"
set style fill solid 0.9 border rgb "#333333"
set ytics nomirror noenhanced
set yrange [-0.5:{len(rows) - 0.5}]
set xrange [0:*]
set key off
set size ratio 0
plot "d" using 2:0:(0):2:($0-0.35):($0+0.35):yticlabel(1) with boxxyerror lc rgb "#1f77b4"
"""
            draw(os.path.join(out, f"micro-{stem}.svg"), f"Micro benchmarks ({stem})", footer, script, {"d": rows})


# ---- any other driver in the append driver's shape ---------------------------------------------

def is_contenders_by_size(j):
    r = j.get("results")
    return (isinstance(r, list) and r and isinstance(r[0], dict) and "size" in r[0] and
            all("name" in c and "median_ns" in c for c in r[0].get("contenders", [{}])))


def plot_contenders(files, out):
    """One line per contender, ns by size, for each group of files whose names differ only in
    a run number (async-run1.json, async-run2.json -> async.svg): a new driver that writes
    results[].size and results[].contenders[].{name, median_ns} is drawn before it has a chart
    of its own."""
    groups = {}
    for path, j in files:
        stem = re.sub(r"[-_]?(run)?\d+$", "", os.path.splitext(os.path.basename(path))[0]) or "results"
        groups.setdefault(stem, []).append((path, j))
    for stem, group in groups.items():
        runs = [j for _, j in group]
        names = [c["name"] for c in runs[0]["results"][0]["contenders"]]
        rows = []
        for k in range(len(runs[0]["results"])):
            line = [k, runs[0]["results"][k]["size"]]
            for n in names:
                line.append(statistics.median(next((c["median_ns"] for c in r["results"][k]["contenders"]
                                                    if c["name"] == n), float("nan")) for r in runs))
            rows.append(line)
        cfg = runs[0].get("config", {})
        footer = [f"{machine(runs)}; measured {date_of([p for p, _ in group], runs)}",
                  f"{stem}: {len(runs)} run(s)" + (f" of {cfg['rounds']} rounds" if "rounds" in cfg else "") +
                  f", medians; {load_of(runs)}"]
        plots = [f'"d" using 1:{i + 3}{":xtic(2)" if i == 0 else ""} with linespoints lw 2 title "{gp_escape(n)}" noenhanced'
                 for i, n in enumerate(names)]
        script = ("""set ylabel "ns per operation (lower is better)"
set xlabel "size (bytes)"
set yrange [0:*]
stats "d" using 1 nooutput
set xrange [-0.5:STATS_max+0.5]
plot """ + ", \\\n     ".join(plots) + "\n")
        draw(os.path.join(out, f"{stem}.svg"), f"{stem}: median time by size", footer, script, {"d": rows})


# ---- pmemstream_async_compare: asynchronous appends and group commit ---------------------------

def is_async_compare(j):
    sc = j.get("scenarios")
    return isinstance(sc, list) and sc and "rows" in sc[0] and "name" in sc[0]


def plot_async(files, out):
    """One chart per scenario (pmem, disk, shm): appends/s of each contender by size, medians
    over the runs, log scale (a disk msync and a pmem fence differ by a factor of 100)."""
    runs = [j for _, j in files]
    for k, sc in enumerate(runs[0]["scenarios"]):
        names = []
        for row in sc["rows"]:
            for c in row["contenders"]:
                if c["name"] not in names:
                    names.append(c["name"])
        rows = []
        for r, row in enumerate(sc["rows"]):
            line = [f'"{row["size"]} B"']
            for n in names:
                vals = [c["appends_per_s"] for j in runs for c in j["scenarios"][k]["rows"][r]["contenders"] if c["name"] == n]
                line.append(statistics.median(vals) if vals else float("nan"))
            rows.append(line)
        cfg = runs[0].get("config", {})
        footer = [f"{machine(runs)}; measured {date_of([p for p, _ in files], runs)}",
                  f"{len(runs)} run(s) of {cfg.get('rounds', '?')} rounds, medians; {sc.get('fs', '')}, "
                  f"PMEM2_FORCE_GRANULARITY={sc.get('PMEM2_FORCE_GRANULARITY', '?')}; {load_of(runs)}"]
        colours = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
        plots = [f'"d" using {i + 2}{":xtic(1)" if i == 0 else ""} lc rgb "{colours[i % len(colours)]}" title "{gp_escape(n)}" noenhanced'
                 for i, n in enumerate(names)]
        script = ("""set ylabel "appends/s (higher is better)"
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border rgb "#333333"
set boxwidth 0.9
set key top right
plot """ + ", \\\n     ".join(plots) + "\n")
        draw(os.path.join(out, f"async-{sc['name']}.svg"),
             f"Asynchronous appends ({sc['name']})\n{{/*0.7 {gp_escape(sc.get('what', '')).replace('_', chr(92) + '_')}}}", footer, script, {"d": rows})


CHARTS = [
    ("pmemstream_async_compare", is_async_compare, plot_async),
    ("pmemstream_append_compare", is_append_compare, plot_append),
    ("pmemstream_iterate", is_iterate, plot_iterate),
    ("Google Benchmark", is_google_benchmark, plot_micro),
    # Last: the shape any later driver that copies the append driver's output has.
    ("contenders by size", is_contenders_by_size, plot_contenders),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for the SVG files")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--note", default="", help="a line for every chart: how the runs were made")
    ap.add_argument("--png", action="store_true", help="draw PNG instead of SVG (a preview)")
    args = ap.parse_args()
    global PREVIEW_PNG, NOTE
    PREVIEW_PNG = args.png
    NOTE = args.note
    os.makedirs(args.out, exist_ok=True)
    kinds = {name: [] for name, _, _ in CHARTS}
    for p in args.files:
        if not os.path.exists(p):
            continue
        try:
            j = json.load(open(p))
        except (OSError, ValueError) as e:
            print(f"bench-plots: skipping {p}: {e}", file=sys.stderr)
            continue
        for name, test, _ in CHARTS:
            if test(j):
                kinds[name].append((p, j))
                break
        else:
            print(f"bench-plots: {p}: no chart knows this kind of result; skipped", file=sys.stderr)
    drawn = 0
    for name, _, plot in CHARTS:
        if kinds[name]:
            plot(kinds[name], args.out)
            drawn += 1
    if not drawn:
        sys.exit("bench-plots: nothing to draw")


if __name__ == "__main__":
    main()
