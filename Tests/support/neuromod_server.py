"""The real `neuromod serve` for the Python checks: a temporary data folder, port 0 (the server
prints `LISTENING <port>` first), stopped (SIGTERM, then SIGKILL after 20 s) and removed on exit.

    with serve(".build/debug/neuromod", "--workers", "2") as server:
        urllib.request.urlopen(server.base + "/v1/healthz")
"""
import contextlib, os, shutil, subprocess, tempfile, time
from dataclasses import dataclass

MIGRATIONS = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "migrations"))


@dataclass
class Server:
    base: str
    port: int
    folder: str   # temporary: the data folder is `folder/data`, the log `folder/server.log`


@contextlib.contextmanager
def serve(binary, *arguments):
    folder = tempfile.mkdtemp(prefix="neuromod-")
    log_path = os.path.join(folder, "server.log")
    env = dict(os.environ, NEUROMOD_MIGRATIONS_DIR=MIGRATIONS)
    with open(log_path, "w+") as log:
        process = subprocess.Popen([binary, "serve", "--port", "0", "--data-dir", os.path.join(folder, "data"), *arguments],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            port = None
            for _ in range(300):
                log.seek(0)
                port = next((int(l.split()[1]) for l in log.read().splitlines() if l.startswith("LISTENING ")), None)
                if port or process.poll() is not None:
                    break
                time.sleep(0.1)
            if not port:
                log.seek(0)
                raise RuntimeError("the server did not start:\n" + log.read()[-2000:])
            yield Server(f"http://127.0.0.1:{port}", port, folder)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            shutil.rmtree(folder, ignore_errors=True)
