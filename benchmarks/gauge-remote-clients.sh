#!/usr/bin/env bash
# The gauge's CPU benchmark (gauge-cpu) with the clients in a network namespace of their own, as a server whose
# clients are remote sees its table of TCP sockets: only its own ends. On plain loopback (gauge-cpu alone) the table
# also holds the 10,000 clients' ends, and the kernel's socket dump walks past each of them.
#
# Usage: bash benchmarks/gauge-remote-clients.sh [connections] [runs]     (10000 and 3 by default)
#        BDN=1 bash benchmarks/gauge-remote-clients.sh                     (then BenchmarkDotNet's ConnectionGauge too)
#
# Without root: `unshare -rn` makes a private network namespace (and a user namespace in which this script is root).
# In it, tcp_child_ehash_entries gives each namespace made from it a table of its own, of the host's size (read from
# /proc/sys/net/ipv4/tcp_ehash_entries), so the walk is as long as on the host; the server and the clients each get one,
# joined by a veth pair. The addresses are loopback ones (127.100.0.1 and .2, with route_localnet): nothing can leave
# the namespaces, and no address outside 127.0.0.0/8 is used.
# Results: printed, and kept in artifacts/benchmarks/gauge-remote-clients-<time>.txt.
set -euo pipefail
source "$(dirname "$0")/tools/common.sh"
require_tools ip=iproute2

connections=${1:-10000}
runs=${2:-3}
tool=$repo/benchmarks/KeepAlive.AspNetCore.Benchmarks/bin/Release/net10.0/KeepAlive.AspNetCore.Benchmarks

# Build outside the namespace, which has no route to the package registries.
dotnet build "$repo/benchmarks/KeepAlive.AspNetCore.Benchmarks" -c Release -nologo -clp:ErrorsOnly -v:q >&2
ulimit -n "$(ulimit -Hn)"
# The host's table size (negative in a namespace that shares the host's table: the same size).
buckets=$(tr -d - < /proc/sys/net/ipv4/tcp_ehash_entries)

out=$repo/artifacts/benchmarks/gauge-remote-clients-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p "$(dirname "$out")"
{
  machine_facts
  echo "command: bash benchmarks/gauge-remote-clients.sh $connections $runs"
  echo "table: $buckets buckets per namespace"
  unshare -rn bash -s "$tool" "$connections" "$runs" "$buckets" "${BDN:-}" "$out" <<'NAMESPACES'
set -euo pipefail
tool=$1 connections=$2 runs=$3 buckets=$4 bdn=$5 out=$6
echo "$buckets" > /proc/sys/net/ipv4/tcp_child_ehash_entries
# Two namespaces, each held by a process, each with a table of its own.
unshare -n sleep infinity & server=$!
unshare -n sleep infinity & clients=$!
trap 'kill $server $clients' EXIT
sleep 0.2
ip link add name ka-server type veth peer name ka-clients
ip link set ka-server netns "$server"
ip link set ka-clients netns "$clients"
setup() { # pid interface address
  nsenter --net=/proc/$1/ns/net sh -c "
    ip link set lo up
    sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.$2.route_localnet=1
    ip addr add $3/30 dev $2 && ip link set $2 up"
}
setup "$server" ka-server 127.100.0.1
setup "$clients" ka-clients 127.100.0.2
for run in $(seq "$runs"); do
  nsenter --net=/proc/$server/ns/net "$tool" gauge-cpu "$connections" 127.100.0.1 /proc/$clients/ns/net
  nsenter --net=/proc/$server/ns/net "$tool" gauge-cpu "$connections"
done
if [ -n "$bdn" ]; then
  GAUGE_SERVER_ADDRESS=127.100.0.1 GAUGE_CLIENTS_NETNS=/proc/$clients/ns/net nsenter --net=/proc/$server/ns/net \
    "$tool" --filter '*ConnectionGauge*' --artifacts "${out%.txt}-bdn" | sed -n '/^| Method/,/^$/p'
fi
NAMESPACES
  echo "load at the end (uptime): $(uptime | sed 's/.*load average: //')"
} | tee "$out"
