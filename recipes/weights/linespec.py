"""The published `linespec` weights (issue 17): stm-zoo's scan-line- and lattice-aware model on the embedded real
scans plus 512 simulated 288² surfaces (lattice periods down to ~2.3 px), 256² patches so each line and each
lattice is seen whole, the `wide` noise preset (clean to heavy), MSE plus an FFT-amplitude term, no rotation
(its bilinear resampling blurs 3 px lattices; the simulator draws every orientation):

    stm-zoo fit recipes/weights/linespec.py

That is stage 1 (2,000 steps); the published weights went on from it in thirteen stages with `init_from` (commands
and numbers in weights/README.md): 600 steps of 16 × 128² at lr 3e-4, 700 steps of 4 × 256² at lr 1e-4, three times
900 steps of 4 × 256² at lr 1e-4 with the `wide_norm` noise, 900 more with a quarter of the patches from the embedded
real scans, 900 at lr 3e-4 (trained with the `line_steps` ablation branch, kept without it:
in_training/linespec-stage8-900steps.keras), 900 with the per-image log loss (stage 12), twice 900 with half the
simulated surfaces 10–40 nm scans (2.5–5 px lattices; stages 14 and 18), 900 with the spectral branch on the
periodic component (`periodic_plus_smooth`; stage 22, in_training/linespec-stage22-900steps.keras), stage 24, 900
more with each scan's white-noise level fed to the U-Net (`noise_level`) and the `wide_more` noise:
    stm-zoo fit recipes/weights/linespec.py --set init_from=weights/in_training/linespec-stage22-900steps.keras \
        --set learning_rate=1e-4 --set epochs=18 --set seed=26 --set noise=wide_more --set simulate.share=0.75 \
        --set "simulate.scan_nm=(10.0, 40.0)" --set loss=log_mse_fft --out runs/weights/linespec_stage24
and the last, stage 31 (the runs between: weights/README.md), training only a new per-frequency blend after the
U-Net (`spectral_blend`, 193 weights; the rest frozen with `train_only`), 900 steps at lr 5e-3 with `wide_more`
where half the draws are light (`attenuate` p 0.5, keep 0-0.4) and pick-up reaches 0.1 ($N: that noise list, as
weights/README.md builds it):
    stm-zoo fit recipes/weights/linespec.py --set init_from=weights/in_training/linespec-stage24-900steps.keras \
        --set learning_rate=5e-3 --set epochs=18 --set seed=43 --set "noise=$N" --set simulate.share=0.75 \
        --set "simulate.scan_nm=(10.0, 40.0)" --set loss=log_mse_fft --set "train_only=['spectral_blend']" \
        --out runs/weights/linespec_stage31

Stages 1-8 trained without the weightless output stage (`lattice_restore` with `min_kept` and `lattice_partners`: a
damped lattice peak given back its amplitude; `damp_invented`: a peak the input lacks damped; `dejitter`,
`line_jumps`: line jitter and whole-line jumps removed), stage 12 with its earlier form, stages 14-31 with it; the
published file is stage 31's weights ending in it. Stages 1-18 ran without `periodic_plus_smooth`, stages 1-22
without `noise_level` (`--set model_kwargs.noise_level=False` repeats them; its three 1 × 1 convolutions start at
zero, so a model grown by it starts as the one it came from), stages 1-24 without `spectral_blend` (it starts
almost closed).
"""


def get_config():
    return {
        "model": "linespec",
        "model_kwargs": {"filters": 24, "lattice_restore": 10.0, "min_kept": 0.5, "lattice_partners": True,
                         "damp_invented": True, "dejitter": 3.0, "line_jumps": 10.0, "periodic_plus_smooth": True,
                         "noise_level": True, "spectral_blend": True},
        "data": "default",
        "simulate": {"count": 512, "size_px": 288},
        "patch_size": 256,
        "batch_size": 4,
        "epochs": 40,
        "steps_per_epoch": 50,
        "validation_steps": 8,
        "noise": "wide",
        "augment": {"rotation_deg": 0.0, "flip": True, "invert": True},
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "loss": "mse_fft",
        "seed": 1,
        "out": "runs/weights/linespec",
    }
