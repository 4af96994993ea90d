#!/usr/bin/env python3
"""Summarises memory.sh's results.tsv: bytes per held connection, with (B) and without (A) the policy.

Per run, (held - before) / connections; per pair, B - A is what the library adds per connection. The
goal for the managed heap is <= 256 bytes. The working set moves in pages and with the GC's commit
decisions, so it is reported but noisier.
"""
import csv
import statistics
import sys

GOAL = 256


def main(path, connections):
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    pairs = {}
    for r in rows:
        if int(r["established"]) < connections:
            print(f"pair {r['pair']} {r['variant']}: only {r['established']} connections established; left out", file=sys.stderr)
            continue
        pairs.setdefault(int(r["pair"]), {})[r["variant"]] = r
    complete = [p for p in sorted(pairs) if {"plain", "keepalive"} <= pairs[p].keys()]

    def per_connection(r, what):
        return (int(r[f"{what}_held"]) - int(r[f"{what}_before"])) / connections

    print(f"### Memory per held connection ({connections:,} idle keep-alive connections)\n")
    print("| pair | A plain managed B/conn | B keepalive managed B/conn | B-A managed | A working set B/conn | B working set B/conn | B-A working set |")
    print("|---|---|---|---|---|---|---|")
    managed, working = [], []
    for p in complete:
        a, b = pairs[p]["plain"], pairs[p]["keepalive"]
        ma, mb = per_connection(a, "managed"), per_connection(b, "managed")
        wa, wb = per_connection(a, "working_set"), per_connection(b, "working_set")
        managed.append(mb - ma)
        working.append(wb - wa)
        print(f"| {p} | {ma:,.0f} | {mb:,.0f} | {mb - ma:+,.0f} | {wa:,.0f} | {wb:,.0f} | {wb - wa:+,.0f} |")
    if not complete:
        return
    median = statistics.median(managed)
    print()
    print(f"- **managed heap added by the library: median {median:+,.0f} B per connection, "
          f"min-max {min(managed):+,.0f} to {max(managed):+,.0f}** ({len(managed)} pairs; goal <= {GOAL} B: "
          f"{'met' if median <= GOAL else 'NOT met'})")
    print(f"- working set added: median {statistics.median(working):+,.0f} B per connection, "
          f"min-max {min(working):+,.0f} to {max(working):+,.0f}")
    print()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
