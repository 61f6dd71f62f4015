"""Fine-tune a trained model on one user's folder of noisy scans, self-supervised (no clean images):
the selfsup recipe started from `init_from`, with fewer steps and a lower learning rate.

    stm-zoo fit recipes/finetune.py --set init_from=runs/autoencoder/model.keras --set data=DIR

`init_from` is a `.keras` file or a pretrained zoo name; `model` and `model_kwargs` must be the architecture it
was trained as (e.g. add `--set model=dncnn`). A few minutes on a laptop CPU for autoencoder_thesis.
"""


def get_config():
    return {
        "model": "autoencoder_thesis",
        "init_from": "",  # set it: without it this is plain self-supervised training from scratch
        "trainer": "selfsup",
        "loss": "blindspot_mse",
        "blindspot": {"count": 4, "rows": 1, "length": 1.0},
        "data": "synthetic",  # set it to the folder of scans to adapt to
        "noise": "stm",  # added to clean sources only; a folder of scans is used as it is
        "patch_size": 64,
        "batch_size": 16,
        "epochs": 4,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "augment": {"rotation_deg": 0.0, "flip": True, "invert": True},
        "optimizer": "adam",
        "learning_rate": 2e-4,
        "lr_schedule": "constant",
        "seed": 0,
        "out": "runs/finetune",
    }
