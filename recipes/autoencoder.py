"""The thesis' STM autoencoder: stripe bands + Gaussian noise on the embedded clean scans, MSE, Adam.

    stm-zoo fit recipes/autoencoder.py
"""


def get_config():
    return {
        "model": "autoencoder_thesis",
        "data": "default",
        "patch_size": 128,
        "batch_size": 8,
        "epochs": 10,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "thesis",
        "augment": {"rotation_deg": 10.0, "flip": True, "invert": True},
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "constant",
        "loss": "mse",
        "seed": 0,
        "out": "runs/autoencoder",
    }
