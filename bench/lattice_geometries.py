"""Lattices the simulator does not draw: does a model keep them, at three noise strengths?

Six 256² lattices of sharp Gaussian atoms (σ 0.28 of the shorter lattice constant, so harmonics up to the Nyquist
limit): a 3 px square lattice with rows along the scan lines, a 3.5 px square one at 17°, an oblique 3.2 × 4.1 px
one at 75° (no peaks 60° or 90° apart), a 3 × 5 px rectangular one along the lines, a 1-D 3.4 px CDW at 30° and a
3 px hexagonal lattice under a 9 px CDW. Each gets white noise, line offsets and a random-walk drift of
about twice the offsets (light σ 0.01 / offsets 0.005, `stm`-like 0.04 / 0.02, heavy 0.08 / 0.05; fixed seed) and every method is scored by PSNR against the clean lattice.

    python bench/lattice_geometries.py linespec
    python bench/lattice_geometries.py runs/x/model.keras linespec --baselines median3,align_scars,bm3d
"""

import argparse

import numpy as np

import stm_zoo
from stm_zoo import evaluate, metrics

stm_zoo.fast_cpu()

SIZE = 256
STRENGTHS = {"light": (0.01, 0.005), "stm": (0.04, 0.02), "heavy": (0.08, 0.05)}


def _rotated(length: float, degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    return length * np.array([np.cos(t), np.sin(t)])


def atoms(a1, a2, width: float = 0.28) -> np.ndarray:
    """Gaussian atoms at the points n·a1 + m·a2 (x, y in pixels) of a SIZE² image."""
    basis = np.array([a1, a2], dtype=np.float64).T
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    fractional = np.linalg.inv(basis) @ np.stack([xx.ravel(), yy.ravel()])
    offset = basis @ (fractional - np.round(fractional))
    sigma = width * min(np.linalg.norm(a1), np.linalg.norm(a2))
    return np.exp(-(offset ** 2).sum(0).reshape(SIZE, SIZE) / (2 * sigma * sigma))


def geometries() -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    oblique_b = _rotated(4.1, 75.0 + 8.0)
    cases = {
        "square 3 px along the lines": atoms((3.0, 0.0), (0.0, 3.0)),
        "square 3.5 px at 17°": atoms(_rotated(3.5, 17.0), _rotated(3.5, 107.0)),
        "oblique 3.2 × 4.1 px, 75°": atoms(_rotated(3.2, 8.0), oblique_b),
        "rectangular 3 × 5 px": atoms((3.0, 0.0), (0.0, 5.0)),
        "1-D CDW 3.4 px at 30°": np.cos(2 * np.pi * (np.cos(np.radians(30)) * xx + np.sin(np.radians(30)) * yy) / 3.4),
        "hexagonal 3 px + 9 px CDW": atoms((3.0, 0.0), _rotated(3.0, 60.0)) * (1 + 0.3 * np.cos(2 * np.pi * xx / 9.0)),
    }
    return {name: 0.2 + 0.6 * (a - a.min()) / (a.max() - a.min()) for name, a in cases.items()}


def noisy_version(clean: np.ndarray, sigma: float, offsets: float, rng) -> np.ndarray:
    drift = np.cumsum(rng.normal(0, 1, (SIZE, 1)), axis=0) * 2 * offsets / np.sqrt(SIZE)  # a random walk, ~2 × offsets
    lines = drift + rng.normal(0, offsets, (SIZE, 1))
    return np.clip(clean + rng.normal(0, sigma, clean.shape) + lines, 0, 1).astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="zoo names or .keras paths")
    parser.add_argument("--baselines", default="median3,align_scars", help="'default', 'all', 'none' or a list")
    args = parser.parse_args()
    methods = [*evaluate.baseline_set(args.baselines), *args.models]
    rng = np.random.default_rng(7)
    rows, below = [], dict.fromkeys(methods, 0)
    for name, clean in geometries().items():
        pairs = [evaluate.Pair(name=f"{name}, {s}", noisy=noisy_version(clean, *STRENGTHS[s], rng), clean=clean)
                 for s in STRENGTHS]
        results = {r["method"]: r["psnr_per_image"] for r in evaluate.evaluate_pairs(methods, pairs)}
        for i, strength in enumerate(STRENGTHS):
            given = metrics.psnr(clean, pairs[i].noisy)
            row = {"lattice": name, "noise": strength, "input": given}
            for m in methods:
                row[m] = results[m][i]
                below[m] += results[m][i] < given
            rows.append(row)
    print(evaluate.format_table(rows))
    print("images worse than their noisy input, of", len(rows), ":",
          ", ".join(f"{m} {n}" for m, n in below.items()))


if __name__ == "__main__":
    main()
