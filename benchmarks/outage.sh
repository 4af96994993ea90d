#!/usr/bin/env bash
# The outage benchmark: N idle server-sent event streams (10,000 by default) to Kestrel + this library
# (Idle 1 s, Interval 1 s, ProbeCount 2), their clients cut off at once, then back from a new address.
# Prints the time from the cut to the last connection reclaimed, the server's memory with N streams open
# and at its peak, and what it holds afterwards compared with before.
#
# Usage: bash benchmarks/outage.sh [connections] [--policy off] [--watch SECONDS]
# Needs nftables (installed by require_tools when root). Runs inside a private network namespace (`unshare -rn`),
# where dropping packets touches nothing outside it. The server and the clients are two processes: each
# needs connections + ~1000 descriptors, and a user namespace cannot raise the hard limit (20,000 here).
# Results: printed, and kept in artifacts/benchmarks/outage-<time>.txt.
set -euo pipefail
source "$(dirname "$0")/tools/common.sh"
require_tools nft=nftables ip=iproute2
cd "$repo"

connections=${1:-10000}
shift || true

# Restore and build outside the namespace, which has no route to the package registries.
dotnet build benchmarks/KeepAlive.AspNetCore.Outage -c Release -nologo -clp:ErrorsOnly >&2

# The soft limit up to the hard one, for this shell and so for both processes.
ulimit -n "$(ulimit -Hn)"

out=artifacts/benchmarks/outage-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p "$(dirname "$out")"
{
  echo "command: bash benchmarks/outage.sh $connections $*"
  unshare -rn sh -c 'ip link set lo up && exec "$@"' sh \
    benchmarks/KeepAlive.AspNetCore.Outage/bin/Release/net10.0/KeepAlive.AspNetCore.Outage --connections "$connections" "$@"
} | tee "$out"
