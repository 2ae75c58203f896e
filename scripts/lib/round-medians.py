"""Medians over the rounds of a benchmark: reads lines "name rps p50 p99 ok" (wrk-summary.py) from
argv[1]; prints, per name in order of first appearance, the median requests/s and p99, with the
ratio to a baseline (--baseline NAME) and the ratios of pairs (--pair A/B, repeatable)."""
import argparse, statistics

ap = argparse.ArgumentParser()
ap.add_argument("rounds")
ap.add_argument("--baseline")
ap.add_argument("--pair", action="append", default=[])
a = ap.parse_args()
rows = [l.split() for l in open(a.rounds) if l.strip()]
names = list(dict.fromkeys(r[0] for r in rows))
med = {k: statistics.median(float(r[1]) for r in rows if r[0] == k) for k in names}
p99 = {k: statistics.median(float(r[3]) for r in rows if r[0] == k) for k in names}
width = max(len(k) for k in names) + 1
for k in names:
    ratio = f"  ratio to {a.baseline} {med[k] / med[a.baseline]:.2f}" if a.baseline else ""
    print(f"{k:{width}s} median {med[k]:9,.0f} req/s  p99 {p99[k]:.2f} ms{ratio}")
for pair in a.pair:
    x, y = pair.split("/")
    print(f"{x}/{y} {med[x] / med[y]:.2f}")
