#!/usr/bin/env bash
# One round of throughput.sh, inside a fresh private network namespace:
#   throughput-round.sh <pairs> <warmup s> <measured s> <close connections> <keepalive connections>
# Starts both variants at once, plain (A) on port 5001 and keepalive (B) on 5002, both pinned to CPU 0;
# wrk (one thread) runs on CPU 1 against one of them at a time. After a warm-up of each, <pairs> times:
# for each scenario, A then B, back to back, so a change in what else the machine runs falls on both
# halves of a pair alike. Prints one tab-separated line per wrk run:
#   scenario pair variant requests_per_s requests socket_errors non2xx server_cpu_ticks server_allocated_bytes latency_avg
set -euo pipefail
source "$(dirname "$0")/common.sh"
pairs=$1 warmup=$2 duration=$3
declare -A connections=([close]=$4 [keepalive]=$5)
declare -A port=([plain]=5001 [keepalive]=5002)
declare -A pid

ip link set lo up
ulimit -n "$(ulimit -Hn)"

trap 'for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done' EXIT
for variant in plain keepalive; do
  start_server "$variant" "${port[$variant]}" 0 >/dev/null
  pid[$variant]=$server_pid
done

wrk_run() { # <variant> <scenario> <seconds>
  local headers=()
  [ "$2" = close ] && headers=(-H "Connection: close")
  taskset -c 1 wrk -t1 -c"${connections[$2]}" -d"${3}s" "${headers[@]}" "http://127.0.0.1:${port[$1]}/plaintext"
}

# Warm-up (JIT tiers, pools), discarded.
for scenario in close keepalive; do
  for variant in plain keepalive; do
    wrk_run "$variant" "$scenario" "$warmup" >/dev/null
  done
done

for pair in $(seq "$pairs"); do
  for scenario in close keepalive; do
    for variant in plain keepalive; do
      url=http://127.0.0.1:${port[$variant]}
      allocated_before=$(curl -sf "$url/allocated")
      before=$(cpu_ticks "${pid[$variant]}")
      out=$(wrk_run "$variant" "$scenario" "$duration")
      after=$(cpu_ticks "${pid[$variant]}")
      allocated_after=$(curl -sf "$url/allocated")

      echo "$out" >&2
      rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
      requests=$(awk '/requests in/ {print $1}' <<<"$out")
      # "Socket errors: connect 0, read 0, write 0, timeout 0" appears only when there were some.
      errors=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' <<<"$out")
      non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
      latency=$(awk '/Latency/ {print $2; exit}' <<<"$out")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$pair" "$variant" "$rps" "$requests" "${errors:-0}" "${non2xx:-0}" \
        "$((after - before))" "$((allocated_after - allocated_before))" "$latency"
    done
  done
done
