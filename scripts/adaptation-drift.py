#!/usr/bin/env python3
"""Issue 17's drift scenario: a served Fashion-MNIST model meets a world whose labels change, through
predict + feedback over HTTP, with adaptation off, dopamine only, and dopamine + noradrenaline +
serotonin (consolidation).

The base model (784-256-10 MLP) trains on the first 50,000 training images; its final checkpoint
(no selection on any test data) is registered. Each stream has 6,000 predictions, each followed by
feedback with the true label of the moment (prequential: the answer is scored before its feedback):
  A  1,000 images, original labels;
  B  3,500 images, four classes (chosen by the seed) relabelled in a cycle c1→c2→c3→c4→c1;
  C  1,500 images, original labels again (the world returns).
Held-out accuracy on 2,000 test images the streams never show (original labels, and the relabelled
ones) is measured at the ends of B and C: what adaptation learned, and what it forgot.

Tuning (equal budgets): each adaptive condition tries the same five learning rates on two
validation streams drawn from training images 50,000–57,999 (never trained on; held-out accuracy
of validation streams on 58,000–58,499), and keeps the rate with the best mean prequential
accuracy. Test streams come from test images 2,000–9,999, seeds --seed-base … --seed-base+4
(default 100); the same seeds (stream order and relabelled classes) serve every condition
(seed-paired).

Writes the per-seed results as JSON (--out), prints markdown tables with 95% CIs (t interval over
seeds; paired differences), and draws an SVG of accuracy over the stream (--svg).

Usage: scripts/adaptation-drift.py [--seeds 5] [--out docs/benchmarks/adaptation-drift.json]
       [--svg docs/adaptation-drift.svg] [--url http://127.0.0.1:PORT] [--bin .build/release/neuromod]
"""
import argparse, gzip, http.client, json, math, os, random, statistics, struct, subprocess, sys, tempfile, time, urllib.parse

DATA = "/usr/share/datasets/fashion-mnist"
PHASES = [("A", 1000, False), ("B", 3500, True), ("C", 1500, False)]
WINDOW = 250
RATES = [0.001, 0.002, 0.005, 0.01, 0.02]
SNAPSHOT_EVERY = 1000
CONDITIONS = {
    "off": None,
    "dopamine": lambda lr: {"learning_rate": lr, "snapshot_every": SNAPSHOT_EVERY},
    "dopamine+noradrenaline": lambda lr: {"learning_rate": lr, "snapshot_every": SNAPSHOT_EVERY, "noradrenaline": True},
    "dopamine+noradrenaline+serotonin": lambda lr: {"learning_rate": lr, "snapshot_every": SNAPSHOT_EVERY,
                                                    "noradrenaline": True, "consolidation": 0.002},
}
T975 = [None, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 2051:
        return [raw[16 + i * 784:16 + (i + 1) * 784] for i in range(n)]
    return list(raw[8:8 + n])


class Client:
    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)

    def call(self, method, path, body=None):
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                text = r.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                if attempt == 2:
                    raise
        if r.status >= 400 and r.status != 404:
            raise RuntimeError(f"{method} {path}: {r.status} {text[:300]!r}")
        return r.status, (json.loads(text) if text else None)


PIXEL = [f"{b / 255:.6g}" for b in range(256)]


def body(images):
    return '{"inputs":[' + ",".join("[" + ",".join(PIXEL[b] for b in img) + "]" for img in images) + "]}"


def relabelling(rng):
    classes = rng.sample(range(10), 4)
    m = list(range(10))
    for i, c in enumerate(classes):
        m[c] = classes[(i + 1) % 4]
    return m, classes


def heldout_accuracy(c, alias, images, labels):
    correct = 0
    for i in range(0, len(images), 500):
        _, r = c.call("POST", f"/v1/models/fm/predict?alias={alias}", body(images[i:i + 500]))
        correct += sum(p["class"] == y for p, y in zip(r["predictions"], labels[i:i + 500]))
    return correct / len(images)


def stream(c, alias, policy, pool, images, labels, heldout, seed):
    """One prequential stream; returns its record."""
    rng = random.Random(seed)
    order = rng.sample(pool, sum(n for _, n, _ in PHASES))
    mapping, relabelled = relabelling(rng)
    status, _ = c.call("PUT", f"/v1/models/fm/aliases/{alias}", {"version": 1})
    if policy is not None:
        c.call("PUT", f"/v1/models/fm/aliases/{alias}/adaptation", policy)
    hx, hy = heldout
    correct, pos, windows, phase_acc, evals = [], 0, [], {}, {}
    shifts = 0
    for name, n, shifted in PHASES:
        hits = 0
        for i in order[pos:pos + n]:
            y = mapping[labels[i]] if shifted else labels[i]
            _, p = c.call("POST", f"/v1/models/fm/predict?alias={alias}", body([images[i]]))
            pred = p["predictions"][0]
            ok = pred["class"] == y
            hits += ok
            correct.append(ok)
            _, f = c.call("POST", "/v1/models/fm/feedback", {"prediction_id": pred["prediction_id"], "label": y})
            if f and f.get("update") and f["update"]["shift_detected"]:
                shifts += 1
        phase_acc[name] = hits / n
        pos += n
        if name in ("B", "C"):
            evals[name] = {"original": heldout_accuracy(c, alias, hx, hy),
                           "relabelled": heldout_accuracy(c, alias, hx, [mapping[y] for y in hy])}
    windows = [sum(correct[i:i + WINDOW]) / WINDOW for i in range(0, len(correct), WINDOW)]
    # Clean up: stop adapting, drop the alias and the snapshots it wrote.
    if policy is not None:
        c.call("DELETE", f"/v1/models/fm/aliases/{alias}/adaptation")
    c.call("DELETE", f"/v1/models/fm/aliases/{alias}")
    _, m = c.call("GET", "/v1/models/fm")
    for v in m["versions"]:
        if v["origin"] == "adaptation" and v["version"] not in m["aliases"].values():
            c.call("DELETE", f"/v1/models/fm/versions/{v['version']}")
    return {"seed": seed, "relabelled_classes": relabelled, "prequential": sum(correct) / len(correct),
            "phase_accuracy": phase_acc, "heldout": evals, "windows": windows, "shift_events": shifts}


def ci(xs):
    m = statistics.mean(xs)
    if len(xs) < 2:
        return m, m, m
    df = len(xs) - 1
    t = T975[df] if df < len(T975) else 2.042   # df > 30: 2.042 (df 30) is conservative
    h = t * statistics.stdev(xs) / math.sqrt(len(xs))
    return m, m - h, m + h


def fmt(xs, scale=100):
    m, lo, hi = ci(xs)
    return f"{m * scale:.1f} [{lo * scale:.1f}, {hi * scale:.1f}]"


def svg(results, path):
    colors = {"off": "#777777", "dopamine": "#1f77b4", "dopamine+noradrenaline": "#2ca02c", "dopamine+noradrenaline+serotonin": "#d62728"}
    short = {"off": "off", "dopamine": "DA", "dopamine+noradrenaline": "DA+NA", "dopamine+noradrenaline+serotonin": "DA+NA+5-HT"}
    W, H, L, R, T, B = 760, 360, 60, 20, 30, 50
    n = len(next(iter(results.values()))[0]["windows"])
    x = lambda i: L + (W - L - R) * (i + 0.5) / n
    y = lambda a: T + (H - T - B) * (0.95 - a) / 0.55
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    pos = 0
    for name, count, shifted in PHASES:
        x0 = L + (W - L - R) * pos / (n * WINDOW)
        x1 = L + (W - L - R) * (pos + count) / (n * WINDOW)
        if shifted:
            out.append(f'<rect x="{x0:.1f}" y="{T}" width="{x1 - x0:.1f}" height="{H - T - B}" fill="#f3efe0"/>')
        out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{T - 8}" text-anchor="middle">{name}{" (4 classes relabelled)" if shifted else " (original)"}</text>')
        pos += count
    for a in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{y(a):.1f}" y2="{y(a):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y(a) + 4:.1f}" text-anchor="end">{a:.1f}</text>')
    for k, (cond, runs) in enumerate(results.items()):
        means, los, his = [], [], []
        for i in range(n):
            m, lo, hi = ci([r["windows"][i] for r in runs])
            means.append(m); los.append(lo); his.append(hi)
        band = " ".join(f"{x(i):.1f},{y(his[i]):.1f}" for i in range(n)) + " " + \
               " ".join(f"{x(i):.1f},{y(los[i]):.1f}" for i in reversed(range(n)))
        out.append(f'<polygon points="{band}" fill="{colors[cond]}" fill-opacity="0.18" stroke="none"/>')
        out.append(f'<polyline points="{" ".join(f"{x(i):.1f},{y(means[i]):.1f}" for i in range(n))}" fill="none" stroke="{colors[cond]}" stroke-width="2"/>')
        out.append(f'<line x1="{L + 10}" x2="{L + 30}" y1="{H - 14 - 0:.1f}" y2="{H - 14:.1f}" stroke="{colors[cond]}" stroke-width="2" transform="translate({k * 160},0)"/>')
        out.append(f'<text x="{L + 36 + k * 160}" y="{H - 10}">{short[cond]}</text>')
    out.append(f'<text x="14" y="{(T + H - B) / 2:.1f}" transform="rotate(-90 14 {(T + H - B) / 2:.1f})" text-anchor="middle">prequential accuracy (window of {WINDOW}; mean, 95% CI over seeds)</text>')
    out.append(f'<text x="{(L + W - R) / 2:.1f}" y="{H - 28}" text-anchor="middle">prediction + feedback</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def start_server(binary):
    data = tempfile.mkdtemp(prefix="adapt-drift-")
    out = open(os.path.join(data, "out"), "w+")
    p = subprocess.Popen([binary, "serve", "--port", "0", "--data-dir", data, "--workers", "1",
                          "--feedback-per-second", "100000"], stdout=out, stderr=open(os.path.join(data, "log"), "w"),
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    for _ in range(300):
        out.seek(0)
        line = out.readline()
        if line.startswith("LISTENING"):
            return p, data, f"http://127.0.0.1:{line.split()[1]}"
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tuning-seeds", type=int, default=2)
    ap.add_argument("--seed-base", type=int, default=100, help="first test seed (0 gave the first two runs in BENCHMARKS)")
    ap.add_argument("--out", default="docs/benchmarks/adaptation-drift.json")
    ap.add_argument("--svg", default="docs/adaptation-drift.svg")
    ap.add_argument("--url")
    ap.add_argument("--bin", default=".build/release/neuromod")
    ap.add_argument("--report", metavar="JSON", help="only print the tables of a saved run (and redraw --svg)")
    a = ap.parse_args()
    if a.report:
        record = json.load(open(a.report))
        svg(record["results"], a.svg)
        report(record)
        return
    server = None
    if a.url:
        base = a.url
    else:
        server, data, base = start_server(a.bin)
    try:
        c = Client(base)
        started = time.time()
        train_x, train_y = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
        test_x, test_y = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
        spec = {"seed": 17, "data": {"dataset": "fashion-mnist", "train_limit": 50000, "test_limit": 10000},
                "protocol": {"kind": "single", "epochs": 3},
                "model": {"kind": "mlp", "layers": [784, 256, 10], "activation": "relu"},
                "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 64}, "checkpoint_every_steps": 1000}
        _, exp = c.call("POST", "/v1/experiments", {"name": "adaptation-drift"})
        _, run = c.call("POST", f"/v1/experiments/{exp['id']}/runs", spec)
        while True:
            _, r = c.call("GET", f"/v1/runs/{run['id']}")
            if r["state"] in ("succeeded", "failed", "canceled"):
                break
            time.sleep(0.5)
        assert r["state"] == "succeeded", r
        _, cps = c.call("GET", f"/v1/runs/{run['id']}/checkpoints")
        final = cps["checkpoints"][-1]["id"]
        c.call("POST", "/v1/models", {"name": "fm", "run_id": run["id"], "checkpoint_id": final})
        print(f"base model: run {run['id']}, final checkpoint {final} (step {cps['checkpoints'][-1]['step']})", file=sys.stderr)

        # Tuning on validation streams (training images 50,000–57,999; never trained on).
        val_pool = list(range(50000, 58000))
        val_heldout = (train_x[58000:58500], train_y[58000:58500])
        chosen = {}
        tuning = {}
        for cond, make in CONDITIONS.items():
            if make is None:
                continue
            scores = {}
            for lr in RATES:
                runs = [stream(c, f"val-{cond[:3]}-{lr}-{s}", make(lr), val_pool, train_x, train_y, val_heldout, 1000 + s)
                        for s in range(a.tuning_seeds)]
                scores[lr] = statistics.mean(r["prequential"] for r in runs)
                print(f"tuning {cond} lr={lr}: validation prequential {scores[lr]:.4f}", file=sys.stderr, flush=True)
            chosen[cond] = max(scores, key=scores.get)
            tuning[cond] = scores

        # Test streams (test images 2,000–9,999), seed-paired across conditions.
        pool = list(range(2000, 10000))
        heldout = (test_x[:2000], test_y[:2000])
        results = {}
        for cond, make in CONDITIONS.items():
            policy = None if make is None else make(chosen[cond])
            results[cond] = [stream(c, f"test-{cond[:3]}-{s}", policy, pool, test_x, test_y, heldout, s)
                             for s in range(a.seed_base, a.seed_base + a.seeds)]
            print(f"{cond}: prequential {fmt([r['prequential'] for r in results[cond]])}", file=sys.stderr, flush=True)
        record = {"spec": spec, "base_run": run["id"], "base_checkpoint": final, "base_step": cps["checkpoints"][-1]["step"],
                  "test_seeds": list(range(a.seed_base, a.seed_base + a.seeds)), "rates_tried": RATES, "tuning": {k: {str(lr): v for lr, v in s.items()} for k, s in tuning.items()},
                  "chosen_learning_rate": chosen, "policies": {k: (None if m is None else m(chosen[k])) for k, m in CONDITIONS.items()},
                  "phases": PHASES, "window": WINDOW, "results": results, "wall_seconds": round(time.time() - started)}
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(record, f, indent=1)
        svg(results, a.svg)
        report(record)
    finally:
        if server:
            server.terminate()
            server.wait()


def report(record):
    results = record["results"]
    print(f"Chosen learning rates (validation streams): {record['chosen_learning_rate']}\n")
    print("| condition | prequential, whole stream | phase A | phase B (relabelled) | phase C (back to original) | "
          "held-out original, end of B | held-out relabelled, end of B | held-out original, end of C | shift events |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cond, runs in results.items():
        print(f"| {cond} | {fmt([r['prequential'] for r in runs])} | {fmt([r['phase_accuracy']['A'] for r in runs])} | "
              f"{fmt([r['phase_accuracy']['B'] for r in runs])} | {fmt([r['phase_accuracy']['C'] for r in runs])} | "
              f"{fmt([r['heldout']['B']['original'] for r in runs])} | {fmt([r['heldout']['B']['relabelled'] for r in runs])} | "
              f"{fmt([r['heldout']['C']['original'] for r in runs])} | {statistics.mean(r['shift_events'] for r in runs):.1f} |")
    print("\nSeed-paired differences (percentage points, 95% CI):\n")
    pairs = [("dopamine", "off"), ("dopamine+noradrenaline", "dopamine"), ("dopamine+noradrenaline+serotonin", "dopamine"),
             ("dopamine+noradrenaline+serotonin", "dopamine+noradrenaline")]
    after_shift, after_return = PHASES[0][1] // WINDOW, (PHASES[0][1] + PHASES[1][1]) // WINDOW
    metrics = [("prequential", lambda r: r["prequential"]), ("phase A", lambda r: r["phase_accuracy"]["A"]),
               ("phase B", lambda r: r["phase_accuracy"]["B"]), ("phase C", lambda r: r["phase_accuracy"]["C"]),
               (f"first {WINDOW} after the shift", lambda r: r["windows"][after_shift]),
               (f"first {WINDOW} after the return", lambda r: r["windows"][after_return]), ("held-out original, end of B", lambda r: r["heldout"]["B"]["original"]),
               ("held-out relabelled, end of B", lambda r: r["heldout"]["B"]["relabelled"]),
               ("held-out original, end of C", lambda r: r["heldout"]["C"]["original"])]
    print("| comparison | " + " | ".join(m for m, _ in metrics) + " |")
    print("|---|" + "---|" * len(metrics))
    for x, y in pairs:
        cells = []
        for _, get in metrics:
            d = [get(a) - get(b) for a, b in zip(results[x], results[y])]
            cells.append(fmt(d))
        print(f"| {x} − {y} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
