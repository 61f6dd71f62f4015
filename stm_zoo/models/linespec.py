"""LineSpec: stm-zoo's own scan-line- and lattice-aware denoiser (issue 17).

Every other zoo model is local, while the two things that define an STM image are global: each scan line's
offset, and the periodic lattice that spans the scan. LineSpec adds one branch for each to a small U-Net:

1. **Row branch** (line offsets): local features → attention pooling along each whole scan line (a learned
   softmax over the row's pixels, so steps, scars and molecules can be given no weight) → dilated 1-D
   convolutions across rows → one offset per line, subtracted from the input. Each output row sees its whole
   line, at any width. Optional (`line_steps=True`, an ablation: it did not help, weights/README.md), a learned
   median-of-differences beside it, as Gwyddion's row alignment: each pixel's difference to the pixel above,
   attention-pooled along the line into one step per line, summed down the scan and added to the offsets.
2. **Spectral branch** (lattices): a learned Wiener-like gate in the 2-D Fourier domain. For every frequency
   it sees how far the log-amplitude stands above its local spectral background (two window sizes) and the
   frequency's radius, and passes or damps that frequency; the inverse FFT is the periodic part of the image
   (Bragg and superlattice peaks stand far above the noise floor even when each atom is buried in noise).
3. **U-Net** (three levels, 24-48-96 channels, no normalization) on [line-corrected input, periodic part,
   raw input]; its last convolution starts at zero, so training starts from the line-corrected input.
   Output = line-corrected input + U-Net correction, clipped to [0, 1].

The row and spectral layers are registered `stm_zoo` layers (no built-in layer pools along one axis of an
unknown width or takes an FFT); everything else is built-in. Any H×W; 1 channel in and out.
"""

import keras
import numpy as np
from keras import layers, ops

from stm_zoo.models.layers import CropToMatch, PadToMultiple
from stm_zoo.models.registry import register


@keras.saving.register_keras_serializable(package="stm_zoo")
class RowAttentionPool(layers.Layer):
    """`RowAttentionPool()([values, scores])`: per scan line, the softmax(scores)-weighted mean of `values`
    over the line's pixels: (B, H, W, C), (B, H, W, 1) → (B, H, 1, C)."""

    whole_image = True  # denoise in tiles as large as memory allows (stm_zoo.inference.default_tile)

    def call(self, inputs):
        values, scores = inputs
        weights = ops.softmax(ops.cast(scores, "float32"), axis=2)
        return ops.sum(ops.cast(values, "float32") * weights, axis=2, keepdims=True)

    def compute_output_shape(self, input_shapes):
        b, h, _, c = input_shapes[0]
        return (b, h, 1, c)


@keras.saving.register_keras_serializable(package="stm_zoo")
class SubtractRows(layers.Layer):
    """`SubtractRows()([image, offsets])`: image (B, H, W, C) minus one offset per line (B, H, 1, C)."""

    def call(self, inputs):
        image, offsets = inputs
        return image - ops.cast(offsets, image.dtype)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


@keras.saving.register_keras_serializable(package="stm_zoo")
class RowProfile(layers.Layer):
    """`RowProfile()(steps)`: steps from each line to the next (B, H, 1, C) → the profile they add up to down the
    scan, shifted to zero mean over the lines (the level itself is the offset head's)."""

    whole_image = True  # denoise in tiles as large as memory allows (stm_zoo.inference.default_tile)

    def call(self, steps):
        profile = ops.cumsum(ops.cast(steps, "float32"), axis=1)
        return profile - ops.mean(profile, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return input_shape


def _circular_box_mean(a, size: int, axes=(2, 3)):
    """Mean over a `size` × `size` window with periodic wrap (the spectrum is periodic)."""
    for axis in axes:
        total = a
        for shift in range(1, size // 2 + 1):
            total = total + ops.roll(a, shift, axis=axis) + ops.roll(a, -shift, axis=axis)
        a = total / size
    return a


@keras.saving.register_keras_serializable(package="stm_zoo")
class SpectralGate(layers.Layer):
    """The periodic part of a (B, H, W, 1) image: its 2-D FFT times a learned gain per frequency, transformed
    back. The gain is a small per-frequency MLP of the log-amplitude's prominence over its circular local mean
    (windows `windows`) and of the frequency's radius, so it keeps sharp peaks (lattices) and damps the noise
    floor, wherever the peaks are."""

    whole_image = True  # denoise in tiles as large as memory allows (stm_zoo.inference.default_tile)

    def __init__(self, windows=(5, 17), hidden: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.windows = tuple(int(w) for w in windows)
        self.hidden = int(hidden)

    def build(self, input_shape):
        n_features = len(self.windows) + 2
        self.w1 = self.add_weight(shape=(n_features, self.hidden), initializer="glorot_uniform", name="w1")
        self.b1 = self.add_weight(shape=(self.hidden,), initializer="zeros", name="b1")
        self.w2 = self.add_weight(shape=(self.hidden, 1), initializer="glorot_uniform", name="w2")
        self.b2 = self.add_weight(shape=(1,), initializer=keras.initializers.Constant(-2.0), name="b2")

    def call(self, x):
        x = ops.cast(x, "float32")
        image = ops.transpose(x, (0, 3, 1, 2))  # (B, 1, H, W)
        h, w = ops.shape(image)[2], ops.shape(image)[3]
        image = image - ops.mean(image, axis=(2, 3), keepdims=True)
        real, imag = ops.fft2((image, ops.zeros_like(image)))
        scale = ops.sqrt(ops.cast(h * w, "float32"))
        log_amp = 0.5 * ops.log(real * real + imag * imag + 1e-8 * scale * scale) - ops.log(scale)
        features = [log_amp - _circular_box_mean(log_amp, k) for k in self.windows]
        features.append(log_amp - ops.mean(log_amp, axis=(2, 3), keepdims=True))
        fy = ops.cast(ops.arange(h), "float32") / ops.cast(h, "float32")
        fx = ops.cast(ops.arange(w), "float32") / ops.cast(w, "float32")
        fy, fx = ops.minimum(fy, 1.0 - fy), ops.minimum(fx, 1.0 - fx)  # unshifted FFT: distance to DC
        radius = ops.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) * 2.0  # 1 at the Nyquist edge
        features.append(ops.broadcast_to(radius[None, None], ops.shape(log_amp)))
        f = ops.stack(features, axis=-1)  # (B, 1, H, W, F)
        gain = ops.sigmoid(ops.matmul(ops.relu(ops.matmul(f, self.w1) + self.b1), self.w2) + self.b2)[..., 0]
        periodic, _ = ops.ifft2((real * gain, imag * gain))
        return ops.transpose(periodic, (0, 2, 3, 1))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "windows": list(self.windows), "hidden": self.hidden}


def _conv(x, filters, name, kernel=3, strides=1, activation="relu"):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation=activation, name=name)(x)


def _row_offsets(noisy, features: int, name: str):
    """One offset per scan line from the whole line: (B, H, W, 1) → (B, H, 1, 1)."""
    f = _conv(noisy, features, f"{name}_c1")
    f = _conv(f, features, f"{name}_c2")
    scores = _conv(f, 1, f"{name}_score", kernel=1, activation=None)
    values = layers.Concatenate(name=f"{name}_values")([f, noisy])
    pooled = RowAttentionPool(name=f"{name}_pool")([values, scores])  # (B, H, 1, features + 1)
    r = pooled
    for i, dilation in enumerate((1, 2, 4, 8)):
        r = layers.Conv2D(2 * features, (5, 1), dilation_rate=(dilation, 1), padding="same", activation="relu",
                          name=f"{name}_rows{i + 1}")(r)
    return layers.Conv2D(1, (5, 1), padding="same", kernel_initializer="zeros", name=f"{name}_offset")(r)


def _line_steps(noisy, features: int, name: str):
    """Per-line offsets from the steps between neighbouring lines: (B, H, W, 1) → (B, H, 1, 1), zero mean."""
    above = layers.Conv2D(1, (2, 1), use_bias=False, trainable=False, name=f"{name}_diff")  # z[y] − z[y − 1]
    diff = layers.ZeroPadding2D(((1, 0), (0, 0)), name=f"{name}_diff_pad")(above(noisy))
    above.set_weights([np.array([-1.0, 1.0], np.float32).reshape(2, 1, 1, 1)])
    f = _conv(layers.Concatenate(name=f"{name}_in")([diff, noisy]), features, f"{name}_c1")
    scores = _conv(f, 1, f"{name}_score", kernel=1, activation=None)
    values = layers.Concatenate(name=f"{name}_values")([diff, f])
    pooled = RowAttentionPool(name=f"{name}_pool")([values, scores])  # (B, H, 1, features + 1)
    r = layers.Conv2D(2 * features, (3, 1), padding="same", activation="relu", name=f"{name}_rows")(pooled)
    r = layers.Concatenate(name=f"{name}_rows_in")([pooled, r])
    steps = layers.Conv2D(1, (1, 1), kernel_initializer="zeros", name=f"{name}_step")(r)
    return RowProfile(name=f"{name}_profile")(steps)


@register(
    "linespec",
    description="stm-zoo's LineSpec: whole-line offset head + learned Fourier-domain lattice gate + small U-Net",
    source="stm-zoo (issue 17): row attention pooling, spectral gating (cf. FFT filtering, Wiener), U-Net",
)
def linespec(filters: int = 24, row_features: int = 16, row_branch: bool = True, spectral_branch: bool = True,
             line_steps: bool = False, input_shape=(None, None, 1)) -> keras.Model:
    """`row_branch` / `spectral_branch` = False drop a branch, `line_steps=True` adds one (the ablations of
    issue 17)."""
    noisy = keras.Input(shape=input_shape, name="noisy")
    corrected = noisy
    if row_branch:
        offsets = _row_offsets(noisy, row_features, "line")
        if line_steps:
            offsets = layers.Add(name="line_offsets")([offsets, _line_steps(noisy, row_features // 2, "step")])
        corrected = SubtractRows(name="line_corrected")([noisy, offsets])
    inputs = [corrected, noisy]
    if spectral_branch:
        inputs.insert(1, SpectralGate(name="lattice")(corrected))
    x = layers.Concatenate(name="unet_in")(inputs)
    x = PadToMultiple(4, name="pad")(x)
    e0 = _conv(_conv(x, filters, "e0_c1"), filters, "e0_c2")
    e1 = _conv(e0, 2 * filters, "e1_down", strides=2)
    e1 = _conv(_conv(e1, 2 * filters, "e1_c1"), 2 * filters, "e1_c2")
    e2 = _conv(e1, 4 * filters, "e2_down", strides=2)
    e2 = _conv(_conv(e2, 4 * filters, "e2_c1"), 4 * filters, "e2_c2")
    d1 = _conv(layers.UpSampling2D(2, name="d1_up")(e2), 2 * filters, "d1_upconv")
    d1 = layers.Concatenate(name="d1_skip")([d1, e1])
    d1 = _conv(_conv(d1, 2 * filters, "d1_c1"), 2 * filters, "d1_c2")
    d0 = _conv(layers.UpSampling2D(2, name="d0_up")(d1), filters, "d0_upconv")
    d0 = layers.Concatenate(name="d0_skip")([d0, e0])
    d0 = _conv(_conv(d0, filters, "d0_c1"), filters, "d0_c2")
    correction = layers.Conv2D(1, 3, padding="same", kernel_initializer="zeros", name="correction")(d0)
    correction = CropToMatch(4, name="crop")([correction, noisy])
    denoised = layers.Add(name="residual")([corrected, correction])
    clean = layers.ReLU(max_value=1.0, name="clean")(denoised)
    return keras.Model(noisy, clean, name="linespec")
