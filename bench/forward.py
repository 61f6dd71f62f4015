"""Parameters and forward time of every zoo model on one 256² image (the README's zoo table).

    python bench/forward.py                      # every registered model, maed_cnn as B0 and B7
    python bench/forward.py dncnn ridnet --size 512

Each model runs in its own process (so peak memory is its own): built, jit-compiled on the first call
(not timed), then the median of `--repeats` calls of `model.predict_on_batch` on a (1, S, S, 1) batch.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = {"maed_cnn-b0": ("maed_cnn", {"backbone": "B0"}), "maed_cnn-b7": ("maed_cnn", {"backbone": "B7"})}


def measure(name: str, size: int, repeats: int) -> dict:
    import numpy as np

    import stm_zoo
    from stm_zoo import models

    stm_zoo.fast_cpu()  # compile cache, memory reuse, XLA:CPU flags

    arch, kwargs = VARIANTS.get(name, (name, {}))
    model = models.build(arch, **kwargs)
    x = np.random.default_rng(0).random((1, size, size, 1), dtype=np.float32)
    start = time.perf_counter()
    model.predict_on_batch(x)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    return {"model": name, "params": model.count_params(), "first_call_s": first,
            "forward_ms": 1000 * statistics.median(times),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.worker:
        print("@@" + json.dumps(measure(args.models[0], args.size, args.repeats)))
        return
    import stm_zoo
    from stm_zoo import models

    stm_zoo.fast_cpu()  # compile cache, memory reuse, XLA:CPU flags

    names = args.models or [n for n in models.names() if n != "maed_cnn"] + list(VARIANTS)
    rows = []
    print(f"{'model':<22}{'params':>12}{'first call s':>14}{f'{args.size}² ms':>12}{'peak GiB':>10}", flush=True)
    for name in names:
        out = subprocess.run([sys.executable, __file__, name, "--worker", "--size", str(args.size),
                              "--repeats", str(args.repeats)], capture_output=True, text=True)
        line = next((s for s in out.stdout.splitlines() if s.startswith("@@")), None)
        if line is None:
            print(f"{name:<22} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(line[2:])
        rows.append(r)
        print(f"{name:<22}{r['params']:>12,}{r['first_call_s']:>14.1f}{r['forward_ms']:>12.0f}{r['peak_rss_gib']:>10.2f}",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
