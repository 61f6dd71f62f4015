"""The numbers a published model is judged by (issue 6): `stm-zoo eval` on the synthetic test split, on
held-out real clean scans with synthesized noise, and the no-reference measures on real noisy scans, for the
given models beside every classical baseline.

    python bench/eval_weights.py runs/weights/dncnn/model.keras dncnn ... --json eval.json
    python bench/eval_weights.py runs/weights/pmrid/model.keras --summary runs/weights/pmrid/metrics.json

`--summary` (one model) writes the compact numbers `stm-zoo weights publish --metrics` records in the manifest.

The held-out real scans are clean topographs from ../shared/data/stm that no recipe trains on (the embedded
default data are other files); the noisy scans are those with heavy real streak / row-offset noise.
"""

import argparse
import os
import tempfile
from pathlib import Path

import stm_zoo  # noqa: F401  (backend first)
from stm_zoo import evaluate, io, level
from stm_zoo._atomic import write_json

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stm"
TYCOON = "alexriss__SpmImageTycoon.jl/test/data"
CREATEC = "SPMQT-Lab__nanonis-file-conversion-1.01/anonymised_testdata"
HELD_OUT_CLEAN = [  # stripe index ≤ 0.06 in MANIFEST.csv: Au(111), Cu(111), graphene + molecules, Si(111), steps
    f"{TYCOON}/Image_398.sxm", f"{TYCOON}/Image_403.sxm", f"{TYCOON}/Image_412.sxm", f"{TYCOON}/Image_526.sxm",
    f"{TYCOON}/Image_661.sxm", f"{TYCOON}/Image_666.sxm", f"{TYCOON}/Image_671.sxm",
    "ethz-micro__matlab_nanonis/Examples/Files/Si_7x7_012.sxm", f"{CREATEC}/createc_scan_close_100nm.dat",
]
REAL_NOISY = [
    f"{CREATEC}/createc_scan_molecular_30nm_pos.dat", f"{CREATEC}/createc_scan_atomic_11nm.dat",
    f"{CREATEC}/createc_scan_island_60nm.dat", f"{CREATEC}/createc_scan_wide_240nm.dat",
    "rescipy-project__spym/test/hopg_300k_2020_08_11_16_04_06_999.sm4",
    "ethz-micro__matlab_nanonis/Examples/Files/Si_7x7_028.sxm",
]


def held_out_folder(tmp: Path) -> Path:
    folder = tmp / "held_out_clean"
    folder.mkdir()
    for rel in HELD_OUT_CLEAN:
        os.symlink(SHARED / rel, folder / Path(rel).name)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="zoo names or .keras paths")
    parser.add_argument("--n", type=int, default=16, help="synthesized test images per paired set")
    parser.add_argument("--baselines", default="default")
    parser.add_argument("--json", type=Path, help="write every table")
    parser.add_argument("--summary", type=Path, help="write the one model's numbers for the manifest")
    args = parser.parse_args()
    if args.summary and len(args.models) != 1:
        parser.error("--summary needs exactly one model")
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED}: shared data not found")
    methods = ["noisy", *evaluate.baseline_set(args.baselines), *args.models]
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"synthetic": evaluate.synthetic_pairs(n=args.n),
                "held_out_real": evaluate.folder_pairs(held_out_folder(Path(tmp)), n=args.n)}
        for label, pairs in sets.items():
            report[label] = evaluate.evaluate_pairs(methods, pairs)
            print(f"\n{label} ({len(pairs)} pairs, 'stm' noise)\n{evaluate.format_table(report[label])}", flush=True)
    images = {Path(rel).name: level.normalize(level.plane_fit(io.read(SHARED / rel).data))[0] for rel in REAL_NOISY}
    report["real_noisy"] = evaluate.evaluate_real(methods, images)
    print(f"\nreal noisy scans (no reference)\n{evaluate.format_table(report['real_noisy'])}")
    summaries = {model: evaluate.summarize(report, model) for model in args.models}
    for model, summary in summaries.items():
        paired = [v for v in summary.values() if "best_baseline_psnr" in v]
        beats = all(v["psnr"] > v["best_baseline_psnr"] and v["ssim"] > v["best_baseline_ssim"] for v in paired)
        print(f"{model}: {'beats' if beats else 'does NOT beat'} every baseline in PSNR and SSIM on both paired sets")
    if args.json:
        write_json(args.json, report)
    if args.summary:
        write_json(args.summary, {**summaries[args.models[0]],
                                  "evaluated_with": f"python bench/eval_weights.py ({args.n} pairs per set, stm noise, fixed seed)"})


if __name__ == "__main__":
    main()
