"""Self-supervised vs supervised training of the same model, and fine-tuning on real noisy scans.

1. Synthetic (truth known): the same model, data ("synthetic" surfaces + "stm" noise), patches and steps,
   trained (a) supervised on (noisy, clean) pairs, (b) self-supervised on the noisy patches alone with whole-line
   blind spots (recipes/selfsup.py), (c) with one-pixel blind spots (plain Noise2Void: the ablation showing why
   the masks follow the scan lines). Scored on the synthetic test split (`stm_zoo.evaluate.synthetic_pairs`):
   PSNR / SSIM against the truth and the stripe index of the outputs.
2. Real scans (no truth): the supervised model of (a), then the same model fine-tuned self-supervised on the
   folder of real scans (recipes/finetune.py, `init_from`); stripe index and lattice fidelity before → after
   (`stm_zoo.evaluate.evaluate_real`). Fine-tuning and evaluation use the same scans: the use case is adapting
   to one user's folder.

    python bench/selfsup_eval.py --steps 1000 --finetune-steps 300

Runs go to --out; a run whose model.keras exists is reused, so a second call only evaluates.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

import stm_zoo
from stm_zoo import evaluate, metrics, training
from stm_zoo._atomic import write_json

stm_zoo.fast_cpu()  # compile cache, memory reuse, XLA:CPU flags

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "stm"
CREATEC = "SPMQT-Lab__nanonis-file-conversion-1.01/anonymised_testdata"
REAL_SCANS = [  # heavy real streak / row-offset noise, and two with a lattice for the fidelity measure
    f"{CREATEC}/createc_scan_molecular_30nm_pos.dat",
    f"{CREATEC}/createc_scan_atomic_11nm.dat",
    f"{CREATEC}/createc_scan_island_60nm.dat",
    f"{CREATEC}/createc_scan_wide_240nm.dat",
    f"{CREATEC}/createc_scan_qplus_10ch_afm.dat",
    f"{CREATEC}/sxm_moire_10nm.sxm",
]


def run(name: str, recipe: str, overrides: list[str], out: Path) -> str:
    """Train (or reuse) one run; returns its model path."""
    target = out / name
    model = target / "model.keras"
    if not model.exists():
        config = training.load_recipe(REPO / "recipes" / recipe, [*overrides, f"out={str(target)!r}"])
        print(f"training {name}: {config['model']} {config['trainer']} {config['epochs']}×{config['steps_per_epoch']}"
              f" steps", flush=True)
        training.fit(config, verbose=0)
    return str(model)


def line_scores(methods: dict[str, str], pairs) -> dict[str, dict]:
    """Per method: mean stripe index of the outputs, and the line error — RMS over lines of each line's mean
    error against the truth, less the image's mean error: the part of the error that is line offsets."""
    rows = {}
    for label, method in methods.items():
        fn = evaluate._method(method)
        outs = [np.clip(np.asarray(fn(p.noisy), np.float64), 0, 1) for p in pairs]
        rows[label] = {
            "stripe_index": float(np.mean([metrics.stripe_index(o) for o in outs])),
            "line_error": float(np.mean([np.sqrt(np.mean((np.mean(o - p.clean, axis=1) - np.mean(o - p.clean)) ** 2))
                                         for o, p in zip(outs, pairs)])),
        }
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="autoencoder_thesis")
    parser.add_argument("--model-kwargs", default="{}", help="Python dict literal, e.g. \"{'depth': 8, 'filters': 32}\"")
    parser.add_argument("--steps", type=int, default=1000, help="training steps of each synthetic run")
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=8, help="synthetic test images (256²)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "selfsup_eval")
    parser.add_argument("--real", nargs="*", default=REAL_SCANS, help=f"scans, relative to {SHARED}")
    args = parser.parse_args()

    # The test split first: after `fit` has set TensorFlow's global seed, `synthetic_pairs` draws other pairs.
    pairs = evaluate.synthetic_pairs(noise="stm", n=args.n_test, size=256)
    epochs = 4
    common = [f"model={args.model!r}", f"model_kwargs={args.model_kwargs}", f"epochs={epochs}",
              f"steps_per_epoch={max(args.steps // epochs, 1)}", "data='synthetic'", "noise='stm'"]
    sup = run("supervised", "selfsup.py", [*common, "trainer='supervised'", "loss='mse'"], args.out)
    ss = run("selfsup_lines", "selfsup.py", common, args.out)
    pix = run("selfsup_pixels", "selfsup.py", [*common, "blindspot={'count': 64, 'rows': 1, 'length': 0.0}"],
              args.out)

    methods = {"noisy": "noisy", "align_median_diff": "align_median_diff", "supervised": sup,
               "selfsup (whole lines)": ss, "selfsup (pixels, N2V)": pix}
    rows = evaluate.evaluate_pairs(list(methods.values()), pairs)
    lines = line_scores(methods, pairs)
    truth = float(np.mean([metrics.stripe_index(p.clean) for p in pairs]))
    for row, label in zip(rows, methods):
        row["method"] = label
        row.update(lines[label])
    print(f"\n== synthetic test split: {len(pairs)} × 256², noise 'stm', {args.model} {args.model_kwargs}, "
          f"{args.steps} steps each (clean truth stripe index {truth:.3f})")
    print(evaluate.format_table(rows))

    files = [SHARED / f for f in args.real if (SHARED / f).is_file()]
    if not files:
        print(f"\nno real scans found under {SHARED}; skipped the fine-tuning part")
        return
    with tempfile.TemporaryDirectory() as folder:
        for f in files:  # the folder the user would point `data` at (links: nothing is copied)
            (Path(folder) / f.name).symlink_to(f)
        ft = run("finetuned", "finetune.py", [f"model={args.model!r}", f"model_kwargs={args.model_kwargs}",
                                              f"init_from={sup!r}", f"data={folder!r}", "epochs=1",
                                              f"steps_per_epoch={args.finetune_steps}"], args.out)
    images, skipped = evaluate.real_scans(files)
    if skipped:
        raise SystemExit(skipped[0])
    real = evaluate.evaluate_real(["align_median_diff", sup, ft], images)
    names = {sup: "before (supervised, synthetic)", ft: "after (fine-tuned selfsup)"}
    for row in real:
        row["method"] = names.get(row["method"], row["method"])
        row.pop("seconds")
    print(f"\n== real scans ({len(files)}), fine-tuned {args.finetune_steps} steps on them, starting from the "
          "supervised model")
    print(evaluate.format_table(real))
    summary = {}
    for row in real:
        s = summary.setdefault(row["method"], {"stripe_after": [], "kept": [], "amplitude": [], "invented": []})
        for key in s:
            s[key].append(row[key])
    print("\nmeans over scans (stripe index before: "
          f"{np.mean([metrics.stripe_index(im) for im in images.values()]):.3f})")
    for method, s in summary.items():
        print(f"  {method:32s} " + "  ".join(f"{k} {np.nanmean(v):.3f}" for k, v in s.items()))
    write_json(args.out / "results.json", {"synthetic": rows, "real": real})


if __name__ == "__main__":
    main()
