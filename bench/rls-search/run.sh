#!/usr/bin/env bash
# Throwaway PostgreSQL cluster, 600k documents in 3 tenants, then the EXPLAINs of 02-explain.sql (see ADR 0016).
# Run as root (initdb runs as the postgres user) or as a user who may run initdb; takes about half a minute.
set -euo pipefail
cd "$(dirname "$0")"
bin="$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | tail -1)"
dir="$(mktemp -d)"; chmod 777 "$dir"
as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as "$bin/initdb" -D "$dir/data" -A trust >/dev/null
as "$bin/pg_ctl" -D "$dir/data" -o "-p 55432 -k $dir -c listen_addresses=''" -l "$dir/log" start >/dev/null
trap 'as "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null; rm -rf "$dir"' EXIT
user="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
psql -h "$dir" -p 55432 -U "$user" -d postgres -q -f 01-setup.sql
psql -h "$dir" -p 55432 -U "$user" -d postgres -q -f 02-explain.sql
