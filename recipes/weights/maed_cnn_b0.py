"""The published `maed_cnn-b0` weights: MAED-CNN with the EfficientNet-B0 encoder (random init: ImageNet weights
cannot be downloaded here) on the embedded data (7 real scans + 128 simulated surfaces) with the full STM noise
library, MSE, Adam 1e-3 with cosine decay, 64×64 patches, batch 16. About 30 minutes on a 2-core CPU.
"""


def get_config():
    return {
        "model": "maed_cnn",
        "model_kwargs": {"backbone": "B0", "encoder_weights": None},
        "data": "default",
        "patch_size": 64,
        "batch_size": 16,
        "epochs": 12,
        "steps_per_epoch": 50,
        "validation_steps": 4,
        "noise": "stm",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "loss": "mse",
        "seed": 1,
        "out": "runs/weights/maed_cnn-b0",
    }
