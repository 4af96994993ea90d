#!/usr/bin/env bash
# Dead peers side by side: nginx (so_keepalive=1s:1s:2), plain Kestrel, and Kestrel + this library with the
# matching policy, with and without UserTimeout; a dead idle peer and a dead busy peer (server writing every
# 200 ms); time from the client vanishing to the server closing, capped (30 s by default).
#
# Usage: bash benchmarks/dead-peers.sh              (REPEATS=5 CAP=30 by default; about a minute)
# Needs nginx, nftables and iproute2 (installed by require_tools when root). Everything runs inside a private network
# namespace (`unshare -rn`), where dropping packets touches nothing outside it.
# Results: artifacts/benchmarks/dead-peers-<time>/.
set -euo pipefail
source "$(dirname "$0")/tools/common.sh"

require_tools nginx=nginx nft=nftables ss=iproute2 ip=iproute2 curl=curl python3=python3

build_server
out=$repo/artifacts/benchmarks/dead-peers-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
{
  machine_facts
  echo "nginx: $(/usr/sbin/nginx -v 2>&1 | cut -d/ -f2)"
  echo "command: REPEATS=${REPEATS:-5} CAP=${CAP:-30} bash benchmarks/dead-peers.sh"
} | tee "$out/machine.txt"

PATH=$PATH:/usr/sbin unshare -rn sh -c 'ip link set lo up && exec "$@"' sh \
  python3 "$repo/benchmarks/tools/dead_peers.py" --repeats "${REPEATS:-5}" --cap "${CAP:-30}" --out "$out" | tee "$out/report.md"
