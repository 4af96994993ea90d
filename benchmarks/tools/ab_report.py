#!/usr/bin/env python3
"""Summarises throughput.sh's results.tsv: per pair, the with/without ratio; medians and the min-max.

A is "plain" (Kestrel as is), B is "keepalive" (the same app + UseKeepAlivePolicy()). The throughput
ratio is B/A (1.00 = no cost; the goals are >= 0.98 for a new connection per request, >= 0.99 on
persistent connections). Server CPU per request is the server process's user + system time over the
measured run divided by the requests served; its ratio B/A (<= 1.00 = no cost) is less sensitive to
other processes taking CPU 0 away, which lowers both throughput and CPU time, not the CPU per request.
Allocated bytes per request are the server's GC.GetTotalAllocatedBytes(precise) over the measured run
(all threads) divided by the requests served: B-A is what the library allocates per request (on
persistent connections) or per connection (a new connection per request).
"""
import csv
import os
import statistics
import sys

TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")
GOALS = {"close": 0.98, "keepalive": 0.99}
TITLES = {"close": "New connection per request (wrk -H \"Connection: close\")",
          "keepalive": "Persistent connections (wrk keep-alive)"}


def main(path):
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    for scenario in ("close", "keepalive"):
        pairs = {}
        for r in rows:
            if r["scenario"] == scenario:
                pairs.setdefault(r["pair"], {})[r["variant"]] = r
        complete = [p for p in sorted(pairs, key=lambda k: tuple(map(int, k.split(".")))) if {"plain", "keepalive"} <= pairs[p].keys()]
        if not complete:
            continue
        print(f"### {TITLES[scenario]}\n")
        print("| pair | A plain req/s | B keepalive req/s | B/A | A CPU µs/req | B CPU µs/req | B/A CPU | A alloc B/req | B alloc B/req | B-A alloc | errors A/B |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        ratios, cpu_ratios, a_rps, b_rps, alloc_diffs = [], [], [], [], []
        for p in complete:
            a, b = pairs[p]["plain"], pairs[p]["keepalive"]
            ra, rb = float(a["requests_per_s"]), float(b["requests_per_s"])
            ca = int(a["server_cpu_ticks"]) * TICK_US / int(a["requests"])
            cb = int(b["server_cpu_ticks"]) * TICK_US / int(b["requests"])
            ratios.append(rb / ra)
            cpu_ratios.append(cb / ca)
            a_rps.append(ra)
            b_rps.append(rb)
            aa = int(a["server_allocated_bytes"]) / int(a["requests"])
            ab = int(b["server_allocated_bytes"]) / int(b["requests"])
            alloc_diffs.append(ab - aa)
            errors = f"{int(a['socket_errors']) + int(a['non2xx'])}/{int(b['socket_errors']) + int(b['non2xx'])}"
            print(f"| {p} | {ra:,.0f} | {rb:,.0f} | {rb / ra:.3f} | {ca:.1f} | {cb:.1f} | {cb / ca:.3f} | {aa:,.0f} | {ab:,.0f} | {ab - aa:+,.0f} | {errors} |")
        goal = GOALS[scenario]
        median = statistics.median(ratios)
        print()
        print(f"- median throughput: A {statistics.median(a_rps):,.0f} req/s, B {statistics.median(b_rps):,.0f} req/s")
        print(f"- **B/A throughput ratio: median {median:.3f}, min-max {min(ratios):.3f}-{max(ratios):.3f}** "
              f"({len(ratios)} pairs; goal >= {goal}: {'met' if median >= goal else 'NOT met'} by the median)")
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else (median, median, median)
        print(f"- B/A throughput ratio, middle half of the pairs: {q1:.3f}-{q3:.3f}")
        print(f"- B/A server CPU per request: median {statistics.median(cpu_ratios):.3f}, "
              f"min-max {min(cpu_ratios):.3f}-{max(cpu_ratios):.3f}")
        print(f"- B-A server allocations per request: median {statistics.median(alloc_diffs):+,.0f} B, "
              f"min-max {min(alloc_diffs):+,.0f} to {max(alloc_diffs):+,.0f}")
        print()


if __name__ == "__main__":
    main(sys.argv[1])
