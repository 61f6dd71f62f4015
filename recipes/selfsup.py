"""Self-supervised training on noisy scans alone (no clean images): blind-spot masks along the scan lines,
loss on the hidden pixels only (Noise2Void / Noise2Self / structN2V adapted to STM, see
`stm_zoo.training.selfsup`).

`stm-zoo fit recipes/selfsup.py --set data=DIR` trains on the scans in DIR as they are. Out of the box it
trains on the simulator with the "stm" noise added (the clean images are never shown to the model).
No rotation: it would tilt the scan lines. autoencoder_thesis because its bottleneck cannot copy the input:
models with a global skip (dncnn) pass the visible noise through after blind-spot training.
"""


def get_config():
    return {
        "model": "autoencoder_thesis",
        "trainer": "selfsup",
        "loss": "blindspot_mse",
        "blindspot": {"count": 4, "rows": 1, "length": 1.0},
        "data": "synthetic",
        "noise": "stm",  # added to clean sources only; a folder of scans is used as it is
        "patch_size": 64,
        "batch_size": 16,
        "epochs": 10,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "augment": {"rotation_deg": 0.0, "flip": True, "invert": True},
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "seed": 0,
        "out": "runs/selfsup",
    }
