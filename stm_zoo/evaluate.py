"""`stm-zoo eval`: deep models and classical baselines side by side.

With ground truth (noisy, clean) pairs: PSNR / SSIM / UQI and seconds per image, as the MAED-CNN paper's
Table 1. Without (real noisy scans): stripe index before → after and lattice fidelity (FFT peaks kept,
amplitude retained, peaks invented).
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stm_zoo import classical, metrics

TEST_SEED = 20_250_101  # the synthetic test split: surfaces and noise never drawn in training
# What a Gwyddion user does today, plus the generic denoisers of the MAED-CNN comparison.
DEFAULT_BASELINES = ["median3", "align_median_diff", "align_scars", "bm3d"]


def baseline_set(choice: str) -> list[str]:
    """'default' (those installed), 'all', 'none', or a comma-separated list of baseline names."""
    if choice == "none":
        return []
    if choice in ("default", "all"):
        names = DEFAULT_BASELINES if choice == "default" else classical.names()
        return [b for b in names if b != "bm3d" or classical.bm3d_available()]
    names = [b for b in choice.split(",") if b]
    for b in names:
        classical.get(b)  # unknown name → ValueError listing the known ones
    return names


@dataclass
class Pair:
    name: str
    noisy: np.ndarray  # 2-D float32 in [0, 1]
    clean: np.ndarray


def synthetic_pairs(images: list[np.ndarray] | None = None, noise="stm", n: int = 16, size: int = 256,
                    seed: int = TEST_SEED) -> list[Pair]:
    """Fixed-seed test pairs: `images` (default: simulator surfaces from the test seed) with `noise` applied,
    no augmentation; the same call always gives the same pairs."""
    from stm_zoo.data import pipeline, simulate

    if images is None:
        images = simulate.surfaces(n, seed=seed, size_px=size)
    ds = pipeline.pairs(images, patch_size=size, noise=noise, seed=seed, fresh_each_iteration=False,
                        augment={"rotation_deg": 0.0, "flip": False, "invert": False})
    return [Pair(f"test_{i:03d}", x.numpy()[..., 0], y.numpy()[..., 0]) for i, (x, y) in enumerate(ds.take(n))]


def folder_pairs(folder: str | Path, noise="stm", n: int = 16, size: int = 256, seed: int = TEST_SEED) -> list[Pair]:
    """Pairs from a folder: `clean/` and `noisy/` subfolders matched by file stem, or else clean scans
    with noise synthesized under a fixed seed."""
    from stm_zoo import io, level
    from stm_zoo.data import pipeline

    folder = Path(folder)
    clean_dir, noisy_dir = folder / "clean", folder / "noisy"
    if clean_dir.is_dir() and noisy_dir.is_dir():
        noisy_files = {p.stem: p for p in noisy_dir.iterdir() if p.suffix.lower() in io.formats()}
        pairs = []
        for c in sorted(clean_dir.iterdir()):
            if c.stem in noisy_files:
                clean, norm = level.normalize(level.plane_fit(io.read(c).data))
                noisy = np.clip(norm.apply(level.plane_fit(io.read(noisy_files[c.stem]).data)), 0, 1)
                if clean.shape != noisy.shape:
                    raise ValueError(f"{noisy_files[c.stem]}: shape {noisy.shape} differs from {c} {clean.shape}")
                pairs.append(Pair(c.stem, noisy.astype(np.float32), clean.astype(np.float32)))
        if not pairs:
            raise ValueError(f"{folder}: no files with the same name in clean/ and noisy/")
        return pairs
    return synthetic_pairs(pipeline.folder_images(folder), noise=noise, n=n, size=size, seed=seed)


def _method(name: str):
    """A callable image → image for a baseline name, a `.keras` path or a pretrained model name."""
    if name == "noisy":
        return lambda image: image
    if name in classical.names():
        return classical.get(name)
    from stm_zoo import inference

    model = inference.load_model(name)
    return lambda image: inference.predict_tiled(model, image)


def evaluate_pairs(methods: list[str], pairs: list[Pair]) -> list[dict]:
    """One row per method: mean PSNR, SSIM, UQI over the pairs and seconds per image."""
    rows = []
    for name in methods:
        fn = _method(name)
        fn(pairs[0].noisy)  # warm-up: compilation is not counted
        scores, seconds = [], 0.0
        for p in pairs:
            start = time.perf_counter()
            estimate = np.clip(np.asarray(fn(p.noisy), np.float64), 0, 1)
            seconds += time.perf_counter() - start
            scores.append(metrics.evaluate_pair(p.clean, estimate))
        rows.append({"method": name, **{k: float(np.mean([s[k] for s in scores])) for k in scores[0]},
                     "seconds": seconds / len(pairs)})
    return rows


def evaluate_real(methods: list[str], images: dict[str, np.ndarray]) -> list[dict]:
    """No-reference measures on real noisy scans (2-D arrays in [0, 1]): one row per method and scan."""
    rows = []
    for name in methods:
        fn = _method(name)
        for scan, image in images.items():
            start = time.perf_counter()
            out = np.asarray(fn(image), np.float64)
            seconds = time.perf_counter() - start
            fid = metrics.lattice_fidelity(image, out)
            rows.append({"method": name, "scan": scan, "stripe_before": metrics.stripe_index(image),
                         "stripe_after": metrics.stripe_index(out), "peaks": fid.n_peaks,
                         "kept": fid.kept_fraction, "amplitude": fid.amplitude_ratio,
                         "invented": fid.n_invented, "seconds": seconds})
    return rows


def _mean_where_defined(values: list[float]) -> float | None:
    """Mean over the scans where a measure exists (lattice measures are NaN on scans without a lattice)."""
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else None


def summarize(report: dict[str, list[dict]], method: str) -> dict:
    """The numbers a manifest records for `method` from a report of `evaluate_pairs` / `evaluate_real` tables
    (label → rows): per paired set its PSNR / SSIM / UQI and the best classical baseline's PSNR and SSIM; per
    real-scan set the mean stripe index before and after, the mean fraction of lattice peaks kept, their mean
    amplitude retained (over scans with a lattice) and the number of peaks invented over all scans."""
    summary = {}
    for label, rows in report.items():
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            raise ValueError(f"{method!r} is not in the {label!r} table (methods: {sorted({r['method'] for r in rows})})")
        if "scan" in mine[0]:
            summary[label] = {
                "stripe_index_before": float(np.mean([r["stripe_before"] for r in mine])),
                "stripe_index_after": float(np.mean([r["stripe_after"] for r in mine])),
                "lattice_peaks_kept": _mean_where_defined([r["kept"] for r in mine]),
                "lattice_amplitude_retained": _mean_where_defined([r["amplitude"] for r in mine]),
                "invented_peaks": int(sum(r["invented"] for r in mine)),
            }
        else:
            baselines = [r for r in rows if r["method"] in classical.names()]
            summary[label] = {k: mine[0][k] for k in ("psnr", "ssim", "uqi")}
            if baselines:
                summary[label] |= {f"best_baseline_{k}": max(r[k] for r in baselines) for k in ("psnr", "ssim")}
    return summary


def outputs_on(methods: list[str], image: np.ndarray) -> dict[str, np.ndarray]:
    """Each method's result on one image, for comparison figures."""
    return {name: np.asarray(_method(name)(image), np.float32) for name in methods}


def format_table(rows: list[dict]) -> str:
    """A plain-text table of the rows, floats to 4 significant digits."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0])
    cells = [[f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]

    def line(values):
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    return "\n".join([line(keys), line(["-" * w for w in widths]), *(line(c) for c in cells)])
