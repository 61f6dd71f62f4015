"""Value parity of the PyTorch `LineSpec` in `bench/torch_ref.py` with the published Keras `linespec` (bench-only:
`pip install torch`; not part of the test suite, which runs without torch).

    python bench/torch_parity.py            # published weights/linespec.keras
    python bench/torch_parity.py --weights path/to/linespec.keras

Copies the Keras weights into the PyTorch module (HWIO → OIHW) and prints the largest absolute difference of the
two outputs on a random 1×96×128×1 input, on an odd-sized one (exercises the reflect padding and the crop), and on
a 256² noisy scan from the training pipeline; also of the periodic part (the spectral gate) and of the line offsets.
Exits non-zero when an output differs by more than `--tol`.
"""

import argparse
import sys

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="linespec", help="a .keras file or a pretrained name")
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()

    import stm_zoo

    stm_zoo.fast_cpu()
    import keras
    import torch
    from torch_ref import LineSpec, load_keras_weights

    from stm_zoo import models
    from stm_zoo.data import pipeline

    model = models.load(args.weights)
    steps = any(layer.name == "step_profile" for layer in model.layers)  # absent before the line-step branch
    stage, names = {}, {layer.name for layer in model.layers}  # the weightless output stage, where the model has it
    if "lattice_restore" in names:
        config = model.get_layer("lattice_restore").get_config()
        stage |= {"lattice_restore": config["min_snr"], "min_kept": config["min_kept"],
                  "lattice_partners": config.get("partners", False),
                  "damp_invented": config.get("damp_invented", False)}
    if "dejitter" in names:
        config = model.get_layer("dejitter").get_config()
        stage |= {"dejitter": config["sigma"], "line_jumps": config.get("jump", 0.0)}
    stage["periodic_plus_smooth"] = model.get_layer("lattice").get_config().get("periodic_plus_smooth", False)
    stage["noise_level"] = "noise_level" in names and "e0_c1_level" in names
    stage["spectral_blend"] = "spectral_blend" in names
    net = load_keras_weights(LineSpec(line_steps=steps, **stage), model).eval()
    assert sum(p.numel() for p in net.parameters()) == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    probes = keras.Model(model.input, [model.get_layer("line_corrected").output, model.get_layer("lattice").output,
                                       model.output])

    rng = np.random.default_rng(0)
    scan_ds = pipeline.pairs(pipeline.default_images(), patch_size=256, augment={"rotation_deg": 0.0})
    noisy_scan = next(iter(scan_ds))[0].numpy()[None].astype("float32")
    yy, xx = np.mgrid[:128, :160]
    directions = ((1, 0), (0.5, 0.87), (-0.5, 0.87))
    lattice = (0.5 + sum(0.07 * np.cos(2 * np.pi * (u * xx + v * yy) / 4.3) for u, v in directions)
               + rng.normal(0, 0.05, (128, 160))).astype("float32")[None, :, :, None]  # hexagonal
    square = (0.5 + 0.1 * np.cos(2 * np.pi * xx / 3.2) + 0.1 * np.cos(2 * np.pi * yy / 3.2)
              + rng.normal(0, 0.01, (128, 160))).astype("float32")[None, :, :, None]  # square, rows along x
    k1, k2 = np.array([0.99, 0.14]) / 3.3, np.array([0.12, 0.99]) / 4.2
    oblique = (0.5 + sum(a * np.cos(2 * np.pi * (k[0] * xx + k[1] * yy))
                         for k, a in ((k1, 0.05), (k2, 0.05), (k1 + k2, 0.025), (k1 - k2, 0.025)))
               + rng.normal(0, 0.005, (128, 160))).astype("float32")[None, :, :, None]
    inputs = {
        "random 1×96×128": rng.random((1, 96, 128, 1), dtype=np.float32),
        "random 1×97×130": rng.random((1, 97, 130, 1), dtype=np.float32),
        "noisy scan 1×256×256": noisy_scan,
        "noisy lattice 1×128×160": lattice,  # exercises the output stage's lattice restore
        "rows of atoms 1×128×160": square,  # and its atom rows along the lines
        "oblique lattice 1×128×160": oblique,  # and its any-lattice partners
    }
    worst = 0.0
    print(f"{'input':22} {'output':>10} {'corrected':>10} {'periodic':>10} {'|output| max':>12}")
    for label, x in inputs.items():
        k_corr, k_per, k_out = (np.asarray(a) for a in probes(x))
        with torch.no_grad():
            t = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
            t_out = net(t).numpy().transpose(0, 2, 3, 1)
            t_corr = net.line_corrected(t)
            t_per = net.lattice(t_corr)
        d_out = float(np.abs(t_out - k_out).max())
        d_corr = float(np.abs(t_corr.numpy().transpose(0, 2, 3, 1) - k_corr).max())
        d_per = float(np.abs(t_per.numpy().transpose(0, 2, 3, 1) - k_per).max())
        worst = max(worst, d_out)
        print(f"{label:22} {d_out:10.2e} {d_corr:10.2e} {d_per:10.2e} {float(np.abs(k_out).max()):12.3f}")
    print(f"max abs difference of the outputs: {worst:.2e} (tolerance {args.tol:g}); torch {torch.__version__}, "
          f"keras {keras.__version__} ({keras.backend.backend()})")
    sys.exit(0 if worst <= args.tol else 1)


if __name__ == "__main__":
    main()
