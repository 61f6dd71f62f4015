"""Training losses by name (`loss` in a recipe). Each is `fn(y_true, y_pred) -> per-sample loss`, keras.ops only."""

from typing import Callable

import keras
from keras import ops

_LOSSES: dict[str, Callable] = {}


def register(name: str):
    def wrap(fn):
        _LOSSES[name] = fn
        return fn

    return wrap


def names() -> list[str]:
    return sorted(_LOSSES)


def get(name: str) -> Callable:
    try:
        return _LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(names())}") from None


@register("mse")
def mse(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true), axis=(1, 2, 3))


@register("l1")
def l1(y_true, y_pred):
    return ops.mean(ops.abs(y_pred - y_true), axis=(1, 2, 3))


@register("bce")
def bce(y_true, y_pred):
    return ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))


@register("charbonnier")
def charbonnier(y_true, y_pred, eps: float = 1e-3):
    return ops.mean(ops.sqrt(ops.square(y_pred - y_true) + eps**2), axis=(1, 2, 3))


def _fft_amplitude(images):
    """|FFT| of (B, H, W, 1) images, orthonormal (Parseval: its mean square is the image's)."""
    x = ops.transpose(ops.cast(images, "float32"), (0, 3, 1, 2))
    real, imag = ops.fft2((x, ops.zeros_like(x)))
    n = ops.cast(ops.shape(x)[2] * ops.shape(x)[3], "float32")
    return ops.sqrt(real * real + imag * imag + 1e-12) / ops.sqrt(n)


@register("mse_fft")
def mse_fft(y_true, y_pred, weight: float = 0.05):
    """MSE plus `weight` × mean |(|FFT(pred)| − |FFT(true)|)|: the L1 term on amplitudes is dominated by the
    few sharp lattice peaks, so losing (or inventing) a peak costs more than under MSE alone."""
    spectral = ops.mean(ops.abs(_fft_amplitude(y_pred) - _fft_amplitude(y_true)), axis=(1, 2, 3))
    return mse(y_true, y_pred) + weight * spectral


@register("blindspot_mse")
def blindspot_mse(y_true, y_pred):
    """Self-supervised MSE over the blind-spot pixels only (Noise2Void / Noise2Self, see `stm_zoo.selfsup`):
    `y_true` packs the noisy target (channel 0) and the mask (channel 1, 1 = hidden from the input)."""
    target, mask = y_true[..., :1], y_true[..., 1:2]
    squared = ops.square(ops.cast(y_pred, target.dtype) - target) * mask
    return ops.sum(squared, axis=(1, 2, 3)) / ops.maximum(ops.sum(mask, axis=(1, 2, 3)), 1.0)
