"""The `ridnet` weights recipe: RIDNet on the embedded data (7 real scans + 128 simulated surfaces) with the full
STM noise library, MSE, Adam 5e-4 with cosine decay, 64×64 patches, batch 16 (5.0 s per step on a 2-core CPU:
the published 1,000 steps took 1 h 52 min on one core at 6.7 s per step). Further stages: `--set init_from=…/model.keras`.

    stm-zoo fit recipes/weights/ridnet.py
"""


def get_config():
    return {
        "model": "ridnet",
        "data": "default",
        "patch_size": 64,
        "batch_size": 16,
        "epochs": 20,
        "steps_per_epoch": 50,
        "validation_steps": 4,
        "noise": "stm",
        "optimizer": "adam",
        "learning_rate": 5e-4,
        "lr_schedule": "cosine",
        "loss": "mse",
        "seed": 1,
        "out": "runs/weights/ridnet",
    }
