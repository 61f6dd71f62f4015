"""`stm-zoo eval`: deep models and classical baselines side by side.

With ground truth (noisy, clean) pairs: PSNR / SSIM / UQI and seconds per image, as the MAED-CNN paper's
Table 1, the line offsets left (`metrics.line_error`), and the do-no-harm count: on how many images a method's
PSNR falls below the noisy input's. Without (real noisy scans): stripe index before → after and lattice fidelity
(FFT peaks kept, amplitude retained, peaks invented).

Paired sets: the synthetic test split (simulator surfaces), a fine-lattice split (atomic lattices of 2.5-5 px
period), folders of clean scans (256² crops or whole scans), each under a noise preset or one strength of the
noise sweep `SWEEP` (input PSNR from ~30 down to ~18.5 dB).
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


def _sweep(gaussian, offsets, bands, band_rows) -> list[dict]:
    """White noise σ, drifting line offsets σ, bands of replaced rows (count, rows each): drawn per image."""
    return [{"type": "line_offsets", "p": 1.0, "sigma": offsets, "exponent": (0.0, 1.5)},
            {"type": "stripes", "p": 1.0, "num_stripes": bands, "width": band_rows},
            {"type": "gaussian", "p": 1.0, "sigma": gaussian}]


# The noise-strength sweep. Mean input PSNR of `synthetic_pairs(noise=strength)` (16 simulator test images, 256²):
# light 29.9, medium 25.6, heavy 22.7, severe 18.6 dB (one replaced row alone costs ~31 dB, so light has 0-1).
SWEEP: dict[str, list[dict]] = {
    "light": _sweep(gaussian=(0.01, 0.02), offsets=(0.02, 0.03), bands=(0, 1), band_rows=(1, 1)),
    "medium": _sweep(gaussian=(0.02, 0.035), offsets=(0.03, 0.04), bands=(1, 2), band_rows=(1, 1)),
    "heavy": _sweep(gaussian=(0.03, 0.05), offsets=(0.035, 0.05), bands=(2, 3), band_rows=(1, 2)),
    "severe": _sweep(gaussian=(0.06, 0.08), offsets=(0.06, 0.08), bands=(3, 5), band_rows=(1, 3)),
}


def noise_spec(noise):
    """A noise preset name or a sweep strength (`SWEEP`) → what `stm_zoo.noise.apply` takes; spec lists pass."""
    from stm_zoo import noise as noise_lib

    if not isinstance(noise, str):
        return noise
    if noise in SWEEP:
        return SWEEP[noise]
    if noise not in noise_lib.PRESETS:
        raise ValueError(f"unknown noise {noise!r}; presets: {', '.join(sorted(noise_lib.PRESETS))}; "
                         f"sweep strengths: {', '.join(SWEEP)}")
    return noise


def fine_lattice_params(size: int = 256) -> dict:
    """Simulator parameters (overrides of `simulate.DEFAULTS`) of the fine-lattice split at size² px: hexagonal,
    honeycomb and square atomic lattices of 0.3-0.4 nm in scans of 0.08-0.103 × size nm, i.e. a lattice constant
    of 2.9-5 px and first FFT peaks at periods of 2.5-5 px (hexagonal rows are √3/2 a apart); a sharp tip, little
    drift; half with a CDW superlattice; many vacancies and adatoms; few steps, islands, molecules and clusters."""
    return {"scan_nm": (0.4 * size / 5.0, 0.3 * size / 2.9), "lattice_nm": (0.3, 0.4),
            "lattices": ("hexagonal", "honeycomb", "square"), "p_molecular_lattice": 0.0,
            "corrugation_nm": (0.02, 0.05), "tip_nm": (0.05, 0.15), "p_drift": 0.3, "drift": (0.0, 0.03),
            "p_cdw": 0.5, "p_moire": 0.1, "p_vacancies": 0.9, "vacancies_per_nm2": (0.01, 0.05),
            "p_adatoms": 0.7, "adatoms_per_nm2": (0.005, 0.02), "p_steps": 0.1, "p_islands": 0.1,
            "p_molecules": 0.05, "p_clusters": 0.1}


def lattice_periods(image) -> list[float]:
    """Periods in px of the image's strongest FFT lattice peaks, strongest first (`metrics.lattice_fidelity`)."""
    fid = metrics.lattice_fidelity(image, image)
    h, w = np.shape(image)
    return [float(1 / np.hypot(ky / h, kx / w)) for ky, kx in fid.peaks]


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
    ds = pipeline.pairs(images, patch_size=size, noise=noise_spec(noise), seed=seed, fresh_each_iteration=False,
                        augment={"rotation_deg": 0.0, "flip": False, "invert": False})
    return [Pair(f"test_{i:03d}", x.numpy()[..., 0], y.numpy()[..., 0]) for i, (x, y) in enumerate(ds.take(n))]


def whole_image_pairs(images: list[np.ndarray], noise="stm", seed: int = TEST_SEED,
                      names: list[str] | None = None) -> list[Pair]:
    """Every image once and whole (any H×W, no crop or resize) with `noise` synthesized under the fixed seed
    (seed, i) for image i: the same images and seed give the same noise draws at every sweep strength."""
    import tensorflow as tf

    from stm_zoo import noise as noise_lib

    specs = noise_lib.resolve(noise_spec(noise))
    names = names or [f"image_{i:03d}" for i in range(len(images))]
    if len(names) != len(images):
        raise ValueError(f"{len(names)} names for {len(images)} images")
    pairs = []
    for i, (name, clean) in enumerate(zip(names, images)):
        clean = np.asarray(clean, np.float32)
        if clean.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D image, got shape {clean.shape}")
        noisy, clean = noise_lib.apply_pair(tf.constant(clean[..., None]), tf.constant([seed, i], tf.int64), specs)
        pairs.append(Pair(name, noisy.numpy()[..., 0], clean.numpy()[..., 0]))
    return pairs


def fine_lattice_pairs(noise="stm", n: int = 16, size: int = 256, seed: int = TEST_SEED) -> list[Pair]:
    """The fine-lattice split: `n` simulator surfaces of `fine_lattice_params(size)`, each once, with `noise`."""
    from stm_zoo.data import simulate

    surfaces = simulate.surfaces(n, seed=seed, size_px=size, params=fine_lattice_params(size))
    return whole_image_pairs(surfaces, noise=noise, seed=seed, names=[f"fine_{i:03d}" for i in range(n)])


def folder_pairs(folder: str | Path, noise="stm", n: int = 16, size: int = 256, seed: int = TEST_SEED,
                 full_resolution: bool = False) -> list[Pair]:
    """Pairs from a folder: `clean/` and `noisy/` subfolders matched by file stem, or else clean scans
    with noise synthesized under a fixed seed: `n` random size² crops, or with `full_resolution` every scan
    once and whole."""
    from stm_zoo import io, level
    from stm_zoo.data import pipeline

    folder = Path(folder)
    clean_dir, noisy_dir = folder / "clean", folder / "noisy"
    if clean_dir.is_dir() and noisy_dir.is_dir():
        noisy_files = {p.stem: p for p in noisy_dir.iterdir() if p.suffix.lower() in io.formats()}
        pairs = []
        for c in sorted(clean_dir.iterdir()):
            if c.stem in noisy_files:
                clean, norm = level.prepare(io.read(c).data)
                noisy = np.clip(norm.apply(level.plane_fit(io.read(noisy_files[c.stem]).data)), 0, 1)
                if clean.shape != noisy.shape:
                    raise ValueError(f"{noisy_files[c.stem]}: shape {noisy.shape} differs from {c} {clean.shape}")
                pairs.append(Pair(c.stem, noisy.astype(np.float32), clean.astype(np.float32)))
        if not pairs:
            raise ValueError(f"{folder}: no files with the same name in clean/ and noisy/")
        return pairs
    if full_resolution:
        return whole_image_pairs(pipeline.folder_images(folder), noise=noise, seed=seed)
    return synthetic_pairs(pipeline.folder_images(folder), noise=noise, n=n, size=size, seed=seed)


def paired_set(data: str, noise="stm", n: int = 16, size: int = 256, full_resolution: bool = False,
               seed: int = TEST_SEED) -> list[Pair]:
    """Test pairs for `--data`: 'synthetic', 'fine_lattice', or a folder (`folder_pairs`)."""
    if data == "synthetic":
        return synthetic_pairs(noise=noise, n=n, size=size, seed=seed)
    if data == "fine_lattice":
        return fine_lattice_pairs(noise=noise, n=n, size=size, seed=seed)
    return folder_pairs(data, noise=noise, n=n, size=size, seed=seed, full_resolution=full_resolution)


def _method(name: str):
    """A callable image → image for a baseline name, a `.keras` path or a pretrained model name."""
    if name == "noisy":
        return lambda image: image
    if name in classical.names():
        return classical.get(name)
    from stm_zoo import inference, models

    model = models.load(name)
    return lambda image: inference.predict_tiled(model, image)


def evaluate_pairs(methods: list[str], pairs: list[Pair]) -> list[dict]:
    """One row per method: mean PSNR, SSIM, UQI and `metrics.line_error` over the pairs, `worse_than_input`
    (images whose PSNR is below the noisy input's: the do-no-harm count), seconds per image, and the PSNR of each
    image."""
    if not pairs:
        raise ValueError("no test pairs to evaluate")
    input_psnr = [metrics.psnr(p.clean, p.noisy) for p in pairs]
    smallest = min(pairs, key=lambda p: p.noisy.size)
    rows = []
    for name in methods:
        fn = _method(name)
        fn(smallest.noisy)  # warm-up: compilation is not counted
        scores, seconds = [], 0.0
        for p in pairs:
            start = time.perf_counter()
            estimate = np.clip(np.asarray(fn(p.noisy), np.float64), 0, 1)
            seconds += time.perf_counter() - start
            scores.append({**metrics.evaluate_pair(p.clean, estimate),
                           "line_error": metrics.line_error(p.clean, estimate)})
        per_image = [s["psnr"] for s in scores]
        rows.append({"method": name, **{k: float(np.mean([s[k] for s in scores])) for k in scores[0]},
                     "worse_than_input": sum(mine < given for mine, given in zip(per_image, input_psnr)),
                     "seconds": seconds / len(pairs), "psnr_per_image": per_image})
    return rows


def harmed_images(rows: list[dict], pairs: list[Pair]) -> list[dict]:
    """The images each method of `evaluate_pairs`' rows made worse than their input, with the reference's own
    white-noise level (scikit-image's wavelet estimate) beside the std of the noise added to it: where the
    reference's own noise is the larger, PSNR against it cannot tell denoising from damage."""
    from skimage.restoration import estimate_sigma

    input_psnr = [metrics.psnr(p.clean, p.noisy) for p in pairs]
    harmed = []
    for row in rows:
        for pair, given, mine in zip(pairs, input_psnr, row["psnr_per_image"]):
            if mine < given:
                harmed.append({"method": row["method"], "image": pair.name, "input_psnr": given, "psnr": mine,
                               "reference_noise": float(estimate_sigma(pair.clean.astype(np.float64))),
                               "added_noise": float(np.std(pair.noisy.astype(np.float64) - pair.clean))})
    return harmed


def real_scans(source) -> tuple[dict[str, np.ndarray], list[str]]:
    """Real scans as the models see them (`level.prepare`), by file name, from a folder (every readable scan in
    it, recursively), one file, or a list of files; and the one-line reason for each file that could not be read."""
    from stm_zoo import io, level

    if isinstance(source, (list, tuple)):
        files = [Path(f) for f in source]
    else:
        files = io.find_scans(Path(source)) if Path(source).is_dir() else [Path(source)]
    images, skipped = {}, []
    for f in files:
        try:
            images[f.name] = level.prepare(io.read(f).data)[0]
        except ValueError as e:
            reason = str(e).splitlines()[0]
            skipped.append(reason if str(f) in reason else f"{f}: {reason}")
    return images, skipped


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
    (label → rows): per paired set its PSNR / SSIM / UQI / line error, the best classical baseline's PSNR and SSIM
    (and lowest line error), the noisy input's PSNR, the number of images and on how many of them the method is
    worse than the input; per real-scan set the mean stripe index before and after, the mean fraction of lattice
    peaks kept, their mean amplitude retained (over scans with a lattice) and the number of peaks invented over
    all scans.
    A label "group/name" (e.g. "sweep/heavy") is recorded as summary[group][name]."""
    summary = {}
    for label, rows in report.items():
        group, _, name = label.rpartition("/")
        into = summary.setdefault(group, {}) if group else summary
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            raise ValueError(f"{method!r} is not in the {label!r} table (methods: {sorted({r['method'] for r in rows})})")
        if "scan" in mine[0]:
            into[name] = {
                "stripe_index_before": float(np.mean([r["stripe_before"] for r in mine])),
                "stripe_index_after": float(np.mean([r["stripe_after"] for r in mine])),
                "lattice_peaks_kept": _mean_where_defined([r["kept"] for r in mine]),
                "lattice_amplitude_retained": _mean_where_defined([r["amplitude"] for r in mine]),
                "invented_peaks": int(sum(r["invented"] for r in mine)),
            }
        else:
            baselines = [r for r in rows if r["method"] in classical.names()]
            noisy = [r for r in rows if r["method"] == "noisy"]
            into[name] = {k: mine[0][k] for k in ("psnr", "ssim", "uqi", "line_error") if k in mine[0]}
            if baselines:
                into[name] |= {f"best_baseline_{k}": max(r[k] for r in baselines) for k in ("psnr", "ssim")}
                if "line_error" in mine[0]:
                    into[name]["best_baseline_line_error"] = min(r["line_error"] for r in baselines)
            if noisy:
                into[name]["input_psnr"] = noisy[0]["psnr"]
            if "worse_than_input" in mine[0]:
                into[name] |= {"worse_than_input": int(mine[0]["worse_than_input"]),
                               "images": len(mine[0]["psnr_per_image"])}
    return summary


def outputs_on(methods: list[str], image: np.ndarray) -> dict[str, np.ndarray]:
    """Each method's result on one image, for comparison figures."""
    return {name: np.asarray(_method(name)(image), np.float32) for name in methods}


def format_table(rows: list[dict]) -> str:
    """A plain-text table of the rows' scalar columns (per-image lists are left out), floats to 4 significant
    digits."""
    if not rows:
        return "(no rows)"
    keys = [k for k in rows[0] if not isinstance(rows[0][k], (list, tuple, dict))]
    cells = [[f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]

    def line(values):
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    return "\n".join([line(keys), line(["-" * w for w in widths]), *(line(c) for c in cells)])
