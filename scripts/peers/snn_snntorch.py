#!/usr/bin/env python3
"""Peer benchmark: the network of ../shared/peers/snn_numpy.py in snnTorch (PyTorch autograd).

LIF 784-H-10 (snn.Leaky, beta 0.95, threshold 1, reset by subtraction), fast-sigmoid surrogate
slope 25, Bernoulli rate coding over T steps (spikegen.rate), snntorch ce_rate_loss, Adam lr 1e-3,
batch 128, one thread; prediction = most output spikes. Last line printed is `RESULT {json}` with
the keys of snn_numpy.py. Needs torch and snntorch (e.g. `pip install torch==2.13.0+cpu snntorch`).

Example: python3 scripts/peers/snn_snntorch.py --epochs 1 --threads 1 --seed 0
"""
import argparse
import gzip
import json
import os
import sys
import time

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=0.95)
    p.add_argument("--slope", type=float, default=25.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-limit", type=int, default=0)
    p.add_argument("--data", default=DATA_DIR)
    return p.parse_args()


ARGS = parse_args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import snntorch as snn  # noqa: E402
from snntorch import functional as SF, spikegen, surrogate  # noqa: E402


def load_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(d):
    imgs = lambda n: torch.from_numpy(load_idx(os.path.join(d, n)).reshape(-1, 784).astype(np.float32) / 255.0)
    labs = lambda n: torch.from_numpy(load_idx(os.path.join(d, n)).astype(np.int64))
    return (imgs("train-images-idx3-ubyte.gz"), labs("train-labels-idx1-ubyte.gz"),
            imgs("t10k-images-idx3-ubyte.gz"), labs("t10k-labels-idx1-ubyte.gz"))


class Net(torch.nn.Module):
    def __init__(self, hidden, beta, slope):
        super().__init__()
        grad = surrogate.fast_sigmoid(slope=slope)
        self.fc1, self.lif1 = torch.nn.Linear(784, hidden), snn.Leaky(beta=beta, spike_grad=grad)
        self.fc2, self.lif2 = torch.nn.Linear(hidden, 10), snn.Leaky(beta=beta, spike_grad=grad)

    def forward(self, x):  # x: [T, B, 784]
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for t in range(x.shape[0]):
            spk1, mem1 = self.lif1(self.fc1(x[t]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr, xte, yte = load(a.data)
    if a.train_limit:
        xtr, ytr = xtr[:a.train_limit], ytr[:a.train_limit]
    net = Net(a.hidden, a.beta, a.slope)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    loss_fn = SF.ce_rate_loss()
    epochs = []
    for ep in range(1, a.epochs + 1):
        perm = torch.randperm(len(xtr))
        t0, loss_sum, nb = time.perf_counter(), 0.0, 0
        for i in range(0, len(xtr), a.batch):
            idx = perm[i:i + a.batch]
            spk = net(spikegen.rate(xtr[idx], num_steps=a.steps))
            loss = loss_fn(spk, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach())
            nb += 1
        dt = time.perf_counter() - t0
        with torch.no_grad():
            correct = sum(int((net(spikegen.rate(xte[i:i + 256], num_steps=a.steps)).sum(0).argmax(1) == yte[i:i + 256]).sum())
                          for i in range(0, len(xte), 256))
        acc = correct / len(xte)
        epochs.append({"epoch": ep, "train_s": round(dt, 3), "train_samples_per_s": round(len(xtr) / dt, 1),
                       "mean_loss": round(loss_sum / nb, 4), "test_acc": round(acc, 4)})
        print(f"epoch {ep}: {len(xtr) / dt:,.0f} samples/s ({dt:.2f}s), loss {loss_sum / nb:.4f}, test acc {acc:.4f}", flush=True)
    res = {"peer": "snntorch-lif", "torch": torch.__version__, "snntorch": snn.__version__, "hidden": a.hidden, "steps": a.steps,
           "batch": a.batch, "threads": a.threads, "seed": a.seed, "train_samples": len(xtr), "epochs": epochs,
           "train_samples_per_s_epoch1": epochs[0]["train_samples_per_s"], "test_acc_epoch1": epochs[0]["test_acc"]}
    print("RESULT " + json.dumps(res))


if __name__ == "__main__":
    sys.exit(main())
