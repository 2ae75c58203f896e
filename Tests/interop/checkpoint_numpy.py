#!/usr/bin/env python3
"""Interoperability check: a checkpoint downloaded over HTTP, loaded with the `safetensors`
library and run forward in NumPy, predicts what the service's /predict and v2 /infer answer
(within 1e-5).

Starts the real `neuromod serve` binary on a free loopback port with a temporary data folder,
trains two small Fashion-MNIST MLPs through the API (a plain 784-64-32-10 tanh network and a
784-48-10 ReLU network with the input-driven modulatory gate), registers them, downloads their
checkpoints (the second one in two Range requests, as a resumed download would), and compares.

Usage: python3 Tests/interop/checkpoint_numpy.py [--bin .build/debug/neuromod]
Needs: pip install safetensors numpy; Fashion-MNIST in /usr/share/datasets/fashion-mnist.
"""
import argparse, gzip, hashlib, json, os, sys, time, urllib.request, urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from neuromod_server import serve  # noqa: E402

import numpy as np
from safetensors import safe_open

DATASET = os.environ.get("NEUROMOD_DATASET_DIR", "/usr/share/datasets/fashion-mnist")


def call(base, method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def call_json(base, method, path, body=None):
    status, _, raw = call(base, method, path, body)
    return status, json.loads(raw) if raw else None


def test_images(n):
    raw = gzip.open(os.path.join(DATASET, "t10k-images-idx3-ubyte.gz")).read()[16:16 + 784 * n]
    return (np.frombuffer(raw, dtype=np.uint8).reshape(n, 784) / 255.0).astype(np.float32)


def forward(path, x):
    """The network of a neuromod MLP checkpoint, from its tensors and metadata alone."""
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    assert meta["format"] == "neuromod.checkpoint" and meta["format_version"] == "2", meta["format"]
    assert meta["family"] == "mlp", meta["family"]
    sizes = [int(s) for s in meta["layers"].split(",")]
    act = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
           "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[meta["activation"]]
    h = x.astype(np.float64)
    for l in range(len(sizes) - 1):
        w = tensors[f"layers.{l}.weight"].astype(np.float64)
        b = tensors[f"layers.{l}.bias"].astype(np.float64)
        assert w.shape == (sizes[l], sizes[l + 1]), (l, w.shape)
        z = h @ w + b
        if l < len(sizes) - 2:
            nxt = act(z)
            if l == 0 and "modulatory_gate.weight" in tensors:
                gw = tensors["modulatory_gate.weight"].astype(np.float64)
                gb = tensors["modulatory_gate.bias"].astype(np.float64)
                nxt = nxt / (1 + np.exp(-(h @ gw + gb)))
            h = nxt
        else:
            assert meta["output"] == "softmax"
            z = z - z.max(axis=1, keepdims=True)
            e = np.exp(z)
            h = e / e.sum(axis=1, keepdims=True)
    meta["has_gate"] = "modulatory_gate.weight" in tensors
    return h, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/neuromod")
    args = ap.parse_args()
    with serve(args.bin, "--workers", "2") as server:
        base = server.base
        status, exp = call_json(base, "POST", "/v1/experiments", {"name": "interop"})
        assert status == 201, exp
        specs = {
            "plain": {"seed": 3, "data": {"train_limit": 1000, "test_limit": 100},
                      "model": {"layers": [784, 64, 32, 10], "activation": "tanh"}},
            "gated": {"seed": 4, "data": {"train_limit": 1000, "test_limit": 100},
                      "model": {"layers": [784, 48, 10]}, "neuromodulation": {"modulatory_gate": {}}},
        }
        runs = {}
        for name, spec in specs.items():
            status, run = call_json(base, "POST", f"/v1/experiments/{exp['id']}/runs", spec)
            assert status == 202, run
            runs[name] = run["id"]
        for name, rid in runs.items():
            for _ in range(1200):
                _, run = call_json(base, "GET", f"/v1/runs/{rid}")
                if run["state"] in ("succeeded", "failed", "canceled"):
                    break
                time.sleep(0.1)
            assert run["state"] == "succeeded", run
        x = test_images(20)
        worst = 0.0
        for i, (name, rid) in enumerate(runs.items()):
            status, version = call_json(base, "POST", "/v1/models", {"name": name, "run_id": rid})
            assert status == 201, version
            cid = version["checkpoint_id"]
            _, listing = call_json(base, "GET", f"/v1/runs/{rid}/checkpoints?limit=200")
            record = next(c for c in listing["checkpoints"] if c["id"] == cid)
            url = f"/v1/runs/{rid}/checkpoints/{cid}"
            if i == 0:
                status, _, blob = call(base, "GET", url)
                assert status == 200
            else:  # a download resumed half way, by Range
                half = record["size"] // 2
                s1, h1, part1 = call(base, "GET", url, headers={"Range": f"bytes=0-{half - 1}"})
                s2, h2, part2 = call(base, "GET", url, headers={"Range": f"bytes={half}-"})
                assert (s1, s2) == (206, 206), (s1, s2)
                blob = part1 + part2
            assert len(blob) == record["size"] and hashlib.sha256(blob).hexdigest() == record["sha256"]
            path = os.path.join(server.folder, f"{name}.safetensors")
            open(path, "wb").write(blob)
            expected, meta = forward(path, x)
            assert meta["has_gate"] == (name == "gated"), "the gated network's checkpoint carries its gate"
            status, pred = call_json(base, "POST", f"/v1/models/{name}/predict", {"inputs": x.tolist()})
            assert status == 200, pred
            got = np.array([p["probabilities"] for p in pred["predictions"]])
            diff = float(np.abs(got - expected).max())
            assert [p["class"] for p in pred["predictions"]] == list(expected.argmax(axis=1))
            status, v2 = call_json(base, "POST", f"/v2/models/{name}/infer",
                                   {"inputs": [{"name": "input", "shape": [20, 784], "datatype": "FP32",
                                                "data": x.reshape(-1).tolist()}]})
            assert status == 200, v2
            got2 = np.array(v2["outputs"][0]["data"]).reshape(20, 10)
            diff = max(diff, float(np.abs(got2 - expected).max()))
            print(f"{name}: layers {meta['layers']} {meta['activation']}"
                  f"{' + modulatory gate' if meta['has_gate'] else ''}: max |NumPy - service| = {diff:.2e}")
            assert diff <= 1e-5, f"{name}: the service and NumPy differ by {diff}"
            worst = max(worst, diff)
        print(f"interop: OK (worst difference {worst:.2e} <= 1e-5)")


if __name__ == "__main__":
    main()
