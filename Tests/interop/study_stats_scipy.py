#!/usr/bin/env python3
"""The statistics of `neuromod study-stats` (the code behind every study table) against NumPy
and SciPy on fixed numbers: means and sample SDs exactly, the paired sign-flip p exactly
(scipy.stats.permutation_test over all 2^n sign patterns), Holm's adjustment exactly, and the
95% percentile-bootstrap intervals within resampling noise of scipy.stats.bootstrap."""
import argparse, json, subprocess, sys, tempfile
import numpy as np
from scipy import stats

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=".build/debug/neuromod")
args = ap.parse_args()

rng = np.random.default_rng(20261130)
seeds = list(range(8))
control = rng.normal(0.70, 0.02, size=len(seeds))
effects = [0.0, 0.03, -0.01, 0.005]
cells = [control] + [control + e + rng.normal(0, 0.01, size=len(seeds)) for e in effects[1:]]
# One cell with a missing seed: pairs are formed over the seeds both cells have.
values = [{str(s): float(v) for s, v in zip(seeds, c)} for c in cells]
del values[3]["5"]
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump({"cells": [{"name": f"cell {i}", "values": v} for i, v in enumerate(values)], "control": 0}, f)
out = subprocess.run([args.bin, "study-stats", "--input", f.name], check=True, capture_output=True, text=True).stdout
table = json.loads(out)["table"][0]["cells"]

def holm(p):
    p = np.asarray(p); order = np.argsort(p); m = len(p); adj = np.empty(m); running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i])); adj[i] = running
    return adj

worst = {"mean": 0.0, "sd": 0.0, "p": 0.0, "holm": 0.0, "ci": 0.0}
ps, idx = [], []
for i, row in enumerate(table):
    x = np.array([values[i][k] for k in sorted(values[i], key=int)])
    assert row["n"] == len(x)
    worst["mean"] = max(worst["mean"], abs(row["mean"] - x.mean()))
    worst["sd"] = max(worst["sd"], abs(row["sd"] - x.std(ddof=1)))
    boot = stats.bootstrap((x,), np.mean, confidence_level=0.95, method="percentile", n_resamples=20000, random_state=1)
    lo, hi = boot.confidence_interval
    worst["ci"] = max(worst["ci"], abs(row["ci95"][0] - lo) / (hi - lo), abs(row["ci95"][1] - hi) / (hi - lo))
    if i == 0:
        assert row["vs_control"] is None
        continue
    common = sorted(set(values[i]) & set(values[0]), key=int)
    d = np.array([values[i][s] - values[0][s] for s in common])
    res = stats.permutation_test((d,), np.mean, permutation_type="samples", alternative="two-sided", n_resamples=np.inf)
    vs = row["vs_control"]
    assert vs["n"] == len(d)
    assert abs(vs["mean_difference"] - d.mean()) < 1e-12
    worst["p"] = max(worst["p"], abs(vs["p"] - res.pvalue))
    ps.append(vs["p"]); idx.append(i)
adjusted = holm(ps)
for k, i in enumerate(idx):
    worst["holm"] = max(worst["holm"], abs(table[i]["vs_control"]["p_holm"] - adjusted[k]))
print("study statistics vs NumPy/SciPy, worst differences:", {k: float(f"{v:.3g}") for k, v in worst.items()})
ok = worst["mean"] < 1e-12 and worst["sd"] < 1e-12 and worst["p"] < 1e-12 and worst["holm"] < 1e-12 and worst["ci"] < 0.05
print("study-stats:", "OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
