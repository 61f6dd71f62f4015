"""DnCNN (Zhang et al. 2017): a plain 17-layer CNN with batch normalisation that predicts the noise.

Layout (DnCNN-S, grayscale): Conv(64)+ReLU, 15 × [Conv(64, no bias)+BN+ReLU], Conv(1, no bias) = noise
estimate; output = input − noise (residual learning), clipped to [0, 1] by `ReLU(max_value=1)` (the paper's
network has no output activation; the clip only keeps the zoo's [0, 1] contract and passes gradients inside
that range). Built-in layers only, so a saved model loads with plain Keras.

As in the authors' Keras code (cszn/DnCNN TrainingCodes/dncnn_keras): orthogonal initialisation, bias on
the first conv only, BN epsilon 1e-4 with a small momentum (they advise ≤ 0.9; we use 0.9). One change: the
noise layer starts at zero, so training starts from the identity (output = input) instead of from a random
noise estimate that the [0, 1] clip partly cuts off from the gradient. Parameters at the
defaults: 558,016 in Keras' count = 556,096 trainable + 1,920 BN moving statistics. The paper text gives no
exact count; "0.56 M" is the usual quote.
"""

import keras
from keras import layers

from stm_zoo.models.registry import register


@register(
    "dncnn",
    description="DnCNN-S: 17 conv layers (64 ch, BN, ReLU) predicting the noise; output = input - noise",
    source="Zhang et al., 'Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising', "
    "IEEE TIP 2017; https://github.com/cszn/DnCNN",
)
def dncnn(depth: int = 17, filters: int = 64, input_shape=(None, None, 1)) -> keras.Model:
    """`depth` counts conv layers: 17 for DnCNN-S (known noise level), 20 for the blind DnCNN-B."""
    if depth < 3:
        raise ValueError(f"dncnn: depth must be >= 3, got {depth}")
    noisy = keras.Input(shape=input_shape, name="noisy")
    x = layers.Conv2D(filters, 3, padding="same", kernel_initializer="orthogonal", name="conv1")(noisy)
    x = layers.ReLU(name="relu1")(x)
    for i in range(2, depth):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="orthogonal", name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, epsilon=1e-4, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    noise = layers.Conv2D(1, 3, padding="same", use_bias=False, kernel_initializer="zeros", name="noise")(x)
    denoised = layers.Subtract(name="residual")([noisy, noise])
    clean = layers.ReLU(max_value=1.0, name="clean")(denoised)
    return keras.Model(noisy, clean, name="dncnn")
