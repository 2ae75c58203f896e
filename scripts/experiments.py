#!/usr/bin/env python3
"""Runs the experiment report of BENCHMARKS.md: split Fashion-MNIST (three scenarios) with
baselines and neuromodulators, and the reward tasks with and without DA/NA, over several seeds.
Prints markdown tables of mean ± sd. Uses `neuromod experiment` (in-process, no server).

Usage: scripts/experiments.py [--seeds 3] [--reward-seeds 5] [--bin .build/release/neuromod] [--quick]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

MODULATORS = {
    "none": {},
    "EWC": {"consolidation": {"kind": "ewc"}},
    "online EWC": {"consolidation": {"kind": "online_ewc", "gamma": 0.9}},
    "SI": {"consolidation": {"kind": "si"}},
    "DA": {"neuromodulation": {"dopamine": {"signal": "loss_improvement", "targets": {"learning_rate": 1.0}}}},
    "NA": {"neuromodulation": {"noradrenaline": {"signal": "surprise", "targets": {"learning_rate": 0.3}}}},
    "ACh": {"neuromodulation": {"acetylcholine": {"signal": "expected_uncertainty", "targets": {"learning_rate": 1.0}}}},
    "5-HT": {"neuromodulation": {"serotonin": {"signal": "stability", "targets": {"learning_rate": -1.5}}}},
    "DA+NA+ACh+5-HT": {"neuromodulation": {
        "dopamine": {"signal": "loss_improvement", "targets": {"learning_rate": 1.0}},
        "noradrenaline": {"signal": "surprise", "targets": {"learning_rate": 0.3}},
        "acetylcholine": {"signal": "expected_uncertainty", "targets": {"learning_rate": 1.0}},
        "serotonin": {"signal": "stability", "targets": {"learning_rate": -1.5}}}},
}
GATING = {"context gating (keep 0.5)": {"neuromodulation": {"context": {"gating_keep": 0.5}}}}
REWARD = {
    "neither": {},
    "DA only": {"dopamine": {"signal": "rpe", "targets": {"learning_rate": 0.5}}},
    "NA only": {"noradrenaline": [{"signal": "surprise", "targets": {"learning_rate": 0.5}},
                                  {"signal": "utility_decline", "targets": {"temperature": 0.5}}]},
    "DA + NA": {"dopamine": {"signal": "rpe", "targets": {"learning_rate": 0.5}},
                "noradrenaline": [{"signal": "surprise", "targets": {"learning_rate": 0.5}},
                                  {"signal": "utility_decline", "targets": {"temperature": 0.5}}]},
}


def run(binary, spec, seed):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
        path = f.name
    try:
        out = subprocess.run([binary, "experiment", "--spec", path, "--seed", str(seed)], check=True,
                             capture_output=True, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}).stdout
    finally:
        os.unlink(path)
    line = [l for l in out.splitlines() if l.startswith("SUMMARY ")][-1]
    return json.loads(line[len("SUMMARY "):])


def ms(values, pct=True):
    k = 100 if pct else 1
    m = statistics.mean(values) * k
    sd = statistics.stdev(values) * k if len(values) > 1 else 0.0
    return f"{m:.1f} ± {sd:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--reward-seeds", type=int, default=5)
    ap.add_argument("--bin", default=".build/release/neuromod")
    ap.add_argument("--quick", action="store_true", help="12k training images, for a smoke run")
    a = ap.parse_args()
    seeds = list(range(1, a.seeds + 1))
    started = time.time()
    data = {"dataset": "fashion-mnist"}
    if a.quick:
        data.update({"train_limit": 12000, "test_limit": 2000})
    print(f"Split Fashion-MNIST, MLP 784-400-400-out, ReLU, SGD lr 0.05, batch 64, 2 epochs per task, "
          f"{'12k' if a.quick else 'all 60k'} training images, seeds {seeds}. Mean ± sd over seeds, in %.\n")
    for scenario, out in [("task-incremental", 10), ("domain-incremental", 2), ("class-incremental", 10)]:
        print(f"### {scenario}\n")
        print("| method | average accuracy | backward transfer | forward transfer | forgetting | s/run |")
        print("|---|---|---|---|---|---|")
        methods = {**MODULATORS, **(GATING if scenario == "task-incremental" else {})}
        for name, extra in methods.items():
            spec = {"data": data, "protocol": {"kind": "split", "scenario": scenario, "epochs_per_task": 2},
                    "model": {"layers": [784, 400, 400, out]}, "optimizer": {"kind": "sgd", "learning_rate": 0.05},
                    "checkpoint_every_steps": 10000000, "metrics_every_steps": 100000, **extra}
            rs = [run(a.bin, spec, s) for s in seeds]
            print(f"| {name} | {ms([r['average_accuracy'] for r in rs])} | {ms([r['backward_transfer'] for r in rs])} | "
                  f"{ms([r['forward_transfer'] for r in rs])} | {ms([r['forgetting'] for r in rs])} | "
                  f"{statistics.mean(r['wall_seconds'] for r in rs):.1f} |", flush=True)
        print()
    rseeds = list(range(1, a.reward_seeds + 1))
    print(f"### Non-stationary bandit (10 arms, probabilities redrawn every 200 trials, 4000 trials), seeds {rseeds}\n")
    print("| modulators | cumulative regret | optimal choices % | trials to criterion | perseverative errors |")
    print("|---|---|---|---|---|")
    for name, nm in REWARD.items():
        spec = {"protocol": {"kind": "bandit", "arms": 10, "trials": 4000, "change_every": 200},
                "checkpoint_every_steps": 10000000}
        if nm:
            spec["neuromodulation"] = nm
        rs = [run(a.bin, spec, s) for s in rseeds]
        ttc = [r["trials_to_criterion"]["mean"] for r in rs if r["trials_to_criterion"]["mean"] is not None]
        print(f"| {name} | {ms([r['cumulative_regret'] for r in rs], pct=False)} | {ms([r['optimal_choice_rate'] for r in rs])} | "
              f"{ms(ttc, pct=False)} | {ms([r['perseverative_errors']['total'] for r in rs], pct=False)} |", flush=True)
    print(f"\n### Go/No-Go reversal (4 stimuli, contingencies flipped every 200 trials, 4000 trials, MLP 4-16-2), seeds {rseeds}\n")
    print("| modulators | trials to criterion | not reached | correct % | perseverative errors |")
    print("|---|---|---|---|---|")
    for name, nm in REWARD.items():
        spec = {"protocol": {"kind": "reversal", "trials": 4000, "reverse_every": 200, "stimuli": 4},
                "model": {"layers": [4, 16, 2]}, "checkpoint_every_steps": 10000000}
        if nm:
            spec["neuromodulation"] = nm
        rs = [run(a.bin, spec, s) for s in rseeds]
        print(f"| {name} | {ms([r['trials_to_criterion']['mean'] for r in rs], pct=False)} | "
              f"{ms([r['trials_to_criterion']['not_reached'] for r in rs], pct=False)} | {ms([r['correct_rate'] for r in rs])} | "
              f"{ms([r['perseverative_errors']['total'] for r in rs], pct=False)} |", flush=True)
    print(f"\n(total {time.time() - started:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
