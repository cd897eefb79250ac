#!/usr/bin/env python3
"""Where the time goes, from a `bench/load/run.sh --profile` run's directory.

  profile.py DIR    prints Markdown: per phase, transactions and statements per request (pg_stat_database,
                    pg_stat_statements), where the app's sessions were (pg_stat_activity wait events, sampled every
                    100 ms), and the app's own per-request timings (/metrics deltas: HTTP, Npgsql commands, storage,
                    outbox handlers).
"""
import collections
import glob
import json
import os
import re
import sys

d = sys.argv[1]
rows = [json.loads(x) for x in open(os.path.join(d, "results.jsonl")) if x.strip()]


def requests_of(label):
    """The requests the phase made (what 'per request' divides by) and what they are."""
    phase, nodes = label.split(" nodes=")
    for r in rows:
        if r.get("phase") == phase and str(r.get("nodes")) == nodes:
            if phase == "ingest":
                return r["documents"], "uploads"
            if phase == "approvals":
                return r["approved"], "approvals (each: 1 delete request + 1 decision + its execution)"
            if phase == "mixed":
                return r["requests"], "mixed requests"
    return None, ""


xact = collections.defaultdict(dict)
for line in open(os.path.join(d, "xact.psv")):
    f = line.strip().split("|")
    if len(f) >= 8:
        xact[f[0]][f[1]] = [float(x) for x in f[2:8]]

waits = collections.defaultdict(collections.Counter)
ticks = collections.Counter()
if os.path.exists(os.path.join(d, "waits.psv")):
    for line in open(os.path.join(d, "waits.psv")):
        f = line.rstrip("\n").split("|")
        if len(f) != 4:
            continue
        if f[1] == "tick":
            ticks[f[0]] += 1
        else:
            waits[f[0]][f"{f[2]}:{f[3]}" if f[2] != "CPU" else "CPU (running, no wait event)"] += 1

statements = collections.defaultdict(list)
for line in open(os.path.join(d, "statements.psv")):
    f = line.rstrip("\n").split("|", 5)
    if len(f) == 6:
        statements[f[0]].append((int(f[1] or 0), float(f[2] or 0), f[5]))

METRIC = re.compile(r'^([a-z_]+)\{(.*)\} ([0-9.eE+-]+)$')


def metrics(label, when):
    total = collections.Counter()
    for path in glob.glob(os.path.join(d, "metrics", f"{label.replace(' ', '_')}.{when}.node*.prom")):
        for line in open(path):
            m = METRIC.match(line.strip())
            if not m:
                continue
            name, labels, value = m.groups()
            lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            if name.startswith("http_server_request_duration_seconds_") and not name.endswith("bucket"):
                key = (name.rsplit("_", 1)[1], f"http {lab.get('http_request_method')} {lab.get('http_route')} {lab.get('http_response_status_code')}")
            elif name.startswith("db_client_operation_duration_seconds_") and not name.endswith("bucket"):
                key = (name.rsplit("_", 1)[1], "npgsql commands" + ("" if lab.get("db_client_connection_pool_name") == "dms" else " (other pools)"))
            elif name.startswith("dms_storage_operation_duration_seconds_") and not name.endswith("bucket"):
                key = (name.rsplit("_", 1)[1], f"storage {lab.get('operation')}")
            elif name.startswith("dms_outbox_handler_duration_seconds_") and not name.endswith("bucket"):
                key = (name.rsplit("_", 1)[1], f"outbox handler {lab.get('type')} {lab.get('outcome')}")
            else:
                continue
            total[key] += float(value)
    return total


out = ["# Profile", ""]
labels = [k for k in xact if "stop" in xact[k]]
for label in labels:
    n, what = requests_of(label) if not label.startswith("idle") else (None, "")
    a, b = xact[label]["start"], xact[label]["stop"]
    seconds = b[0] - a[0]
    commits, rollbacks, ins, upd = b[1] - a[1], b[2] - a[2], b[3] - a[3], b[4] - a[4]
    out.append(f"## {label}")
    out.append("")
    per = f"; per request ({n} {what}): {commits / n:.1f} commits, {ins / n:.1f} rows inserted, {upd / n:.1f} updated" if n else ""
    out.append(f"- {seconds:.1f} s: {commits:.0f} commits ({commits / seconds:.1f}/s), {rollbacks:.0f} rollbacks, "
               f"{ins:.0f} rows inserted, {upd:.0f} updated{per}.")
    st = statements.get(label, [])
    total = next((s for s in st if s[2] == "ALL STATEMENTS"), None)
    if total and n:
        out.append(f"- statements (pg_stat_statements, including BEGIN/COMMIT and workers): {total[0]} calls, "
                   f"{total[0] / n:.1f} per request; {total[1] / 1000:.1f} s executing in PostgreSQL "
                   f"({total[1] / n:.1f} ms per request).")
    t = ticks.get(label, 0)
    if t:
        w = waits.get(label, collections.Counter())
        busy = sum(w.values())
        out.append(f"- app sessions not idle: {busy / t:.1f} on average ({t} samples); where they were:")
        for k, v in w.most_common(8):
            out.append(f"  - {k}: {100 * v / busy:.0f}%")
    m0, m1 = metrics(label, "start"), metrics(label, "stop")
    keys = sorted({k[1] for k in m1})
    lines = []
    for k in keys:
        c = m1[("count", k)] - m0[("count", k)]
        s = m1[("sum", k)] - m0[("sum", k)]
        if c > 0:
            lines.append((s, f"  - {k}: {c:.0f} × {1000 * s / c:.1f} ms = {s:.1f} s" + (f" ({c / n:.1f} per request, {1000 * s / n:.1f} ms per request)" if n else "")))
    if lines:
        out.append("- the app's own timings (/metrics deltas, all nodes):")
        out += [x for _, x in sorted(lines, reverse=True)[:12]]
    if st and n:
        out.append("")
        out.append("| calls/request | ms total | mean ms | statement |")
        out.append("|---:|---:|---:|---|")
        for calls, ms, q in sorted((s for s in st if s[2] != "ALL STATEMENTS"), key=lambda s: -s[1])[:15]:
            out.append(f"| {calls / n:.2f} | {ms:.0f} | {ms / max(calls, 1):.2f} | `{q[:110].replace('|', '/')}` |")
    out.append("")
print("\n".join(out))
