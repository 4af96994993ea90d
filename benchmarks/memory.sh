#!/usr/bin/env bash
# Memory per held connection, with and without the policy: the same app (KeepAlive.AspNetCore.BenchmarkServer),
# "plain" (A) and "keepalive" (B), alternately A B A B ..., each run a fresh server in a fresh private
# network namespace. Each run measures the server's managed heap (GC.GetTotalMemory(true)) and working set
# before and while CONNECTIONS idle keep-alive connections (one request made on each) are held open by a
# client in a separate process; the difference divided by CONNECTIONS is the memory per held connection.
#
# Usage: bash benchmarks/memory.sh                    (PAIRS=5 CONNECTIONS=10000 by default)
# Needs a hard limit on open files above CONNECTIONS (server and client each hold one descriptor per connection).
# Results: artifacts/benchmarks/memory-<time>/.
set -euo pipefail
source "$(dirname "$0")/tools/common.sh"
require_tools wrk=wrk curl=curl taskset=util-linux ip=iproute2 ss=iproute2 python3=python3

pairs=${PAIRS:-5}
connections=${CONNECTIONS:-10000}
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt $((connections + 100)) ]; then
  echo "The hard limit on open files is $(ulimit -Hn); $connections connections need more (as root: ulimit -Hn $((connections + 1000)))." >&2
  exit 1
fi

build_server
out=$repo/artifacts/benchmarks/memory-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
{
  machine_facts
  echo "command: PAIRS=$pairs CONNECTIONS=$connections bash benchmarks/memory.sh"
  echo "open files (hard limit): $(ulimit -Hn)"
} | tee "$out/machine.txt"

results=$out/results.tsv
printf 'pair\tvariant\tmanaged_before\tmanaged_held\tworking_set_before\tworking_set_held\testablished\n' >"$results"
for pair in $(seq "$pairs"); do
  for variant in plain keepalive; do
    line=$(unshare -rn bash "$repo/benchmarks/tools/memory-run.sh" "$variant" "$connections" 2>>"$out/runs.log")
    printf '%s\t%s\t%s\n' "$pair" "$variant" "$line" | tee -a "$results"
  done
done
echo "load at the end (uptime): $(uptime | sed 's/.*load average: //')" | tee -a "$out/machine.txt"

python3 "$repo/benchmarks/tools/memory_report.py" "$results" "$connections" | tee "$out/report.md"
