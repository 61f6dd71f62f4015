"""The published `maed_cnn-b0` weights: MAED-CNN with the EfficientNet-B0 encoder (random init: ImageNet weights
cannot be downloaded here) on the embedded data (7 real scans + 128 simulated surfaces) with the full STM noise
library, MSE, Adam 1e-3 with cosine decay, 64×64 patches, batch 16. About 30 minutes on a 2-core CPU.

The published weights are three stages, each from the last (weights/README.md): this recipe with
`--set epochs=20`, then `--set init_from=… --set epochs=24 --set learning_rate=5e-4`
(= weights/in_training/maed_cnn-b0-2200steps.keras), then at 128² with frozen BatchNorm:
    stm-zoo fit recipes/weights/maed_cnn-b0.py --set init_from=weights/in_training/maed_cnn-b0-2200steps.keras \
        --set patch_size=128 --set batch_size=8 --set learning_rate=1e-4 --set epochs=16 --set seed=3 \
        --set freeze_batchnorm=True --out runs/weights/maed-frozen
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
