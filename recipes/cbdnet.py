"""CBDNet (Guo et al. 2019) on STM stripes: L2 reconstruction + asymmetric and TV losses on the noise map.

Paper: L_rec (L2) + 0.5·L_asymm (α = 0.3) + 0.05·L_TV, Adam, batch 32 of 128×128 patches, 40 epochs at
lr 1e-3 then fine-tuning at 5e-4. The noise-map terms are added by the model while training (its
`NoiseMapPenalty` layer, weights below); "mse" is the reconstruction term. Cosine decay stands in for the
two-step schedule.
Data, stripe noise and augmentation: the zoo's defaults, the same for every model compared.

    stm-zoo fit recipes/cbdnet.py
"""


def get_config():
    return {
        "model": "cbdnet",
        "model_kwargs": {"asym_weight": 0.5, "tv_weight": 0.05, "alpha": 0.3},
        "data": "default",
        "patch_size": 128,
        "batch_size": 32,
        "epochs": 40,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "thesis",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "loss": "mse",
        "seed": 0,
        "out": "runs/cbdnet",
    }
