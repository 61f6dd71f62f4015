"""DnCNN-S (Zhang et al. 2017) on STM stripes: residual learning with MSE, Adam, 40×40 patches, batch 128.

Paper: Adam, 50 epochs, lr 1e-3 decayed exponentially to 1e-4, batch 128, 40×40 patches (50×50 for the
blind DnCNN-B). The zoo's cosine schedule stands in for the exponential decay.
Data, stripe noise and augmentation: the zoo's defaults, the same for every model compared.

    stm-zoo fit recipes/dncnn.py
"""


def get_config():
    return {
        "model": "dncnn",
        "data": "default",
        "patch_size": 40,
        "batch_size": 128,
        "epochs": 50,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "thesis",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "loss": "mse",
        "seed": 0,
        "out": "runs/dncnn",
    }
