"""SwinIR light (Liang et al. 2021) on STM stripes: Charbonnier loss, Adam 2e-4, 128×128 patches, batch 8.

Paper (denoising): Charbonnier loss (ε = 1e-3), Adam (β1 0.9, β2 0.999), lr 2e-4 halved at 50/75/87.5/93.75 %
of 1.6 M iterations, batch 8 of 128×128 patches. The zoo's cosine schedule stands in for the halvings.
Data, stripe noise and augmentation: the zoo's defaults, the same for every model compared.

    stm-zoo fit recipes/swinir.py
"""


def get_config():
    return {
        "model": "swinir",
        "data": "default",
        "patch_size": 128,
        "batch_size": 8,
        "epochs": 50,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "thesis",
        "optimizer": "adam",
        "learning_rate": 2e-4,
        "lr_schedule": "cosine",
        "loss": "charbonnier",
        "seed": 0,
        "out": "runs/swinir",
    }
