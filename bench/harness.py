"""Shared pieces of the benchmark: timing, the worker side of the command protocol, and the parent's client.

Each framework runs in its own worker process (no thread pools of one framework spinning while the other
runs); the parent sends a JSON command per line on stdin and reads the answer from the stdout line that
starts with "@@" (anything else a worker prints is passed through to stderr).
"""

import json
import os
import resource
import runpy
import subprocess
import sys
import time
from pathlib import Path


def published_linespec_kwargs() -> dict:
    """The model kwargs of the published LineSpec (network and output stage), from its recipe."""
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "weights" / "linespec.py"
    return runpy.run_path(str(recipe))["get_config"]()["model_kwargs"]


def published_linespec_params() -> int:
    """The published LineSpec's parameter count, from the weights manifest."""
    from stm_zoo import weights  # no Keras import: safe in the PyTorch worker

    return weights.entry("linespec")["params"]


def timed(fn, n: int) -> dict:
    """Seconds per call over `n` calls and the process CPU use meanwhile (1.0 = one core busy)."""
    c0, t0 = os.times(), time.perf_counter()
    for _ in range(n):
        fn()
    t1, c1 = time.perf_counter(), os.times()
    wall = t1 - t0
    return {"s": wall / n, "cpu": (c1.user - c0.user + c1.system - c0.system) / wall}


def serve(runner) -> None:
    """Worker loop: {"op": method, "data": name, "n": count} calls `runner.method(name, count)`;
    {"op": "stats"} answers the peak resident memory; {"op": "quit"} ends."""
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        if cmd["op"] == "stats":
            reply = {"maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        else:
            reply = getattr(runner, cmd["op"])(cmd["data"], cmd["n"])
        print("@@" + json.dumps(reply), flush=True)


class Worker:
    """A worker process started with `args` (after the Python executable) and driven by `call`."""

    def __init__(self, args: list[str], env: dict | None = None):
        self.proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {})})

    def call(self, op: str, data: str = "", n: int = 1) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, "data": data, "n": n}) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("@@"):
                return json.loads(line[2:])
            sys.stderr.write(line)
        raise RuntimeError(f"worker {self.proc.args[1:]} exited with code {self.proc.wait()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)
