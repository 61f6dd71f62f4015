"""Throughput of the training data path: simulator images/s and tf.data (noisy, clean) patches/s with the full
STM noise library (per-file read times of real scans: bench/io_read.py).

    python bench/pipeline.py [--noise stm] [--seconds 10] [--batch 16]

Patches/s are measured for 128² and 256² patches from the "synthetic" source (64 simulated 256² surfaces),
single-threaded (a private tf.data thread pool of 1, intra-op parallelism 1) and with AUTOTUNE on all cores,
after one warm-up batch (graph tracing excluded).
"""

import argparse
import time

import numpy as np
import tensorflow as tf

from stm_zoo.data import pipeline, simulate


def simulator_speed(size: int, seconds: float) -> float:
    rng = np.random.default_rng(0)
    simulate.surface(rng, size)  # warm-up (imports, FFT plans)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        simulate.surface(rng, size)
        count += 1
    return count / (time.perf_counter() - start)


def patches_per_second(images, patch: int, noise, batch: int, seconds: float, single_thread: bool) -> float:
    ds = pipeline.pairs(images, patch_size=patch, noise=noise, seed=0).batch(batch).prefetch(tf.data.AUTOTUNE)
    if single_thread:
        options = tf.data.Options()
        options.threading.private_threadpool_size = 1
        options.threading.max_intra_op_parallelism = 1
        ds = ds.with_options(options)
    it = iter(ds)
    next(it)  # warm-up: tracing and the first batch
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        noisy, _ = next(it)
        count += int(noisy.shape[0])
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", default="stm", help="noise preset (default: stm, the full library)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per case")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()

    print(f"tf {tf.__version__}, {tf.config.threading.get_inter_op_parallelism_threads() or 'auto'} inter-op threads")
    for size in (128, 256):
        print(f"simulator {size}²: {simulator_speed(size, args.seconds / 2):7.1f} images/s (1 thread, numpy)")

    images = pipeline.clean_images("synthetic")
    for patch in (128, 256):
        for single in (True, False):
            rate = patches_per_second(images, patch, args.noise, args.batch, args.seconds, single)
            mode = "1 thread " if single else "AUTOTUNE "
            print(f"pipeline {patch}² noise={args.noise} {mode}: {rate:7.1f} patches/s")


if __name__ == "__main__":
    main()
