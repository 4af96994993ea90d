#!/usr/bin/env bash
# BenchmarkDotNet with MemoryDiagnoser on the per-connection path: loopback connections accepted through
# Kestrel's socket transport, plain (baseline) and through the library's decorator (UseKeepAlivePolicy()).
#
# Usage: bash benchmarks/microbenchmarks.sh                 (every benchmark, ~5 min)
#        bash benchmarks/microbenchmarks.sh --filter '*Held*'   (any BenchmarkDotNet argument)
# Results: artifacts/benchmarks/bdn-<time>/results/*.md
set -euo pipefail
source "$(dirname "$0")/tools/common.sh"

# HeldConnectionBenchmarks holds 1,000 connections at once: two descriptors each (client and server).
ulimit -n "$(ulimit -Hn)"
out=$repo/artifacts/benchmarks/bdn-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
{ machine_facts; echo "command: bash benchmarks/microbenchmarks.sh $*"; } | tee "$out/machine.txt"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--filter '*')
dotnet run -c Release --project "$repo/benchmarks/KeepAlive.AspNetCore.Benchmarks" -- "${args[@]}" --artifacts "$out"
echo "load at the end (uptime): $(uptime | sed 's/.*load average: //')" | tee -a "$out/machine.txt"
