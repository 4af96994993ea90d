#!/usr/bin/env bash
# The scale benchmark (ScaleBenchmark in benchmarks/KeepAlive.AspNetCore.Outage): at each count, idle event streams and
# a mix (half idle streams, a quarter ticking streams, a quarter WebSockets), with the library and without it, the two
# alternated: memory and descriptors per held connection, one gauge collection, one connection-view request, a reload,
# then the outage with its reconnect storm and the latency of the clients that never left.
#
# Usage: bash benchmarks/scale.sh [counts...]        (1000 5000 10000 18000 by default; about 15 minutes in all)
#        MIXES="idle" POLICIES="on" bash benchmarks/scale.sh 18000
# Runs inside a private network namespace (`unshare -rn`), where dropping packets touches nothing outside it; the
# clients are in a process of their own, each group on its own loopback address (127.0.x.y). The namespace gets a TCP
# table of its own, of the host's size (tcp_child_ehash_entries, as gauge-remote-clients.sh does): the gauge's and the
# view's socket dump then walk this run's sockets only, not those of whatever else runs on the machine.
# Results: printed, kept in artifacts/benchmarks/scale-<time>.txt, one `scale:` line per run.
set -euo pipefail
source "$(dirname "$0")/tools/common.sh"
require_tools nft=nftables ip=iproute2
cd "$repo"

counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 5000 10000 18000)
mixes=${MIXES:-idle mixed}
policies=${POLICIES:-on off}

# Restore and build outside the namespace, which has no route to the package registries.
dotnet build benchmarks/KeepAlive.AspNetCore.Outage -c Release -nologo -clp:ErrorsOnly >&2
ulimit -n "$(ulimit -Hn)"
buckets=$(tr -d - < /proc/sys/net/ipv4/tcp_ehash_entries)
tool=benchmarks/KeepAlive.AspNetCore.Outage/bin/Release/net10.0/KeepAlive.AspNetCore.Outage

out=artifacts/benchmarks/scale-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p "$(dirname "$out")"
{
  machine_facts
  echo "command: bash benchmarks/scale.sh ${counts[*]} (mixes: $mixes; policies: $policies)"
  status=0
  for n in "${counts[@]}"; do
    for mix in $mixes; do
      for policy in $policies; do
        flag=(); [ "$mix" = mixed ] && flag=(--mixed)
        unshare -rn sh -c 'echo "$1" > /proc/sys/net/ipv4/tcp_child_ehash_entries && shift && exec unshare -n sh -c '"'"'ip link set lo up && exec "$@"'"'"' sh "$@"' sh "$buckets" \
          "$tool" scale --connections "$n" --policy "$policy" "${flag[@]}" || status=1
      done
    done
  done
  exit $status
} 2>&1 | tee "$out"
