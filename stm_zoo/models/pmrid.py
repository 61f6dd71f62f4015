"""PMRID (Wang et al. 2020): the light mobile U-Net of depthwise-separable convolutions with additive skips.

Layout, following the authors' network (models/net_torch.py of MegEngine/PMRID):
  conv0 Conv3×3(16)+ReLU;
  four encoder stages (64, 128, 256, 512 ch; 2, 2, 4, 4 blocks), the first block of each with stride 2. An
  encoder block is SepConv5×5(C/4)+ReLU → SepConv5×5(C), plus a projection (SepConv3×3, same stride) when
  the shape changes, else the identity, then ReLU;
  bridge SepConv3×3(64)+ReLU;
  four decoder stages: decoder block (SepConv3×3+ReLU → SepConv3×3, + input) → ConvTranspose2×2 stride 2,
  added to SepConv3×3+ReLU of the encoder skip (additive skips, no concatenation);
  out: decoder block (16 ch) → Conv3×3(1); output = input + that (global residual).
"SepConv" = depthwise k×k (no bias) + pointwise 1×1 (bias) = Keras `SeparableConv2D`.

Adaptations: the paper denoises 4-channel packed Bayer raw in its k-sigma space; here conv0 takes 1 grayscale
channel and the last conv gives 1 channel (867 fewer parameters: 1,031,041 vs the original's 1,031,908,
"1.0 M"). Keras' "same" padding on stride-2 convs puts the odd pixel after rather than both sides as in
PyTorch — same shapes, half-pixel-shifted taps; irrelevant when training from scratch. The four stride-2
stages need H, W divisible by 16: the input is reflect-padded up to that and the output cropped back
(H, W > 8). Output clipped to [0, 1] by `ReLU(max_value=1)`.
"""

import keras
from keras import layers

from stm_zoo.models.layers import CropToMatch, PadToMultiple
from stm_zoo.models.registry import register

_DEPTH_MULTIPLE = 16  # four stride-2 stages


def _sep(filters, kernel, name, strides=1, relu=False):
    return layers.SeparableConv2D(
        filters, kernel, strides=strides, padding="same", activation="relu" if relu else None, name=name
    )


def _encoder_block(x, filters, strides, name):
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _sep(filters, 3, f"{name}_proj", strides=strides)(x)
    y = _sep(filters // 4, 5, f"{name}_conv1", strides=strides, relu=True)(x)
    y = _sep(filters, 5, f"{name}_conv2")(y)
    return layers.ReLU(name=f"{name}_relu")(layers.Add(name=f"{name}_add")([y, shortcut]))


def _decoder_block(x, filters, name):
    y = _sep(filters, 3, f"{name}_conv0", relu=True)(x)
    y = _sep(filters, 3, f"{name}_conv1")(y)
    return layers.Add(name=f"{name}_add")([y, x])


def _decoder_stage(x, skip, filters, name):
    x = _decoder_block(x, x.shape[-1], f"{name}_dec")
    x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"{name}_up")(x)
    skip = _sep(filters, 3, f"{name}_skip", relu=True)(skip)
    return layers.Add(name=f"{name}_add")([x, skip])


@register(
    "pmrid",
    description="PMRID: light U-Net of 5x5 depthwise-separable convs with additive skips (4-ch raw adapted to 1-ch)",
    source="Wang et al., 'Practical Deep Raw Image Denoising on Mobile Devices', ECCV 2020; "
    "https://github.com/MegEngine/PMRID",
)
def pmrid(input_shape=(None, None, 1)) -> keras.Model:
    noisy = keras.Input(shape=input_shape, name="noisy")
    padded = PadToMultiple(_DEPTH_MULTIPLE, name="pad")(noisy)

    conv0 = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv0")(padded)
    skips, x = [conv0], conv0
    for stage, (filters, blocks) in enumerate([(64, 2), (128, 2), (256, 4), (512, 4)], start=1):
        for b in range(blocks):
            x = _encoder_block(x, filters, 2 if b == 0 else 1, f"enc{stage}_b{b + 1}")
        skips.append(x)
    x = _sep(64, 3, "bridge", relu=True)(x)
    for stage, filters in enumerate([64, 32, 32, 16], start=1):
        x = _decoder_stage(x, skips[-1 - stage], filters, f"dec{stage}")
    x = _decoder_block(x, 16, "out0")
    residual = layers.Conv2D(1, 3, padding="same", name="out1")(x)

    denoised = layers.Add(name="global_residual")([padded, residual])
    denoised = CropToMatch(_DEPTH_MULTIPLE, name="crop")([denoised, noisy])
    clean = layers.ReLU(max_value=1.0, name="clean")(denoised)
    return keras.Model(noisy, clean, name="pmrid")
