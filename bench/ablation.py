"""Which of LineSpec's ideas help (issue 17): the same recipe trained with one idea removed at a time, each for
the same number of steps, then scored on the sets where the ideas should matter.

    python bench/ablation.py --steps 600            # trains every variant (resumable, runs/ablation/NAME), then scores
    python bench/ablation.py --steps 600 --only full,no_row

Variants: full (recipes/weights/linespec.py), no_row (no whole-line offset head), no_spectral (no Fourier lattice
gate), mse (plain MSE instead of MSE + FFT-amplitude term), patch128 (128² instead of 256² patches, same pixels per
step), line_steps (with the learned median-of-differences branch), log_mse (the per-image log loss the last stages
trained with), no_restore, no_partners, no_damp_invented and no_dejitter (without one part or rule of the weightless
output stage; on the published weights their effect is in weights/README.md). Scores: PSNR / SSIM / images worse than the noisy input on the synthetic split, the fine-lattice split and the
heavy sweep strength, and on the real streaky scans the stripe index and the lattice amplitude kept.
"""

import argparse
import subprocess
import sys
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "weights" / "linespec.py"
STEPS_PER_EPOCH = 50
VARIANTS = {
    "full": [],
    "no_row": ["model_kwargs.row_branch=False"],
    "no_spectral": ["model_kwargs.spectral_branch=False"],
    "mse": ["loss=mse"],
    "patch128": ["patch_size=128", "batch_size=16"],
    "line_steps": ["model_kwargs.line_steps=True"],
    "no_restore": ["model_kwargs.lattice_restore=0.0"],
    "no_dejitter": ["model_kwargs.dejitter=0.0"],
    "no_partners": ["model_kwargs.lattice_partners=False"],
    "no_damp_invented": ["model_kwargs.damp_invented=False"],
    "log_mse": ["loss=log_mse_fft"],
}


def train(name: str, steps: int, root: Path) -> Path:
    out = root / name
    if not (out / "model.keras").is_file():
        sets = [f"epochs={max(1, steps // STEPS_PER_EPOCH)}", *VARIANTS[name]]
        command = [sys.executable, "-m", "stm_zoo.cli", "fit", str(RECIPE), "--out", str(out)]
        for item in sets:
            command += ["--set", item]
        subprocess.run(command, check=True)
    return out / "model.keras"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variants")
    parser.add_argument("--root", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--n", type=int, default=16)
    args = parser.parse_args()
    names = [v for v in args.only.split(",") if v]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; known: {', '.join(VARIANTS)}")
    paths = {name: train(name, args.steps, args.root) for name in names}

    import numpy as np

    import stm_zoo

    stm_zoo.fast_cpu()  # compile cache, memory reuse, XLA:CPU flags
    from stm_zoo import evaluate
    from eval_weights import REAL_NOISY, SHARED

    sets = {"synthetic": evaluate.synthetic_pairs(n=args.n), "fine_lattice": evaluate.fine_lattice_pairs(n=args.n),
            "heavy": evaluate.synthetic_pairs(noise="heavy", n=args.n // 2)}
    real, skipped = evaluate.real_scans([SHARED / rel for rel in REAL_NOISY])
    if skipped:
        raise SystemExit(f"real_noisy: {skipped[0]}")
    methods = [str(p) for p in paths.values()]
    rows = {label: {r["method"]: r for r in evaluate.evaluate_pairs(methods, pairs)} for label, pairs in sets.items()}
    real_rows = evaluate.evaluate_real(methods, real)
    print(f"\n{args.steps} steps each; PSNR / SSIM (images worse than input)")
    header = ["variant", *sets, "stripe index", "lattice amplitude"]
    print(" | ".join(header))
    for name, path in paths.items():
        cells = [name]
        for label in sets:
            r = rows[label][str(path)]
            cells.append(f"{r['psnr']:.2f} / {r['ssim']:.3f} ({r['worse_than_input']})")
        mine = [r for r in real_rows if r["method"] == str(path)]
        amplitude = [r["amplitude"] for r in mine if np.isfinite(r["amplitude"])]
        cells += [f"{np.mean([r['stripe_after'] for r in mine]):.2f}", f"{np.mean(amplitude):.2f}"]
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
