"""Seconds and peak memory of `stm_zoo.denoise` on whole scans of growing size (tiled inference), per model.

    python bench/denoise_scale.py dncnn autoencoder_thesis maed_cnn-b7 --sizes 630,2048

A model is a pretrained name, a `.keras` path, or `maed_cnn-b0` / `maed_cnn-b7` (untrained: the timing and
memory do not depend on the weights). Each model runs in its own process; a first call on a scan just larger
than one of its tiles (compiling the batch of tiles: 256² or, for LineSpec, 1024²) is not timed. The scan is random texture on a ramp: time and memory do not depend on the content.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

UNTRAINED = {"maed_cnn-b0": {"backbone": "B0"}, "maed_cnn-b7": {"backbone": "B7"}}


def measure(name: str, sizes: list[int]) -> dict:
    import numpy as np

    import stm_zoo
    from stm_zoo import inference, models

    stm_zoo.fast_cpu()  # compile cache, memory reuse, XLA:CPU flags

    model = models.build("maed_cnn", **UNTRAINED[name]) if name in UNTRAINED else models.load(name)
    rng = np.random.default_rng(0)
    warm = inference.default_tile(model) + inference.TILE_MULTIPLE
    stm_zoo.denoise(rng.random((warm, warm), dtype=np.float32), model)  # compile the batch of tiles
    row = {"model": name}
    for size in sizes:
        scan = rng.random((size, size)).astype(np.float32) * 0.1 + np.linspace(0, 1, size)[None, :].astype(np.float32)
        start = time.perf_counter()
        out = stm_zoo.denoise(scan, model)
        row[f"{size}_s"] = time.perf_counter() - start
        assert out.shape == scan.shape
    row["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--sizes", default="630,2048")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        print("@@" + json.dumps(measure(args.models[0], sizes)))
        return
    rows = []
    print(f"{'model':<24}" + "".join(f"{f'{s}² s':>10}" for s in sizes) + f"{'peak GiB':>10}", flush=True)
    for name in args.models:
        out = subprocess.run([sys.executable, __file__, name, "--worker", "--sizes", args.sizes],
                             capture_output=True, text=True)
        line = next((s for s in out.stdout.splitlines() if s.startswith("@@")), None)
        if line is None:
            print(f"{name:<24} failed: {out.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        r = json.loads(line[2:])
        rows.append(r)
        print(f"{name:<24}" + "".join(f"{r[f'{s}_s']:>10.1f}" for s in sizes) + f"{r['peak_rss_gib']:>10.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
