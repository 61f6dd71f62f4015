"""The published `dncnn` weights: DnCNN-S on the embedded data (7 real scans + 128 simulated surfaces) with
the full STM noise library, MSE, Adam 1e-3 with cosine decay, 64×64 patches, batch 16.

Sized for this 2-core CPU (~2.4 s per step): 750 steps, about 30 minutes.
"""


def get_config():
    return {
        "model": "dncnn",
        "data": "default",
        "patch_size": 64,
        "batch_size": 16,
        "epochs": 15,
        "steps_per_epoch": 50,
        "validation_steps": 4,
        "noise": "stm",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "loss": "mse",
        "seed": 1,
        "out": "runs/weights/dncnn",
    }
