#!/usr/bin/env bash
# Throughput with and without the policy, side by side: the same app (KeepAlive.AspNetCore.BenchmarkServer),
# variant "plain" (A) and "keepalive" (B, builder.UseKeepAlivePolicy() with the library's defaults), run
# alternately A B A B ..., each run a fresh server process in a fresh private network namespace.
#
#   close      a new connection per request (wrk -H "Connection: close"): the per-connection path
#   keepalive  requests on persistent connections: the per-request path (the library should cost nothing)
#
# Usage: bash benchmarks/throughput.sh            (PAIRS=5 WARMUP=5 DURATION=10 by default)
#        PAIRS=7 DURATION=15 bash benchmarks/throughput.sh
# Server pinned to CPU 0, wrk (1 thread) to CPU 1. Results: artifacts/benchmarks/throughput-<time>/.
set -euo pipefail
source "$(dirname "$0")/tools/common.sh"

pairs=${PAIRS:-5}
warmup=${WARMUP:-5}
duration=${DURATION:-10}
declare -A connections=([close]=${CLOSE_CONNECTIONS:-16} [keepalive]=${KEEPALIVE_CONNECTIONS:-32})

build_server
out=$repo/artifacts/benchmarks/throughput-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
{
  machine_facts
  echo "command: PAIRS=$pairs WARMUP=$warmup DURATION=$duration bash benchmarks/throughput.sh"
  echo "connections: close ${connections[close]}, keepalive ${connections[keepalive]}"
} | tee "$out/machine.txt"

results=$out/results.tsv
printf 'scenario\tpair\tvariant\trequests_per_s\trequests\tsocket_errors\tnon2xx\tserver_cpu_ticks\tserver_allocated_bytes\tlatency_avg\n' >"$results"
for pair in $(seq "$pairs"); do
  for scenario in close keepalive; do
    for variant in plain keepalive; do
      line=$(unshare -rn bash "$repo/benchmarks/tools/throughput-run.sh" "$variant" "$scenario" "$warmup" "$duration" "${connections[$scenario]}" 2>>"$out/wrk.log")
      printf '%s\t%s\t%s\t%s\n' "$scenario" "$pair" "$variant" "$line" | tee -a "$results"
    done
  done
done
echo "load at the end (uptime): $(uptime | sed 's/.*load average: //')" | tee -a "$out/machine.txt"

python3 "$repo/benchmarks/tools/ab_report.py" "$results" | tee "$out/report.md"
