#!/usr/bin/env bash
# Throughput with and without the policy, side by side: the same app (KeepAlive.AspNetCore.BenchmarkServer),
# variant "plain" (A) and "keepalive" (B, builder.UseKeepAlivePolicy() with the library's defaults).
#
#   close      a new connection per request (wrk -H "Connection: close"): the per-connection path
#   keepalive  requests on persistent connections: the per-request path (the library should cost nothing)
#
# ROUNDS rounds, each in a fresh private network namespace with fresh server processes (A and B both
# running, pinned to CPU 0; wrk, one thread, on CPU 1); in each round PAIRS pairs of runs, A then B, back
# to back, for each scenario. The machine is shared: short runs alternated closely put any change in
# the other load on both halves of a pair, and the ratios of many pairs are what is reported.
#
# Usage: bash benchmarks/throughput.sh       (ROUNDS=3 PAIRS=8 WARMUP=3 DURATION=3: about 6 minutes)
# Results: artifacts/benchmarks/throughput-<time>/ (results.tsv, report.md, wrk.log, machine.txt).
set -euo pipefail
source "$(dirname "$0")/tools/common.sh"
require_tools wrk=wrk curl=curl taskset=util-linux ip=iproute2 python3=python3

rounds=${ROUNDS:-3}
pairs=${PAIRS:-8}
warmup=${WARMUP:-3}
duration=${DURATION:-3}
close_connections=${CLOSE_CONNECTIONS:-16}
keepalive_connections=${KEEPALIVE_CONNECTIONS:-32}

build_server
out=$repo/artifacts/benchmarks/throughput-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
{
  machine_facts
  echo "command: ROUNDS=$rounds PAIRS=$pairs WARMUP=$warmup DURATION=$duration bash benchmarks/throughput.sh"
  echo "connections: close $close_connections, keepalive $keepalive_connections"
} | tee "$out/machine.txt"

results=$out/results.tsv
printf 'scenario\tpair\tvariant\trequests_per_s\trequests\tsocket_errors\tnon2xx\tserver_cpu_ticks\tserver_allocated_bytes\tlatency_avg\n' >"$results"
for round in $(seq "$rounds"); do
  unshare -rn bash "$repo/benchmarks/tools/throughput-round.sh" "$pairs" "$warmup" "$duration" "$close_connections" "$keepalive_connections" \
    2>>"$out/wrk.log" | awk -v round="$round" 'BEGIN {OFS="\t"} {$2 = round "." $2; print}' | tee -a "$results"
  echo "load after round $round (uptime): $(uptime | sed 's/.*load average: //')" | tee -a "$out/machine.txt"
done

python3 "$repo/benchmarks/tools/ab_report.py" "$results" | tee "$out/report.md"
