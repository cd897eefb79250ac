#!/usr/bin/env bash
# Load benchmark (issue 18, item 6): ingest, approvals and a mixed read/write workload with 1 and 2 API nodes, beside
# pgbench TPC-B in the same run.
#
#   bench/load/run.sh [--nodes 1,2] [--phases ingest,approvals,mixed] [--duration 20] [--warmup 5] [--clients 16] [--approvals 500] [--profile] [--no-build]
#                     [--pg-port 55450] [--app-port 55490] [--out DIR] [--keep]
#
# --nodes     which rounds to run: "1", "2" or "1,2" (default): each round makes a fresh tenant and runs ingest,
#             approvals and mixed against that many app processes (node k listens on app-port + k - 1).
# --phases    which phases each round runs (default all three; e.g. "ingest" to compare uploads before/after a change).
# --duration  seconds of ingest, of mixed and of each pgbench run; --clients concurrent clients everywhere (default 16).
# --warmup    seconds of mixed load (not measured) at the start of each round, so JIT and pools are warm on every node.
# --approvals delete requests created, then approved, per round (taken from that round's ingested documents).
# --profile   also load pg_stat_statements and sample pg_stat_activity wait events and per-database commits while each
#             phase runs (for docs/performance.md, "Write path: where the time goes"); written to the results dir.
#
# Starts a throwaway PostgreSQL cluster on 127.0.0.1 (own port, data under /tmp) with the dms_owner/dms_app roles,
# initialises pgbench (scale 16) in a side database, runs pgbench TPC-B (-c clients, -j 2) before and after the app's
# phases, starts the Release app as separate process(es) sharing one data directory (blobs, signing keys) on the one
# database, and drives it with load.py (Python 3 stdlib). Between phases it waits until the outbox is drained (text
# extraction of the uploads runs in the background lanes) so that no phase measures the previous one's leftovers.
# Writes DIR/results.jsonl, DIR/results.md and DIR/load.png (default DIR: bench/load/results/<UTC time>); a full run
# (all phases, --nodes 1,2) also copies the plot to docs/benchmarks/load.png. Everything it started is stopped on exit
# (also on Ctrl+C or an error).
# Needs: dotnet, PostgreSQL 15+ server binaries, psql, pgbench, python3, gnuplot. Run as root (PostgreSQL then runs as
# the postgres user) or as a user who may run initdb.
set -euo pipefail

rounds="1,2" phases="ingest,approvals,mixed" duration=20 warmup=5 clients=16 approvals=500 profile=0 build=1 pg_port=55450 app_port=55490 out="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) rounds="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --phases) phases="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --approvals) approvals="$2"; shift 2 ;;
    --profile) profile=1; shift ;;
    --no-build) build=0; shift ;;
    --pg-port) pg_port="$2"; shift 2 ;;
    --app-port) app_port="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${out:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
bin="$(pg_config --bindir 2>/dev/null || true)"
[ -x "$bin/initdb" ] || bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
for tool in psql pgbench curl python3 gnuplot dotnet; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }

dir="$(mktemp -d /tmp/dms-load.XXXXXX)"
chmod 755 "$dir"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
super="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
declare -a app_pids=()
sampler_pid=""
cleanup() {
  set +e
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
  for pid in "${app_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null; fi
  done
  if [ -f "$dir/data/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null; fi
  if [ "$keep" = 1 ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

# 1. The cluster: passwords on every TCP connection, as in production; 127.0.0.1 only.
mkdir -p "$dir/data" "$dir/sock" "$dir/app"
if [ "$(id -u)" = 0 ]; then chown postgres "$dir/data" "$dir/sock"; fi
echo "bench-super" > "$dir/pw"; chmod 644 "$dir/pw"
as_pg "$bin/initdb" -D "$dir/data" -U "$super" --pwfile="$dir/pw" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$dir/sock'
max_connections = 300
shared_buffers = 1GB
effective_cache_size = 4GB
work_mem = 16MB
maintenance_work_mem = 512MB
max_wal_size = 8GB
checkpoint_timeout = 15min
EOF
if [ "$profile" = 1 ]; then
  cat >> "$dir/data/postgresql.conf" <<EOF
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
track_io_timing = on
EOF
fi
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/postgres.log" -w start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$pg_port
su_psql() { PGPASSWORD=bench-super psql -U "$super" -X -q -v ON_ERROR_STOP=1 "$@"; }
su_psql -d postgres <<'SQL'
CREATE ROLE dms_owner LOGIN CREATEROLE PASSWORD 'bench-owner';
CREATE ROLE dms_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'bench-app';
CREATE DATABASE dms OWNER dms_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE dms FROM PUBLIC;
GRANT CONNECT ON DATABASE dms TO dms_app;
CREATE DATABASE pgbench;
SQL
[ "$profile" = 1 ] && su_psql -d dms -c "CREATE EXTENSION pg_stat_statements"
log "PostgreSQL $(su_psql -d postgres -tAc 'SHOW server_version') on 127.0.0.1:$pg_port, data in $dir/data"
PGPASSWORD=bench-super pgbench -U "$super" -i -s 16 -q pgbench 2>&1 | tail -1 >&2

results="$out/results.jsonl"
: >"$results"
emit() { echo "$1" >>"$results"; }
machine() { printf '"uptime":"%s","loadavg":"%s"' "$(uptime | sed 's/.*up/up/')" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
emit "{\"phase\":\"meta\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"commit\":\"$(git -C "$repo" describe --always --dirty)\",\"postgres\":\"$(su_psql -d postgres -tAc 'SHOW server_version')\",\"cpu\":\"$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1) x $(nproc)\",\"memory_gib\":$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo),\"duration\":$duration,\"clients\":$clients,\"approvals\":$approvals,$(machine)}"

pgbench_run() { # pgbench_run <label>: TPC-B, the baseline every ratio is taken against
  local tps
  tps="$(PGPASSWORD=bench-super pgbench -U "$super" -c "$clients" -j 2 -T "$duration" -n pgbench 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -1)"
  log "pgbench TPC-B ($1): $tps tps"
  emit "{\"phase\":\"pgbench\",\"label\":\"$1\",\"tps\":$tps,$(machine)}"
}

# 2. The app: Release build, migrations on the first node's start.
if [ "$build" = 1 ]; then
  log "building the app (Release)"
  dotnet build "$repo/src/Dms/Dms.csproj" -c Release -nologo -v q 2>&1 | grep -E " error |rror\(s\)" >&2 || true
fi
platform_key="bench-platform-$(date +%s)"
export ConnectionStrings__Dms="Host=127.0.0.1;Port=$pg_port;Database=dms;Username=dms_app;Password=bench-app"
export ConnectionStrings__DmsOwner="Host=127.0.0.1;Port=$pg_port;Database=dms;Username=dms_owner;Password=bench-owner"
# Every node shares the data directory: blobs, the token signing key and the audit checkpoint key.
export Dms__DataDirectory="$dir/app" Dms__Platform__ApiKey="$platform_key" Dms__Bootstrap__AdminPassword="bench-bootstrap-1"
export Dms__Auth__AccessTokenLifetime="06:00:00"
# 16 clients upload as one user: the per-user upload limit (120/min) would otherwise be what is measured.
export Dms__Security__UploadRateLimit__PermitLimit=100000000 Dms__Security__LoginRateLimit__PermitLimit=1000
export Logging__LogLevel__Default=Warning ASPNETCORE_ENVIRONMENT=Production
dll="$repo/src/Dms/bin/Release/net10.0/Dms.dll"

start_node() { # start_node <k>
  local base="http://127.0.0.1:$((app_port + $1 - 1))"
  dotnet "$dll" --urls "$base" >"$dir/app$1.log" 2>&1 &
  app_pids[$1]=$!
  for _ in $(seq 1 240); do
    curl -sf "$base/health/ready" >/dev/null && break
    kill -0 "${app_pids[$1]}" 2>/dev/null || { cat "$dir/app$1.log" >&2; exit 1; }
    sleep 0.5
  done
  curl -sf "$base/health/ready" >/dev/null || { echo "node $1 did not become ready" >&2; tail -50 "$dir/app$1.log" >&2; exit 1; }
  log "node $1 ready on $base (pid ${app_pids[$1]})"
}
memory() { # memory <label>: VmRSS and VmHWM (peak) of every running node, in MiB
  local k
  for k in "${!app_pids[@]}"; do
    local st="/proc/${app_pids[$k]}/status"
    [ -r "$st" ] || continue
    emit "{\"phase\":\"memory\",\"label\":\"$1\",\"node\":$k,\"rss_mib\":$(awk '/^VmRSS/ {printf "%.0f", $2/1024}' "$st"),\"hwm_mib\":$(awk '/^VmHWM/ {printf "%.0f", $2/1024}' "$st")}"
  done
}
owner_psql() { PGPASSWORD=bench-owner psql -U dms_owner -d dms -X -q -tA -v ON_ERROR_STOP=1 "$@"; }
wait_drained() { # the outbox (all lanes) empty and no app query running; reports how long it took
  local t0; t0=$(date +%s.%N)
  for _ in $(seq 1 1500); do
    local open; open="$(owner_psql -c "SELECT count(*) FROM outbox_messages WHERE status IN ('Pending','Processing') AND available_at <= now()")"
    local active; active="$(su_psql -d postgres -tAc "SELECT count(*) FROM pg_stat_activity WHERE usename = 'dms_app' AND state = 'active'")"
    [ "$open" = 0 ] && [ "$active" = 0 ] && break
    sleep 0.2
  done
  log "outbox drained in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s"
}
export PGUSER=dms_owner PGDATABASE=dms PGPASSWORD=bench-owner  # load.py's psql: owner, FORCE RLS with app.tenant_id

scrape() { # scrape <label> <start|stop>: every node's /metrics, for the per-request cost of the phase (profile.py)
  local k; mkdir -p "$out/metrics"
  for k in "${!app_pids[@]}"; do
    curl -s "http://127.0.0.1:$((app_port + k - 1))/metrics" >"$out/metrics/${1// /_}.$2.node$k.prom" || true
  done
}
sampler_start() { # sampler_start <label>: wait events of the app's sessions every 100 ms, and commit counters
  [ "$profile" = 1 ] || return 0
  su_psql -d dms -c "SELECT pg_stat_statements_reset()" >/dev/null
  su_psql -d postgres -tAc "SELECT '$1', 'start', extract(epoch FROM clock_timestamp()), xact_commit, xact_rollback, tup_inserted, tup_updated, blks_hit FROM pg_stat_database WHERE datname = 'dms'" >>"$out/xact.psv"
  scrape "$1" start
  # One session polls every 100 ms (a psql per sample would cost the CPU being measured); a tick row counts the samples.
  echo "SELECT '$1', 'tick', '', '' UNION ALL SELECT '$1', state, coalesce(wait_event_type, 'CPU'), coalesce(wait_event, 'CPU') FROM pg_stat_activity WHERE usename = 'dms_app' AND state <> 'idle' \\watch 0.1" \
    | PGPASSWORD=bench-super psql -U "$super" -d postgres -X -q -tA -F'|' >>"$out/waits.psv" 2>/dev/null &
  sampler_pid=$!
}
sampler_stop() { # sampler_stop <label>
  [ "$profile" = 1 ] || return 0
  kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
  scrape "$1" stop
  su_psql -d postgres -tAc "SELECT '$1', 'stop', extract(epoch FROM clock_timestamp()), xact_commit, xact_rollback, tup_inserted, tup_updated, blks_hit FROM pg_stat_database WHERE datname = 'dms'" >>"$out/xact.psv"
  su_psql -d dms -tA -F'|' -c "SELECT '$1', calls, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 3), rows, regexp_replace(left(query, 160), '\s+', ' ', 'g') FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'dms') ORDER BY total_exec_time DESC LIMIT 40" >>"$out/statements.psv"
  su_psql -d dms -tA -F'|' -c "SELECT '$1', sum(calls), round(sum(total_exec_time)::numeric, 1), 0, sum(rows), 'ALL STATEMENTS' FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'dms')" >>"$out/statements.psv"
}

start_node 1
memory "idle after start"
pgbench_run "before"

IFS=',' read -r -a round_list <<<"$rounds"
for n in "${round_list[@]}"; do
  for k in $(seq 1 "$n"); do [ -n "${app_pids[$k]:-}" ] || start_node "$k"; done
  nodes="$(for k in $(seq 1 "$n"); do printf 'http://127.0.0.1:%s,' $((app_port + k - 1)); done)"
  setup="$(python3 "$here/load.py" setup --base "http://127.0.0.1:$app_port" --platform-key "$platform_key" --slug "load$n-$(date +%s)")"
  tenant="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tenant"])' "$setup")"
  admin_token="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["adminToken"])' "$setup")"
  approver_token="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["approverToken"])' "$setup")"
  ids="$dir/ids-$n"; : >"$ids"; rm -f "$ids.used"
  log "round: $n node(s), tenant $tenant"
  python3 "$here/load.py" mixed --nodes "$nodes" --token "$admin_token" --clients "$clients" --duration "$warmup" --ids "$ids.warm" --tag "w$n" --seed-uploads 32 >/dev/null
  wait_drained
  memory "nodes=$n before"
  if [ "$profile" = 1 ]; then sampler_start "idle nodes=$n"; sleep 10; sampler_stop "idle nodes=$n"; fi

  has() { [[ ",$phases," == *",$1,"* ]]; }
  if has ingest; then
  sampler_start "ingest nodes=$n"
  r="$(python3 "$here/load.py" ingest --nodes "$nodes" --token "$admin_token" --clients "$clients" --duration "$duration" --ids "$ids" --tag "n$n")"
  sampler_stop "ingest nodes=$n"
  emit "{\"nodes\":$n,$(machine),${r#\{}"; log "ingest: $r"
  wait_drained
  fi
  # The approvals take their documents from this round's uploads, the mixed load reads and edits 200 more: when ingest
  # made too few (or did not run), upload the rest (untimed).
  if has approvals || has mixed; then
  log "$(python3 "$here/load.py" seed --nodes "$nodes" --token "$admin_token" --clients "$clients" --ids "$ids" --count "$((approvals + 200))" --tag "s$n")"
  wait_drained
  fi

  if has approvals; then
  sampler_start "approvals nodes=$n"
  r="$(python3 "$here/load.py" approvals --nodes "$nodes" --requester "$admin_token" --approver "$approver_token" --tenant "$tenant" --count "$approvals" --clients "$clients" --ids "$ids")"
  sampler_stop "approvals nodes=$n"
  emit "{\"nodes\":$n,$(machine),${r#\{}"; log "approvals: $r"
  wait_drained
  fi

  if has mixed; then
  sampler_start "mixed nodes=$n"
  r="$(python3 "$here/load.py" mixed --nodes "$nodes" --token "$admin_token" --clients "$clients" --duration "$duration" --ids "$ids" --tag "n$n")"
  sampler_stop "mixed nodes=$n"
  emit "{\"nodes\":$n,$(machine),${r#\{}"; log "mixed: $r"
  wait_drained
  fi
  memory "nodes=$n after"
done

pgbench_run "after"
memory "end"
python3 "$here/report.py" "$results" >"$out/results.md"
python3 "$here/report.py" "$results" --plot "$out/load.png"
# Only a full run redraws the plot in the docs.
if [ "$phases" = "ingest,approvals,mixed" ] && [ "$rounds" = "1,2" ]; then cp "$out/load.png" "$repo/docs/benchmarks/load.png"; fi
[ "$profile" = 1 ] && python3 "$here/profile.py" "$out" >"$out/profile.md"
cat "$out/results.md" >&2
log "wrote $out/results.md, $results and $out/load.png"
