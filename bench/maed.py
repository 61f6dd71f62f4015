"""MAED-CNN on this CPU: parameters (B0, B7), forward time per 256² image (B0, B7, bare B7 encoder), peak memory,
training throughput with B0. Prints numbers; takes several minutes (B7 compiles slowly).

    python bench/maed.py
"""

import os
import resource
import statistics
import time

import stm_zoo
import stm_zoo.models as zoo

stm_zoo.fast_cpu()  # compile cache, memory reuse, XLA:CPU flags

import keras
import numpy as np

SIZE = 256
RUNS = 5


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def forward_seconds(model, x) -> float:
    """Median wall time of a jit-compiled forward pass, after one warm-up (compile) call."""
    model.predict_on_batch(x)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        np.asarray(model.predict_on_batch(x))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_images_per_second(model, batch=8, size=128, steps=5) -> float:
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, 1), dtype=np.float32)
    y = rng.random((batch, size, size, 1), dtype=np.float32)
    for _ in range(2):  # compile + warm-up
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return batch * steps / (time.perf_counter() - start)


def main():
    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    image = np.random.default_rng(0).random((1, SIZE, SIZE, 1), dtype=np.float32)

    for backbone in ("B0", "B7"):
        start = time.perf_counter()
        model = zoo.build("maed_cnn", backbone=backbone)
        built = time.perf_counter() - start
        print(f"maed_cnn {backbone}: {model.count_params():,} parameters (build {built:.0f} s)")
        print(f"maed_cnn {backbone}: forward {forward_seconds(model, image):.3f} s per {SIZE}² image")
        if backbone == "B0":
            ips = train_images_per_second(model)
            print(f"maed_cnn B0: training {ips:.2f} images/s (batch 8, 128², Adam, MSE)")
        print(f"peak memory so far: {peak_mb():,.0f} MB")
        del model

    encoder = keras.applications.EfficientNetB7(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    rgb = np.repeat(image, 3, axis=-1) * 255
    print(f"bare EfficientNetB7 encoder: {encoder.count_params():,} parameters, "
          f"forward {forward_seconds(encoder, rgb):.3f} s per {SIZE}² image")
    print(f"peak memory (ru_maxrss): {peak_mb():,.0f} MB, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
