#!/usr/bin/env python3
"""Tables and plot for bench/scale/run.sh.

  report.py RESULTS_DIR N               writes RESULTS_DIR/N.md from N.csv and N.meta (ratios against 10000.csv if present)
  report.py RESULTS_DIR --plot OUT.png  p95 per request type at every N with results (10k/100k/1M side by side)
"""
import csv
import os
import subprocess
import sys
import tempfile

SIZES = [10_000, 100_000, 1_000_000]


def label(n):
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def load(results, n):
    path = os.path.join(results, f"{n}.csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        return {row["request"]: row for row in csv.DictReader(f)}


def meta(results, n):
    values = {}
    with open(os.path.join(results, f"{n}.meta")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            values[key] = value
    return values


def p95(rows, prefix):
    return next((float(r["p95_ms"]) for name, r in rows.items() if name.startswith(prefix)), None)


EXPECTED = [("search rare", "expected_rare"), ("search common", "expected_common"), ("search phrase", "expected_phrase"),
            ("search no hit", "expected_nohit"), ("search typo", "expected_typo"), ("tag filter", "expected_tag"),
            ("type=image", "expected_image"), ("status=PendingDelete", "expected_pending"), ("member list", "expected_member")]


def expected(m, name):
    return next((m.get(key, "") for prefix, key in EXPECTED if name.startswith(prefix)), "")


def fmt(x, digits=1):
    return "" if x is None else f"{x:,.{digits}f}"


def table(results, n):
    rows = load(results, n)
    m = meta(results, n)
    tps = float(m["pgbench_tps"]) if m.get("pgbench_tps") else None
    out = [f"# Scale benchmark: {label(n)} documents", ""]
    out.append(f"`bench/scale/run.sh --docs {n}` on {m['date']} (commit {m['commit']}), PostgreSQL {m['postgres']}, "
               f"{m['cpu']}, {m['memory_gib']} GiB; load average at the end {m['loadavg']} (the machine is shared).")
    out.append(f"Seeded {int(m['documents']):,} documents ({int(m['live']):,} live), {int(m['versions']):,} versions, "
               f"{int(m['texts']):,} extracted texts, {m['workspaces']} workspaces; database {m['database_size']}. "
               f"Seeding took {m['seed_seconds']} s, the load run {m['load_seconds']} s "
               f"({m['clients']} connections, {m['warmup']} s warm-up + {m['duration']} s per request type).")
    out.append("")
    out.append("| request | p50 ms | p95 ms | p99 ms | requests | rps | HTTP | first page | total | errors | live documents it should find |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, r in rows.items():
        errors = int(r["non2xx"]) + int(r["socket_errors"])
        out.append(f"| {name} | {fmt(float(r['p50_ms']))} | {fmt(float(r['p95_ms']))} | {fmt(float(r['p99_ms']))} | "
                   f"{int(r['requests']):,} | {fmt(float(r['rps']), 0 if float(r['rps']) >= 10 else 1)} | {r['http_status']} | {r['first_page_items']} | {r['total']} | {errors or ''} | {expected(m, name)} |")
    out.append(f"| `pgbench -S -c {m['clients']} -j 2` (baseline) | | | | | {fmt(tps, 0)} tps | | | | | |")
    out.append("")

    get95 = p95(rows, "GET /documents")
    get_rps = float(next(r["rps"] for name, r in rows.items() if name.startswith("GET /documents")))
    list95 = p95(rows, "list")
    member95 = p95(rows, "member list")
    searches = [(name, float(r["p95_ms"])) for name, r in rows.items() if name.startswith("search")]
    worst = max(searches, key=lambda s: s[1])
    small = load(results, 10_000)
    list10k = p95(small, "list") if small else None

    def verdict(value, target, at_most=True):
        if value is None:
            return "n/a"
        return "met" if (value <= target if at_most else value >= target) else "**not met**"

    out.append("| target (issue 12; the targets are for 1M) | value | target | |")
    out.append("|---|---:|---:|---|")
    ratio = worst[1] / get95
    out.append(f"| search p95 / GET-by-id p95 (worst: {worst[0]}) | {ratio:.1f}× | ≤ 3× | {verdict(ratio, 3)} |")
    for name, value in searches:
        if name != worst[0]:
            out.append(f"| &nbsp;&nbsp;{name} p95 / GET p95 | {value / get95:.1f}× | ≤ 3× | {verdict(value / get95, 3)} |")
    ratio = member95 / list95
    out.append(f"| member list p95 / admin list p95 | {ratio:.2f}× | ≤ 1.5× | {verdict(ratio, 1.5)} |")
    if list10k and n != 10_000:
        ratio = list95 / list10k
        out.append(f"| list p95 at {label(n)} / list p95 at 10k ({list10k:.1f} ms) | {ratio:.2f}× | ≤ 1.5× | {verdict(ratio, 1.5)} |")
    else:
        out.append("| list p95 here / list p95 at 10k | (this is the 10k run) | ≤ 1.5× | |")
    if tps:
        ratio = get_rps / tps
        out.append(f"| GET-by-id rps / pgbench -S tps | {ratio:.2f}× ({get_rps:,.0f} / {tps:,.0f}) | ≥ 0.3× | {verdict(ratio, 0.3, at_most=False)} |")
    few = [name for name, r in rows.items() if int(r["requests"]) < 100]
    if few:
        out.append("")
        out.append(f"Fewer than 100 requests completed for: {', '.join(few)}. wrk counts only requests that end within the "
                   "run, so with latencies near the run's length these percentiles rest on a handful of samples and are "
                   "biased low.")
    out.append("")
    with open(os.path.join(results, f"{n}.md"), "w") as f:
        f.write("\n".join(out))
    print("\n".join(out))


def plot(results, png):
    runs = [(n, load(results, n)) for n in SIZES]
    runs = [(n, rows) for n, rows in runs if rows]
    if not runs:
        return
    names = list(runs[-1][1].keys())
    os.makedirs(os.path.dirname(png), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as dat:
        dat.write("# request " + " ".join(label(n) for n, _ in runs) + "\n")
        for name in names:
            values = [rows[name]["p95_ms"] if name in rows else "NaN" for _, rows in runs]
            dat.write('"' + name.replace('"', "'") + '" ' + " ".join(values) + "\n")
    columns = ", ".join(f"'{dat.name}' using {i + 2}:xtic(1) title '{label(n)} documents'" if i == 0
                        else f"'' using {i + 2} title '{label(n)} documents'" for i, (n, _) in enumerate(runs))
    script = f"""
set terminal pngcairo size 1400,700 font 'sans,10' noenhanced
set output '{png}'
set title 'DMS scale benchmark: p95 latency per request (8 clients, wrk; log scale)'
set ylabel 'p95 latency (ms)'
set logscale y
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top left
set xtics rotate by -30 left
set bmargin 9
set rmargin 14
plot {columns}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.unlink(dat.name)


if __name__ == "__main__":
    if sys.argv[2] == "--plot":
        plot(sys.argv[1], sys.argv[3])
    else:
        table(sys.argv[1], int(sys.argv[2]))
