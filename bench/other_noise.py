"""Noise beyond the training presets: does a model stay better than its noisy input beyond what it trained on?

Each noise below is drawn on three sets of clean images (the synthetic test surfaces, the fine-lattice split and
256² crops of the held-out real scans, as in `bench/eval_weights.py`) and every method is scored by mean PSNR and
by how many images it makes worse than their noisy input (the do-no-harm count). The noises: almost clean scans
(input PSNR ~40 dB), white noise heavier than `wide`, shot / speckle / 2-D 1/f / digitizer noise, dense impulse
noise, strong pick-up, line offsets 2× the `wide` preset's, heavy blur, tip changes the tip recovers from (a jump
relaxing over 5-40 lines, as on the real HOPG and dI/dV scans). The `wide_more` preset (LineSpec's stage 24) draws
heavy white noise, impulses, shot, 2-D 1/f and digitizer noise in a quarter of its images; speckle, transients and
these strengths of pick-up, line offsets and blur no preset draws.

    python bench/other_noise.py linespec --json other_noise.json
    python bench/other_noise.py runs/weights/x/model.keras linespec --n 4 --baselines median3   # quick look
"""

import argparse
import sys
import tempfile
from pathlib import Path

import stm_zoo
from stm_zoo import evaluate
from stm_zoo._atomic import write_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_weights import HELD_OUT_CLEAN, SHARED, held_out_folder  # noqa: E402

stm_zoo.fast_cpu()


def _g(sigma):
    return {"type": "gaussian", "p": 1.0, "sigma": sigma}


NOISES: dict[str, list[dict]] = {
    "faint": [_g((0.005, 0.01))],
    "faint_lines": [{"type": "line_offsets", "p": 1.0, "sigma": (0.005, 0.01), "exponent": (0.0, 1.0)}, _g(0.004)],
    "white_0.15": [_g(0.15)],
    "white_0.25": [_g(0.25)],
    "shot": [{"type": "shot", "p": 1.0, "counts": (20.0, 60.0)}],
    "speckle": [{"type": "speckle", "p": 1.0, "sigma": (0.15, 0.3)}],
    "pink_2d": [{"type": "pink", "p": 1.0, "sigma": (0.03, 0.06), "exponent": (0.5, 1.5)}],
    "digitizer": [{"type": "quantize", "p": 1.0, "bits": (4, 5)}, _g(0.003)],
    "impulse_5%": [{"type": "salt_pepper", "p": 1.0, "fraction": (0.03, 0.06)}],
    "pickup_strong": [{"type": "periodic", "p": 1.0, "amplitude": (0.05, 0.1), "cycles": (2.0, 80.0),
                       "harmonic": (0.0, 0.5)}, _g(0.01)],
    "lines_heavy": [{"type": "line_offsets", "p": 1.0, "sigma": (0.1, 0.2), "exponent": (0.0, 2.0)}, _g(0.03)],
    "blur_heavy": [{"type": "gaussian_blur", "p": 1.0, "sigma": (1.5, 2.5)}, _g(0.02)],
    "transients": [{"type": "transient", "p": 1.0, "count": (1, 3), "offset": (0.1, 0.4), "lines": (5.0, 40.0)},
                   _g(0.01)],
}
SETS = ("synthetic", "fine_lattice", "held_out_real")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="zoo names or .keras paths")
    parser.add_argument("--n", type=int, default=8, help="images per set and noise")
    parser.add_argument("--baselines", default="median3,align_scars", help="'default', 'all', 'none' or a list")
    parser.add_argument("--noises", default=",".join(NOISES),
                        help="comma-separated, from: " + ", ".join(NOISES).replace("%", "%%"))  # argparse formats %
    parser.add_argument("--json", type=Path, help="write every row")
    args = parser.parse_args()
    noises = [s for s in args.noises.split(",") if s]
    unknown = [s for s in noises if s not in NOISES]
    if unknown:
        parser.error(f"--noises: unknown {unknown[0]!r}; known: {', '.join(NOISES)}")
    if args.n < 1:
        parser.error("--n must be at least 1")
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED}: shared data not found")
    methods = ["noisy", *evaluate.baseline_set(args.baselines), *args.models]
    report, table = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        held_out = held_out_folder(Path(tmp), "held_out_clean", HELD_OUT_CLEAN)
        for noise in noises:
            for set_name in SETS:
                data = str(held_out) if set_name == "held_out_real" else set_name
                rows = evaluate.evaluate_pairs(methods, evaluate.paired_set(data, noise=NOISES[noise], n=args.n))
                report[f"{noise}/{set_name}"] = rows
                by = {r["method"]: r for r in rows}
                line = {"noise": noise, "set": set_name, "input": by["noisy"]["psnr"]}
                for m in methods[1:]:
                    line[m] = f"{by[m]['psnr']:.2f} ({by[m]['worse_than_input']})"
                table.append(line)
                print(f"{noise}/{set_name}: input {line['input']:.2f}, "
                      + ", ".join(f"{m} {line[m]}" for m in methods[1:]), flush=True)
    print(f"\nmean PSNR (images worse than their noisy input, of {args.n}) per noise and set\n"
          f"{evaluate.format_table(table)}")
    for m in args.models:
        harmed = sum(r["worse_than_input"] for rows in report.values() for r in rows if r["method"] == m)
        print(f"{m}: {harmed} of {args.n * len(report)} images worse than their input")
    if args.json:
        write_json(args.json, {"noises": {k: NOISES[k] for k in noises}, "n": args.n, "report": report})


if __name__ == "__main__":
    main()
