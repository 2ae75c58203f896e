#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium, driven by Selenium, against the real
`neuromod serve` binary on loopback (temporary data folder, bearer tokens on).

Trains through the API a continual (split) MLP with all four neuromodulators, a second one
without them, a spiking network, a four-run study and one more run opened while it is still
queued, registers a model, then checks through the browser:
- the page asks for a token before anything else, and a read token is enough to look;
- the runs list shows the API's runs, newest first;
- the run opened while queued follows its event stream to the end, and then its curves hold
  exactly the API's points (no gap, no duplicate);
- a finished run's curves have exactly as many points as the API's series, for every metric;
  its accuracy-matrix heatmap shows the summary's matrix; its checkpoints are the API's;
- a spiking run plots its spikes per layer;
- comparing two runs overlays both on every metric they share;
- a study's page draws one interval per cell at the report's means; the models page shows the
  model's versions, aliases and serving counters;
- no console error on any page (script errors, CSP violations, failed requests).
Saves a screenshot of every page into --screenshots (docs/screenshots for the README).

Usage: python3 Tests/browser/dashboard_chromium.py [--bin .build/debug/neuromod] [--screenshots DIR]
Needs: Debian chromium + chromium-driver, pip selenium; a missing browser fails, never skips.
"""
import argparse, json, os, shutil, sys, tempfile, time, urllib.error, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from neuromod_server import serve  # noqa: E402

READ_TOKEN = "read-token-for-the-dashboard-test"
WRITE_TOKEN = "write-token-for-the-dashboard-test"
TERMINAL = {"succeeded", "failed", "canceled"}


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


class API:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, token=WRITE_TOKEN):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        status, body = self.call("GET", path)
        if status != 200:
            fail(f"GET {path}: {status} {body}")
        return body

    def post(self, path, body):
        status, answer = self.call("POST", path, body)
        if status not in (200, 201, 202):
            fail(f"POST {path}: {status} {answer}")
        return answer

    def series(self, run, key):
        points, after = [], None
        while True:
            q = "limit=10000" + ("" if after is None else f"&after_step={after}")
            d = self.get(f"/v1/runs/{run}/metrics/{key}?{q}")
            points += [p for p in d["points"] if isinstance(p["value"], (int, float))]
            if d["next_after_step"] is None:
                return points
            after = d["next_after_step"]

    def wait(self, runs, timeout=600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            states = {r: self.get(f"/v1/runs/{r}")["state"] for r in runs}
            if all(s in TERMINAL for s in states.values()):
                bad = {r: s for r, s in states.items() if s != "succeeded"}
                if bad:
                    fail(f"runs did not succeed: {bad}")
                return
            time.sleep(0.5)
        fail(f"runs still not finished after {timeout} s")


def mlp_split(seed, neuromodulated):
    spec = {
        "name": ("neuromodulated" if neuromodulated else "plain") + f" split MLP, seed {seed}",
        "seed": seed,
        "data": {"dataset": "fashion-mnist", "train_limit": 1500, "test_limit": 300},
        "protocol": {"kind": "split", "scenario": "domain-incremental", "epochs_per_task": 1},
        "model": {"kind": "mlp", "layers": [784, 64, 2], "activation": "relu"},
        "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 32},
        "metrics_every_steps": 3, "checkpoint_every_steps": 30,
    }
    if neuromodulated:
        spec["neuromodulation"] = {
            "dopamine": {"signal": "loss_improvement", "targets": {"learning_rate": 1.0}},
            "noradrenaline": {"signal": "surprise", "targets": {"learning_rate": 0.3, "gain": 0.1}},
            "acetylcholine": {"signal": "expected_uncertainty", "targets": {"learning_rate": 0.5}},
            "serotonin": {"signal": "stability", "targets": {"learning_rate": -0.5}, "tau_patience": 100},
        }
    return spec


SNN = {"name": "spiking 784-32-10", "seed": 1, "data": {"dataset": "fashion-mnist", "train_limit": 512, "test_limit": 128},
       "model": {"kind": "snn", "layers": [784, 32, 10], "snn": {"steps": 8, "encoding": "rate"}},
       "optimizer": {"kind": "adam", "learning_rate": 0.002, "batch_size": 32},
       "protocol": {"epochs": 2}, "metrics_every_steps": 2}
LIVE = {"name": "opened while queued", "seed": 3, "data": {"dataset": "fashion-mnist", "train_limit": 8000, "test_limit": 500},
        "model": {"kind": "mlp", "layers": [784, 128, 10]}, "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 32},
        "protocol": {"epochs": 2}, "metrics_every_steps": 1, "checkpoint_every_steps": 60}
STUDY = {"name": "learning-rate sweep", "seeds": 2, "metrics": ["test_accuracy"],
         "base": {"data": {"dataset": "fashion-mnist", "train_limit": 600, "test_limit": 200},
                  "model": {"kind": "mlp", "layers": [784, 16, 10]},
                  "optimizer": {"kind": "sgd", "learning_rate": 0.05, "batch_size": 64}, "metrics_every_steps": 5},
         "factors": [{"path": "optimizer.learning_rate", "values": [0.01, 0.1]}]}


class Browser:
    def __init__(self, base, shots):
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError:
            fail("selenium is not installed (pip install selenium)")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        driver = shutil.which("chromedriver")
        if not chromium or not driver:
            fail("headless Chromium is needed: apt-get install chromium chromium-driver")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1360,1000",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        self.driver.set_script_timeout(60)
        self.base, self.shots = base, shots

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, predicate, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if predicate():
                    return
            except Exception:  # an element replaced while being read: read again
                pass
            time.sleep(0.1)
        self.shot("failure")
        fail(f"timed out after {timeout} s waiting for {what}; the page says: {self.text()[:600]!r}")

    def text(self):
        return self.js("return document.getElementById('main').innerText")

    def state(self):
        return self.js("return document.getElementById('main').dataset.state")

    def go(self, hash_path, timeout=60):
        """Navigates within the page and waits for it to be rendered."""
        self.js("document.getElementById('main').dataset.state = 'navigating'; location.hash = arguments[0];", hash_path)
        self.wait(lambda: self.state() in ("ready", "error"), f"{hash_path} to render", timeout)
        if self.state() == "error":
            fail(f"{hash_path}: {self.text()[:600]}")

    def console_errors(self, where):
        errors = [e for e in self.driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        if errors:
            fail(f"console errors on {where}: " + "; ".join(e["message"] for e in errors))

    def polylines(self):
        """[(key, run, number of points)] of every curve on the page, read from the SVG itself."""
        return self.js("""return [...document.querySelectorAll('polyline.series')].map(p =>
            [p.dataset.key, p.dataset.run || null, p.getAttribute('points').trim() === '' ? 0 : p.getAttribute('points').trim().split(/\\s+/).length]);""")

    def shot(self, name):
        if not self.shots:
            return
        height = self.js("return Math.max(document.body.scrollHeight, 700)")
        self.driver.set_window_size(1360, min(int(height) + 40, 5000))
        time.sleep(0.2)
        self.driver.save_screenshot(os.path.join(self.shots, name + ".png"))
        self.driver.set_window_size(1360, 1000)

    def quit(self):
        self.driver.quit()


def check_curves(api, browser, run, where):
    keys = [m["key"] for m in api.get(f"/v1/runs/{run}/metrics")["metrics"]]
    drawn = {(k, r): n for k, r, n in browser.polylines() if r == run}
    for key in keys:
        expected = len(api.series(run, key))
        got = drawn.get((key, run))
        if got != expected:
            fail(f"{where}: curve {key} has {got} points; the API's series has {expected}")
    print(f"  {where}: {len(keys)} curves, each with the API's number of points ({sum(drawn.values())} points)")
    return keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/neuromod")
    ap.add_argument("--screenshots", default="")
    args = ap.parse_args()
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    tokens = tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False)
    tokens.write(f"read {READ_TOKEN}\nwrite {WRITE_TOKEN}\n")
    tokens.close()
    browser = None
    try:
        with serve(args.bin, "--tokens-file", tokens.name, "--workers", "2") as server:
            base = server.base
            api = API(base)
            exp = api.post("/v1/experiments", {"name": "dashboard"})["id"]
            runA = api.post(f"/v1/experiments/{exp}/runs", mlp_split(7, True))["id"]
            runB = api.post(f"/v1/experiments/{exp}/runs", mlp_split(8, False))["id"]
            runC = api.post(f"/v1/experiments/{exp}/runs", SNN)["id"]
            study = api.post(f"/v1/experiments/{exp}/studies", STUDY)["id"]
            live = api.post(f"/v1/experiments/{exp}/runs", LIVE)["id"]

            browser = Browser(base, args.screenshots)
            d = browser.driver
            d.get(base + "/")
            browser.wait(lambda: browser.state() == "signin", "the token form")
            browser.console_errors("the sign-in page")
            browser.shot("sign-in")
            d.find_element("id", "token").send_keys(READ_TOKEN)
            d.find_element("css selector", "#login button[type=submit]").click()
            browser.wait(lambda: browser.state() == "ready", "the runs list")
            listed = browser.js("return [...document.querySelectorAll('#runs tbody tr[data-run]')].map(r => r.dataset.run)")
            expected = [r["id"] for r in api.get("/v1/runs?order=desc&limit=50")["runs"]]
            if listed != expected:
                fail(f"runs list shows {listed}, the API {expected}")
            print(f"  runs list: the API's {len(listed)} runs, newest first")

            # A run opened while queued: live over SSE until it ends.
            browser.go(f"#/runs/{live}")
            first = browser.js("return document.querySelector('#run-state .badge').dataset.state")
            browser.wait(lambda: browser.js("return document.querySelector('#run-state .badge').dataset.state") == "succeeded",
                         "the live run to succeed on its page", timeout=600)
            if first not in ("queued", "running"):
                fail(f"the live run was already {first} when its page opened: nothing was followed")
            print(f"  live run: opened {first}, followed to succeeded over SSE")
            api.wait([live])
            # The last points and the final re-render arrive with the end of the stream.
            browser.wait(lambda: all(n == len(api.series(live, k)) for k, r, n in browser.polylines() if k == "train.loss"),
                         "the live curves to settle", timeout=30)
            check_curves(api, browser, live, "live run")
            browser.console_errors("the live run's page")

            api.wait([runA, runB, runC])
            browser.go(f"#/runs/{runA}")
            keys = check_curves(api, browser, runA, "continual neuromodulated run")
            for needed in ("nm.dopamine.loss_improvement", "nm.effect.learning_rate", "task.4.accuracy", "train.loss"):
                if needed not in keys:
                    fail(f"the continual run records no {needed}; keys: {keys}")
            matrix = api.get(f"/v1/runs/{runA}/summary")["summary"]["accuracy_matrix"]
            cells = browser.js("return [...document.querySelectorAll('#matrix g.cell')].map(c => [+c.dataset.row, +c.dataset.col, c.dataset.value === undefined ? null : +c.dataset.value])")
            expected_cells = [[i, j, v] for i, row in enumerate(matrix) for j, v in enumerate(row)]
            if len(cells) != len(expected_cells) or any(a[:2] != b[:2] or abs(a[2] - b[2]) > 1e-12 for a, b in zip(cells, expected_cells)):
                fail(f"heatmap cells {cells} differ from the summary's matrix {matrix}")
            ckpts = [c["id"] for c in api.get(f"/v1/runs/{runA}/checkpoints")["checkpoints"]]
            shown = browser.js("return [...document.querySelectorAll('#checkpoint-table tr[data-checkpoint]')].map(r => r.dataset.checkpoint)")
            if shown != ckpts:
                fail(f"checkpoints shown {shown}, the API lists {ckpts}")
            print(f"  heatmap: {len(cells)} cells = the summary's matrix; {len(ckpts)} checkpoints listed")
            browser.console_errors("a continual run's page")
            browser.shot("run-continual")

            browser.go(f"#/runs/{runC}")
            keys = check_curves(api, browser, runC, "spiking run")
            spikes = browser.js("return [...document.querySelectorAll('[data-plot=spikes] polyline.series')].map(p => p.dataset.key)")
            if sorted(spikes) != sorted(k for k in keys if k.startswith("snn.spikes_per_sample.")) or not spikes:
                fail(f"spikes-per-layer plot shows {spikes}")
            browser.console_errors("a spiking run's page")
            browser.shot("run-spiking")

            browser.go(f"#/compare/{runA},{runB}")
            lines = browser.polylines()
            shared = sorted(set(m["key"] for m in api.get(f"/v1/runs/{runA}/metrics")["metrics"]) &
                            set(m["key"] for m in api.get(f"/v1/runs/{runB}/metrics")["metrics"]))
            for key in shared:
                for run in (runA, runB):
                    n = [c for k, r, c in lines if k == key and r == run]
                    if n != [len(api.series(run, key))]:
                        fail(f"compare: {key} of {run} drawn {n}, API has {len(api.series(run, key))}")
            print(f"  compare: {len(shared)} shared metrics, each overlaying both runs with every point")
            browser.console_errors("the comparison")
            browser.shot("compare")

            deadline = time.time() + 600
            while api.get(f"/v1/studies/{study}")["state"] not in TERMINAL:
                if time.time() > deadline:
                    fail("the study did not finish")
                time.sleep(0.5)
            report = api.get(f"/v1/studies/{study}")
            browser.go(f"#/studies/{study}")
            table = report["table"][0]
            means = browser.js("return [...document.querySelectorAll('[data-plot=\"means:test_accuracy\"] g.interval')].length")
            rows = browser.js("return [...document.querySelectorAll('table.cells[data-metric=test_accuracy] tbody tr')].map(r => r.children[2].textContent)")
            if means != len(table["cells"]) or len(rows) != len(table["cells"]):
                fail(f"study: {means} intervals and {len(rows)} rows for {len(table['cells'])} cells; the page says {browser.text()[:800]!r}")
            for shown, cell in zip(rows, table["cells"]):
                if abs(float(shown) - cell["mean"]) > 5e-4 * max(1, abs(cell["mean"])):
                    fail(f"study: cell {cell['name']} shows mean {shown}, the report {cell['mean']}")
            browser.console_errors("a study's page")
            browser.shot("study")
            browser.go("#/studies")
            if browser.js("return document.querySelectorAll('#studies tr[data-study]').length") != 1:
                fail("the studies list does not show the study")
            print(f"  study: {means} cells drawn at the report's means")

            api.post("/v1/models", {"name": "fmnist-live", "run_id": live})
            status, _ = api.call("PUT", "/v1/models/fmnist-live/aliases/production", {"version": 1})
            if status != 200:
                fail(f"alias: {status}")
            img = [0.0] * 784
            for _ in range(3):
                status, _ = api.call("POST", "/v1/models/fmnist-live/predict", {"inputs": [img, img]}, token=READ_TOKEN)
                if status != 200:
                    fail(f"predict: {status}")
            browser.go("#/models")
            card = browser.js("""const c = document.querySelector('[data-model="fmnist-live"]');
                return c && {rows: c.querySelector('[data-counter=rows]').textContent, alias: c.querySelector('tr[data-version="1"] .badge').textContent}""")
            if not card or card["alias"] != "production" or card["rows"] != "6":
                fail(f"models page: {card}")
            browser.console_errors("the models page")
            browser.shot("models")
            # An uploaded data set appears on its page.
            import io
            import numpy as np
            buf = io.BytesIO()
            x = (np.arange(60 * 12) % 251).astype(np.uint8).reshape(60, 3, 4)
            y = np.arange(60) % 3
            np.savez(buf, x_train=x, y_train=y, x_test=x[:15], y_test=y[:15])
            req = urllib.request.Request(base + "/v1/datasets?name=tiny", data=buf.getvalue(), method="POST",
                                         headers={"Authorization": "Bearer " + WRITE_TOKEN, "Content-Type": "application/octet-stream"})
            with urllib.request.urlopen(req, timeout=60) as r:
                ds = json.loads(r.read())
            browser.go("#/datasets")
            row = browser.js("const r = document.querySelector(`[data-dataset='${arguments[0]}']`); return r && r.innerText", ds["id"])
            if not row or "[3, 4]" not in row or "tiny" not in row:
                fail(f"data sets page: {row!r}")
            browser.console_errors("the data sets page")
            browser.shot("datasets")
            browser.go("#/runs")
            browser.console_errors("the runs list")
            browser.shot("runs")
            print("  models: version, alias and serving counters shown; no console error on any page")
            print("dashboard in Chromium: OK")
    finally:
        if browser:
            browser.quit()
        os.unlink(tokens.name)

if __name__ == "__main__":
    main()
