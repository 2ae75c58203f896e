#!/usr/bin/env python3
"""Interoperability check: a data set written by `numpy.savez` in Python uploads (sent with
chunked transfer encoding, as a streaming client would) and trains.

Starts the real `neuromod serve` binary on a free loopback port with a temporary data folder,
writes three Gaussian clusters as an .npz, uploads it in 64 KiB chunks, checks the answer's
digest against hashlib's, trains an MLP on it and expects it learned (test accuracy ≥ 0.9 where
chance is 1/3); then uploads a copy with a NaN and expects a 400 naming x_train.

Usage: python3 Tests/interop/dataset_upload_numpy.py [--bin .build/debug/neuromod]
"""
import argparse, hashlib, http.client, io, json, os, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from neuromod_server import serve  # noqa: E402

import numpy as np


def upload_chunked(port, data, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.putrequest("POST", f"/v1/datasets?name={name}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.endheaders()
    for i in range(0, len(data), 65536):
        piece = data[i:i + 65536]
        conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
    conn.send(b"0\r\n\r\n")
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")


def call(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, path, body=None if body is None else json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/neuromod")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1, (3, 20)).astype(np.float32)

    def split(n, seed):
        r = np.random.default_rng(seed)
        y = r.integers(0, 3, n)
        return (centers[y] * 3 + r.normal(0, 1, (n, 20))).astype(np.float32), y.astype(np.int64)

    x_train, y_train = split(3000, 1)
    x_test, y_test = split(1000, 2)
    good = npz_bytes(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    bad_x = x_train.copy()
    bad_x[17, 4] = np.nan
    bad = npz_bytes(x_train=bad_x, y_train=y_train, x_test=x_test, y_test=y_test)

    with serve(args.bin) as server:
        port = server.port
        status, ds = upload_chunked(port, good, "blobs")
        assert status == 201, (status, ds)
        assert ds["sha256"] == hashlib.sha256(good).hexdigest(), ds
        assert ds["features"] == 20 and ds["classes"] == 3 and ds["counts"]["train"] == 3000, ds
        print(f"  numpy.savez data set uploaded in chunks: {ds['id']}, {ds['bytes']} bytes, sha256 matches hashlib")
        status, exp = call(port, "POST", "/v1/experiments", {"name": "numpy"})
        status, run = call(port, "POST", f"/v1/experiments/{exp['id']}/runs",
                           {"data": {"dataset": ds["id"]}, "model": {"layers": [20, 32, 3]},
                            "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 32}, "protocol": {"epochs": 3}})
        assert status == 202, (status, run)
        deadline = time.time() + 300
        while True:
            _, r = call(port, "GET", f"/v1/runs/{run['id']}")
            if r["state"] in ("succeeded", "failed", "canceled"):
                break
            assert time.time() < deadline, "the run did not finish"
            time.sleep(0.3)
        assert r["state"] == "succeeded", r
        _, summary = call(port, "GET", f"/v1/runs/{run['id']}/summary")
        accuracy = summary["summary"]["test_accuracy"]
        assert accuracy >= 0.9, accuracy
        print(f"  trained on it: test accuracy {accuracy:.3f} (chance 0.333)")
        status, err = upload_chunked(port, bad, "nan")
        assert status == 400 and "x_train" in err["error"]["message"], (status, err)
        print(f"  a NaN in x_train: 400 ({err['error']['message']})")
        print("dataset upload from NumPy: OK")


if __name__ == "__main__":
    main()
