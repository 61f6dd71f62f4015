"""The published `autoencoder_thesis` weights: the thesis autoencoder on the embedded data (7 real scans + 128
simulated surfaces) with the full STM noise library, MSE, Adam 1e-3 with cosine decay, 128×128 patches,
batch 16. About 10 minutes on a 2-core CPU.

    stm-zoo fit recipes/weights/autoencoder_thesis.py
"""


def get_config():
    return {
        "model": "autoencoder_thesis",
        "data": "default",
        "patch_size": 128,
        "batch_size": 16,
        "epochs": 15,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "stm",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "loss": "mse",
        "seed": 1,
        "out": "runs/weights/autoencoder_thesis",
    }
