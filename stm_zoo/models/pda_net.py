"""PDA-Net: Xie, Ko, Zhang, Yao 2025, "Physics-augmented Deep Learning with Adversarial Domain Adaptation:
Applications to STM Image Denoising" (arXiv:2409.05118).

No code is public. What the paper states (abstract and method overview): a physics model generates simulated
STM images as ground truth; the network is GAN-based, with a cycle-consistency module and a domain adversarial
module to transfer between the simulated and the real experimental domain; feature alignment and weight
sharing between the two domains. What we inferred and built (the layer sizes are ours, not the paper's):
- Generator (`pda_net`, what inference uses): one U-Net denoiser whose weights are shared by both domains
  (it denoises simulated-noisy and real-noisy scans alike). `levels` resolution levels, two 3x3 conv +
  LeakyReLU(0.2) per level, max-pool down, 2x2 transposed conv up, concatenated skips, 1x1 conv predicting a
  correction added to the input (residual learning). No normalisation layers, so batch statistics never mix
  the two domains. Input reflect-padded to a multiple of 2**(levels-1), output cropped back.
- Discriminator (`pda_net_discriminator`, training only, not registered: its output is a patch map): a
  PatchGAN (Isola et al. 2017) with instance normalisation, as in CycleGAN which the paper builds on. It
  judges physics-simulated clean images (real) against the generator's denoised real scans (fake), i.e. the
  domain-adversarial term aligns the generator's outputs on experimental scans with the simulated domain.
- The cycle-consistency module (a clean->noisy generator) is replaced by the zoo's noise simulator, which
  already gives paired simulated clean/noisy images; training uses a supervised loss on those pairs plus the
  adversarial loss (see `stm_zoo.training.adversarial.fit_adversarial`). Feature-level alignment beyond the outputs is
  not reproduced.
"""

import keras
from keras import layers

from stm_zoo.models.layers import CropToMatch, PadToMultiple
from stm_zoo.models.registry import register








def _double_conv(x, filters, name):
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"{name}_act{i}")(x)
    return x


@register(
    "pda_net",
    description="PDA-Net generator: U-Net denoiser (32-64-128-256 filters, residual output) trained "
    "adversarially on simulated pairs + unpaired real scans (trainer 'adversarial'); architecture inferred",
    source="Xie, Ko, Zhang, Yao 2025, Physics-augmented Deep Learning with Adversarial Domain Adaptation: "
    "Applications to STM Image Denoising (arXiv:2409.05118); no public code",
)
def pda_net(filters: int = 32, levels: int = 4, input_shape=(None, None, 1)) -> keras.Model:
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    inputs = keras.Input(shape=input_shape, name="noisy")
    padded = PadToMultiple(2 ** (levels - 1), name="pad")(inputs)
    x, skips = padded, []
    for level in range(levels - 1):
        x = _double_conv(x, filters * 2**level, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    x = _double_conv(x, filters * 2 ** (levels - 1), "bottleneck")
    for level in reversed(range(levels - 1)):
        x = layers.Conv2DTranspose(filters * 2**level, 2, strides=2, name=f"dec{level}_up")(x)
        x = layers.Concatenate(name=f"dec{level}_skip")([x, skips[level]])
        x = _double_conv(x, filters * 2**level, f"dec{level}")
    x = layers.Conv2D(input_shape[-1], 1, name="correction")(x)
    x = layers.Add(name="residual")([padded, x])
    outputs = CropToMatch(2 ** (levels - 1), name="clean")([x, inputs])
    return keras.Model(inputs, outputs, name="pda_net")


def pda_net_discriminator(filters: int = 64, n_layers: int = 3, input_shape=(None, None, 1)) -> keras.Model:
    """PatchGAN discriminator: 4x4 convs, `n_layers` of them stride 2, instance norm, LeakyReLU(0.2).

    Returns one raw score (logit; least-squares GAN target 1 = real) per overlapping patch:
    (B, H / 2**n_layers, W / 2**n_layers, 1) for H, W multiples of 2**n_layers.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(filters, 4, strides=2, padding="same", name="conv0")(inputs)
    x = layers.LeakyReLU(0.2, name="act0")(x)
    for i in range(1, n_layers + 1):
        stride = 2 if i < n_layers else 1
        x = layers.Conv2D(filters * min(2**i, 8), 4, strides=stride, padding="same", name=f"conv{i}")(x)
        x = layers.GroupNormalization(groups=-1, epsilon=1e-5, name=f"norm{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"act{i}")(x)
    outputs = layers.Conv2D(1, 4, padding="same", name="patch_score")(x)
    return keras.Model(inputs, outputs, name="pda_net_discriminator")
