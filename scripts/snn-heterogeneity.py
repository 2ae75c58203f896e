#!/usr/bin/env python3
"""The four heterogeneity configurations of Perez-Nieves et al. (2021) on Fashion-MNIST with
latency coding: homogeneous/heterogeneous initialisation × standard/heterogeneous training
(τ_mem and θ per neuron trained or not). LIF 784-256-10, 25 steps, mean readout, Adam lr 1e-3,
batch 128, EPOCHS epochs, seeds 1..SEEDS. Prints a markdown table of mean ± sd.

Usage: scripts/snn-heterogeneity.py [--seeds 3] [--epochs 2] [--bin .build/release/neuromod]
"""
import argparse, json, os, statistics, subprocess, tempfile

CONFIGS = [("homogeneous init, standard training", False, False),
           ("heterogeneous init, standard training", True, False),
           ("homogeneous init, heterogeneous training", False, True),
           ("heterogeneous init, heterogeneous training", True, True)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--bin", default=".build/release/neuromod")
    a = ap.parse_args()
    print(f"LIF 784-256-10, latency coding, 25 steps, mean readout, {a.epochs} epochs, seeds 1..{a.seeds}; mean ± sd\n")
    print("| configuration | test accuracy % | τ_mem after training: mean (sd) | spikes/sample (hidden) |")
    print("|---|---|---|---|")
    for name, het_init, het_train in CONFIGS:
        rows = []
        for seed in range(1, a.seeds + 1):
            spec = {"seed": seed, "protocol": {"epochs": a.epochs}, "checkpoint_every_steps": 10000000,
                    "model": {"kind": "snn", "layers": [784, 256, 10],
                              "snn": {"steps": 25, "encoding": "latency", "readout": "mean", "tau_mem": 20,
                                      "heterogeneous_init": het_init, "train_neuron_parameters": het_train}}}
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(spec, f)
            out = subprocess.run([a.bin, "experiment", "--spec", f.name], check=True, capture_output=True, text=True,
                                 env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}).stdout
            os.unlink(f.name)
            rows.append(json.loads([l for l in out.splitlines() if l.startswith("SUMMARY ")][-1][8:]))
        acc = [100 * r["test_accuracy"] for r in rows]
        tau = [r["time_constants"][0]["mean"] for r in rows]
        tsd = [r["time_constants"][0]["sd"] for r in rows]
        spk = [r["spikes_per_sample"][0] for r in rows]
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"| {name} | {statistics.mean(acc):.1f} ± {sd(acc):.1f} | {statistics.mean(tau):.1f} ({statistics.mean(tsd):.1f}) | "
              f"{statistics.mean(spk):.0f} |", flush=True)


if __name__ == "__main__":
    main()
