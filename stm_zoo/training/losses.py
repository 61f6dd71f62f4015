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


@register("log_mse_fft")
def log_mse_fft(y_true, y_pred, floor: float = 1e-5):
    """10 · log10(`mse_fft` + `floor`) per image: a batch's mean is a negative PSNR, so each image counts by its
    relative error and a light-noise image, whose small absolute error MSE lets heavy draws outweigh, is kept as
    sharply as it came in (cf. NAFNet's PSNR loss). `floor` caps the gain at 50 dB."""
    return 10.0 * ops.log10(mse_fft(y_true, y_pred) + floor)


def _strongest_lattice_bins(amplitude, k: int, min_radius: float):
    """Flat indices of the `k` strongest bins of (B, 1, H, W) amplitudes at least `min_radius` bins from DC."""
    h, w = ops.shape(amplitude)[2], ops.shape(amplitude)[3]
    fy, fx = ops.arange(h), ops.arange(w)
    fy, fx = ops.minimum(fy, h - fy), ops.minimum(fx, w - fx)
    far = ops.reshape((fy[:, None] ** 2 + fx[None, :] ** 2) >= min_radius**2, (1, -1))
    flat = ops.reshape(amplitude, (ops.shape(amplitude)[0], -1))
    return ops.top_k(ops.where(far, flat, -1.0), k)[1]


@register("mse_fft_peaks")
def mse_fft_peaks(y_true, y_pred, weight: float = 0.01, k: int = 32, min_radius: float = 3.0):
    """`mse_fft` plus `weight` × the share of amplitude lost at the `k` strongest non-DC bins of the clean
    spectrum (Σ max(0, |T| − |P|) / Σ |T|): a lattice's Bragg peaks, which MSE alone lets a denoiser damp
    like noise (a Wiener shrink); excess amplitude is left to the L1 term."""
    true_amp, pred_amp = _fft_amplitude(y_true), _fft_amplitude(y_pred)
    index = _strongest_lattice_bins(ops.stop_gradient(true_amp), k, min_radius)
    t = ops.take_along_axis(ops.reshape(true_amp, (ops.shape(true_amp)[0], -1)), index, axis=1)
    p = ops.take_along_axis(ops.reshape(pred_amp, (ops.shape(pred_amp)[0], -1)), index, axis=1)
    lost = ops.sum(ops.relu(t - p), axis=1) / ops.maximum(ops.sum(t, axis=1), 1e-6)
    return mse_fft(y_true, y_pred) + weight * lost


@register("blindspot_mse")
def blindspot_mse(y_true, y_pred):
    """Self-supervised MSE over the blind-spot pixels only (Noise2Void / Noise2Self, see `stm_zoo.training.selfsup`):
    `y_true` packs the noisy target (channel 0) and the mask (channel 1, 1 = hidden from the input)."""
    target, mask = y_true[..., :1], y_true[..., 1:2]
    squared = ops.square(ops.cast(y_pred, target.dtype) - target) * mask
    return ops.sum(squared, axis=(1, 2, 3)) / ops.maximum(ops.sum(mask, axis=(1, 2, 3)), 1.0)
