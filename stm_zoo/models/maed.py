"""MAED-CNN: multi-scale attention encoder-decoder CNN for atomic-scale (STM) image denoising.

Built from Fig. 4 of "MAED-CNN: a deep learning model for atomic-scale image denoising" (Chinese Journal of
Vacuum Science and Technology, 2025; no public code; we worked from its abstract and the description of
Fig. 4 in issue 4). What the figure fixes, and what we inferred:

(a) input → five parallel convolutions (kernels 1, 3, 5, 7, 9) → channel expansion → feature fusion →
    EfficientNet encoder (`keras.applications`, B7 in the paper) → U-Net decoder → output image.
    Inferred: each branch has `branch_filters`=8 filters, so the concatenation holds the paper's 40 multi-scale
    channels; the channel-expansion layer is a 1×1 convolution over that concatenation (40 → 40, mixing the
    scales); the fusion layer projects to the 3-channel stem of the encoder.
(b) the fusion layer applies Squeeze-and-Excitation to the 40 channels: global average pool → Dense(40/r, relu)
    → Dense(40, sigmoid) → mask multiplying the maps (r = `se_reduction`, 4; the paper gives no ratio).
(c) residual modules of depthwise-separable convolutions plus 1×1 convolutions: here two SeparableConv2D
    (depthwise 3×3 + pointwise 1×1) with BN/ReLU on the main path and a 1×1 convolution on the shortcut.
    Inferred: one module after each decoder upsampling (nearest ×2, as in common EfficientNet U-Nets, then
    concatenation with the skip; Keras' bilinear UpSampling2D fails on TensorFlow for unknown H×W).

Skips come from `block2a/3a/4a/6a_expand_activation` (strides 2, 4, 8, 16) and the stride-32 output
(`top_activation`); the last decoder stage (stride 1) concatenates the SE-weighted 40 multi-scale maps
(inferred: EfficientNet has no stride-1 feature map to skip from; we could not check what the paper uses).
The output is one channel through a sigmoid, in [0, 1].

Input scaling: the model takes a 1-channel image in [0, 1]. The fusion layer builds a 3-channel image in the
same [0, 1] scale — the input replicated to RGB plus a learned 1×1 projection of the SE-weighted multi-scale
features, zero-initialised so training starts from exactly the grayscale image — and a `Rescaling(255)`
turns it into the 0–255 range that EfficientNet's own `Rescaling(1/255)` + ImageNet `Normalization` expect.
Every `encoder_weights` choice gives the same set of weights (for "imagenet" keras.applications adds one
weightless rescaling to match the original normalisation), so checkpoints are interchangeable.

Any H×W ≥ 17: the image is reflect-padded to a multiple of 32 inside the model (`PadToMultiple`,
split evenly between both sides) and the output cropped back (`CropToMatch`).
"""

import os

import keras
from keras import layers

from stm_zoo.models.layers import CropToMatch, PadToMultiple
from stm_zoo.models.registry import register

BACKBONES = tuple(f"B{i}" for i in range(8))
# EfficientNet layers feeding the decoder, by stride: 2, 4, 8, 16, 32 (identical names in B0…B7).
SKIP_LAYERS = (
    "block2a_expand_activation",
    "block3a_expand_activation",
    "block4a_expand_activation",
    "block6a_expand_activation",
    "top_activation",
)
KERNEL_SIZES = (1, 3, 5, 7, 9)
STRIDE = 32  # total downsampling of the encoder


def squeeze_excite(x, reduction: int, name: str):
    """Squeeze-and-Excitation (Hu et al. 2018): per-channel mask from two dense layers multiplies the maps."""
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Dense(max(1, channels // reduction), activation="relu", name=f"{name}_reduce")(s)
    s = layers.Dense(channels, activation="sigmoid", name=f"{name}_mask")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def residual_module(x, filters: int, name: str):
    """Fig. 4(c): depthwise-separable convolutions on the main path, a 1×1 convolution on the shortcut."""
    shortcut = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_shortcut")(x)
    shortcut = layers.BatchNormalization(name=f"{name}_shortcut_bn")(shortcut)
    y = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_sep1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_sep2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def efficientnet_encoder(backbone: str = "B7", weights=None) -> keras.Model:
    """`keras.applications.EfficientNet{backbone}(include_top=False)` on a 3-channel 0–255 image of any size,
    returning the five skip feature maps (strides 2…32) named in `SKIP_LAYERS`.

    `weights`: None (random), "imagenet" (keras.applications downloads `efficientnet{b}_notop.h5` into its
    cache, ~/.keras/models, and checks its hash — put the official file there to work offline), or the path
    of a weights file of the bare encoder (`.weights.h5`, or a legacy `.h5`, e.g. saved with
    `keras.applications.EfficientNetB7(include_top=False, weights=None).save_weights(...)`).
    """
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {backbone!r}")
    if weights not in (None, "imagenet") and not os.path.isfile(weights):
        raise ValueError(f"{weights}: encoder weights file not found (use None, 'imagenet' or a file path)")
    app = getattr(keras.applications, f"EfficientNet{backbone}")
    net = app(include_top=False, weights=weights, input_shape=(None, None, 3))
    outputs = [net.get_layer(n).output for n in SKIP_LAYERS]
    return keras.Model(net.input, outputs, name=f"efficientnet{backbone.lower()}_encoder")


@register(
    "maed_cnn",
    description="MAED-CNN: 5 multi-scale convs + SE fusion → EfficientNet-B0…B7 encoder → residual U-Net decoder",
    source="MAED-CNN: a deep learning model for atomic-scale image denoising (CJVST 2025, Fig. 4); no public code",
)
def maed_cnn(
    backbone: str = "B7",
    encoder_weights=None,
    decoder_filters=(256, 128, 64, 32, 16),
    branch_filters: int = 8,
    se_reduction: int = 4,
    input_shape=(None, None, 1),
) -> keras.Model:
    """MAED-CNN on a 1-channel [0, 1] image of any H×W ≥ 17 (see the module docstring for the design).

    backbone: "B0"…"B7" (EfficientNet variant; the paper uses B7, B0 suits CPUs).
    encoder_weights: None, "imagenet" or a weights-file path for the encoder (see `efficientnet_encoder`).
    decoder_filters: filters of the five decoder stages, from stride 16 up to full resolution.
    """
    if len(decoder_filters) != len(SKIP_LAYERS):
        raise ValueError(f"decoder_filters needs {len(SKIP_LAYERS)} entries, got {list(decoder_filters)}")
    encoder = efficientnet_encoder(backbone, encoder_weights)

    inputs = keras.Input(shape=input_shape, name="noisy")
    x = PadToMultiple(STRIDE, name="pad_to_32")(inputs)

    # (a) five parallel convolutions of different kernel sizes, channel expansion.
    branches = []
    for k in KERNEL_SIZES:
        b = layers.Conv2D(branch_filters, k, padding="same", use_bias=False, name=f"ms_conv{k}x{k}")(x)
        b = layers.BatchNormalization(name=f"ms_bn{k}x{k}")(b)
        branches.append(layers.Activation("relu", name=f"ms_relu{k}x{k}")(b))
    multi = layers.Concatenate(name="ms_concat")(branches)
    multi = layers.Conv2D(multi.shape[-1], 1, name="channel_expansion")(multi)
    multi = layers.Activation("relu", name="channel_expansion_relu")(multi)

    # (b) feature fusion with SE attention, projected onto the encoder's 3-channel 0–255 stem.
    multi = squeeze_excite(multi, se_reduction, name="fusion_se")
    gray_rgb = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    correction = layers.Conv2D(3, 1, kernel_initializer="zeros", name="fusion_project")(multi)
    rgb = layers.Add(name="fusion")([gray_rgb, correction])
    rgb = layers.Rescaling(255.0, name="to_0_255")(rgb)

    skips = encoder(rgb)
    y = skips[-1]  # stride 32
    for i, filters in enumerate(decoder_filters):
        y = layers.UpSampling2D(2, interpolation="nearest", name=f"dec{i + 1}_up")(y)
        skip = skips[-2 - i] if i < len(skips) - 1 else multi  # strides 16, 8, 4, 2, then full resolution
        y = layers.Concatenate(name=f"dec{i + 1}_concat")([y, skip])
        y = residual_module(y, filters, name=f"dec{i + 1}_res")
    y = layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="clean_padded")(y)
    outputs = CropToMatch(STRIDE, name="clean")([y, inputs])
    return keras.Model(inputs, outputs, name=f"maed_cnn_{backbone.lower()}")
