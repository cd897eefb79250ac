#!/usr/bin/env bash
# Tenant move benchmark (issue 18 item 4, docs/tenant-move.md): a tenant with N documents (seeded in SQL, as
# bench/scale does) is moved to a database of its own while a writer uploads and edits its documents; reports the total
# time, how long its writes were frozen and how many writes were refused (503 tenant.moving, retried) on the way.
#
#   bench/tenant-move/run.sh [--docs 100000] [--audit-events 0] [--pg-port 55441] [--app-port 55481] [--keep]
#
# --audit-events N adds N audit events to the tenant (bench/scale/seed.sql writes none), recorded pending and chained by
# the app's chainer before the move, so the audit chain the move verifies under its freeze has a realistic length.
#
# Starts a throwaway PostgreSQL cluster (own port, data under /tmp) with a second database dms_target, the app (Release
# build) on it, seeds, runs the writer (curl) and `dms tenant move`, and writes bench/tenant-move/results/<N>.md (<N>-audit-<M>.md with --audit-events M).
# Everything it started is stopped on exit. Needs: dotnet, PostgreSQL 15+ server binaries, psql, curl, jq, python3.
set -euo pipefail

docs=100000 audit_events=0 pg_port=55441 app_port=55481 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --docs) docs="$2"; shift 2 ;;
    --audit-events) audit_events="$2"; shift 2 ;;
    --pg-port) pg_port="$2"; shift 2 ;;
    --app-port) app_port="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "$0")" && pwd)"
result_name="$docs"; [ "$audit_events" -gt 0 ] && result_name="$docs-audit-$audit_events"
repo="$(cd "$here/../.." && pwd)"
results="$here/results"
mkdir -p "$results"
bin="$(pg_config --bindir 2>/dev/null || true)"
[ -x "$bin/initdb" ] || bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
for tool in psql curl jq python3 dotnet; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*"; }

dir="$(mktemp -d /tmp/dms-move.XXXXXX)"
chmod 755 "$dir"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
super="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
app_pid=""
cleanup() {
  set +e
  if [ -n "${writer_pid:-}" ] && kill -0 "$writer_pid" 2>/dev/null; then kill "$writer_pid"; wait "$writer_pid" 2>/dev/null; fi
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
CREATE DATABASE dms_target OWNER dms_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE dms_target FROM PUBLIC;
GRANT CONNECT ON DATABASE dms_target TO dms_app;
SQL
log "PostgreSQL $(su_psql -d postgres -tAc 'SHOW server_version') on 127.0.0.1:$pg_port, data in $dir/data"

# 2. The app: Release build, migrations on start.
log "building the app (Release)"
dotnet build "$repo/src/Dms/Dms.csproj" -c Release -nologo -v q 2>&1 | grep -E " error |rror\(s\)" || true
platform_key="bench-platform-$(date +%s)"
export ConnectionStrings__Dms="Host=127.0.0.1;Port=$pg_port;Database=dms;Username=dms_app;Password=bench-app"
export ConnectionStrings__DmsOwner="Host=127.0.0.1;Port=$pg_port;Database=dms;Username=dms_owner;Password=bench-owner"
export Dms__DataDirectory="$dir/app" Dms__Platform__ApiKey="$platform_key" Dms__Bootstrap__AdminPassword="bench-bootstrap-1"
# Tokens outlive the run, so no client refreshes mid-measurement.
export Dms__Auth__AccessTokenLifetime="06:00:00"
# One writer uploads as one user: the per-user upload limit (120 a minute) would refuse most of its writes with 429.
export Dms__Security__UploadRateLimit__PermitLimit=100000000
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
owner_psql -v n="$docs" -v tenant="$tenant" -v admin="$admin" -v member="$member" -v member_ws="$member_ws" -f "$repo/bench/scale/seed.sql"
seed_insert=$(date +%s.%N)
PGOPTIONS="-c client_min_messages=error" owner_psql -c "VACUUM (ANALYZE)"
seed_end=$(date +%s.%N)
seed_seconds=$(python3 -c "print(round($seed_end - $seed_start, 1))")
log "seeded in ${seed_seconds} s ($(python3 -c "print(round($seed_insert - $seed_start, 1))") s inserts and indexes, $(python3 -c "print(round($seed_end - $seed_insert, 1))") s VACUUM ANALYZE)"

if [ "$audit_events" -gt 0 ]; then
  log "adding $audit_events audit events (pending), waiting for the chainer"
  owner_psql -v tenant="$tenant" -v admin="$admin" -v n="$audit_events" <<'SQL'
SELECT set_config('app.tenant_id', :'tenant', false);
INSERT INTO audit_events (id, tenant_id, occurred_at, actor_type, actor_id, actor_label, action, entity_type, entity_id, data, client_ip, user_agent, correlation_id)
SELECT gen_random_uuid(), :'tenant', now() - make_interval(secs => :n - g), 'user', :'admin', 'admin@bench.test', 'document.uploaded', 'document',
       gen_random_uuid()::text, jsonb_build_object('title', 'bench document ' || g), '127.0.0.1', 'bench', md5(g::text)
FROM generate_series(1, :n) g;
SQL
  chain_start=$(date +%s)
  while :; do
    pending="$(owner_psql -tA -c "SELECT set_config('app.tenant_id', '$tenant', false)" -c "SELECT count(*) FROM audit_events WHERE seq IS NULL" | tail -1)"
    [ "$pending" = 0 ] && break
    [ $(( $(date +%s) - chain_start )) -gt 900 ] && { echo "the chainer left $pending events pending after 900 s" >&2; exit 1; }
    sleep 2
  done
  log "audit events chained in $(( $(date +%s) - chain_start )) s"
fi

# 4. The writer: uploads and title edits in a loop; a 503 tenant.moving is retried after a short pause.
writer() {
  local ok=0 refused=0 i=0 code id
  while [ ! -f "$dir/stop" ]; do
    i=$((i+1))
    while :; do
      code="$(curl -s -o "$dir/w.json" -w '%{http_code}' "$base/api/v1/documents" -H "authorization: Bearer $admin_token" \
        -F "title=bench write $i" -F "file=@$dir/w.txt;filename=w$i.txt")"
      [ "$code" = 503 ] && { refused=$((refused+1)); sleep 0.2; continue; }
      break
    done
    [ "$code" = 201 ] || { echo "upload answered $code: $(cat "$dir/w.json")" >&2; continue; }
    id="$(jq -r .id "$dir/w.json")"; ok=$((ok+1))
    while :; do
      code="$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "$base/api/v1/documents/$id" -H "authorization: Bearer $admin_token" \
        -H 'If-Match: "1"' -H 'content-type: application/json' -d "{\"title\":\"bench edit $i\"}")"
      [ "$code" = 503 ] && { refused=$((refused+1)); sleep 0.2; continue; }
      break
    done
    [ "$code" = 200 ] && ok=$((ok+1))
    echo "$ok $refused" >"$dir/writer.count"
  done
}
echo "bench writer" >"$dir/w.txt"
writer & writer_pid=$!
sleep 3

# 5. The move, through the CLI as an operator would run it.
log "moving tenant bench to dms_target"
move_start=$(date +%s.%N)
ConnectionStrings__Dms="$ConnectionStrings__Dms" dotnet "$repo/src/Dms/bin/Release/net10.0/Dms.dll" tenant move --tenant bench \
  --to "Host=127.0.0.1;Port=$pg_port;Database=dms_target;Username=dms_owner;Password=bench-owner" | tee "$dir/move.out"
move_end=$(date +%s.%N)
sleep 3
touch "$dir/stop"; wait "$writer_pid" || true; writer_pid=""
read -r writes refused <"$dir/writer.count"
moved_line="$(grep '^tenant moved:' "$dir/move.out")"
target_docs="$(PGPASSWORD=bench-owner psql -h 127.0.0.1 -p "$pg_port" -U dms_owner -d dms_target -X -tA \
  -c "SELECT set_config('app.tenant_id', '$tenant', false)" -c "SELECT count(*) FROM documents")"
target_docs="$(tail -1 <<<"$target_docs")"
log "$moved_line"
log "writer: $writes writes acknowledged, $refused refused with 503 and retried; documents in the target: $target_docs"
cat >"$results/$result_name.md" <<MD
# Tenant move, $docs documents ($(date -u +%Y-%m-%d))

\`$moved_line\`

- wall time of the command (including the .NET start and the target's migrations): $(python3 -c "print(round($move_end - $move_start, 1))") s
- writer during the move: $writes writes acknowledged, $refused refused with 503 tenant.moving and retried
- documents of the tenant in the target afterwards: $target_docs
- audit events added before the move (chained): $audit_events
- seeded in ${seed_seconds} s; machine: $(nproc) cores, PostgreSQL $(su_psql -d postgres -tAc 'SHOW server_version')
MD
log "wrote $results/$result_name.md"
