#!/usr/bin/env python3
"""The experiment report of BENCHMARKS.md (issue 3), now a thin client of studies: each scenario is
one study (`neuromod study`, in-process — the same expansion and statistics as
POST /v1/experiments/{id}/studies) whose one-at-a-time factors are the consolidation baselines and
the neuromodulator settings, against the plain network. Prints markdown tables: mean ± sd over
seeds, the seed-paired difference to the plain network with its 95% bootstrap CI, and Holm's p.

Usage: scripts/experiments.py [--seeds 5] [--reward-seeds 5] [--workers 2] [--bin .build/release/neuromod] [--quick]
"""
import argparse, json, os, subprocess, sys, tempfile, time

DA = {"dopamine": {"signal": "loss_improvement", "targets": {"learning_rate": 1.0}}}
NA = {"noradrenaline": {"signal": "surprise", "targets": {"learning_rate": 0.3}}}
ACH = {"acetylcholine": {"signal": "expected_uncertainty", "targets": {"learning_rate": 1.0}}}
HT = {"serotonin": {"signal": "stability", "targets": {"learning_rate": -1.5}}}
CONSOLIDATION = [("EWC", {"kind": "ewc"}), ("online EWC", {"kind": "online_ewc", "gamma": 0.9}), ("SI", {"kind": "si"})]
MODULATORS = [("DA", DA), ("NA", NA), ("ACh", ACH), ("5-HT", HT), ("DA+NA+ACh+5-HT", {**DA, **NA, **ACH, **HT})]
GATING = [("context gating (keep 0.5)", {"context": {"gating_keep": 0.5}})]
RPE_DA = {"dopamine": {"signal": "rpe", "targets": {"learning_rate": 0.5}}}
RPE_NA = {"noradrenaline": [{"signal": "surprise", "targets": {"learning_rate": 0.5}},
                            {"signal": "utility_decline", "targets": {"temperature": 0.5}}]}
# "DA" scales the delta rule's α by exp(k·RPE): an asymmetric learning rate on the reward-prediction error.
REWARD = [("DA (asymmetric learning rate on the RPE)", RPE_DA), ("NA (surprise → lr, utility → temperature)", RPE_NA),
          ("DA + NA", {**RPE_DA, **RPE_NA})]


def study(binary, base, factors, seeds, metrics, workers):
    """Runs a one-at-a-time study around `base`; returns (cell names in order, table by metric)."""
    design = {"base": base, "design": "one_at_a_time", "seeds": seeds, "metrics": metrics, "control": 0,
              "factors": [{"path": path, "values": [v for _, v in values]} for path, values in factors]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(design, f)
    try:
        out = subprocess.run([binary, "study", "--spec", f.name, "--workers", str(workers)], check=True,
                             capture_output=True, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}).stdout
    finally:
        os.unlink(f.name)
    report = json.loads([l for l in out.splitlines() if l.startswith("REPORT ")][-1][len("REPORT "):])
    names = ["none"] + [name for _, values in factors for name, _ in values]
    return names, {t["metric"]: t["cells"] for t in report["table"]}, report.get("wall_seconds", 0)


def cell(row, scale):
    if row["mean"] is None:
        return "n/a"
    text = f"{row['mean'] * scale:.1f} ± {(row['sd'] or 0) * scale:.1f}"
    vs = row["vs_control"]
    if vs and vs["ci95"]:
        text += f" (Δ {vs['mean_difference'] * scale:+.1f} [{vs['ci95'][0] * scale:+.1f}, {vs['ci95'][1] * scale:+.1f}], p_Holm {vs['p_holm']:.2f})"
    return text


def table(title, names, tables, metrics, wall):
    print(f"### {title}\n")
    print("| method | " + " | ".join(label for _, label, _ in metrics) + " |")
    print("|---|" + "---|" * len(metrics))
    for i, name in enumerate(names):
        print(f"| {name} | " + " | ".join(cell(tables[m][i], scale) for m, _, scale in metrics) + " |")
    print(f"\n({wall:.0f} s)\n", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--reward-seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bin", default=".build/release/neuromod")
    ap.add_argument("--quick", action="store_true", help="12k training images, for a smoke run")
    a = ap.parse_args()
    started = time.time()
    data = {"dataset": "fashion-mnist", **({"train_limit": 12000, "test_limit": 2000} if a.quick else {})}
    continual = [("average_accuracy", "average accuracy %", 100), ("backward_transfer", "backward transfer %", 100),
                 ("forgetting", "forgetting %", 100)]
    print(f"Split Fashion-MNIST, MLP 784-400-400-out, ReLU, SGD lr 0.05, batch 64, 2 epochs per task, "
          f"{'12k' if a.quick else 'all 60k'} training images, {a.seeds} seeds. Mean ± sd over seeds, in %; Δ against "
          f"the plain network (none), seed-paired, with its 95% bootstrap CI and Holm-adjusted sign-flip p.\n")
    for scenario, out in [("task-incremental", 10), ("domain-incremental", 2), ("class-incremental", 10)]:
        base = {"data": data, "protocol": {"kind": "split", "scenario": scenario, "epochs_per_task": 2},
                "model": {"layers": [784, 400, 400, out]}, "optimizer": {"kind": "sgd", "learning_rate": 0.05},
                "checkpoint_every_steps": 10000000, "metrics_every_steps": 100000}
        factors = [("consolidation", CONSOLIDATION),
                   ("neuromodulation", MODULATORS + (GATING if scenario == "task-incremental" else []))]
        names, tables, wall = study(a.bin, base, factors, a.seeds, [m for m, _, _ in continual], a.workers)
        table(scenario, names, tables, continual, wall)
    bandit = {"protocol": {"kind": "bandit", "arms": 10, "trials": 4000, "change_every": 200}, "checkpoint_every_steps": 10000000}
    names, tables, wall = study(a.bin, bandit, [("neuromodulation", REWARD)], a.reward_seeds,
                                ["cumulative_regret", "optimal_choice_rate", "perseverative_errors.total"], a.workers)
    table("Non-stationary bandit (10 arms, probabilities redrawn every 200 trials, 4000 trials)", names, tables,
          [("cumulative_regret", "cumulative regret", 1), ("optimal_choice_rate", "optimal choices %", 100),
           ("perseverative_errors.total", "perseverative errors", 1)], wall)
    reversal = {"protocol": {"kind": "reversal", "trials": 4000, "reverse_every": 200, "stimuli": 4},
                "model": {"layers": [4, 16, 2]}, "checkpoint_every_steps": 10000000}
    names, tables, wall = study(a.bin, reversal, [("neuromodulation", REWARD)], a.reward_seeds,
                                ["trials_to_criterion.mean", "correct_rate", "perseverative_errors.total"], a.workers)
    table("Go/No-Go reversal (4 stimuli, flipped every 200 trials, 4000 trials, MLP 4-16-2)", names, tables,
          [("trials_to_criterion.mean", "trials to criterion", 1), ("correct_rate", "correct %", 100),
           ("perseverative_errors.total", "perseverative errors", 1)], wall)
    print(f"(total {time.time() - started:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
