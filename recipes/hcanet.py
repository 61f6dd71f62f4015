"""HCANet (Hu et al. 2024) on STM stripes, 1-channel adaptation: L1 loss, Adam, 64×64 patches, batch 8.

Paper: L1 loss plus a global gradient regulariser (not in the zoo's losses, left out); the official training
code lives in github.com/summitgao/MAFNet. Learning rate and schedule here are ours (Adam 1e-4, cosine), as is
the CPU-sized patch/batch: HCANet keeps 96 channels at full resolution and is the slowest model in the zoo.
Data, stripe noise and augmentation: the zoo's defaults, the same for every model compared.

    stm-zoo fit recipes/hcanet.py
"""


def get_config():
    return {
        "model": "hcanet",
        "data": "default",
        "patch_size": 64,
        "batch_size": 8,
        "epochs": 50,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "thesis",
        "optimizer": "adam",
        "learning_rate": 1e-4,
        "lr_schedule": "cosine",
        "loss": "l1",
        "seed": 0,
        "out": "runs/hcanet",
    }
