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
   Output = line-corrected input + U-Net correction, clipped to [0, 1]. With `noise_level`, three of its
   convolutions get a per-channel bias from the whole scan's white-noise level (`NoiseLevel`). With
   `spectral_blend`, a learned per-frequency gain then moves the result towards the line-corrected input where the
   input stands far above its noise and the network changed it by far more (`SpectralBlend`: a 3 px lattice the
   U-Net damped or shifted in an almost clean scan).
4. **Output stage** (`lattice_restore`, `dejitter`; no weights, so it can end any trained LineSpec):
   `LatticeRestore` gives a lattice peak of the input that the network kept but damped (to ≥ `min_kept` of it)
   back its Wiener-estimated amplitude, and `LineJitterFilter` removes the line-to-line jitter the row branch
   left (median-of-differences offsets minus their slow part, so real topography is not levelled away, and minus
   their periodic part, so atom rows along the lines stay; with `line_jumps`, whole-line jumps far outside the
   scan's usual line steps are removed whole).

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


@keras.saving.register_keras_serializable(package="stm_zoo")
class LineJitterFilter(layers.Layer):
    """`LineJitterFilter(sigma, jump)(image)`: removes the line-to-line jitter left in an image, keeping its slow
    line-offset profile. The offsets are Gwyddion's median-of-differences alignment (each line's median step to
    the line above, summed down the scan); only their part faster than a Gaussian of `sigma` lines is subtracted,
    so the drift such a sum accumulates over a real surface stays out. With `jump` > 0, a step that stands more
    than `jump` × its robust spread (1.4826 MAD over the scan) and more than `_MIN_JUMP` from the median step is a
    jump of the whole line (tip change, creep) and is removed whole. A periodic part of the fast offsets (a bin of
    their spectrum `_JITTER_PERIODIC_SNR` × above the median of its ±8 neighbours, and the bins beside it) stays:
    jitter is broadband, while a lattice's rows give the median steps a period. The correction has zero mean over
    the lines, so the image's level stays. (B, H, W, 1) → (B, H, W, 1)."""

    whole_image = True  # denoise in tiles as large as memory allows (stm_zoo.inference.default_tile)

    def __init__(self, sigma: float = 3.0, jump: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if not sigma > 0:
            raise ValueError(f"LineJitterFilter: sigma must be > 0 lines, got {sigma!r}")
        if not jump >= 0:
            raise ValueError(f"LineJitterFilter: jump must be >= 0 (0: off), got {jump!r}")
        self.sigma, self.jump = float(sigma), float(jump)

    def call(self, image):
        x = ops.cast(image, "float32")
        steps = _row_median(x[:, 1:] - x[:, :-1])  # (B, H - 1, 1, 1)
        jumps = ops.zeros_like(steps)
        if self.jump:
            deviation = ops.abs(steps - ops.quantile(steps, 0.5, axis=1, keepdims=True))
            spread = 1.4826 * ops.quantile(deviation, 0.5, axis=1, keepdims=True) + 1e-12
            jumps = ops.where(deviation > ops.maximum(self.jump * spread, _MIN_JUMP), steps, jumps)
        offsets, jump_offsets = _cumulative(steps - jumps), _cumulative(jumps)
        fast = _fast_part(offsets, self.sigma)
        correction = jump_offsets + fast - _periodic_part(fast, _JITTER_PERIODIC_SNR)
        correction = correction - ops.mean(correction, axis=1, keepdims=True)
        return ops.cast(x - correction, image.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma, "jump": self.jump}


_MIN_JUMP = 0.02  # a whole-line jump is at least this high: quantized scans have steps of zero spread
_SELECT_STEPS = 40  # bisections of a row's range: its median to 1e-12 of the range


def _row_median(x):
    """The median of each row, (B, H, W, 1) → (B, H, 1, 1), as `ops.quantile(x, 0.5, axis=2)` gives it, found by
    bisecting each row's range on the count of values below (XLA:CPU sorts a 256² image in 7 ms, this takes 1)."""
    n, fixed = ops.shape(x)[2], ops.stop_gradient(x)
    below_half, half = (n - 1) // 2, n // 2  # the two middle order statistics (equal for odd n)

    def count_at_most(value):
        return ops.sum(ops.cast(fixed <= value, "int32"), axis=2, keepdims=True)

    def bisect(_, bounds):
        low, high = bounds
        middle = 0.5 * (low + high)
        under = count_at_most(middle) <= below_half
        return ops.where(under, middle, low), ops.where(under, high, middle)

    smallest = ops.min(fixed, axis=2, keepdims=True)
    low, _ = ops.fori_loop(0, _SELECT_STEPS, bisect, (smallest, ops.max(fixed, axis=2, keepdims=True)))
    beyond = ops.full_like(x, np.inf)

    def next_above(value):
        return ops.min(ops.where(fixed > value, x, beyond), axis=2, keepdims=True)

    first = ops.where(count_at_most(smallest) > below_half, ops.min(x, axis=2, keepdims=True), next_above(low))
    fixed_first = ops.stop_gradient(first)
    second = ops.where(count_at_most(fixed_first) > half, first, next_above(fixed_first))
    return 0.5 * (first + second)


_JITTER_PERIODIC_SNR = 20.0
_JITTER_BACKGROUND_BINS = 17


def _fast_part(profile, sigma: float):
    """A line profile (B, H, 1, 1) minus its Gaussian smoothing over `sigma` lines (edges repeated)."""
    radius = int(np.ceil(4 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = ops.convert_to_tensor((kernel / kernel.sum()).astype(np.float32).reshape(-1, 1, 1, 1))
    padded = ops.concatenate([ops.repeat(profile[:, :1], radius, axis=1), profile,
                              ops.repeat(profile[:, -1:], radius, axis=1)], axis=1)
    return profile - ops.conv(padded, kernel, padding="valid")


def _periodic_part(profile, snr: float):
    """The part of a line profile (B, H, 1, 1) at the bins of its spectrum that stand `snr` × above the median of
    the `_JITTER_BACKGROUND_BINS` around them (edges repeated), and at the bins beside those."""
    h = ops.shape(profile)[1]
    real, imag = ops.rfft(profile[:, :, 0, 0])
    power = real * real + imag * imag  # (B, H // 2 + 1)
    half, bins = _JITTER_BACKGROUND_BINS // 2, ops.shape(power)[1]
    padded = ops.concatenate([ops.repeat(power[:, :1], half, axis=1), power,
                              ops.repeat(power[:, -1:], half, axis=1)], axis=1)
    windows = ops.stack([padded[:, i:i + bins] for i in range(_JITTER_BACKGROUND_BINS)], axis=-1)
    not_dc = ops.arange(bins) > 0
    peak = (power > snr * ops.quantile(windows, 0.5, axis=-1)) & not_dc
    no = ops.zeros_like(peak[:, :1])
    peak = peak | ops.concatenate([peak[:, 1:], no], axis=1) | ops.concatenate([no, peak[:, :-1]], axis=1)
    keep = ops.cast(peak & not_dc, power.dtype)
    return ops.irfft((real * keep, imag * keep), fft_length=h)[:, :, None, None]


def _cumulative(steps):
    """Steps between lines (B, H - 1, 1, 1) → each line's offset from the first (B, H, 1, 1)."""
    return ops.concatenate([ops.zeros_like(steps[:, :1]), ops.cumsum(steps, axis=1)], axis=1)


def _circular_box_mean(a, size: int):
    """Mean over a `size` × `size` window with periodic wrap (the spectrum is periodic), on the last two axes."""
    return _window_mean(_window_mean(a, size, 2), size, 3)


@keras.saving.register_keras_serializable(package="stm_zoo")
class SpectralGate(layers.Layer):
    """The periodic part of a (B, H, W, 1) image: its 2-D FFT times a learned gain per frequency, transformed
    back. The gain is a small per-frequency MLP of the log-amplitude's prominence over its circular local mean
    (windows `windows`) and of the frequency's radius, so it keeps sharp peaks (lattices) and damps the noise
    floor, wherever the peaks are. With `periodic_plus_smooth` it filters the periodic component of the image
    (Moisan's periodic plus smooth decomposition), whose wrap-around has no jump to leak across the spectrum."""

    whole_image = True  # denoise in tiles as large as memory allows (stm_zoo.inference.default_tile)

    def __init__(self, windows=(5, 17), hidden: int = 16, periodic_plus_smooth: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.windows = tuple(int(w) for w in windows)
        self.hidden = int(hidden)
        self.periodic_plus_smooth = bool(periodic_plus_smooth)

    def build(self, input_shape):
        _add_gate_weights(self, len(self.windows) + 2, w2="glorot_uniform", b2=-2.0)

    def call(self, x):
        x = ops.cast(x, "float32")
        image = ops.transpose(x, (0, 3, 1, 2))  # (B, 1, H, W)
        h, w = ops.shape(image)[2], ops.shape(image)[3]
        image = image - ops.mean(image, axis=(2, 3), keepdims=True)
        real, imag = ops.fft2((image, ops.zeros_like(image)))
        if self.periodic_plus_smooth:
            smooth_real, smooth_imag = _smooth_spectrum(image)
            real, imag = real - smooth_real, imag - smooth_imag
        scale = ops.sqrt(ops.cast(h * w, "float32"))
        log_amp = _log_amplitude(real, imag, scale)
        features = [log_amp - _circular_box_mean(log_amp, k) for k in self.windows]
        features.append(log_amp - ops.mean(log_amp, axis=(2, 3), keepdims=True))
        fy = ops.cast(ops.arange(h), "float32") / ops.cast(h, "float32")
        fx = ops.cast(ops.arange(w), "float32") / ops.cast(w, "float32")
        fy, fx = ops.minimum(fy, 1.0 - fy), ops.minimum(fx, 1.0 - fx)  # unshifted FFT: distance to DC
        radius = ops.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) * 2.0  # 1 at the Nyquist edge
        features.append(ops.broadcast_to(radius[None, None], ops.shape(log_amp)))
        f = ops.stack(features, axis=-1)  # (B, 1, H, W, F)
        gain = ops.sigmoid(_gate_logit(self, f))[..., 0]
        periodic, _ = ops.ifft2((real * gain, imag * gain))
        return ops.transpose(periodic, (0, 2, 3, 1))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "windows": list(self.windows), "hidden": self.hidden,
                "periodic_plus_smooth": self.periodic_plus_smooth}


@keras.saving.register_keras_serializable(package="stm_zoo")
class SpectralBlend(layers.Layer):
    """`SpectralBlend()([reference, denoised, level])`: per frequency, the denoised image's Fourier coefficient Y
    moved towards the reference's X by a learned gain G ∈ [0, 1]: Y + G · (X − Y). G is a small per-frequency MLP
    of how far X stands above its local spectral background (two windows) and above the whole spectrum, how much of
    X the network kept (log |Y| / |X|), X and the change X − Y against the white-noise level σ̂ (`NoiseLevel`'s
    map, log(σ̂ / 0.02), is a feature too), the frequency's |ky| and |kx| and whether it lies within ±1 bin of a
    lattice peak of X (`_partnered`, as `LatticeRestore` tells a lattice from pick-up): where the input is far above
    its noise and the network changed it by far more than noise, as at an evident lattice the network damped or
    shifted, the input's coefficient can come back, amplitude and phase. Two regions stay the network's by construction:
    the columns |kx| ≤ 8 (each line's offset, tilt and slow streaks, most of a replaced line's power; scans almost
    free of white noise read a tiny σ̂, and their stripes must not come back) and the bins within
    `_BLEND_PEAK_RADIUS` of a peak of X without lattice partners (pick-up and its sidebands, which the features
    alone cannot tell from a lattice). Farther than that from the peaks of X, no bin of the result rises above
    `_BLEND_MAX_RISE` × the network's local spectral background (9 × 9 geometric mean): no invented periodicity.
    Its last layer starts at zero with G ≈ 0.02 everywhere, and its logit is that layer's output times
    `_BLEND_LOGIT_SCALE`: Adam moves a weight about one learning rate per step, so the gate can open within one
    fine-tuning stage. (B, H, W, 1) three times → (B, H, W, 1)."""

    whole_image = True  # denoise in tiles as large as memory allows (stm_zoo.inference.default_tile)

    def __init__(self, windows=(5, 17), hidden: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.windows = tuple(int(w) for w in windows)
        self.hidden = int(hidden)

    def build(self, input_shape):
        _add_gate_weights(self, len(self.windows) + 8, w2="zeros", b2=-0.4)

    def call(self, inputs):
        reference, denoised, level = (_fold(a) for a in inputs)
        h, w = ops.shape(reference)[2], ops.shape(reference)[3]
        mean = ops.mean(denoised, axis=(2, 3), keepdims=True)
        x_real, x_imag = ops.fft2((reference - mean, ops.zeros_like(reference)))
        y_real, y_imag = ops.fft2((denoised - mean, ops.zeros_like(denoised)))
        scale = ops.sqrt(ops.cast(h * w, "float32"))
        x_log, y_log = _log_amplitude(x_real, x_imag, scale), _log_amplitude(y_real, y_imag, scale)
        features = [x_log - _circular_box_mean(x_log, k) for k in self.windows]
        features.append(x_log - ops.mean(x_log, axis=(2, 3), keepdims=True))
        features.append(ops.clip(y_log - x_log, -5.0, 2.0))
        level = ops.mean(level, axis=(2, 3), keepdims=True)  # log(σ̂ / 0.02)
        noise_log = level + float(np.log(_NOISE_REFERENCE))  # white noise of σ̂ has x_log ≈ log σ̂
        change_log = _log_amplitude(x_real - y_real, x_imag - y_imag, scale)
        features.append(ops.clip(x_log - noise_log, -5.0, 10.0))  # the input's SNR at this frequency
        features.append(ops.clip(change_log - noise_log, -5.0, 10.0))  # the network's change, in noise units
        fy = _frequency_index(h) / ops.cast(h, "float32") * 2.0  # 1 at the Nyquist edge
        fx = _frequency_index(w) / ops.cast(w, "float32") * 2.0
        features.append(ops.broadcast_to(fy[None, None, :, None], ops.shape(x_log)))
        features.append(ops.broadcast_to(fx[None, None, None, :], ops.shape(x_log)))
        features.append(ops.broadcast_to(level, ops.shape(x_log)))
        window = _hann(h)[:, None] * _hann(w)[None, :]
        peak_log, background, maxima = _peak_candidates(_windowed_spectrum(reference - mean, window))
        peaks = maxima & (peak_log - background >= float(np.log(_BLEND_PEAK_SNR)))
        partnered = _partnered(peaks, peak_log - background) > 0.5
        at_lattice = _near(partnered)
        features.append(ops.cast(at_lattice, "float32"))
        f = ops.stack(features, axis=-1)  # (B, 1, H, W, F)
        isolated = _within(peaks & ~partnered, _BLEND_PEAK_RADIUS)
        allowed = ~isolated & (_frequency_index(w) > _BLEND_LINE_KX)[None, None, None, :]
        gain = ops.sigmoid(_gate_logit(self, f) * _BLEND_LOGIT_SCALE)[..., 0] * ops.cast(allowed, "float32")
        b_real, b_imag = y_real + gain * (x_real - y_real), y_imag + gain * (x_imag - y_imag)
        # Away from the input's peaks, no bin rises above _BLEND_MAX_RISE × the network's local spectral background:
        # a noise spike given back would be a periodicity the scan lacks.
        cap_log = ops.maximum(y_log, _circular_box_mean(y_log, 9) + float(np.log(_BLEND_MAX_RISE)))
        excess = ops.relu(_log_amplitude(b_real, b_imag, scale) - cap_log)
        excess = ops.where(_within(peaks, _BLEND_PEAK_RADIUS), 0.0, excess)
        shrink = ops.exp(-excess)
        blended, _ = ops.ifft2((b_real * shrink, b_imag * shrink))
        return ops.cast(ops.transpose(blended + mean, (0, 2, 3, 1)), inputs[1].dtype)

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]

    def get_config(self):
        return {**super().get_config(), "windows": list(self.windows), "hidden": self.hidden}


_BLEND_LOGIT_SCALE = 10.0
_BLEND_PEAK_SNR = 5.0  # a peak of the input this far above its background: a lattice's if partnered, else kept out
_BLEND_MAX_RISE = 10.0
_BLEND_PEAK_RADIUS = 6  # bins around a peak of the input: its leakage, a pick-up's sidebands
_BLEND_LINE_KX = 8.5  # the columns |kx| <= 8 stay the network's (line offsets, streaks, scars)


def _add_gate_weights(layer, n_features: int, w2: str, b2: float):
    """The per-frequency MLP of `SpectralGate` and `SpectralBlend`: n_features → layer.hidden (ReLU) → 1."""
    layer.w1 = layer.add_weight(shape=(n_features, layer.hidden), initializer="glorot_uniform", name="w1")
    layer.b1 = layer.add_weight(shape=(layer.hidden,), initializer="zeros", name="b1")
    layer.w2 = layer.add_weight(shape=(layer.hidden, 1), initializer=w2, name="w2")
    layer.b2 = layer.add_weight(shape=(1,), initializer=keras.initializers.Constant(b2), name="b2")


def _gate_logit(layer, features):
    """The MLP of `_add_gate_weights` on (…, n_features) → (…, 1)."""
    return ops.matmul(ops.relu(ops.matmul(features, layer.w1) + layer.b1), layer.w2) + layer.b2


def _log_amplitude(real, imag, scale):
    """log(|F| / scale) of an FFT (scale = √(H·W), so white noise of σ sits near log σ), floored at 1e-4."""
    return 0.5 * ops.log(real * real + imag * imag + 1e-8 * scale * scale) - ops.log(scale)


def _smooth_spectrum(image):
    """(real, imag) FFT of the smooth component of (B, 1, H, W) images (L. Moisan, "Periodic plus smooth image
    decomposition", 2011): the solution of Δs = the jumps across the image's wrap-around borders, mean zero;
    image − s is periodic."""
    h, w = ops.shape(image)[2], ops.shape(image)[3]
    rows = image[:, :, -1:, :] - image[:, :, :1, :]
    cols = image[:, :, :, -1:] - image[:, :, :, :1]
    jumps = (ops.concatenate([rows, ops.zeros_like(image[:, :, 1:-1, :]), -rows], axis=2)
             + ops.concatenate([cols, ops.zeros_like(image[:, :, :, 1:-1]), -cols], axis=3))
    real, imag = ops.fft2((jumps, ops.zeros_like(jumps)))
    fy = 2.0 * np.pi * ops.cast(ops.arange(h), "float32")[:, None] / ops.cast(h, "float32")
    fx = 2.0 * np.pi * ops.cast(ops.arange(w), "float32")[None, :] / ops.cast(w, "float32")
    laplacian = 2.0 * ops.cos(fy) + 2.0 * ops.cos(fx) - 4.0  # 0 only at the DC bin
    inverse = ops.where(laplacian < 0.0, 1.0 / ops.minimum(laplacian, -1e-12), 0.0)
    return real * inverse, imag * inverse


@keras.saving.register_keras_serializable(package="stm_zoo")
class NoiseLevel(layers.Layer):
    """Each image's white-noise level as a constant map, log(σ̂ / 0.02): σ̂² is e^γ times the geometric mean of
    the Hann-windowed image's power spectrum over the bins at radial frequency ≥ 0.25 cycles/px and |kx| ≥ 0.05
    (line noise fills the kx ≈ 0 band), over the window's Σw². The powers of white noise are exponential, whose
    geometric mean is e^-γ their mean; a lattice's few peaks barely move it, and the window keeps their leakage
    and the borders' jumps off the other bins. Tells the U-Net how noisy the whole scan is, which a 2.5 px
    lattice seen locally cannot. (B, H, W, 1) → (B, H, W, 1)."""

    whole_image = True  # denoise in tiles as large as memory allows (stm_zoo.inference.default_tile)

    def call(self, x):
        image = _fold(x)
        h, w = ops.shape(image)[2], ops.shape(image)[3]
        window = _hann(h)[:, None] * _hann(w)[None, :]
        windowed = (image - ops.mean(image, axis=(2, 3), keepdims=True)) * window
        real, imag = ops.fft2((windowed, ops.zeros_like(windowed)))
        fy = _frequency_index(h) / ops.cast(h, "float32")
        fx = _frequency_index(w) / ops.cast(w, "float32")
        used = ops.cast((fy[:, None] ** 2 + fx[None, :] ** 2 >= _NOISE_MIN_RADIUS**2)
                        & (fx[None, :] >= _NOISE_MIN_KX), "float32")
        log_power = ops.log(real * real + imag * imag + 1e-20)
        mean_log = ops.sum(log_power * used, axis=(2, 3), keepdims=True) / ops.maximum(ops.sum(used), 1.0)
        variance = ops.exp(mean_log + _EULER_GAMMA) / ops.maximum(ops.sum(window * window), 1e-6)
        level = ops.clip(0.5 * ops.log(variance + 1e-12) - float(np.log(_NOISE_REFERENCE)), -5.0, 5.0)
        return ops.cast(ops.broadcast_to(ops.transpose(level, (0, 2, 3, 1)), ops.shape(x)), x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config()


_NOISE_MIN_RADIUS, _NOISE_MIN_KX, _NOISE_REFERENCE = 0.25, 0.05, 0.02
_EULER_GAMMA = 0.5772156649


def _fold(a):
    """(B, H, W, 1) → (B, 1, H, W) float32: the layout the FFT ops take."""
    return ops.transpose(ops.cast(a, "float32"), (0, 3, 1, 2))


def _hann(n):
    """numpy.hanning(n) of a traced length."""
    step = ops.cast(ops.arange(n), "float32") / ops.maximum(ops.cast(n - 1, "float32"), 1.0)
    return 0.5 - 0.5 * ops.cos(2.0 * np.pi * step)


@keras.saving.register_keras_serializable(package="stm_zoo")
class LatticeRestore(layers.Layer):
    """`LatticeRestore(min_snr)([noisy, denoised])`: where the noisy image has a lattice peak, the denoised image
    gets back at least the Wiener estimate of it. Peaks are found as `stm_zoo.metrics.lattice_fidelity` finds
    them: 3×3 local maxima of the plane-levelled, Hann-windowed amplitude spectrum standing `min_snr` above their
    9 × 9 background and above the background of their 33 bins of column and row (the streaks of pick-up are no
    lattice), away from DC and the kx = 0 line; backgrounds are geometric means (no median op in keras.ops).
    Around each peak (±1 bin) a frequency X of the noisy image whose denoised value Y is weaker than g·|X|,
    g = 1 − (background / |X|)², becomes g·X where the network kept at least `min_kept` of it (a point peak it
    mostly removed may be pick-up) or, with `partners`, where the peak is part of a lattice (`_partnered`: the
    network damps lattice peaks that look like pick-up). With `damp_invented`, a peak of the denoised image
    (`_INVENTED_SNR` above its background) that the noisy one lacks (no maximum `_PRESENT_SNR` above background
    within ±1 bin) is damped to twice its background: the network shows no periodicity the scan lacks. Last, the
    periodic part of the row profile the network took away (line means of noisy − result, faster than a Gaussian of
    `_ROW_LATTICE_SIGMA` lines, at bins `_ROW_LATTICE_SNR` × above their neighbours' median) is given back: atom
    rows along the scan lines, whose peaks lie on the kx = 0 line the search above leaves out, are no line offsets.
    (B, H, W, 1) twice → (B, H, W, 1)."""

    whole_image = True  # denoise in tiles as large as memory allows (stm_zoo.inference.default_tile)

    def __init__(self, min_snr: float = 10.0, min_kept: float = 0.6, partners: bool = False,
                 damp_invented: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not min_snr > 1:
            raise ValueError(f"LatticeRestore: min_snr must be > 1, got {min_snr!r}")
        if not 0 <= min_kept <= 1:
            raise ValueError(f"LatticeRestore: min_kept must be in [0, 1], got {min_kept!r}")
        self.min_snr, self.min_kept, self.partners = float(min_snr), float(min_kept), bool(partners)
        self.damp_invented = bool(damp_invented)

    def call(self, inputs):
        noisy, denoised = _fold(inputs[0]), _fold(inputs[1])
        h, w = ops.shape(noisy)[2], ops.shape(noisy)[3]
        mean = ops.mean(noisy, axis=(2, 3), keepdims=True)
        window = _hann(h)[:, None] * _hann(w)[None, :]
        log_amp, background, maxima = _peak_candidates(_windowed_spectrum(noisy - mean, window))
        peaks = maxima & (log_amp - background >= float(np.log(self.min_snr)))
        near_peak = _near(peaks)
        n_real, n_imag = ops.fft2((noisy - mean, ops.zeros_like(noisy)))
        d_real, d_imag = ops.fft2((denoised - mean, ops.zeros_like(denoised)))
        n_power = n_real * n_real + n_imag * n_imag
        floor = ops.exp(2.0 * _circular_box_mean(0.5 * ops.log(n_power + 1e-20), 9))
        gain = ops.clip(1.0 - floor / ops.maximum(n_power, 1e-20), 0.0, 1.0)
        d_power, wiener_power = d_real * d_real + d_imag * d_imag, gain * gain * n_power
        kept_enough = d_power >= self.min_kept**2 * wiener_power
        if self.partners:
            kept_enough = kept_enough | _near(_partnered(peaks, log_amp - background) > 0.5)
            ky, kx = _frequency_index(h), _frequency_index(w)
            fine = (ky[:, None] / ops.cast(h, "float32")) ** 2 + (kx[None, :] / ops.cast(w, "float32")) ** 2 >= (
                _ANY_LATTICE_MIN_RADIUS ** 2)
            strong = peaks & fine & (log_amp - background >= float(np.log(_ANY_LATTICE_SNR)))
            kept_enough = kept_enough | _near(_partnered(strong, log_amp - background, any_lattice=True) > 0.5)
        raise_ = near_peak & (d_power < wiener_power) & kept_enough
        real, imag = ops.where(raise_, gain * n_real, d_real), ops.where(raise_, gain * n_imag, d_imag)
        if self.damp_invented:
            w_real, w_imag = _windowed_spectrum(denoised - ops.mean(denoised, axis=(2, 3), keepdims=True), window)
            out_log_amp, out_background, out_maxima = _peak_candidates((w_real, w_imag))
            invented = out_maxima & (out_log_amp - out_background >= float(np.log(_INVENTED_SNR)))
            in_input = maxima & (log_amp - background >= float(np.log(_PRESENT_SNR)))
            invented = invented & ~_near(in_input) & ~raise_
            excess = ops.where(invented, ops.maximum(0.0, 1.0 - 2.0 * ops.exp(out_background - out_log_amp)), 0.0)
            # The invented wave, estimated in the windowed spectrum, is taken out of its own bin only: near the
            # axes the plain spectrum is mostly the leakage of the image's edges, which scaling bins would expose.
            scale = excess / ops.mean(window)
            real, imag = real - scale * w_real, imag - scale * w_imag
        restored, _ = ops.ifft2((real, imag))
        restored = ops.transpose(restored + mean, (0, 2, 3, 1))  # (B, H, W, 1)
        removed_rows = ops.mean(ops.cast(inputs[0], "float32") - restored, axis=2, keepdims=True)
        restored = restored + _periodic_part(_fast_part(removed_rows, _ROW_LATTICE_SIGMA), _ROW_LATTICE_SNR)
        return ops.cast(restored, inputs[1].dtype)

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]

    def get_config(self):
        return {**super().get_config(), "min_snr": self.min_snr, "min_kept": self.min_kept, "partners": self.partners,
                "damp_invented": self.damp_invented}


_ROW_LATTICE_SNR, _ROW_LATTICE_SIGMA = 50.0, 3.0  # atom rows along the lines: a sharp period of the row profile
_PRESENT_SNR = 3.0  # a peak of the input at least this far above background is there (`metrics.lattice_fidelity`)
_INVENTED_SNR = 5.0  # an output peak this far above background that the input lacks is damped (half the metric's 10:
# the geometric-mean backgrounds here differ from the metric's medians)
_STRONGEST = 32  # peaks compared for lattice partners
_RADIUS_TOLERANCE, _ANGLE_TOLERANCE = 0.06, float(np.radians(6.0))
_ANY_LATTICE_SNR, _ANY_LATTICE_MIN_RADIUS = 20.0, 0.1  # any lattice: peaks this far above background, periods ≤ 10 px
_MIN_PARTNER_ANGLE = float(np.radians(15.0))


def _partnered(peaks, strength, any_lattice: bool = False):
    """(B, 1, H, W) mask of the peaks that have a lattice partner among the `_STRONGEST` peaks: another peak of
    the same |k| (±6 %) at 60° or 90° (±6°) from it, whose difference wavevector is a peak too (±1.5 bins), as
    the first peaks of a hexagonal lattice and the (10), (01), (11) peaks of a square one are. Pick-up is one
    wavevector and its harmonics on one line through DC: a partner by chance closes no triangle. With
    `any_lattice`, any peak at least `_MIN_PARTNER_ANGLE` from it whose difference is a peak: oblique and
    rectangular lattices and their harmonics (only for peaks far above the noise, where no chance closes one)."""
    b, h, w = ops.shape(peaks)[0], ops.shape(peaks)[2], ops.shape(peaks)[3]
    top, index = ops.top_k(ops.reshape(ops.where(peaks, strength, -1.0), (b, -1)), _STRONGEST)
    valid = top > 0.0
    fy = ops.take(ops.reshape(ops.broadcast_to(_signed(h)[:, None], (h, w)), (-1,)), index)  # (B, K) bins
    fx = ops.take(ops.reshape(ops.broadcast_to(_signed(w)[None, :], (h, w)), (-1,)), index)
    scale_y, scale_x = 1.0 / ops.cast(h, "float32"), 1.0 / ops.cast(w, "float32")  # bins → cycles per pixel
    uy, ux = fy * scale_y, fx * scale_x
    radius = ops.sqrt(uy * uy + ux * ux)
    cosine = (uy[:, :, None] * uy[:, None, :] + ux[:, :, None] * ux[:, None, :]) / ops.maximum(
        radius[:, :, None] * radius[:, None, :], 1e-12)
    angle = ops.arccos(ops.clip(ops.abs(cosine), 0.0, 1.0))  # folded to 0-90°
    lattice_angle = (ops.abs(angle - np.pi / 3) <= _ANGLE_TOLERANCE) | (angle >= np.pi / 2 - _ANGLE_TOLERANCE)
    same_radius = ops.abs(radius[:, :, None] - radius[:, None, :]) <= _RADIUS_TOLERANCE * ops.maximum(
        radius[:, :, None], radius[:, None, :])
    dy, dx = fy[:, :, None] - fy[:, None, :], fx[:, :, None] - fx[:, None, :]  # (B, K, K) difference, in bins
    closes = ops.any((ops.abs(dy[..., None] - fy[:, None, None, :]) <= 1.5)
                     & (ops.abs(dx[..., None] - fx[:, None, None, :]) <= 1.5) & valid[:, None, None, :], axis=3)
    pairs = (angle >= _MIN_PARTNER_ANGLE) if any_lattice else (same_radius & lattice_angle)
    partner = pairs & closes & valid[:, None, :] & valid[:, :, None]
    has_partner = ops.cast(ops.any(partner, axis=2), "float32")  # (B, K)
    where = ops.stack([ops.repeat(ops.arange(b), _STRONGEST), ops.reshape(index, (-1,))], axis=1)
    return ops.reshape(ops.scatter(where, ops.reshape(has_partner, (-1,)), (b, h * w)), (b, 1, h, w))


def _signed(n):
    """The signed frequency index of each bin of an unshifted FFT of length n (0, 1, …, −1)."""
    k = ops.arange(n)
    return ops.cast(ops.where(k > n // 2, k - n, k), "float32")


def _windowed_spectrum(image, window):
    """(real, imag) FFT of the plane-levelled, windowed (B, 1, H, W) zero-mean `image`."""
    levelled = _plane_levelled(image) * window
    return ops.fft2((levelled, ops.zeros_like(levelled)))


def _peak_candidates(spectrum):
    """Log amplitude of a `_windowed_spectrum`, its background (the larger of the 9 × 9 and the 33-bin column and
    row geometric means) and its 3×3 local maxima away from DC and the kx = 0 line: the peak candidates of
    `stm_zoo.metrics.lattice_fidelity`."""
    real, imag = spectrum
    h, w = ops.shape(real)[2], ops.shape(real)[3]
    log_amp = 0.5 * ops.log(real * real + imag * imag + 1e-20)
    background = ops.maximum(_circular_box_mean(log_amp, 9),
                             ops.maximum(_window_mean(log_amp, 33, 2), _window_mean(log_amp, 33, 3)))
    ky, kx = _frequency_index(h), _frequency_index(w)
    allowed = (kx[None, :] > 1.0) & (ky[:, None] ** 2 + kx[None, :] ** 2 > 4.0)
    return log_amp, background, allowed & (log_amp >= _circular_max3(log_amp))


def _plane_levelled(image):
    """(B, 1, H, W) zero-mean images minus their least-squares tilt (`stm_zoo.level.plane_fit`)."""
    h, w = ops.shape(image)[2], ops.shape(image)[3]
    y = ops.cast(ops.arange(h), "float32") / ops.maximum(ops.cast(h - 1, "float32"), 1.0) - 0.5
    x = ops.cast(ops.arange(w), "float32") / ops.maximum(ops.cast(w - 1, "float32"), 1.0) - 0.5
    y, x = ops.broadcast_to(y[:, None], (h, w)), ops.broadcast_to(x[None, :], (h, w))
    for axis in (y, x):
        slope = ops.sum(image * axis, axis=(2, 3), keepdims=True) / ops.maximum(ops.sum(axis * axis), 1e-12)
        image = image - slope * axis
    return image


def _frequency_index(n):
    """|k| of each bin of an unshifted FFT of length n."""
    k = ops.cast(ops.arange(n), "float32")
    return ops.minimum(k, ops.cast(n, "float32") - k)


def _window_mean(a, size: int, axis: int):
    """Mean over `size` (odd) neighbours along `axis` with periodic wrap, from one cumulative sum."""
    r, n = size // 2, ops.shape(a)[axis]
    wrapped = ops.concatenate([ops.take(a, ops.mod(ops.arange(-r - 1, 0), n), axis=axis), a,
                               ops.take(a, ops.mod(ops.arange(0, r), n), axis=axis)], axis=axis)  # one extra in front
    total = ops.cumsum(wrapped, axis=axis)
    upper = ops.take(total, ops.arange(size, n + size), axis=axis)
    lower = ops.take(total, ops.arange(0, n), axis=axis)
    return (upper - lower) / size


def _circular_max3(a):
    """Maximum over the 3 × 3 neighbourhood with periodic wrap, on the last two axes."""
    for axis in (2, 3):
        a = ops.maximum(a, ops.maximum(ops.roll(a, 1, axis=axis), ops.roll(a, -1, axis=axis)))
    return a


def _within(mask, radius: int):
    """Within ±radius bins (periodic wrap, a square) of a True bin of the boolean mask."""
    a = ops.cast(mask, "float32")
    for _ in range(radius):
        a = _circular_max3(a)
    return a > 0.5


def _near(mask):
    """Within ±1 bin (periodic wrap) of a True bin of the boolean mask."""
    return _within(mask, 1)


def _conv(x, filters, name, kernel=3, strides=1, activation="relu"):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation=activation, name=name)(x)


def _conv_biased(x, filters, name, level):
    """`_conv`, plus, with a `level` map, a per-channel bias from it before the ReLU (a 1×1 convolution that
    starts at zero, so a model grown by it starts as the one without)."""
    if level is None:
        return _conv(x, filters, name)
    bias = layers.Conv2D(filters, 1, use_bias=False, kernel_initializer="zeros", name=f"{name}_level")(level)
    biased = layers.Add(name=f"{name}_level_add")([_conv(x, filters, name, activation=None), bias])
    return layers.ReLU(name=f"{name}_relu")(biased)


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
             line_steps: bool = False, dejitter: float = 0.0, line_jumps: float = 0.0, lattice_restore: float = 0.0,
             min_kept: float = 0.6, lattice_partners: bool = False, damp_invented: bool = False,
             periodic_plus_smooth: bool = False, noise_level: bool = False, spectral_blend: bool = False,
             input_shape=(None, None, 1)) -> keras.Model:
    """`row_branch` / `spectral_branch` = False drop a branch, `line_steps=True` adds one (the ablations of
    issue 17); `lattice_restore` > 1 ends the model with a `LatticeRestore` of that peak threshold (`min_kept`,
    `lattice_partners`, `damp_invented` its rules), `dejitter` > 0 with a `LineJitterFilter` of that σ (lines) and
    jump threshold `line_jumps`; `periodic_plus_smooth` makes the spectral branch filter the image's periodic
    component; `noise_level` gives three U-Net convolutions a per-channel bias from the scan's noise level
    (`NoiseLevel`, through 1×1 convolutions that start at zero); `spectral_blend` moves the U-Net's result towards
    the line-corrected input per frequency (`SpectralBlend`, starting almost off)."""
    noisy = keras.Input(shape=input_shape, name="noisy")
    corrected = noisy
    if row_branch:
        offsets = _row_offsets(noisy, row_features, "line")
        if line_steps:
            offsets = layers.Add(name="line_offsets")([offsets, _line_steps(noisy, row_features // 2, "step")])
        corrected = SubtractRows(name="line_corrected")([noisy, offsets])
    inputs = [corrected, noisy]
    if spectral_branch:
        inputs.insert(1, SpectralGate(periodic_plus_smooth=periodic_plus_smooth, name="lattice")(corrected))
    x = layers.Concatenate(name="unet_in")(inputs)
    x = PadToMultiple(4, name="pad")(x)
    level, level_low = None, None
    level_map = NoiseLevel(name="noise_level")(noisy) if noise_level or spectral_blend else None
    if noise_level:
        level = PadToMultiple(4, name="level_pad")(level_map)
        level_low = layers.AveragePooling2D(4, name="level_pool")(level)
    e0 = _conv(_conv_biased(x, filters, "e0_c1", level), filters, "e0_c2")
    e1 = _conv(e0, 2 * filters, "e1_down", strides=2)
    e1 = _conv(_conv(e1, 2 * filters, "e1_c1"), 2 * filters, "e1_c2")
    e2 = _conv(e1, 4 * filters, "e2_down", strides=2)
    e2 = _conv(_conv_biased(e2, 4 * filters, "e2_c1", level_low), 4 * filters, "e2_c2")
    d1 = _conv(layers.UpSampling2D(2, name="d1_up")(e2), 2 * filters, "d1_upconv")
    d1 = layers.Concatenate(name="d1_skip")([d1, e1])
    d1 = _conv(_conv(d1, 2 * filters, "d1_c1"), 2 * filters, "d1_c2")
    d0 = _conv(layers.UpSampling2D(2, name="d0_up")(d1), filters, "d0_upconv")
    d0 = layers.Concatenate(name="d0_skip")([d0, e0])
    d0 = _conv_biased(_conv(d0, filters, "d0_c1"), filters, "d0_c2", level)
    correction = layers.Conv2D(1, 3, padding="same", kernel_initializer="zeros", name="correction")(d0)
    correction = CropToMatch(4, name="crop")([correction, noisy])
    denoised = layers.Add(name="residual")([corrected, correction])
    if spectral_blend:
        denoised = SpectralBlend(name="spectral_blend")([corrected, denoised, level_map])
    if lattice_restore:
        restore = LatticeRestore(lattice_restore, min_kept, lattice_partners, damp_invented, name="lattice_restore")
        denoised = restore([noisy, denoised])
    if dejitter:
        denoised = LineJitterFilter(dejitter, line_jumps, name="dejitter")(denoised)
    clean = layers.ReLU(max_value=1.0, name="clean")(denoised)
    return keras.Model(noisy, clean, name="linespec")
