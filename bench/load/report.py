#!/usr/bin/env python3
"""Table and plot for bench/load/run.sh.

  report.py RESULTS.jsonl               prints the Markdown table (values and ratio to pgbench TPC-B tps)
  report.py RESULTS.jsonl --plot OUT.png  bars: each workload's rate as a ratio to pgbench, 1 node vs 2 nodes
"""
import json
import os
import subprocess
import sys
import tempfile


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def baseline(rows):
    tps = [r["tps"] for r in rows if r["phase"] == "pgbench"]
    return sum(tps) / len(tps) if tps else None


def fmt(v, digits=1):
    return "" if v is None else f"{v:,.{digits}f}"


def ratio(v, base):
    if v is None or not base:
        return ""
    r = v / base
    return f"{r:.3f}×" if r < 0.1 else f"{r:.2f}×"


def table(rows):
    meta = next(r for r in rows if r["phase"] == "meta")
    base = baseline(rows)
    out = [f"Run {meta['date']} (commit {meta['commit']}), PostgreSQL {meta['postgres']}, {meta['cpu']}, "
           f"{meta['memory_gib']} GiB; {meta['clients']} clients, {meta['duration']} s per timed phase, "
           f"{meta['approvals']} approvals per round; load average at start {meta['loadavg']}.", ""]
    out += ["| workload | nodes | rate | unit | ratio to pgbench | p50 ms | p95 ms | notes |",
            "|---|---:|---:|---|---:|---:|---:|---|"]
    for r in rows:
        if r["phase"] == "pgbench":
            out.append(f"| pgbench TPC-B ({r['label']}) | | {fmt(r['tps'])} | tps | {ratio(r['tps'], base)} | | | "
                       f"load {r['loadavg']} |")
    out.append(f"| **pgbench baseline (mean)** | | **{fmt(base)}** | tps | 1.00× | | | |")
    for r in rows:
        n, load = r.get("nodes"), r.get("loadavg")
        if r["phase"] == "ingest":
            errs = sum(r.get("errors", {}).values())
            out.append(f"| ingest, 2 KB PDF uploads | {n} | {fmt(r['per_second'])} | documents/s | "
                       f"{ratio(r['per_second'], base)} | {fmt(r.get('p50_ms'))} | {fmt(r.get('p95_ms'))} | "
                       f"{r['documents']} in {r['seconds']} s; errors {errs}; load {load} |")
        elif r["phase"] == "approvals":
            a = r["requests"].get("approve", {})
            q = r["requests"].get("request", {})
            out.append(f"| delete requests created | {n} | {fmt(q.get('rps'))} | requests/s | {ratio(q.get('rps'), base)} | "
                       f"{fmt(q.get('p50_ms'))} | {fmt(q.get('p95_ms'))} | {r['requested']} in {r['request_seconds']} s |")
            out.append(f"| approvals: decisions | {n} | {fmt(r['decisions_per_second'])} | decisions/s | "
                       f"{ratio(r['decisions_per_second'], base)} | {fmt(a.get('p50_ms'))} | {fmt(a.get('p95_ms'))} | "
                       f"{r['approved']} in {r['decide_seconds']} s |")
            out.append(f"| approvals: executed, end to end | {n} | {fmt(r['executed_per_second'])} | executed/s | "
                       f"{ratio(r['executed_per_second'], base)} | | | {r['executed']} executed ({r['failed']} failed) "
                       f"{r['executed_seconds']} s after the first approval, {r['executed_after_last_decision_s']} s after the last; "
                       f"outbox lag p50 {r['outbox_lag_p50_s']} s, **p99 {r['outbox_lag_p99_s']} s**, max {r['outbox_lag_max_s']} s; load {load} |")
        elif r["phase"] == "mixed":
            k = r["kinds"]
            per = ", ".join(f"{name} {v['p50_ms']}/{v['p95_ms']}" for name, v in k.items())
            out.append(f"| mixed 80% read / 20% write | {n} | {fmt(r['per_second'])} | requests/s | "
                       f"{ratio(r['per_second'], base)} | {fmt(r['p50_ms'])} | {fmt(r['p95_ms'])} | "
                       f"errors {r['errors']}; p50/p95 ms: {per}; load {load} |")
    mem = [r for r in rows if r["phase"] == "memory"]
    if mem:
        out += ["", "Server memory (MiB; RSS now / peak RSS since the process started):", "",
                "| when | node | RSS | peak RSS |", "|---|---:|---:|---:|"]
        out += [f"| {r['label']} | {r['node']} | {r['rss_mib']} | {r['hwm_mib']} |" for r in mem]
    return "\n".join(out)


def plot(rows, png):
    base = baseline(rows)
    series = {}  # workload -> {nodes: ratio}
    for r in rows:
        n = r.get("nodes")
        if r["phase"] == "ingest":
            series.setdefault("ingest (documents/s)", {})[n] = r["per_second"] / base
        elif r["phase"] == "approvals":
            series.setdefault("approval decisions/s", {})[n] = r["decisions_per_second"] / base
            series.setdefault("approvals executed/s (end to end)", {})[n] = (r["executed_per_second"] or 0) / base
        elif r["phase"] == "mixed":
            series.setdefault("mixed 80/20 (requests/s)", {})[n] = r["per_second"] / base
    top = max([0.35] + [v * 1.15 for values in series.values() for v in values.values()])
    node_counts = sorted({n for v in series.values() for n in v})
    os.makedirs(os.path.dirname(png), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as dat:
        for name, values in series.items():
            dat.write('"' + name + '" ' + " ".join(f"{values[n]:.3f}" if n in values else "NaN" for n in node_counts) + "\n")
    columns = ", ".join(f"'{dat.name}' using {i + 2}:xtic(1) title '{n} API node{'s' if n > 1 else ''}'" if i == 0
                        else f"'' using {i + 2} title '{n} API node{'s' if n > 1 else ''}'" for i, n in enumerate(node_counts))
    script = f"""
set terminal pngcairo size 1100,600 font 'sans,10' noenhanced
set output '{png}'
set title 'DMS load benchmark: rate as a ratio to pgbench TPC-B tps in the same run ({base:.0f} tps; 16 clients, 2 cores shared)'
set ylabel 'ratio to pgbench TPC-B tps'
set yrange [0:{top:.2f}]
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right
set arrow from graph 0, first 0.3 to graph 1, first 0.3 nohead dashtype 2 lc rgb 'red'
set label 'target 0.3x (ingest, executed approvals)' at graph 0.01, first 0.31 tc rgb 'red'
plot {columns}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.unlink(dat.name)


if __name__ == "__main__":
    rows = read(sys.argv[1])
    if len(sys.argv) > 3 and sys.argv[2] == "--plot":
        plot(rows, sys.argv[3])
    else:
        print(table(rows))
