"""Forward time per image (batch 1) of hcanet, swinir and pda_net at their default configs, after compilation.

Usage: python bench/transformers_forward.py [--size 256] [--repeats 5] [names...]
Prints parameter count, first (compiling) call time and the median of `repeats` later calls.
"""

import argparse
import os
import statistics
import time

import stm_zoo  # backend set-up before keras

stm_zoo.fast_cpu()
import numpy as np

import stm_zoo.models as zoo


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["hcanet", "swinir", "pda_net"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x = np.random.default_rng(0).random((1, args.size, args.size, 1), dtype=np.float32)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; input {x.shape}")
    for name in args.names:
        model = zoo.build(name)
        start = time.perf_counter()
        np.asarray(model.predict_on_batch(x))
        first = time.perf_counter() - start
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            np.asarray(model.predict_on_batch(x))
            times.append(time.perf_counter() - start)
        print(f"{name:10s} params {model.count_params():>10,d}  first call {first:6.2f} s  "
              f"median {statistics.median(times):6.3f} s  min {min(times):6.3f} s")


if __name__ == "__main__":
    main()
