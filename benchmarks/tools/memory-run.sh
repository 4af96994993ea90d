#!/usr/bin/env bash
# One memory run, inside a fresh private network namespace (started by memory.sh):
#   memory-run.sh <variant> <connections>
# Measures the server's managed heap (GC.GetTotalMemory(true) after full collections) and working set
# with no client connection held, then with <connections> idle keep-alive connections held by
# hold_connections.py in a separate process. Server pinned to CPU 0, clients to CPU 1.
# Prints one tab-separated line:
#   managed_before  managed_held  working_set_before  working_set_held  established_on_server
set -euo pipefail
source "$(dirname "$0")/common.sh"
variant=$1 count=$2

ip link set lo up
ulimit -n "$(ulimit -Hn)"
port=5000
tmp=$(mktemp -d)

start_server "$variant" "$port" 0 >/dev/null
holder=
cleanup() {
  [ -n "$holder" ] && { kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true; }
  stop_server
  rm -rf "$tmp"
}
trap cleanup EXIT

memory() { curl -sf "http://127.0.0.1:$port/memory"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# Warm-up, the same for both variants: requests on persistent connections, then a thousand connections
# held and released, so pools and JIT-compiled code are in place before the baseline.
taskset -c 1 wrk -t1 -c32 -d2s "http://127.0.0.1:$port/plaintext" >/dev/null
taskset -c 1 python3 "$repo/benchmarks/tools/hold_connections.py" "$port" 1000 >"$tmp/warm.out" &
holder=$!
until grep -q '^held' "$tmp/warm.out"; do kill -0 "$holder"; sleep 0.2; done
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=
sleep 2

memory >/dev/null
before=$(memory)

taskset -c 1 python3 "$repo/benchmarks/tools/hold_connections.py" "$port" "$count" >"$tmp/hold.out" &
holder=$!
until grep -q '^held' "$tmp/hold.out"; do kill -0 "$holder"; sleep 0.5; done
cat "$tmp/hold.out" >&2
sleep 2
memory >/dev/null
held=$(memory)
established=$(ss -Htn state established "( sport = :$port )" | wc -l)

printf '%s\t%s\t%s\t%s\t%s\n' \
  "$(field managedBytes <<<"$before")" "$(field managedBytes <<<"$held")" \
  "$(field workingSetBytes <<<"$before")" "$(field workingSetBytes <<<"$held")" "$established"
