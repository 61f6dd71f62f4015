"""Cold start of a `stm-zoo denoise`-like call: fresh process → import → load a saved model → denoise one 256²
tile, with an empty compilation cache (first call of the day), then warm (cache filled), and with the cache off.

Usage: python bench/cold_start.py [--models autoencoder_thesis,maed_cnn] [--repeat 2] [--json out.json]
(maed_cnn is built with the B0 backbone.)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KWARGS = {"maed_cnn": {"backbone": "B0"}}

SAVE = """
import sys, stm_zoo
stm_zoo.fast_cpu()
import keras
from stm_zoo import models
models.build(sys.argv[1], **eval(sys.argv[2])).save(sys.argv[3])
"""

DENOISE = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import stm_zoo
stm_zoo.fast_cpu()
import keras
t1 = time.perf_counter()
from stm_zoo import inference, models
model = models.load(sys.argv[1])
t2 = time.perf_counter()
image = np.random.default_rng(0).random((256, 256)).astype("float32")
inference.denoise(image, model)
t3 = time.perf_counter()
inference.denoise(image, model)
t4 = time.perf_counter()
print("@@" + json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_denoise_s": t3 - t2,
                          "second_denoise_s": t4 - t3}))
"""


def run(code: str, args: list[str], env: dict) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **env})
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(proc.stderr[-2000:])
    return {"process_s": wall, **json.loads(proc.stdout.split("@@")[-1])} if "@@" in proc.stdout else {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="autoencoder_thesis,maed_cnn")
    parser.add_argument("--repeat", type=int, default=2, help="warm runs (median reported)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="stm-zoo-cold-") as tmp:
        for name in args.models.split(","):
            path = str(Path(tmp) / f"{name}.keras")
            run(SAVE, [name, repr(KWARGS.get(name, {})), path], {"STM_ZOO_NO_COMPILE_CACHE": "1"})
            cache = {"STM_ZOO_CACHE": str(Path(tmp) / f"cache-{name}")}
            cold = run(DENOISE, [path], cache)
            warm = [run(DENOISE, [path], cache) for _ in range(args.repeat)]
            off = run(DENOISE, [path], {"STM_ZOO_NO_COMPILE_CACHE": "1"})
            results[name] = {"cold": cold, "warm": {k: statistics.median(w[k] for w in warm) for k in cold},
                             "cache_off": off}
    print(f"{'model':20} {'run':9} {'process s':>9} {'import s':>8} {'load s':>7} {'1st denoise s':>13} "
          f"{'2nd denoise s':>13}")
    for name, r in results.items():
        for kind in ("cold", "warm", "cache_off"):
            v = r[kind]
            print(f"{name:20} {kind:9} {v['process_s']:9.1f} {v['import_s']:8.1f} {v['load_s']:7.1f} "
                  f"{v['first_denoise_s']:13.2f} {v['second_denoise_s']:13.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        from stm_zoo._atomic import write_json  # only now: the timed processes must not inherit its set-up

        write_json(args.json, results)


if __name__ == "__main__":
    main()
