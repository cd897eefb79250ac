#!/usr/bin/env python3
"""Load client for bench/load/run.sh (issue 18, item 6). Python 3 standard library only.

  load.py setup     --base URL --platform-key KEY --slug SLUG                 -> JSON: tenant, users, tokens
  load.py ingest    --nodes URL[,URL] --token T --clients 16 --duration S --ids FILE
  load.py approvals --nodes URL[,URL] --requester T --approver T --ids FILE --count N --clients 16 --tenant ID
  load.py seed      --nodes URL[,URL] --token T --ids FILE --count N          (untimed uploads up to N documents)
  load.py mixed     --nodes URL[,URL] --token T --ids FILE --clients 16 --duration S

Each measuring command prints one JSON object on stdout. Every client thread keeps one keep-alive connection to one
node; with two nodes, thread i talks to node i % 2 (the client spreads the requests evenly). Latencies are measured
around each request (send to last byte of the answer). Any non-2xx answer counts as an error and is reported; the run
does not stop for it.
"""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse

# ---------------------------------------------------------------------------------------------------------------------
# HTTP


class Node:
    """One keep-alive connection to one app node."""

    def __init__(self, base, token=None):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.token = token
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if headers:
            h.update(headers)
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data
            except (http.client.HTTPException, ConnectionError, OSError):
                # The server may close an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise

    def json(self, method, path, payload=None, headers=None):
        body = None if payload is None else json.dumps(payload).encode()
        h = {"Content-Type": "application/json"} if body is not None else {}
        if headers:
            h.update(headers)
        status, data = self.request(method, path, body, h)
        return status, (json.loads(data) if data and data[:1] in (b"{", b"[") else data)


def must(status_body, what):
    status, body = status_body
    if not 200 <= status < 300:
        sys.exit(f"{what} answered {status}: {body}")
    return body


# ---------------------------------------------------------------------------------------------------------------------
# A 2 KB PDF, different in every upload (a duplicate check must never see two equal files), with a valid xref table.

def pdf(label):
    words = ("invoice contract quarterly report budget delivery schedule archive policy review ").split()
    rnd = random.Random(label)
    lines = []
    while sum(len(x) + 20 for x in lines) < 1500:
        lines.append(" ".join(rnd.choice(words) for _ in range(8)))
    text = "BT /F1 10 Tf 40 800 Td 12 TL " + " ".join(f"({ln}) '" for ln in [label] + lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
    ]
    out = "%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n" + "".join(f"{o:010d} 00000 n \n" for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out.encode("latin-1")


BOUNDARY = "----dmsbench7f3a9c"


def multipart(title, file_bytes, filename):
    # Metadata first: the server streams the form and takes the fields that precede the file.
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\n{title}\r\n'.encode(),
             f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="tags"\r\n\r\nbench\r\n'.encode(),
             (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
              f"Content-Type: application/pdf\r\n\r\n").encode() + file_bytes + b"\r\n",
             f"--{BOUNDARY}--\r\n".encode()]
    return b"".join(parts)


def upload(node, label):
    body = multipart(label, pdf(label), label.replace(" ", "-") + ".pdf")
    status, data = node.request("POST", "/api/v1/documents", body,
                                {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    return status, data


# ---------------------------------------------------------------------------------------------------------------------
# Running N threads, timing every request


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p
    f = int(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = {}  # kind -> [seconds]
        self.errors = {}     # kind -> {status: count}
        self.samples = {}    # kind -> first error bodies

    def add(self, kind, seconds, status, body=b""):
        with self.lock:
            if 200 <= status < 300:
                self.latencies.setdefault(kind, []).append(seconds)
            else:
                e = self.errors.setdefault(kind, {})
                e[status] = e.get(status, 0) + 1
                s = self.samples.setdefault(kind, [])
                if len(s) < 3:
                    s.append(f"{status} {body[:300]!r}")

    def summary(self, elapsed):
        out = {}
        for kind in sorted(set(self.latencies) | set(self.errors)):
            lat = self.latencies.get(kind, [])
            out[kind] = {"ok": len(lat), "rps": round(len(lat) / elapsed, 1),
                         "p50_ms": ms(percentile(lat, 0.50)), "p95_ms": ms(percentile(lat, 0.95)),
                         "p99_ms": ms(percentile(lat, 0.99)), "errors": self.errors.get(kind, {}),
                         "error_samples": self.samples.get(kind, [])}
        return out


def ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def timed(stats, kind, fn):
    t = time.perf_counter()
    status, body = fn()
    stats.add(kind, time.perf_counter() - t, status, body)
    return status, body


def run_threads(n, target):
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------------------------
# Commands


def cmd_setup(args):
    admin = Node(args.base)
    key = {"X-Platform-Key": args.platform_key}
    tenant = must(admin.json("POST", "/api/v1/platform/tenants",
                             {"slug": args.slug, "name": f"Bench {args.slug}", "adminEmail": f"admin@{args.slug}.test",
                              "adminPassword": "bench-admin-password"}, key), "create tenant")
    login = lambda email, pw: must(Node(args.base).json("POST", "/api/v1/auth/login",
                                                       {"tenant": args.slug, "email": email, "password": pw}), "login")
    admin.token = login(f"admin@{args.slug}.test", "bench-admin-password")["accessToken"]
    approver = must(admin.json("POST", "/api/v1/users", {"email": f"approver@{args.slug}.test",
                                                         "password": "bench-approver-password", "role": "Admin"}),
                    "create approver")
    approver_token = login(f"approver@{args.slug}.test", "bench-approver-password")["accessToken"]
    print(json.dumps({"tenant": tenant["id"], "admin": tenant["adminUserId"], "approver": approver["id"],
                      "adminToken": admin.token, "approverToken": approver_token}))


def cmd_ingest(args):
    urls = [u for u in args.nodes.split(",") if u]
    stats, ids, lock = Stats(), [], threading.Lock()
    deadline = time.perf_counter() + args.duration

    def worker(i):
        node = Node(urls[i % len(urls)], args.token)
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            status, body = timed(stats, "upload", lambda: upload(node, f"bench {args.tag} {i}-{n}"))
            if status == 201:
                with lock:
                    ids.append(json.loads(body)["id"])

    elapsed = run_threads(args.clients, worker)
    with open(args.ids, "a") as f:
        f.writelines(x + "\n" for x in ids)
    s = stats.summary(elapsed).get("upload", {})
    print(json.dumps({"phase": "ingest", "clients": args.clients, "seconds": round(elapsed, 2),
                      "documents": len(ids), "per_second": round(len(ids) / elapsed, 1), **s}))


def psql(sql):
    """A query as the owner on the bench database (connection from PG* variables set by run.sh)."""
    return subprocess.run(["psql", "-X", "-tA", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def in_tenant(tenant, sql):
    """A query with the tenant set (FORCE RLS applies to the owner too)."""
    return subprocess.run(["psql", "-X", "-tA", "-F", "|", "-v", "ON_ERROR_STOP=1"],
                          input=f"SELECT set_config('app.tenant_id', '{tenant}', false) \\g /dev/null\n{sql}\n",
                          check=True, capture_output=True, text=True).stdout.strip()


def cmd_approvals(args):
    urls = [u for u in args.nodes.split(",") if u]
    with open(args.ids) as f:
        docs = [x.strip() for x in f if x.strip()]
    used = set()
    if os.path.exists(args.ids + ".used"):
        with open(args.ids + ".used") as f:
            used = {x.strip() for x in f}
    docs = [d for d in docs if d not in used][: args.count]
    if len(docs) < args.count:
        sys.exit(f"only {len(docs)} unused documents for {args.count} approvals: run ingest longer")
    with open(args.ids + ".used", "a") as f:
        f.writelines(x + "\n" for x in docs)

    # 1. The requests (the requester is one admin; the four-eyes rule needs another to decide).
    stats, requests, lock = Stats(), [], threading.Lock()
    chunks = [docs[i::args.clients] for i in range(args.clients)]

    def request_worker(i):
        node = Node(urls[i % len(urls)], args.requester)
        for doc in chunks[i]:
            status, body = timed(stats, "request", lambda: node.json("POST", f"/api/v1/documents/{doc}/delete-requests",
                                                                     {"reason": "bench"}))
            if status == 201:
                with lock:
                    requests.append(body["id"])

    request_seconds = run_threads(args.clients, request_worker)

    # 2. The decisions, from the moment the first approval is sent; then wait until every one is executed.
    chunks = [requests[i::args.clients] for i in range(args.clients)]
    decided_at = psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")

    def approve_worker(i):
        node = Node(urls[i % len(urls)], args.approver)
        for rid in chunks[i]:
            timed(stats, "approve", lambda: node.json("POST", f"/api/v1/approvals/{rid}/approve", {"comment": "ok"}))

    start = time.perf_counter()
    decide_seconds = run_threads(args.clients, approve_worker)
    approved = len(stats.latencies.get("approve", []))
    ids_sql = "ARRAY[" + ",".join(f"'{r}'::uuid" for r in requests) + "]"
    executed = 0
    poll_deadline = time.perf_counter() + args.timeout
    while time.perf_counter() < poll_deadline:
        executed = int(in_tenant(args.tenant, f"SELECT count(*) FROM approval_requests WHERE id = ANY({ids_sql}) "
                                              "AND status IN ('Executed','Failed')") or 0)
        if executed >= approved:
            break
        time.sleep(0.2)
    end_to_end_poll = time.perf_counter() - start
    # End to end from the database's own clock: first approval sent -> last execution committed.
    row = in_tenant(args.tenant, f"""
        SELECT count(*) FILTER (WHERE status = 'Executed'),
               count(*) FILTER (WHERE status = 'Failed'),
               extract(epoch FROM max(executed_at) - '{decided_at}'::timestamp AT TIME ZONE 'UTC'),
               extract(epoch FROM max(decided_at) - '{decided_at}'::timestamp AT TIME ZONE 'UTC')
        FROM approval_requests WHERE id = ANY({ids_sql})""").split("|")
    n_exec, n_failed = int(row[0]), int(row[1])
    exec_span = float(row[2]) if row[2] else None
    # Outbox lag: created (in the deciding transaction) -> processed, for the execution messages of these requests,
    # and for every default-lane message written while the approvals ran (executions, notifications, purges…).
    lag = in_tenant(args.tenant, f"""
        SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - created_at)))::numeric, 3),
               round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - created_at)))::numeric, 3),
               round(max(extract(epoch FROM processed_at - created_at))::numeric, 3), count(*)
        FROM outbox_messages WHERE type = 'approval.execute' AND payload->>'approvalId' = ANY({ids_sql}::text[])""").split("|")
    stats_summary = stats.summary(decide_seconds)
    stats_summary["request"]["rps"] = round(len(requests) / request_seconds, 1)
    print(json.dumps({
        "phase": "approvals", "clients": args.clients, "count": args.count, "requested": len(requests),
        "request_seconds": round(request_seconds, 2), "approved": approved, "decide_seconds": round(decide_seconds, 2),
        "decisions_per_second": round(approved / decide_seconds, 1), "executed": n_exec, "failed": n_failed,
        "executed_seconds": None if exec_span is None else round(exec_span, 2),
        "executed_per_second": None if not exec_span else round(n_exec / exec_span, 1),
        "executed_after_last_decision_s": None if exec_span is None else round(exec_span - decide_seconds, 2),
        "poll_seconds": round(end_to_end_poll, 2),
        "outbox_lag_p50_s": float(lag[0]) if lag[0] else None, "outbox_lag_p99_s": float(lag[1]) if lag[1] else None,
        "outbox_lag_max_s": float(lag[2]) if lag[2] else None, "outbox_messages": int(lag[3] or 0),
        "requests": stats_summary}))


def cmd_seed(args):
    """Uploads (untimed) until the ids file holds at least --count documents: the approvals need that many."""
    urls = [u for u in args.nodes.split(",") if u]
    have = sum(1 for x in open(args.ids) if x.strip()) if os.path.exists(args.ids) else 0
    missing = max(0, args.count - have)
    ids, lock = [], threading.Lock()

    def worker(i):
        node = Node(urls[i % len(urls)], args.token)
        for n in range(i, missing, args.clients):
            status, body = upload(node, f"bench seed {args.tag} {n}")
            if status == 201:
                with lock:
                    ids.append(json.loads(body)["id"])

    run_threads(args.clients, worker)
    with open(args.ids, "a") as f:
        f.writelines(x + "\n" for x in ids)
    print(json.dumps({"phase": "seed", "had": have, "uploaded": len(ids)}))


def cmd_mixed(args):
    """80% reads (40% list, 20% search, 20% GET by id), 20% writes (10% upload, 10% metadata edit)."""
    urls = [u for u in args.nodes.split(",") if u]
    if args.seed_uploads:
        # A warm-up into an empty tenant: first a few documents to read and edit.
        seeded, lock = [], threading.Lock()

        def seed(i):
            node = Node(urls[i % len(urls)], args.token)
            for n in range(i, args.seed_uploads, args.clients):
                status, body = upload(node, f"bench seed {args.tag} {n}")
                if status == 201:
                    with lock:
                        seeded.append(json.loads(body)["id"])

        run_threads(args.clients, seed)
        with open(args.ids, "a") as f:
            f.writelines(x + "\n" for x in seeded)
    with open(args.ids) as f:
        docs = [x.strip() for x in f if x.strip()]
    used = set()
    if os.path.exists(args.ids + ".used"):
        with open(args.ids + ".used") as f:
            used = {x.strip() for x in f}
    docs = [d for d in docs if d not in used]  # documents under a delete request are gone or pending
    if not docs:
        sys.exit("no documents to read or edit: run ingest first or pass --seed-uploads")
    words = ["invoice", "contract", "quarterly", "budget", "schedule", "archive"]
    stats = Stats()
    deadline = time.perf_counter() + args.duration
    mix = ["list"] * 40 + ["search"] * 20 + ["get"] * 20 + ["upload"] * 10 + ["edit"] * 10

    def worker(i):
        node = Node(urls[i % len(urls)], args.token)
        rnd = random.Random(i)
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            kind = rnd.choice(mix)
            if kind == "list":
                fn = lambda: node.request("GET", "/api/v1/documents")
            elif kind == "search":
                fn = lambda: node.request("GET", "/api/v1/documents?q=" + rnd.choice(words))
            elif kind == "get":
                fn = lambda: node.request("GET", "/api/v1/documents/" + rnd.choice(docs))
            elif kind == "upload":
                fn = lambda: upload(node, f"bench mixed {args.tag} {i}-{n}")
            else:
                doc = rnd.choice(docs)
                fn = lambda: node.request("PATCH", "/api/v1/documents/" + doc,
                                          json.dumps({"description": f"edited {i}-{n}"}).encode(),
                                          {"Content-Type": "application/json", "If-Match": "*"})
            timed(stats, kind, fn)

    elapsed = run_threads(args.clients, worker)
    per_kind = stats.summary(elapsed)
    all_lat = [x for v in stats.latencies.values() for x in v]
    errors = sum(sum(e.values()) for e in stats.errors.values())
    print(json.dumps({"phase": "mixed", "clients": args.clients, "seconds": round(elapsed, 2),
                      "requests": len(all_lat), "per_second": round(len(all_lat) / elapsed, 1),
                      "p50_ms": ms(percentile(all_lat, 0.5)), "p95_ms": ms(percentile(all_lat, 0.95)),
                      "p99_ms": ms(percentile(all_lat, 0.99)), "errors": errors, "kinds": per_kind}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--base", required=True)
    s.add_argument("--platform-key", required=True)
    s.add_argument("--slug", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--nodes", required=True)
    s.add_argument("--token", required=True)
    s.add_argument("--ids", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--clients", type=int, default=16)
    s.add_argument("--tag", default="")
    for name in ("ingest", "approvals", "mixed"):
        s = sub.add_parser(name)
        s.add_argument("--nodes", required=True, help="comma-separated base URLs")
        s.add_argument("--clients", type=int, default=16)
        s.add_argument("--ids", required=True, help="file of uploaded document ids (ingest appends)")
        s.add_argument("--tag", default="")
        if name == "mixed":
            s.add_argument("--seed-uploads", type=int, default=0, help="upload this many documents first (warm-up)")
        if name != "approvals":
            s.add_argument("--token", required=True)
            s.add_argument("--duration", type=float, default=20)
        else:
            s.add_argument("--requester", required=True)
            s.add_argument("--approver", required=True)
            s.add_argument("--tenant", required=True)
            s.add_argument("--count", type=int, default=500)
            s.add_argument("--timeout", type=float, default=300)
    args = p.parse_args()
    {"setup": cmd_setup, "seed": cmd_seed, "ingest": cmd_ingest, "approvals": cmd_approvals, "mixed": cmd_mixed}[args.cmd](args)


if __name__ == "__main__":
    main()
