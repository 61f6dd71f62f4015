"""The published `dncnn` weights: DnCNN-S on the embedded data (7 real scans + 128 simulated surfaces) with
the full STM noise library, MSE, Adam 1e-3 with cosine decay, 64×64 patches, batch 16.

Sized for this 2-core CPU (~2.0 s per step): 750 steps, about 30 minutes. The published weights went on from
there in two more stages with `init_from` (see weights/README.md):
    stm-zoo fit recipes/weights/dncnn.py --set init_from=runs/weights/dncnn/model.keras --set epochs=10 \
        --set learning_rate=5e-4 --out runs/weights/dncnn2
    stm-zoo fit recipes/weights/dncnn.py --set init_from=runs/weights/dncnn2/model.keras --set epochs=20 \
        --set learning_rate=5e-4 --out runs/weights/dncnn3
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
