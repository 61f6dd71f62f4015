"""Training and inference speed of the zoo models on this machine, with a PyTorch reference timed in the same run.

    python bench/train_speed.py                                  # every registered model (maed_cnn as B0)
    python bench/train_speed.py --models autoencoder_thesis --rounds 7 --json bench.json
    python bench/train_speed.py --models maed_cnn_b7 --sizes 256 --batch 4   # the paper's B7, only when asked

Per model: training images/s at each `--sizes` patch (batch `--batch`, fixed in-memory batches, `model.fit`
as `stm-zoo fit` compiles it), inference ms per image at those sizes and for one `--scan`² scan (padded to a
multiple of 64 as `stm_zoo.inference` does), the CPU use during training (1.0 = one core), and the worker's
peak resident memory. Also the input pipeline's patches/s. For `autoencoder_thesis`, `dncnn` and `linespec`, the
PyTorch reference in `bench/torch_ref.py` (NCHW and channels_last) runs on the same batches, interleaved round by
round with JAX (J, T, J, T, …: other jobs on the machine then load both alike); medians are reported with the load
average, and each JAX/PyTorch ratio also with its range over the rounds (round i's JAX against round i's PyTorch).
`--baseline` trains the plain Keras graph with SSIM in the train step; with `STM_ZOO_SYSTEM_MALLOC=1` in the
environment as well, that is stm-zoo before issue 7's speed work. XLA_FLAGS in the environment reach the JAX
workers (e.g. `--xla_cpu_experimental_ynn_fusion_type=-individual_convolution,-reduce`, see the report).
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from harness import Worker, published_linespec_kwargs, serve, timed

BENCH = Path(__file__).resolve().parent
# Bench names → (registry name, kwargs). maed_cnn is timed with B0 unless maed_cnn_b7 is asked for.
VARIANTS = {"maed_cnn": ("maed_cnn", {"backbone": "B0"}), "maed_cnn_b7": ("maed_cnn", {"backbone": "B7"}),
            "linespec_published": ("linespec", published_linespec_kwargs())}  # with its weightless output stage
REFERENCES = ("autoencoder_thesis", "dncnn", "linespec", "linespec_published")  # networks bench/torch_ref.py has


class JaxRunner:
    """One zoo model, built and compiled as `stm_zoo.training.fit` does, on the parent's batches."""

    def __init__(self, bench_name: str, data_dir: Path, precision: str, baseline: bool):
        import stm_zoo

        stm_zoo.fast_cpu()  # before keras: compile cache, memory reuse, XLA:CPU flags
        import keras
        import tensorflow as tf

        from stm_zoo import models, training
        from stm_zoo.training import core, devices, losses
        from stm_zoo import metrics as metrics_lib

        self.tf, self.data_dir, self.batches = tf, data_dir, {}
        name, kwargs = VARIANTS.get(bench_name, (bench_name, {}))
        config = training.validate({"model": name, "model_kwargs": kwargs, "precision": precision,
                                 "data_parallel": False})
        with devices.scope(config):
            self.model = models.build(name, **kwargs)
            trained = self.model if baseline else devices.training_model(self.model, config)
            trained.compile(
                optimizer=keras.optimizers.Adam(1e-3),
                loss=losses.get("mse"),
                metrics=metrics_lib.psnr_ssim_metrics() if baseline else core.psnr_metric(),
            )
        self.trained = trained

    def batch(self, name: str):
        if name not in self.batches:
            data = np.load(self.data_dir / f"{name}.npz")
            self.batches[name] = (data["noisy"], data["clean"])
        return self.batches[name]

    def train(self, name: str, steps: int) -> dict:
        noisy, clean = self.batch(name)
        dataset = self.tf.data.Dataset.from_tensors((noisy, clean)).repeat()
        c0, t0 = os.times(), time.perf_counter()
        self.trained.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        t1, c1 = time.perf_counter(), os.times()
        return {"s": (t1 - t0) / steps, "cpu": (c1.user - c0.user + c1.system - c0.system) / (t1 - t0)}

    def infer(self, name: str, reps: int) -> dict:
        noisy, _ = self.batch(name)
        return timed(lambda: np.asarray(self.model.predict_on_batch(noisy)), reps)

    def scan(self, name: str, reps: int) -> dict:
        from stm_zoo.inference import TILE_MULTIPLE, predict_tiled

        image = self.batch(name)[0][0, :, :, 0]
        tile = -(-max(image.shape) // TILE_MULTIPLE) * TILE_MULTIPLE  # the whole scan in one tile
        return timed(lambda: predict_tiled(self.model, image, tile=tile, overlap=0, batch_size=1), reps)


def make_data(data_dir: Path, sizes: list[int], batch: int, scan: int) -> dict:
    """One (noisy, clean) batch per size from the training pipeline, one scan; returns pipeline patches/s."""
    from stm_zoo.data import pipeline

    speed = {}
    for size in sizes:
        train_ds, _ = pipeline.training_datasets("default", patch_size=size, batch_size=batch, validation_steps=1)
        it = iter(train_ds)
        noisy, clean = next(it)
        np.savez(data_dir / f"p{size}.npz", noisy=noisy.numpy(), clean=clean.numpy())
        for _ in range(3):
            next(it)
        n = max(4, 4096 // size)
        t0 = time.perf_counter()
        for _ in range(n):
            next(it)
        speed[size] = n * batch / (time.perf_counter() - t0)
    scan_ds = pipeline.pairs(pipeline.default_images(), patch_size=scan, augment={"rotation_deg": 0.0})
    noisy, clean = next(iter(scan_ds))
    pad = -(-scan // 64) * 64 - scan  # torch gets the same padded scan as predict_tiled
    noisy = np.pad(noisy.numpy(), ((0, pad), (0, pad), (0, 0)), mode="reflect")[None]
    np.savez(data_dir / "scan.npz", noisy=noisy, clean=noisy)
    return speed


def median(rounds: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def bench_model(name, args, data_dir, with_torch) -> dict:
    jax_args = [str(BENCH / "train_speed.py"), "--worker", name, str(data_dir), args.precision]
    jax = Worker(jax_args + (["--baseline"] if args.baseline else []))
    # Passive OpenMP waits: PyTorch's threads would otherwise spin on after its rounds, into JAX's (measured here:
    # PyTorch alone is as fast either way, 0.40 s per step of 8 × 256²).
    ref = Worker([str(BENCH / "torch_ref.py"), "--worker", name, str(data_dir)], env={"OMP_WAIT_POLICY": "PASSIVE"}) \
        if with_torch else None
    row = {"model": name, "sizes": {}}
    try:
        for size in args.sizes:
            data = f"p{size}"
            t0 = time.perf_counter()
            jax.call("train", data, 1)  # compiles
            row.setdefault("compile_s", {})[size] = time.perf_counter() - t0
            if ref:
                ref.call("train", data, 1)
            jr, tr, loads = [], [], []
            for _ in range(args.rounds):  # J, T, J, T, ...
                jr.append(jax.call("train", data, args.steps))
                if ref:
                    tr.append(ref.call("train", data, args.steps))
                loads.append(os.getloadavg()[0])
            jax.call("infer", data, 1)
            ji, ti = [], []
            for _ in range(args.rounds):
                ji.append(jax.call("infer", data, args.steps))
                if ref:
                    ti.append(ref.call("infer", data, args.steps))
            cell = {
                "train_img_s": args.batch / median(jr, "s"),
                "train_cpu": median(jr, "cpu"),
                "infer_ms_img": 1e3 * median(ji, "s") / args.batch,
                "load": statistics.median(loads),
            }
            if ref:
                for fmt in ("nchw", "channels_last"):
                    cell[f"torch_{fmt}_img_s"] = args.batch / statistics.median(r[fmt]["s"] for r in tr)
                    cell[f"torch_{fmt}_cpu"] = statistics.median(r[fmt]["cpu"] for r in tr)
                    cell[f"torch_{fmt}_infer_ms_img"] = 1e3 * statistics.median(r[fmt]["s"] for r in ti) / args.batch
                cell["ratio_vs_channels_last"] = cell["train_img_s"] / cell["torch_channels_last_img_s"]
                cell["ratio_vs_nchw"] = cell["train_img_s"] / cell["torch_nchw_img_s"]
                for fmt in ("nchw", "channels_last"):  # > 1: JAX faster; per round, paired J_i / T_i
                    train = [t[fmt]["s"] / j["s"] for j, t in zip(jr, tr)]
                    infer = [t[fmt]["s"] / j["s"] for j, t in zip(ji, ti)]
                    cell[f"ratio_vs_{fmt}_range"] = [min(train), max(train)]
                    cell[f"infer_ratio_vs_{fmt}"] = cell[f"torch_{fmt}_infer_ms_img"] / cell["infer_ms_img"]
                    cell[f"infer_ratio_vs_{fmt}_range"] = [min(infer), max(infer)]
            row["sizes"][size] = cell
        jax.call("scan", "scan", 1)
        js = [jax.call("scan", "scan", 1) for _ in range(args.rounds)]
        row["scan_ms"] = 1e3 * median(js, "s")
        if ref:
            ref.call("infer", "scan", 1)
            row["torch_channels_last_scan_ms"] = 1e3 * statistics.median(
                ref.call("infer", "scan", 1)["channels_last"]["s"] for _ in range(args.rounds))
        row["maxrss_mb"] = jax.call("stats")["maxrss_mb"]
    finally:
        jax.close()
        if ref:
            ref.close()
    return row


def print_table(rows, pipeline_speed, args):
    print(f"\n{'model':22} {'size':>5} {'train img/s':>11} {'cpu':>5} {'infer ms/img':>12} {'compile s':>9} "
          f"{'torch NCHW':>10} {'torch CL':>9} {'JAX/CL':>7} {'JAX/NCHW':>8} {'load':>5}")
    for row in rows:
        for size, c in row["sizes"].items():
            torch_cols = (f"{c['torch_nchw_img_s']:10.1f} {c['torch_channels_last_img_s']:9.1f} "
                          f"{c['ratio_vs_channels_last']:6.2f}x {c['ratio_vs_nchw']:7.2f}x"
                          if "ratio_vs_channels_last" in c else f"{'':10} {'':9} {'':7} {'':8}")
            print(f"{row['model']:22} {size:5d} {c['train_img_s']:11.1f} {c['train_cpu']:5.2f} "
                  f"{c['infer_ms_img']:12.1f} {row['compile_s'][size]:9.1f} {torch_cols} {c['load']:5.1f}")
            if "ratio_vs_channels_last_range" in c:
                spread = lambda key: "{:.2f}–{:.2f}".format(*c[key])  # noqa: E731
                print(f"{'':22} {'':5} rounds: train JAX/CL {spread('ratio_vs_channels_last_range')}, JAX/NCHW "
                      f"{spread('ratio_vs_nchw_range')}; infer ms/img torch NCHW {c['torch_nchw_infer_ms_img']:.1f}, "
                      f"CL {c['torch_channels_last_infer_ms_img']:.1f}, JAX speed-up vs CL "
                      f"{c['infer_ratio_vs_channels_last']:.2f}x ({spread('infer_ratio_vs_channels_last_range')}), "
                      f"vs NCHW {c['infer_ratio_vs_nchw']:.2f}x ({spread('infer_ratio_vs_nchw_range')})")
        torch_scan = f", torch CL {row['torch_channels_last_scan_ms']:.0f} ms" if "torch_channels_last_scan_ms" in row else ""
        print(f"{'':22} {args.scan}² scan {row['scan_ms']:.0f} ms{torch_scan}; peak RSS {row['maxrss_mb']:.0f} MB")
    print("input pipeline: " + ", ".join(f"{s}²: {v:.0f} patches/s" for s, v in pipeline_speed.items()))
    print(f"cpu = process CPU time / wall time (2.0 = both of 2 cores); load = 1-min load average; "
          f"{os.cpu_count()} CPUs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated; default: every registered model")
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--scan", type=int, default=630)
    parser.add_argument("--steps", type=int, default=3, help="train steps / predict calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--baseline", action="store_true", help="plain graph, SSIM in the train step")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    import stm_zoo
    from stm_zoo import models as zoo

    stm_zoo.fast_cpu()  # compile cache, memory reuse, XLA:CPU flags

    names = [m for m in args.models.split(",") if m] or zoo.names()
    unknown = [m for m in names if m not in zoo.names() and m not in VARIANTS]
    if unknown:
        sys.exit(f"unknown model {unknown[0]!r}; known: {', '.join(zoo.names() + list(VARIANTS))}")
    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
        print("torch not installed: no PyTorch reference (pip install torch)", file=sys.stderr)
    started = {"loadavg": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="stm-zoo-bench-") as tmp:
        pipeline_speed = make_data(Path(tmp), args.sizes, args.batch, args.scan)
        rows = []
        for name in names:
            print(f"benchmarking {name} …", file=sys.stderr, flush=True)
            rows.append(bench_model(name, args, Path(tmp), have_torch and name in REFERENCES))
    print_table(rows, pipeline_speed, args)
    if args.json:
        import jax

        result = {
            "started": started, "ended_loadavg": os.getloadavg(), "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine(), "jax": jax.__version__,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "args": {k: str(v) for k, v in vars(args).items()},
            "input_pipeline_patches_s": pipeline_speed, "models": rows,
        }
        from stm_zoo._atomic import write_json

        write_json(args.json, result)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _, _, bench_name, data_dir, precision, *rest = sys.argv
        serve(JaxRunner(bench_name, Path(data_dir), precision, baseline="--baseline" in rest))
    else:
        main()
