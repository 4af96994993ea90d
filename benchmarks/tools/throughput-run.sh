#!/usr/bin/env bash
# One throughput run, inside a fresh private network namespace (started by throughput.sh):
#   throughput-run.sh <variant> <scenario: close|keepalive> <warmup s> <measured s> <connections>
# The server is pinned to CPU 0 and wrk (one thread) to CPU 1. Prints one tab-separated line:
#   requests_per_s  requests  socket_errors  non2xx  server_cpu_ticks  server_allocated_bytes  latency_avg
set -euo pipefail
source "$(dirname "$0")/common.sh"
variant=$1 scenario=$2 warmup=$3 duration=$4 connections=$5

ip link set lo up
ulimit -n "$(ulimit -Hn)"
port=5000
url=http://127.0.0.1:$port/plaintext
headers=()
[ "$scenario" = close ] && headers=(-H "Connection: close")

start_server "$variant" "$port" 0 >/dev/null
trap stop_server EXIT

# Warm-up (JIT tiers, pools), discarded.
taskset -c 1 wrk -t1 -c"$connections" -d"${warmup}s" "${headers[@]}" "$url" >/dev/null

allocated_before=$(curl -sf "http://127.0.0.1:$port/allocated")
before=$(cpu_ticks "$server_pid")
out=$(taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" "${headers[@]}" "$url")
after=$(cpu_ticks "$server_pid")
allocated_after=$(curl -sf "http://127.0.0.1:$port/allocated")

echo "$out" >&2
rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
requests=$(awk '/requests in/ {print $1}' <<<"$out")
# "Socket errors: connect 0, read 0, write 0, timeout 0" appears only when there were some.
errors=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' <<<"$out")
non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
latency=$(awk '/Latency/ {print $2; exit}' <<<"$out")
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rps" "$requests" "${errors:-0}" "${non2xx:-0}" "$((after - before))" \
  "$((allocated_after - allocated_before))" "$latency"
