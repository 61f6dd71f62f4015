"""MAED-CNN (EfficientNet-B7 encoder, as in the paper) on STM stripes + noise: MSE, Adam.

The paper (CJVST 2025) reports PSNR/SSIM/UQI against manually repaired references but, in what we could
read, states no loss, optimizer settings or patch size: MSE (the loss PSNR measures) and Adam are our
inference, lr 1e-4 the usual rate for an EfficientNet U-Net, 256×256 patches (a multiple of the encoder's
stride 32).

On a CPU use the small backbone:  stm-zoo fit recipes/maed.py --set model_kwargs.backbone=B0
(or `--set model_kwargs="{'backbone': 'B0'}"`). Start from ImageNet weights when online (or with the
official `efficientnetb7_notop.h5` in ~/.keras/models):  --set model_kwargs.encoder_weights=imagenet
"""


def get_config():
    return {
        "model": "maed_cnn",
        "model_kwargs": {"backbone": "B7", "encoder_weights": None},
        "data": "default",
        "patch_size": 256,
        "batch_size": 8,
        "epochs": 50,
        "steps_per_epoch": 100,
        "validation_steps": 4,
        "noise": "thesis",
        "augment": {"rotation_deg": 0.0, "flip": True, "invert": True},
        "optimizer": "adam",
        "learning_rate": 1e-4,
        "lr_schedule": "cosine",
        "loss": "mse",
        "seed": 0,
        "out": "runs/maed",
    }
