#!/usr/bin/env python3
"""Writes a small data set in the layout Neuromod reads: x_train, y_train, x_test, y_test
(optionally x_val, y_val) in one NumPy .npz. Here: three Gaussian clusters in 20 dimensions.

    python3 examples/make-dataset-npz.py blobs.npz
    curl -s -X POST --data-binary @blobs.npz "localhost:8080/v1/datasets?name=blobs"
"""
import sys
import numpy as np

rng = np.random.default_rng(0)
centers = rng.normal(0, 1, (3, 20)).astype(np.float32)


def split(n, seed):
    r = np.random.default_rng(seed)
    y = r.integers(0, 3, n)                                   # integer classes 0..C-1
    x = centers[y] * 3 + r.normal(0, 1, (n, 20))              # any finite floats; uint8 is scaled by 1/255
    return x.astype(np.float32), y.astype(np.int64)


x_train, y_train = split(3000, 1)
x_test, y_test = split(1000, 2)
np.savez(sys.argv[1] if len(sys.argv) > 1 else "blobs.npz",
         x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
