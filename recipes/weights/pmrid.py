"""The published `pmrid` weights: PMRID on the embedded data (7 real scans + 128 simulated surfaces) with the
full STM noise library, MSE, Adam 1e-3 with cosine decay, 64×64 patches, batch 16.

The published weights: this recipe as is (1,500 steps, 3.1 s per step on one core, 78 min), then
    stm-zoo fit recipes/weights/pmrid.py --set init_from=runs/weights/pmrid/model.keras --set epochs=12 \
        --set learning_rate=5e-4 --out runs/weights/pmrid-2
"""


def get_config():
    return {
        "model": "pmrid",
        "data": "default",
        "patch_size": 64,
        "batch_size": 16,
        "epochs": 30,
        "steps_per_epoch": 50,
        "validation_steps": 4,
        "noise": "stm",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "loss": "mse",
        "seed": 1,
        "out": "runs/weights/pmrid",
    }
