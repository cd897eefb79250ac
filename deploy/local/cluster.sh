#!/usr/bin/env bash
# A local DMS cluster on one machine (issue 14, item 7): PostgreSQL, an S3 emulator (moto_server), two API nodes
# (--role api) and one or more workers (--role worker) behind nginx, all on 127.0.0.1 and free ports.
#
#   deploy/local/cluster.sh up [--workers N] [--node-env NODE:KEY=VALUE]...
#                                     start everything, wait for health, print KEY=VALUE lines (see below).
#                                     --workers N: N worker nodes, named worker1..workerN (default 1).
#                                     --node-env: a setting for one node only (api1, api2, worker1, ...), e.g.
#                                     worker1:Dms__Testing__KillAfterOutboxClaims=1; repeat it for more.
#   deploy/local/cluster.sh status    say what runs (exit 0: all up, 3: nothing runs, 1: partly up)
#   deploy/local/cluster.sh down      stop everything it started (and nothing else); logs stay in the state directory
#
# Environment:
#   DMS_CLUSTER_DIR   state directory (default /tmp/dms-local-cluster): data, logs, pids, nginx.conf, cluster.env
#   DMS_APP_DLL       the app to run (default src/Dms/bin/Release/net10.0/Dms.dll, built with dotnet build -c Release
#                     when missing)
#   DMS_CLUSTER_TIMEOUT  seconds to wait for every node's /health/ready (default 180)
#   Dms__*, Logging__*   passed through to every node (e.g. Dms__Outbox__PollInterval); the script sets the
#                     connection strings, storage, keys and platform key itself.
#
# `up` prints on stdout, one per line: LB=, API_PIDS=, WORKER_PIDS= (comma-separated, worker1 first), API_URLS=,
# WORKER_URLS=, S3=, DB=, PG_PID=,
# S3_PID=, LB_PID=, PLATFORM_KEY=, STATE=, ENV_FILE=. Progress goes to stderr. Passwords and keys are in
# <state>/cluster.env (mode 600). A second `up` while it runs says so and prints the same lines.
# `up` on a state directory whose cluster is stopped starts a fresh cluster (it wipes that directory first; the S3
# emulator keeps its objects in memory, so an old database would point at files that are gone).
# Run as root, PostgreSQL runs as the postgres system user. Needs: dotnet, PostgreSQL 15+ server binaries, psql,
# moto_server, nginx, curl, python3.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
state="${DMS_CLUSTER_DIR:-/tmp/dms-local-cluster}"
dll="${DMS_APP_DLL:-$repo/src/Dms/bin/Release/net10.0/Dms.dll}"
timeout="${DMS_CLUSTER_TIMEOUT:-180}"
marker="$state/.dms-local-cluster"
env_file="$state/cluster.env"
# The nodes: two API nodes and WORKERS workers (from the command line at up, from cluster.env afterwards).
workers=1
nodes() { local i; printf '%s\n' api1 api2; for i in $(seq 1 "$workers"); do printf 'worker%s\n' "$i"; done; }

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_bin() {
  local bin
  bin="$(pg_config --bindir 2>/dev/null || true)"
  [ -x "$bin/initdb" ] || bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -x "$bin/initdb" ] || die "PostgreSQL server binaries (initdb, pg_ctl) not found (Debian: apt-get install postgresql)"
  printf '%s' "$bin"
}
secret() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }

# A pid is ours only while it lives and its command line names what we started (pids get reused).
pid_of() { [ -f "$state/pids/$1.pid" ] && cat "$state/pids/$1.pid" || true; }
owns() { # owns <pid> <text the command line must contain>
  local pid="$1" text="$2"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$text"
}
pg_pid() { [ -f "$state/pg/data/postmaster.pid" ] && head -1 "$state/pg/data/postmaster.pid" || true; }
alive() { # alive <component>: is it running?
  case "$1" in
    postgres) local p; p="$(pg_pid)"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null ;;
    s3) owns "$(pid_of s3)" "moto_server" ;;
    nginx) owns "$(pid_of nginx)" "$state/nginx" ;;
    api1 | api2 | worker*) owns "$(pid_of "$1")" "$state/nodes/$1" ;;
  esac
}
components() { printf "%s\n" postgres s3; nodes; echo nginx; }

load_env() { [ -f "$env_file" ] || return 1; set -a; . "$env_file"; set +a; workers="${WORKERS:-1}"; }
node_port() { # node_port <node>: its port, from cluster.env
  case "$1" in
    api1) echo "$API1_PORT" ;;
    api2) echo "$API2_PORT" ;;
    worker*) cut -d, -f"${1#worker}" <<<"$WORKER_PORTS" ;;
  esac
}

print_lines() {
  load_env
  echo "LB=http://127.0.0.1:$LB_PORT"
  echo "API_PIDS=$(pid_of api1),$(pid_of api2)"
  local i pids=() urls=()
  for i in $(seq 1 "$workers"); do pids+=("$(pid_of "worker$i")"); urls+=("http://127.0.0.1:$(node_port "worker$i")"); done
  echo "WORKER_PIDS=$(IFS=,; echo "${pids[*]}")"
  echo "API_URLS=http://127.0.0.1:$API1_PORT,http://127.0.0.1:$API2_PORT"
  echo "WORKER_URLS=$(IFS=,; echo "${urls[*]}")"
  echo "S3=http://127.0.0.1:$S3_PORT"
  echo "DB=postgresql://dms_owner@127.0.0.1:$PG_PORT/dms"
  echo "PG_PID=$(pg_pid)"
  echo "S3_PID=$(pid_of s3)"
  echo "LB_PID=$(pid_of nginx)"
  echo "PLATFORM_KEY=$Dms__Platform__ApiKey"
  echo "STATE=$state"
  echo "ENV_FILE=$env_file"
}

# running <pid>: the process exists and is not a zombie. While starting, a component is judged by this, not by alive:
# until the background shell has exec'd it, its command line is still this script's, and alive would call it dead.
running() {
  local stat
  [ -n "$1" ] && stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}

wait_http() { # wait_http <name> <url> [component whose death ends the wait]
  local name="$1" url="$2" component="${3:-}" deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -sf -o /dev/null --max-time 3 "$url"; then return 0; fi
    if [ -n "$component" ] && ! running "$(pid_of "$component")"; then
      say "$name exited before it was ready; last lines of its log:"
      tail -40 "$state/logs/$component.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  say "$name was not ready within ${timeout} s ($url)"
  return 1
}

stop_pid() { # stop_pid <name> <pid> [signal]: signal (none: already sent), wait up to 40 s (a node drains for up to 30 s), SIGKILL
  local name="$1" pid="$2" signal="${3:-}"
  if [ -n "$signal" ]; then kill "-$signal" "$pid" 2>/dev/null || return 0; fi
  for _ in $(seq 1 400); do
    kill -0 "$pid" 2>/dev/null || { say "stopped $name (pid $pid)"; return 0; }
    sleep 0.1
  done
  say "$name (pid $pid) still runs after 40 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
  [ -f "$marker" ] || { say "nothing to stop: $state is not a local cluster's state directory"; return 0; }
  load_env || true
  local stopped=()
  # Traffic first: nginx finishes the requests it holds (QUIT), then the nodes drain theirs (TERM), then storage and
  # the database.
  if alive nginx; then stop_pid nginx "$(pid_of nginx)" QUIT; stopped+=("$(pid_of nginx)"); fi
  local pids=() names=()
  for node in $(nodes); do
    # TERM, then CONT: a node a test paused (SIGSTOP) acts on the TERM only once resumed (else the SIGKILL 40 s later).
    if alive "$node"; then pids+=("$(pid_of "$node")"); names+=("$node"); kill -TERM "$(pid_of "$node")" 2>/dev/null || true; kill -CONT "$(pid_of "$node")" 2>/dev/null || true; fi
  done
  for i in "${!pids[@]}"; do stop_pid "${names[$i]}" "${pids[$i]}"; stopped+=("${pids[$i]}"); done
  if alive s3; then stop_pid s3 "$(pid_of s3)" TERM; stopped+=("$(pid_of s3)"); fi
  if alive postgres; then
    stopped+=("$(pg_pid)")
    as_pg "$(pg_bin)/pg_ctl" -D "$state/pg/data" stop -m fast >/dev/null && say "stopped postgres"
  fi
  [ "${#stopped[@]}" -gt 0 ] || say "nothing was running"
  echo "STOPPED_PIDS=$(IFS=,; echo "${stopped[*]}")"
  say "logs kept in $state/logs (the next up starts afresh)"
}

cmd_status() {
  [ -f "$marker" ] && load_env || { say "no cluster in $state"; return 3; }
  local up=0 down=0 url
  for c in $(components); do
    case "$c" in
      postgres) url="127.0.0.1:$PG_PORT" ;;
      s3) url="http://127.0.0.1:$S3_PORT" ;;
      nginx) url="http://127.0.0.1:$LB_PORT" ;;
      *) url="http://127.0.0.1:$(node_port "$c")" ;;
    esac
    if alive "$c"; then
      local pid health=""
      pid="$([ "$c" = postgres ] && pg_pid || pid_of "$c")"
      case "$c" in
        api1 | api2 | worker* | nginx) health=" ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$url/health/ready" || true)" ;;
      esac
      printf '%-8s running  pid %-7s %s%s\n' "$c" "$pid" "$url" "$health"
      up=$((up + 1))
    else
      printf '%-8s stopped  %s\n' "$c" "$url"
      down=$((down + 1))
    fi
  done
  if [ "$down" = 0 ]; then print_lines; return 0; fi
  [ "$up" = 0 ] && return 3
  return 1
}

cmd_up() {
  local -A node_env=()
  local asked="" # --workers, when given
  while [ $# -gt 0 ]; do
    case "$1" in
      --workers)
        [[ "${2:-}" =~ ^[1-9][0-9]?$ ]] || die "--workers takes a number from 1 to 99"
        asked="$2"; shift 2 ;;
      --node-env)
        [[ "${2:-}" =~ ^(api1|api2|worker[1-9][0-9]?):([A-Za-z_][A-Za-z0-9_]*=.*)$ ]] || die "--node-env takes NODE:KEY=VALUE (NODE: api1, api2, worker1, ...)"
        node_env[${BASH_REMATCH[1]}]+="${BASH_REMATCH[2]}"$'\n'; shift 2 ;;
      *) die "up: unknown option $1 (options: --workers N, --node-env NODE:KEY=VALUE)" ;;
    esac
  done
  if [ -f "$marker" ]; then
    load_env || true
    local running=() all
    all="$(components | wc -l)"
    for c in $(components); do alive "$c" && running+=("$c"); done
    if [ "${#running[@]}" = "$all" ]; then
      [ -z "$asked" ] || [ "$asked" = "$workers" ] || say "note: it runs $workers worker(s), not the $asked asked for; run '$0 down' first to change that"

      say "already up ($state)"
      print_lines
      return 0
    elif [ "${#running[@]}" -gt 0 ]; then
      die "partly up (running: ${running[*]}); run '$0 down' first"
    fi
    rm -rf "$state"
  elif [ -e "$state" ] && [ -n "$(ls -A "$state" 2>/dev/null)" ]; then
    die "$state exists and is not a local cluster's state directory; choose another DMS_CLUSTER_DIR"
  fi
  for tool in dotnet psql moto_server nginx curl python3; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
  done
  local bin; bin="$(pg_bin)"
  if [ ! -f "$dll" ]; then
    [ -z "${DMS_APP_DLL:-}" ] || die "DMS_APP_DLL=$dll does not exist"
    say "building the app (dotnet build -c Release src/Dms)"
    dotnet build "$repo/src/Dms/Dms.csproj" -c Release -nologo -v q >&2 || die "the build failed"
  fi

  workers="${asked:-1}"
  for node in "${!node_env[@]}"; do
    # grep without -q reads all of it: -q exits at the match and the rest of the printf would die of SIGPIPE (pipefail).
    nodes | grep -x "$node" >/dev/null || die "--node-env names $node, which this cluster does not have (workers: $workers)"
  done
  mkdir -p "$state"/{pids,logs,ui-keys,nginx,pg/data,pg/sock}
  for node in $(nodes); do mkdir -p "$state/nodes/$node"; done
  touch "$marker"
  chmod 755 "$state" "$state/pg" # the postgres user and nginx's workers must traverse it
  # Whatever fails from here on (a node that does not start, a port taken meanwhile) stops what did start.
  trap 'rc=$?; if [ "$rc" != 0 ]; then say "start-up failed; stopping what started"; cmd_down >/dev/null 2>&1 || true; fi' EXIT

  # Ports: free loopback ports, picked at once so they differ (five, and one per worker).
  local ports_picked
  ports_picked="$(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(5 + int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$workers")"
  read -r PG_PORT S3_PORT API1_PORT API2_PORT LB_PORT _ <<<"$ports_picked"
  local WORKER_PORTS
  WORKER_PORTS="$(cut -d' ' -f6- <<<"$ports_picked" | tr ' ' ,)"

  local super_pw owner_pw app_pw super
  super_pw="$(secret)" owner_pw="$(secret)" app_pw="$(secret)" super="$([ "$(id -u)" = 0 ] && echo postgres || id -un)"
  umask 077
  cat >"$env_file" <<EOF
# Written by deploy/local/cluster.sh up: the settings every node got (source it to run the CLI against the cluster).
PG_PORT=$PG_PORT
S3_PORT=$S3_PORT
API1_PORT=$API1_PORT
API2_PORT=$API2_PORT
WORKERS=$workers
WORKER_PORTS=$WORKER_PORTS
LB_PORT=$LB_PORT
PG_SUPERUSER=$super
PG_SUPERUSER_PASSWORD=$super_pw
ConnectionStrings__Dms='Host=127.0.0.1;Port=$PG_PORT;Database=dms;Username=dms_app;Password=$app_pw'
ConnectionStrings__DmsOwner='Host=127.0.0.1;Port=$PG_PORT;Database=dms;Username=dms_owner;Password=$owner_pw'
Dms__Storage__Provider=S3
Dms__Storage__S3__ServiceUrl=http://127.0.0.1:$S3_PORT
Dms__Storage__S3__Bucket=dms
Dms__Storage__S3__Region=us-east-1
Dms__Storage__S3__AccessKey=local
Dms__Storage__S3__SecretKey=local-secret
Dms__Storage__S3__ForcePathStyle=true
Dms__Auth__SigningKey=$(secret)
Dms__Audit__CheckpointKey=$(secret)
Dms__Ui__KeysDirectory=$state/ui-keys
Dms__Http__KnownProxies=127.0.0.1
Dms__Platform__ApiKey=platform-$(secret)
Dms__Bootstrap__AdminPassword=$(secret)
ASPNETCORE_ENVIRONMENT=Production
DOTNET_ENVIRONMENT=Production
EOF
  umask 022
  load_env

  # 1. PostgreSQL: a throwaway cluster, passwords on every TCP connection, 127.0.0.1 only. max_connections covers every
  # node's full pool (Npgsql's default Max Pool Size is 100) and some for psql and the owner's connections: with fewer, a
  # burst on both API nodes gets "too many clients" from PostgreSQL, which the app answers 503 database.unavailable.
  if [ "$(id -u)" = 0 ]; then chown postgres "$state/pg/data" "$state/pg/sock"; fi
  printf '%s\n' "$super_pw" >"$state/pg/pw"
  if [ "$(id -u)" = 0 ]; then chown postgres "$state/pg/pw"; fi
  as_pg "$bin/initdb" -D "$state/pg/data" -U "$super" --pwfile="$state/pg/pw" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$state/pg/pw"
  cat >>"$state/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$state/pg/sock'
max_connections = $(( (2 + workers) * 100 + 50 ))
EOF
  touch "$state/logs/postgres.log"
  if [ "$(id -u)" = 0 ]; then chown postgres "$state/logs/postgres.log"; fi
  as_pg "$bin/pg_ctl" -D "$state/pg/data" -l "$state/logs/postgres.log" -w start >/dev/null
  PGPASSWORD="$super_pw" psql -h 127.0.0.1 -p "$PG_PORT" -U "$super" -d postgres -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE ROLE dms_owner LOGIN CREATEROLE PASSWORD '$owner_pw';
CREATE ROLE dms_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '$app_pw';
CREATE DATABASE dms OWNER dms_owner ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE dms FROM PUBLIC;
GRANT CONNECT ON DATABASE dms TO dms_app;
SQL
  say "postgres on 127.0.0.1:$PG_PORT (pid $(pg_pid))"

  # 2. The S3 emulator (objects in memory) and the bucket, made once here so the nodes do not race to create it.
  setsid moto_server -H 127.0.0.1 -p "$S3_PORT" </dev/null >"$state/logs/s3.log" 2>&1 &
  echo $! >"$state/pids/s3.pid"
  wait_http s3 "http://127.0.0.1:$S3_PORT/" s3
  curl -sf -o /dev/null -X PUT "http://127.0.0.1:$S3_PORT/dms"
  say "moto_server on 127.0.0.1:$S3_PORT (pid $(pid_of s3))"

  # 3. The nodes, started together (migrations run under an advisory lock, once), each with its own data directory
  # and the app's folder as content root (appsettings.json, static files). setsid (here and above): a Ctrl+C in the
  # shell that ran `up` does not reach them; `down` stops them.
  local node role
  for node in $(nodes); do
    role="$([[ "$node" == worker* ]] && echo worker || echo api)"
    local extra=()
    if [ -n "${node_env[$node]:-}" ]; then mapfile -t extra < <(printf '%s' "${node_env[$node]}"); fi
    (cd "$(dirname "$dll")" && exec setsid env "${extra[@]}" dotnet "$dll" --urls "http://127.0.0.1:$(node_port "$node")" --role "$role" \
      --Dms:DataDirectory="$state/nodes/$node" </dev/null >"$state/logs/$node.log" 2>&1) &
    echo $! >"$state/pids/$node.pid"
    [ "${#extra[@]}" = 0 ] || say "$node got its own settings: $(printf '%s ' "${extra[@]%%=*}")"
  done
  for node in $(nodes); do
    wait_http "$node" "http://127.0.0.1:$(node_port "$node")/health/ready" "$node"
    say "$node ready on http://127.0.0.1:$(node_port "$node") (pid $(pid_of "$node"))"
  done

  # 4. nginx in front of the two API nodes.
  sed -e "s|@STATE@|$state|g" -e "s|@LB_PORT@|$LB_PORT|g" -e "s|@API1_PORT@|$API1_PORT|g" -e "s|@API2_PORT@|$API2_PORT|g" \
    "$here/nginx.conf.template" >"$state/nginx/nginx.conf"
  nginx -p "$state/nginx" -c "$state/nginx/nginx.conf" -e "$state/logs/nginx-error.log" </dev/null >>"$state/logs/nginx-error.log" 2>&1
  for _ in $(seq 1 50); do [ -s "$state/nginx/nginx.pid" ] && break; sleep 0.1; done
  cp "$state/nginx/nginx.pid" "$state/pids/nginx.pid"
  wait_http "load balancer" "http://127.0.0.1:$LB_PORT/health/ready" nginx
  say "nginx on http://127.0.0.1:$LB_PORT (pid $(pid_of nginx))"
  trap - EXIT
  print_lines
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up [--workers N] [--node-env NODE:KEY=VALUE]...|down|status   (state directory: \$DMS_CLUSTER_DIR, default /tmp/dms-local-cluster)" >&2; exit 2 ;;
esac
