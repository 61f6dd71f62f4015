"""RIDNet (Anwar & Barnes 2019): feature-attention blocks with residual-on-residual connections.

Layout, following the authors' code: head Conv(64)+ReLU; four enhancement-attention modules (EAM), each
  1. merge-and-run: two branches of dilated 3×3 convs (dilations 1→2 and 3→4, ReLU after each), concatenated,
     fused by Conv(64)+ReLU, plus the block input (short skip);
  2. residual block: Conv+ReLU+Conv, + input, ReLU;
  3. enhanced residual block: Conv+ReLU+Conv+ReLU+Conv1×1, + input, ReLU;
  4. channel attention: global average pool → 1×1 conv to 64/16 ch + ReLU → 1×1 conv to 64 ch + sigmoid,
     multiplying the features;
tail Conv(1); output = input + tail (global residual), clipped to [0, 1] by `ReLU(max_value=1)`.

Grayscale: 1 channel in and out. The authors' RGB mean shift (a fixed 1×1 conv subtracting the DIV2K mean
before the head and adding it after the tail) is left out: for one channel it is a constant offset that the
head and tail biases absorb. Parameters: 1,497,041 (the RGB original: 1,499,347, "1.5 M" in the paper).
"""

import keras
from keras import layers

from stm_zoo.models.registry import register


def _conv(filters, name, kernel=3, dilation=1, activation="relu"):
    return layers.Conv2D(filters, kernel, padding="same", dilation_rate=dilation, activation=activation, name=name)


def _merge_and_run(x, filters, name):
    a = _conv(filters, f"{name}_b1c1", dilation=1)(x)
    a = _conv(filters, f"{name}_b1c2", dilation=2)(a)
    b = _conv(filters, f"{name}_b2c1", dilation=3)(x)
    b = _conv(filters, f"{name}_b2c2", dilation=4)(b)
    merged = layers.Concatenate(name=f"{name}_concat")([a, b])
    merged = _conv(filters, f"{name}_fuse")(merged)
    return layers.Add(name=f"{name}_skip")([merged, x])


def _residual(x, filters, name):
    y = _conv(filters, f"{name}_c1")(x)
    y = _conv(filters, f"{name}_c2", activation=None)(y)
    return layers.ReLU(name=f"{name}_relu")(layers.Add(name=f"{name}_skip")([y, x]))


def _enhanced_residual(x, filters, name):
    y = _conv(filters, f"{name}_c1")(x)
    y = _conv(filters, f"{name}_c2")(y)
    y = _conv(filters, f"{name}_c3", kernel=1, activation=None)(y)
    return layers.ReLU(name=f"{name}_relu")(layers.Add(name=f"{name}_skip")([y, x]))


def _channel_attention(x, filters, reduction, name):
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    s = _conv(filters // reduction, f"{name}_down", kernel=1)(s)
    s = _conv(filters, f"{name}_up", kernel=1, activation="sigmoid")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


@register(
    "ridnet",
    description="RIDNet: 4 feature-attention modules (dilated merge-and-run, residual, enhanced residual, "
    "channel attention) with a global residual",
    source="Anwar & Barnes, 'Real Image Denoising with Feature Attention', ICCV 2019; "
    "https://github.com/saeed-anwar/RIDNet",
)
def ridnet(blocks: int = 4, filters: int = 64, reduction: int = 16, input_shape=(None, None, 1)) -> keras.Model:
    noisy = keras.Input(shape=input_shape, name="noisy")
    x = _conv(filters, "head")(noisy)
    for i in range(1, blocks + 1):
        name = f"eam{i}"
        x = _merge_and_run(x, filters, f"{name}_mr")
        x = _residual(x, filters, f"{name}_rb")
        x = _enhanced_residual(x, filters, f"{name}_erb")
        x = _channel_attention(x, filters, reduction, f"{name}_ca")
    residual = _conv(1, "tail", activation=None)(x)
    denoised = layers.Add(name="global_residual")([noisy, residual])
    clean = layers.ReLU(max_value=1.0, name="clean")(denoised)
    return keras.Model(noisy, clean, name="ridnet")
