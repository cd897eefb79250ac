#!/usr/bin/env bash
# Scale benchmark (issue 12, item 8): lists, search and GET by id at N documents, beside pgbench -S.
#
#   bench/scale/run.sh --docs 100000 [--duration 20] [--warmup 5] [--clients 8] [--pg-port 55440] [--app-port 55480] [--keep]
#
# Starts a throwaway PostgreSQL cluster on 127.0.0.1 (own port, data under /tmp), starts the app (Release build) on it
# so it migrates, creates a tenant, its admin and a member through the API, seeds N documents in SQL (seed.sql),
# loads each request type with wrk (8 connections, 2 threads) for a fixed time after a warm-up, runs pgbench -S on
# the same cluster, and writes bench/scale/results/<N>.csv and <N>.md, then redraws docs/benchmarks/scale.png.
# Everything it started is stopped on exit (also on Ctrl+C or an error). Needs: dotnet, PostgreSQL 15+ server
# binaries, psql, pgbench, wrk, curl, jq, python3, gnuplot. Run as root (PostgreSQL then runs as the postgres
# user) or as a user who may run initdb.
set -euo pipefail

docs=10000 duration=20 warmup=5 clients=8 pg_port=55440 app_port=55480 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --docs) docs="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --pg-port) pg_port="$2"; shift 2 ;;
    --app-port) app_port="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
results="$here/results"
mkdir -p "$results"
bin="$(pg_config --bindir 2>/dev/null || true)"
[ -x "$bin/initdb" ] || bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
for tool in psql pgbench wrk curl jq python3 gnuplot dotnet; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*"; }

dir="$(mktemp -d /tmp/dms-scale.XXXXXX)"
chmod 755 "$dir"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
super="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
app_pid=""
cleanup() {
  set +e
  if [ -n "$app_pid" ] && kill -0 "$app_pid" 2>/dev/null; then
    kill "$app_pid"; wait "$app_pid" 2>/dev/null
  fi
  if [ -f "$dir/data/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null; fi
  if [ "$keep" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

# 1. The cluster. Passwords on every TCP connection, as in production; listens on 127.0.0.1 only.
mkdir -p "$dir/data" "$dir/sock" "$dir/app"
if [ "$(id -u)" = 0 ]; then chown postgres "$dir/data" "$dir/sock"; fi
echo "bench-super" > "$dir/pw"; chmod 644 "$dir/pw"
as_pg "$bin/initdb" -D "$dir/data" -U "$super" --pwfile="$dir/pw" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$dir/sock'
max_connections = 200
shared_buffers = 1GB
effective_cache_size = 4GB
work_mem = 16MB
maintenance_work_mem = 512MB
max_wal_size = 8GB
checkpoint_timeout = 15min
EOF
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
log "PostgreSQL $(su_psql -d postgres -tAc 'SHOW server_version') on 127.0.0.1:$pg_port, data in $dir/data"
PGPASSWORD=bench-super pgbench -U "$super" -i -s 10 -q pgbench 2>&1 | tail -1

# 2. The app: Release build, migrations on start.
log "building the app (Release)"
dotnet build "$repo/src/Dms/Dms.csproj" -c Release -nologo -v q 2>&1 | grep -E " error |rror\(s\)" || true
platform_key="bench-platform-$(date +%s)"
export ConnectionStrings__Dms="Host=127.0.0.1;Port=$pg_port;Database=dms;Username=dms_app;Password=bench-app"
export ConnectionStrings__DmsOwner="Host=127.0.0.1;Port=$pg_port;Database=dms;Username=dms_owner;Password=bench-owner"
export Dms__DataDirectory="$dir/app" Dms__Platform__ApiKey="$platform_key" Dms__Bootstrap__AdminPassword="bench-bootstrap-1"
# Tokens outlive the run, so no client refreshes mid-measurement.
export Dms__Auth__AccessTokenLifetime="06:00:00"
export Logging__LogLevel__Default=Warning ASPNETCORE_ENVIRONMENT=Production
base="http://127.0.0.1:$app_port"
dotnet "$repo/src/Dms/bin/Release/net10.0/Dms.dll" --urls "$base" >"$dir/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 240); do
  curl -sf "$base/health/ready" >/dev/null && break
  kill -0 "$app_pid" 2>/dev/null || { cat "$dir/app.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf "$base/health/ready" >/dev/null || { echo "the app did not become ready" >&2; tail -50 "$dir/app.log" >&2; exit 1; }
log "app ready on $base (migrated)"

post() { # post <url> <json> [auth header]
  local out; out="$(curl -s -w '\n%{http_code}' "$base$1" -H 'content-type: application/json' ${3:+-H "$3"} -d "$2")"
  local code="${out##*$'\n'}"; local body="${out%$'\n'*}"
  case "$code" in 2*) printf '%s' "$body" ;; *) echo "POST $1 answered $code: $body" >&2; return 1 ;; esac
}
tenant_json="$(post /api/v1/platform/tenants '{"slug":"bench","name":"Bench Corp","adminEmail":"admin@bench.test","adminPassword":"bench-admin-password"}' "X-Platform-Key: $platform_key")"
tenant="$(jq -r .id <<<"$tenant_json")"; admin="$(jq -r .adminUserId <<<"$tenant_json")"
admin_token="$(post /api/v1/auth/login '{"tenant":"bench","email":"admin@bench.test","password":"bench-admin-password"}' | jq -r .accessToken)"
member="$(post /api/v1/users '{"email":"member@bench.test","password":"bench-member-password","role":"Member"}' "authorization: Bearer $admin_token" | jq -r .id)"
member_ws="$(post /api/v1/workspaces '{"name":"Member corner"}' "authorization: Bearer $admin_token" | jq -r .id)"
log "tenant bench $tenant, admin $admin, member $member (reads workspace $member_ws only)"

# 3. Seed in SQL as the owner (FORCE RLS: seed.sql sets app.tenant_id), then VACUUM ANALYZE.
owner_psql() { PGPASSWORD=bench-owner psql -U dms_owner -d dms -X -q -v ON_ERROR_STOP=1 "$@"; }
log "seeding $docs documents"
seed_start=$(date +%s.%N)
owner_psql -v n="$docs" -v tenant="$tenant" -v admin="$admin" -v member="$member" -v member_ws="$member_ws" -f "$here/seed.sql"
seed_insert=$(date +%s.%N)
PGOPTIONS="-c client_min_messages=error" owner_psql -c "VACUUM (ANALYZE)"
seed_end=$(date +%s.%N)
seed_seconds=$(python3 -c "print(round($seed_end - $seed_start, 1))")
log "seeded in ${seed_seconds} s ($(python3 -c "print(round($seed_insert - $seed_start, 1))") s inserts and indexes, $(python3 -c "print(round($seed_end - $seed_insert, 1))") s VACUUM ANALYZE)"
owner_psql -tA -F' ' <<SQL >"$dir/counts"
SELECT set_config('app.tenant_id', '$tenant', false) \\g /dev/null
SELECT count(*) FROM documents;
SELECT count(*) FROM documents WHERE status IN ('Active','PendingDelete','PendingReplace');
SELECT count(*) FROM document_versions;
SELECT count(*) FROM version_texts;
SELECT pg_size_pretty(pg_database_size('dms'));
SELECT count(*) FROM workspaces;
SQL
mapfile -t counts <"$dir/counts"
# What each query should find among live documents (title/description/tags as substrings, text of the current version).
owner_psql -tA <<SQL >"$dir/expected"
SELECT set_config('app.tenant_id', '$tenant', false) \\g /dev/null
WITH live AS (SELECT d.*, v.content_type, t.content FROM documents d
  JOIN document_versions v ON v.tenant_id = d.tenant_id AND v.document_id = d.id AND v.number = d.current_version
  LEFT JOIN version_texts t ON t.tenant_id = d.tenant_id AND t.document_id = d.id AND t.version_number = d.current_version
  WHERE d.status IN ('Active','PendingDelete','PendingReplace'))
SELECT 'expected_rare=' || count(*) FILTER (WHERE title ILIKE '%zephyrine%') || ' in titles, ' || count(*) FILTER (WHERE description ILIKE '%zephyrine%') || ' in descriptions, ' || count(*) FILTER (WHERE content ILIKE '%zephyrine%') || ' in texts',
       'expected_common=' || count(*) FILTER (WHERE title ILIKE '%invoice%') || ' in titles, ' || count(*) FILTER (WHERE content ILIKE '%invoice%') || ' in texts',
       'expected_phrase=' || count(*) FILTER (WHERE title ILIKE '%quarterly report%') || ' in titles (' || count(*) FILTER (WHERE title ILIKE '%quarterly%') || ' titles have quarterly)',
       'expected_nohit=' || count(*) FILTER (WHERE title ILIKE '%xylophonic%' OR content ILIKE '%xylophonic%'),
       'expected_typo=' || count(*) FILTER (WHERE title ILIKE '%contract%') || ' titles have contract',
       'expected_tag=' || count(*) FILTER (WHERE tags @> '{tax}'),
       'expected_image=' || count(*) FILTER (WHERE content_type LIKE 'image/%'),
       'expected_pending=' || count(*) FILTER (WHERE status = 'PendingDelete'),
       'expected_member=1'
FROM live;
SQL
tr '|' '\n' <"$dir/expected" | sed '/^$/d' >"$dir/expected.meta"
log "known answers: $(tr '\n' ';' <"$dir/expected.meta")"
log "documents ${counts[0]} (live ${counts[1]}), versions ${counts[2]}, texts ${counts[3]}, workspaces ${counts[5]}, database ${counts[4]}"
owner_psql -tA <<SQL >"$dir/ids"
SELECT set_config('app.tenant_id', '$tenant', false) \\g /dev/null
SELECT id FROM documents WHERE status = 'Active' AND workspace_id <> '$member_ws' ORDER BY random() LIMIT 20000;
SQL

member_token="$(post /api/v1/auth/login '{"tenant":"bench","email":"member@bench.test","password":"bench-member-password"}' | jq -r .accessToken)"

# 4. The deep cursor: follow nextCursor 20 pages in; page 21's cursor is then requested over and over.
cursor=""
for _ in $(seq 1 20); do
  cursor="$(curl -sf "$base/api/v1/documents${cursor:+?cursor=$cursor}" -H "authorization: Bearer $admin_token" | jq -r '.nextCursor // empty | @uri')"
  [ -n "$cursor" ] || break
done

# name | token | path   (q= values: see seed.sql for their known answers)
requests=(
  "list|admin|/api/v1/documents"
  "list, cursor page 21|admin|/api/v1/documents?cursor=$cursor"
  "search rare word (zephyrine)|admin|/api/v1/documents?q=zephyrine"
  "search common word (invoice)|admin|/api/v1/documents?q=invoice"
  "search phrase 'quarterly report'|admin|/api/v1/documents?q=%22quarterly%20report%22"
  "search no hit (xylophonic)|admin|/api/v1/documents?q=xylophonic"
  "search typo (contrakt)|admin|/api/v1/documents?q=contrakt"
  "tag filter (tax)|admin|/api/v1/documents?tag=tax"
  "type=image|admin|/api/v1/documents?type=image"
  "status=PendingDelete|admin|/api/v1/documents?status=PendingDelete"
  "member list (1 workspace of 1 doc)|member|/api/v1/documents"
  "GET /documents/{id}|admin|/api/v1/documents/{id}"
)

# A client that stops (end of a wrk run) may leave its slow queries running; wait until the app's queries are done so
# that no run measures the previous one's leftovers.
wait_idle() {
  for _ in $(seq 1 600); do
    [ "$(su_psql -d postgres -tAc "SELECT count(*) FROM pg_stat_activity WHERE usename = 'dms_app' AND state = 'active'")" = 0 ] && return
    sleep 0.2
  done
}

csv="$results/$docs.csv"
echo "request,requests,rps,p50_ms,p95_ms,p99_ms,mean_ms,max_ms,non2xx,socket_errors,http_status,first_page_items,total" >"$csv.tmp"
log "load: $clients connections, ${warmup} s warm-up + ${duration} s per request type"
load_start=$(date +%s.%N)
for entry in "${requests[@]}"; do
  IFS='|' read -r name who path <<<"$entry"
  token="$admin_token"; [ "$who" = member ] && token="$member_token"
  # One probe first: its status and page size go into the table, so a request that errors is visible.
  probe_path="${path//\{id\}/$(head -1 "$dir/ids")}"
  probe="$(curl -s -w '\n%{http_code}' "$base$probe_path" -H "authorization: Bearer $token")"
  status="${probe##*$'\n'}"; body="${probe%$'\n'*}"
  items="$(jq -r 'if .items then (.items|length) else 1 end' <<<"$body" 2>/dev/null || echo "")"
  total="$(jq -r 'if .total then (.total.value|tostring) + (if .total.exact then "" else "~" end) else "" end' <<<"$body" 2>/dev/null || echo "")"
  export BENCH_TOKEN="$token" BENCH_PATH="$path" BENCH_IDS="$dir/ids" BENCH_NAME="\"$name\""
  BENCH_OUT="" wrk -t2 -c"$clients" -d"${warmup}s" --timeout 60s -s "$here/load.lua" "$base" >/dev/null
  wait_idle
  row_file="$dir/row"; : >"$row_file"
  BENCH_OUT="$row_file" wrk -t2 -c"$clients" -d"${duration}s" --timeout 60s -s "$here/load.lua" "$base" >/dev/null
  wait_idle
  row="$(cat "$row_file")"
  echo "$row,$status,$items,$total" >>"$csv.tmp"
  log "$(tail -1 "$csv.tmp")"
done
log "pgbench -S -c $clients -j 2 -T $duration"
tps="$(PGPASSWORD=bench-super pgbench -U "$super" -S -c "$clients" -j 2 -T "$duration" -n pgbench 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -1)"
load_end=$(date +%s.%N)
load_seconds=$(python3 -c "print(round($load_end - $load_start))")
log "pgbench -S: $tps tps; load run took ${load_seconds} s"
mv "$csv.tmp" "$csv"

# 5. Tables and plot.
cat >"$results/$docs.meta" <<EOF
docs=$docs
documents=${counts[0]}
live=${counts[1]}
versions=${counts[2]}
texts=${counts[3]}
database_size=${counts[4]}
workspaces=${counts[5]}
pgbench_tps=$tps
seed_seconds=$seed_seconds
load_seconds=$load_seconds
duration=$duration
warmup=$warmup
clients=$clients
date=$(date -u +%Y-%m-%dT%H:%MZ)
commit=$(git -C "$repo" rev-parse --short HEAD)
postgres=$(su_psql -d postgres -tAc 'SHOW server_version')
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1) x $(nproc)
memory_gib=$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
EOF
cat "$dir/expected.meta" >>"$results/$docs.meta"
python3 "$here/report.py" "$results" "$docs"
python3 "$here/report.py" "$results" --plot "$repo/docs/benchmarks/scale.png"
log "wrote $results/$docs.md, $csv and docs/benchmarks/scale.png"
