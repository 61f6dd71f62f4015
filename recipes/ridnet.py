"""RIDNet (Anwar & Barnes 2019) on STM stripes: L1 loss, Adam 1e-4, 80×80 patches, batch 32.

Paper: Adam (β1 0.9, β2 0.999), lr 1e-4 halved every 1e5 iterations, batch 32 of 80×80 patches, L1 loss.
The zoo's cosine schedule stands in for the step halving.
Data, stripe noise and augmentation: the zoo's defaults, the same for every model compared.

    stm-zoo fit recipes/ridnet.py
"""


def get_config():
    return {
        "model": "ridnet",
        "data": "default",
        "patch_size": 80,
        "batch_size": 32,
        "epochs": 50,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "thesis",
        "optimizer": "adam",
        "learning_rate": 1e-4,
        "lr_schedule": "cosine",
        "loss": "l1",
        "seed": 0,
        "out": "runs/ridnet",
    }
