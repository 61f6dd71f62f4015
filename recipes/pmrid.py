"""PMRID (Wang et al. 2020) on STM stripes: L1 loss, Adam 1e-3, 128×128 patches.

Authors' training script: Adam, lr 1e-3 under a decaying triangular (cyclic) schedule, L1 loss in the
k-sigma-normalised space; the paper's raw patches are packed 4-channel Bayer. Here: 1-channel 128×128
patches, plain L1 on [0, 1] intensities, cosine decay instead of the cyclic schedule, batch 16.
Data, stripe noise and augmentation: the zoo's defaults, the same for every model compared.

    stm-zoo fit recipes/pmrid.py
"""


def get_config():
    return {
        "model": "pmrid",
        "data": "default",
        "patch_size": 128,
        "batch_size": 16,
        "epochs": 50,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "thesis",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "loss": "l1",
        "seed": 0,
        "out": "runs/pmrid",
    }
