#!/usr/bin/env bash
# A detinfer fleet on this machine (docs/fleet.md): N `detinfer serve` replicas on loopback and
# HAProxy in front of them, with session affinity (consistent hashing on X-Session-Id, or the
# OpenAI `user` field) and health checks on /health. Refuses to start when the replicas' schedule
# ids differ: mixed builds would silently break "the answer does not depend on the replica".
#
#   scripts/fleet.sh [--replicas 3] [--port 8000] [--base-port 8101] [--dir DIR] MODEL [serve flags...]
#   scripts/fleet.sh --check-schedules URL...   # only the schedule-id check, on running servers
#
# Runs until SIGINT/SIGTERM, then stops HAProxy and the replicas (each drains gracefully).
# Needs haproxy (bash scripts/install-deps.sh haproxy) and curl.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
detinfer=${DETINFER:-$here/build/detinfer}
replicas=3
port=8000
base_port=8101
dir=""

die() { echo "fleet: $*" >&2; exit 1; }

# The schedule id a server reports (GET /v1/models: data[0].schedule_id).
schedule_of() {
  curl -sf --max-time 5 "$1/v1/models" | sed -n 's/.*"schedule_id":"\([^"]*\)".*/\1/p'
}

# Every URL must report the first one's schedule id.
check_schedules() {
  local first="" url id
  for url in "$@"; do
    id=$(schedule_of "$url") || true
    [ -n "$id" ] || { echo "fleet: $url reports no schedule id (is it a detinfer server?)" >&2; return 1; }
    if [ -z "$first" ]; then
      first=$id; first_url=$url
    elif [ "$id" != "$first" ]; then
      echo "fleet: refusing $url: its schedule id $id differs from $first_url's $first" \
           "(a different build, --kv-dtype, model or tokenizer gives different bits)" >&2
      return 1
    fi
  done
  echo "fleet: schedule id $first on all $# replicas"
}

if [ "${1:-}" = "--check-schedules" ]; then
  shift
  [ $# -ge 1 ] || die "--check-schedules needs at least one URL"
  check_schedules "$@"
  exit $?
fi

while [ $# -gt 0 ]; do
  case "$1" in
    --replicas) replicas=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --base-port) base_port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --help|-h) sed -n '2,12p' "$0"; exit 0 ;;
    -*) die "unknown option $1 (fleet options come before MODEL)" ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || die "usage: scripts/fleet.sh [--replicas N] [--port P] [--base-port P] MODEL [serve flags...]"
model=$1; shift
[[ "$replicas" =~ ^[1-9][0-9]*$ ]] || die "--replicas must be a positive integer, got '$replicas'"
command -v haproxy >/dev/null || die "haproxy is not installed (bash scripts/install-deps.sh haproxy)"
command -v curl >/dev/null || die "curl is not installed"
[ -x "$detinfer" ] || die "no detinfer binary at $detinfer (build it, or set DETINFER)"
[ -n "$dir" ] || dir=$(mktemp -d /tmp/detinfer-fleet.XXXXXX)
mkdir -p "$dir"

pids=()
haproxy_pid=""
stop() {
  trap - INT TERM EXIT
  [ -n "$haproxy_pid" ] && kill "$haproxy_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$haproxy_pid" ] && wait "$haproxy_pid" 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

urls=()
for ((i = 0; i < replicas; i++)); do
  p=$((base_port + i))
  # Every connection from the balancer comes from 127.0.0.1: the per-address cap must not bite.
  "$detinfer" serve "$model" --host 127.0.0.1 --port "$p" \
      --max-connections-per-address 4096 --max-connections 4096 "$@" \
      >"$dir/replica$i.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$dir/replica$i.pid"
  urls+=("http://127.0.0.1:$p")
done
for ((i = 0; i < replicas; i++)); do
  for ((t = 0; t < 600; t++)); do
    curl -sf --max-time 1 "${urls[$i]}/health" >/dev/null 2>&1 && break
    kill -0 "${pids[$i]}" 2>/dev/null || { cat "$dir/replica$i.log" >&2; die "replica $i exited"; }
    sleep 0.1
  done
  curl -sf --max-time 1 "${urls[$i]}/health" >/dev/null || die "replica $i is not healthy after 60 s"
done
check_schedules "${urls[@]}" || exit 1

cfg=$dir/haproxy.cfg
{
  cat <<EOF
global
    maxconn 4096
    # Room for a whole request body, so that a request can be retried on another replica.
    tune.bufsize 262144

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 600s
    timeout http-request 15s
    # A replica that dies or refuses the connection: the request goes to another one. Every
    # replica gives the same bits, so the retried answer is the answer.
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503

frontend detinfer
    bind 127.0.0.1:$port
    option http-buffer-request
    # Affinity key: X-Session-Id, else the OpenAI "user" field of the body.
    http-request set-header X-Session-Id %[req.body,json_query('\$.user')] if !{ req.hdr(X-Session-Id) -m found } { req.body,json_query('\$.user') -m found }
    http-response set-header X-Served-By %s
    default_backend replicas

backend replicas
    # Consistent hashing on the session: a session's turns reach one replica (its prefix cache),
    # and a replica leaving moves only its own sessions. No session header: round robin.
    balance hdr(X-Session-Id)
    hash-type consistent
    option httpchk GET /health
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
EOF
  for ((i = 0; i < replicas; i++)); do
    echo "    server r$i 127.0.0.1:$((base_port + i)) check"
  done
} >"$cfg"
haproxy -c -q -f "$cfg" || die "haproxy rejects $cfg"
haproxy -db -f "$cfg" >"$dir/haproxy.log" 2>&1 &
haproxy_pid=$!
for ((t = 0; t < 100; t++)); do
  curl -sf --max-time 1 "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$haproxy_pid" 2>/dev/null || { cat "$dir/haproxy.log" >&2; die "haproxy exited"; }
  sleep 0.1
done
echo "fleet: $replicas replicas behind http://127.0.0.1:$port (config and logs in $dir)"
while kill -0 "$haproxy_pid" 2>/dev/null; do
  wait "$haproxy_pid" 2>/dev/null || true
done
die "haproxy exited (see $dir/haproxy.log)"
