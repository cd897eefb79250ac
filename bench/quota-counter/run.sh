#!/usr/bin/env bash
# One tenant, many concurrent uploads: the storage counter of migration 0029 (triggers UPDATE the tenant's row) against
# that of migration 0032 (triggers append deltas; ADR 0039), run side by side at the same moment on one throwaway
# PostgreSQL cluster, so the machine's load weighs on both alike. Reports uploads per second of each and their ratio.
#
# It models only what the counter does in an upload, not the whole application: per upload
#   1. the reservation transaction: lock the base row, sum, append the reservation (+ a fold every 256 deltas, "after");
#   2. the last transaction: the version insert's trigger (reservation -> used) early on, then ROUND_TRIPS more
#      statements with THINK_MS of client time between them (the rest of the upload's transaction), then COMMIT.
# Usage: bench/quota-counter/run.sh [clients=16] [seconds=30] [round_trips=10] [think_ms=2]
set -euo pipefail
FOLD_AT=${FOLD_AT:-256}  # StorageUsage.FoldAt
CLIENTS=${1:-16}; SECONDS_=${2:-30}; ROUND_TRIPS=${3:-10}; THINK_MS=${4:-2}
BIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
DIR=$(mktemp -d /tmp/quota-counter.XXXXXX); chmod 777 "$DIR"
AS=(); [ "$(id -u)" = 0 ] && AS=(runuser -u postgres --)
PORT=$((20000 + RANDOM % 20000))
cleanup() { "${AS[@]}" "$BIN/pg_ctl" stop -D "$DIR/data" -m immediate >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
"${AS[@]}" "$BIN/initdb" -D "$DIR/data" -U bench -A trust >/dev/null
"${AS[@]}" "$BIN/pg_ctl" start -D "$DIR/data" -l "$DIR/log" -w -o "-p $PORT -k $DIR -c max_connections=100 -c fsync=off" >/dev/null
PSQL=("$BIN/psql" -h "$DIR" -p "$PORT" -U bench -d postgres -v ON_ERROR_STOP=1 -q)
"${PSQL[@]}" <<'SQL'
CREATE SCHEMA before; CREATE SCHEMA after;
CREATE TABLE before.storage_usage (tenant_id int PRIMARY KEY, used_bytes bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0), reserved_bytes bigint NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0));
CREATE TABLE after.storage_usage (LIKE before.storage_usage INCLUDING ALL);
CREATE TABLE after.storage_usage_deltas (tenant_id int NOT NULL, used_delta bigint NOT NULL, reserved_delta bigint NOT NULL);
CREATE INDEX ON after.storage_usage_deltas (tenant_id);
INSERT INTO before.storage_usage VALUES (1, 0, 0); INSERT INTO after.storage_usage VALUES (1, 0, 0);
-- As in migration 0029.
CREATE FUNCTION before.storage_usage_add(tenant int, used bigint, reserved bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE before.storage_usage SET used_bytes = used_bytes + used, reserved_bytes = reserved_bytes + reserved WHERE tenant_id = tenant;
END $$;
-- As in migration 0032.
CREATE FUNCTION after.storage_usage_add(tenant int, used bigint, reserved bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF used = 0 AND reserved = 0 THEN RETURN; END IF;
  IF NOT EXISTS (SELECT 1 FROM after.storage_usage WHERE tenant_id = tenant) THEN
    INSERT INTO after.storage_usage (tenant_id) VALUES (tenant) ON CONFLICT (tenant_id) DO NOTHING;
  END IF;
  INSERT INTO after.storage_usage_deltas VALUES (tenant, used, reserved);
END $$;
CREATE FUNCTION after.storage_usage_fold(tenant int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE moved bigint; used bigint; reserved bigint;
BEGIN
  PERFORM 1 FROM after.storage_usage WHERE tenant_id = tenant FOR UPDATE;
  WITH gone AS (DELETE FROM after.storage_usage_deltas WHERE tenant_id = tenant RETURNING used_delta, reserved_delta)
  SELECT count(*), coalesce(sum(used_delta), 0), coalesce(sum(reserved_delta), 0) INTO moved, used, reserved FROM gone;
  IF moved > 0 THEN
    UPDATE after.storage_usage SET used_bytes = used_bytes + used, reserved_bytes = reserved_bytes + reserved WHERE tenant_id = tenant;
  END IF;
  RETURN moved;
END $$;
SQL
rest() { for _ in $(seq "$ROUND_TRIPS"); do printf 'SELECT 1;\n\\sleep %s ms\n' "$THINK_MS"; done; }
{
  echo 'BEGIN;'
  echo 'SELECT 1 FROM before.storage_usage WHERE tenant_id = 1 FOR UPDATE;'
  echo 'SELECT used_bytes + reserved_bytes FROM before.storage_usage WHERE tenant_id = 1;'
  echo 'SELECT before.storage_usage_add(1, 0, 65536);'
  echo 'COMMIT;'
  echo 'BEGIN;'
  echo 'SELECT before.storage_usage_add(1, 0, -65536);'
  echo 'SELECT before.storage_usage_add(1, 65536, 0);'
  rest
  echo 'COMMIT;'
} > "$DIR/before.sql"
{
  echo 'BEGIN;'
  echo 'SELECT 1 FROM after.storage_usage WHERE tenant_id = 1 FOR UPDATE;'
  echo "SELECT (SELECT used_bytes + reserved_bytes FROM after.storage_usage WHERE tenant_id = 1) + coalesce(sum(used_delta + reserved_delta), 0) AS total, count(*) >= $FOLD_AT AS fold FROM after.storage_usage_deltas WHERE tenant_id = 1 \\gset"
  echo '\if :fold'
  echo 'SELECT after.storage_usage_fold(1);'
  echo '\endif'
  echo 'SELECT after.storage_usage_add(1, 0, 65536);'
  echo 'COMMIT;'
  echo 'BEGIN;'
  echo 'SELECT after.storage_usage_add(1, 0, -65536);'
  echo 'SELECT after.storage_usage_add(1, 65536, 0);'
  rest
  echo 'COMMIT;'
} > "$DIR/after.sql"
chmod 644 "$DIR"/*.sql
bench() { "$BIN/pgbench" -h "$DIR" -p "$PORT" -U bench -n -c "$CLIENTS" -j 2 -T "$SECONDS_" -f "$DIR/$1.sql" postgres 2>&1 > "$DIR/$1.out" || true; }
echo "uptime before: $(uptime)"
bench before & bench after & wait
echo "uptime after:  $(uptime)"
for side in before after; do
  tps=$(grep -oP 'tps = \K[0-9.]+' "$DIR/$side.out" | head -1)
  lat=$(grep -oP 'latency average = \K[0-9.]+' "$DIR/$side.out" | head -1)
  printf '%-7s %s clients: %8s uploads/s, latency %s ms\n' "$side" "$CLIENTS" "${tps:-?}" "${lat:-?}"
  eval "tps_$side=${tps:-0}"
done
"${PSQL[@]}" -At -c "SELECT 'both counters moved and every reservation settled: ' || ((SELECT used_bytes + reserved_bytes FROM before.storage_usage) > 0 AND (SELECT used_bytes FROM after.storage_usage) + (SELECT coalesce(sum(used_delta), 0) FROM after.storage_usage_deltas) > 0 AND (SELECT reserved_bytes FROM after.storage_usage) + (SELECT coalesce(sum(reserved_delta), 0) FROM after.storage_usage_deltas) = 0)::text"
python3 -c "print(f'ratio after/before: {$tps_after / $tps_before:.2f}x')" 2>/dev/null || true
