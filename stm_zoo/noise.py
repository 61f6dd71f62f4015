"""STM noise, synthesized on the fly inside `tf.data`.

Every noise type is one function `fn(image, seed, **params) -> image` on a single float32 image of shape
(H, W, 1) with values in [0, 1]; `seed` is a shape-(2,) int tensor for TensorFlow's stateless random ops, so a
draw is a pure function of its seed (deterministic under a seed, different for every element and epoch when
the pipeline feeds fresh seeds). Rows are the fast-scan lines (time runs along a row, then down the rows), so
line noise runs along axis 1 (W). Strengths are in units of the image's [0, 1] range.

A parameter given as a pair `(low, high)` is drawn uniformly per image; a scalar is used as is.
A recipe composes noises as a list of specs `{"type": name, "p": probability, **params}` or names a preset.

The types: `stripes` (the thesis' bands of random values), `line_offsets` (scan-line level shifts drifting as
1/f noise from line to line), `scars` (partial lines too high or too low), `tip_change` (from one line on, a
different tip: blur, contrast and height change), `creep` (the first lines of a scan shifted while the
piezo creeps and the feedback settles), `periodic` (mains pick-up aliased by the raster into tilted
fringes), `flicker` (1/f noise along the fast-scan axis), `gaussian`, `salt_pepper`, `gaussian_blur`, and five
for testing beyond what a model trained on (`bench/other_noise.py`): `shot` (Poisson counting noise), `speckle`
(multiplicative), `pink` (isotropic 2-D 1/f noise), `quantize` (a coarse digitizer) and `transient` (a tip change
the tip recovers from: a jump that relaxes over some lines); only `wide_more` draws any of them, all but speckle and
transient.

Two more spec types act on the (noisy, clean) pair rather than adding noise: `attenuate` scales the noise
drawn so far (light and near-clean scans), `renormalize` maps noisy and clean together to [0, 1] between the
noisy image's percentiles, as `stm_zoo.level.prepare` maps a real scan (so creep and outlier lines that
stretch a real scan's range are seen as they are at inference). `apply_pair` returns both images.
"""

import math
from typing import Callable

import tensorflow as tf

NoiseFn = Callable[..., tf.Tensor]
_NOISES: dict[str, NoiseFn] = {}
_PAIR_OPS: dict[str, Callable[..., tuple[tf.Tensor, tf.Tensor]]] = {}


def register(name: str):
    def wrap(fn):
        _NOISES[name] = fn
        return fn

    return wrap


def names() -> list[str]:
    return sorted([*_NOISES, *_PAIR_OPS])


def _draw(value, seed, dtype=tf.float32):
    """A scalar parameter, or a uniform draw from a (low, high) range."""
    if isinstance(value, (tuple, list)):
        low, high = value
        if dtype.is_integer:
            return tf.random.stateless_uniform([], seed, int(low), int(high) + 1, dtype=dtype)
        return tf.random.stateless_uniform([], seed, float(low), float(high), dtype=dtype)
    return tf.constant(value, dtype)


def _draw_many(value, seed, n: int, dtype=tf.float32):
    """`n` independent draws of a parameter (scalar or (low, high) range)."""
    low, high = value if isinstance(value, (tuple, list)) else (value, value)
    if dtype.is_integer:
        return tf.random.stateless_uniform([n], seed, int(low), int(high) + 1, dtype=dtype)
    return tf.random.stateless_uniform([n], seed, float(low), float(high), dtype=dtype)


def _high(value) -> float:
    """The largest value a parameter can take (sizes static tensors such as kernel radii)."""
    return float(value[1]) if isinstance(value, (tuple, list)) else float(value)


def _seeds(seed, n: int):
    return tf.unstack(tf.random.experimental.stateless_split(seed, n))


def _power_law(seed, shape, exponent):
    """Noise with power spectrum ∝ 1/f^exponent along the last axis of `shape`, unit std per last-axis line
    (exponent 0: white; 1: pink/flicker; 2: brown/random walk). The zero frequency is removed."""
    n = shape[-1]
    white = tf.random.stateless_normal(shape, seed)
    spectrum = tf.signal.rfft(white)
    f = tf.cast(tf.range(n // 2 + 1), tf.float32) / tf.cast(n, tf.float32)
    gain = tf.where(f > 0, tf.pow(tf.maximum(f, 1e-6), -exponent / 2), 0.0)
    noise = tf.signal.irfft(spectrum * tf.cast(gain, tf.complex64), fft_length=[n])
    return noise / (tf.math.reduce_std(noise, axis=-1, keepdims=True) + 1e-12)


def _blur(image, sigma, max_sigma: float):
    """Gaussian blur of an (H, W, 1) image with a drawn `sigma` (px), reflect-padded; σ = 0 leaves it as is."""
    radius = max(1, int(math.ceil(3 * max_sigma)))
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(x / tf.maximum(sigma, 1e-3)))
    kernel = kernel / tf.reduce_sum(kernel)
    padded = tf.pad(image, [[radius, radius], [radius, radius], [0, 0]], mode="REFLECT")[None]
    out = tf.nn.conv2d(padded, tf.reshape(kernel, [-1, 1, 1, 1]), 1, "VALID")
    out = tf.nn.conv2d(out, tf.reshape(kernel, [1, -1, 1, 1]), 1, "VALID")
    return out[0]


@register("stripes")
def stripes(image, seed, num_stripes=(1, 10), width=(1, 4)):
    """The thesis' stripe bands: `num_stripes` horizontal bands, each with a random start row and random
    width; pixels inside a band are replaced by uniform random values, the rest are kept."""
    h = tf.shape(image)[0]
    s_n, s_start, s_width, s_val = _seeds(seed, 4)
    n_max = int(_high(num_stripes))
    n = _draw(num_stripes, s_n, tf.int32)
    starts = tf.random.stateless_uniform([n_max], s_start, 0, h, dtype=tf.int32)
    widths = _draw_many(width, s_width, n_max, tf.int32)
    active = tf.range(n_max) < n
    rows = tf.range(h)[:, None]
    in_band = (rows >= starts[None, :]) & (rows < (starts + widths)[None, :]) & active[None, :]
    row_mask = tf.reduce_any(in_band, axis=1)[:, None, None]
    values = tf.random.stateless_uniform(tf.shape(image), s_val, dtype=image.dtype)
    return tf.where(row_mask, values, image)


@register("line_offsets")
def line_offsets(image, seed, sigma=(0.005, 0.06), exponent=(0.0, 1.5)):
    """Scan-line offsets: each row shifted by one level; the levels drift from line to line as 1/f^exponent
    noise (0: independent lines, 1: flicker, 2: random walk) with standard deviation `sigma`."""
    s_sigma, s_exp, s_noise = _seeds(seed, 3)
    h = tf.shape(image)[0]
    offsets = _power_law(s_noise, [h], _draw(exponent, s_exp))
    return image + _draw(sigma, s_sigma) * offsets[:, None, None]


@register("scars")
def scars(image, seed, count=(1, 6), rows=(1, 3), length=(0.05, 0.6), strength=(0.05, 0.4)):
    """Scars (streaks): `count` segments, each `rows` consecutive lines high, `length` × W pixels long from a
    random column, shifted up or down (random sign) by `strength` — the feedback briefly losing the surface."""
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    s_n, s_row, s_k, s_len, s_col, s_sign, s_amp = _seeds(seed, 7)
    n_max = int(_high(count))
    n = _draw(count, s_n, tf.int32)
    k = _draw_many(rows, s_k, n_max, tf.int32)
    wf = tf.cast(w, tf.float32)
    free_rows = tf.cast(tf.maximum(h - k + 1, 1), tf.float32)
    start = tf.cast(tf.random.stateless_uniform([n_max], s_row) * free_rows, tf.int32)
    span = tf.clip_by_value(tf.cast(tf.math.ceil(_draw_many(length, s_len, n_max) * wf), tf.int32), 1, w)
    col = tf.cast(tf.random.stateless_uniform([n_max], s_col) * tf.cast(w - span + 1, tf.float32), tf.int32)
    sign = tf.where(tf.random.stateless_uniform([n_max], s_sign) < 0.5, -1.0, 1.0)
    amp = tf.where(tf.range(n_max) < n, sign * _draw_many(strength, s_amp, n_max), 0.0)
    y, x = tf.range(h)[:, None], tf.range(w)[:, None]
    in_rows = tf.cast((y >= start) & (y < start + k), tf.float32) * amp  # (H, n_max)
    in_cols = tf.cast((x >= col) & (x < col + span), tf.float32)  # (W, n_max)
    return image + tf.matmul(in_rows, in_cols, transpose_b=True)[:, :, None]


@register("tip_change")
def tip_change(image, seed, row=(0.1, 0.9), offset=(-0.15, 0.15), blur=(0.0, 2.0), contrast=(0.7, 1.1)):
    """Tip change: from a random line on (`row`, a fraction of the height) the scan goes on with another tip —
    blurred by `blur` px, its contrast scaled by `contrast` about the mean, its height shifted by `offset`."""
    s_row, s_off, s_blur, s_con = _seeds(seed, 4)
    h = tf.shape(image)[0]
    first = tf.cast(_draw(row, s_row) * tf.cast(h, tf.float32), tf.int32)
    mean = tf.reduce_mean(image)
    changed = _blur(image, _draw(blur, s_blur), _high(blur))
    changed = mean + _draw(contrast, s_con) * (changed - mean) + _draw(offset, s_off)
    below = tf.range(h)[:, None, None] >= first
    return tf.where(below, changed, image)


@register("creep")
def creep(image, seed, offset=(0.05, 0.5), lines=(1.0, 40.0), outliers=(0, 2), outlier_offset=(0.2, 1.0)):
    """The start of a scan: piezo creep / the feedback settling shifts the first lines by `offset`, decaying
    over `lines` lines (exp), and the first `outliers` lines are off by `outlier_offset` more (random signs).
    Shifts are per line; the scan starts at the top or the bottom (an up or a down scan), at random."""
    s_off, s_lines, s_sign, s_n, s_out, s_out_sign, s_end = _seeds(seed, 7)
    h = tf.shape(image)[0]
    row = tf.cast(tf.range(h), tf.float32)
    sign = tf.where(tf.random.stateless_uniform([], s_sign) < 0.5, -1.0, 1.0)
    shift = sign * _draw(offset, s_off) * tf.exp(-row / _draw(lines, s_lines))
    n_out = _draw(outliers, s_n, tf.int32)
    n_max = int(_high(outliers))
    out_sign = tf.where(tf.random.stateless_uniform([n_max], s_out_sign) < 0.5, -1.0, 1.0)
    out_shift = tf.where(tf.range(n_max) < n_out, out_sign * _draw_many(outlier_offset, s_out, n_max), 0.0)
    shift = shift + tf.pad(out_shift, [[0, tf.maximum(h - n_max, 0)]])[:h]
    shift = tf.where(tf.random.stateless_uniform([], s_end) < 0.5, shift, tf.reverse(shift, [0]))
    return image + shift[:, None, None]


@register("transient")
def transient(image, seed, count=(1, 3), offset=(0.05, 0.5), lines=(2.0, 60.0)):
    """Tip changes the tip recovers from: at `count` random lines the height jumps by `offset` (random sign) and
    relaxes back over `lines` lines (exp) in the scan direction (down or up, at random); bright or dark bands
    with a sharp edge and a smooth tail, a tip change of `tip_change` that does not last."""
    s_n, s_row, s_off, s_sign, s_lines, s_dir = _seeds(seed, 6)
    h = tf.shape(image)[0]
    n_max = int(_high(count))
    first = tf.floor(tf.random.stateless_uniform([n_max], s_row) * tf.cast(h, tf.float32))
    sign = tf.where(tf.random.stateless_uniform([n_max], s_sign) < 0.5, -1.0, 1.0)
    amp = tf.where(tf.range(n_max) < _draw(count, s_n, tf.int32), sign * _draw_many(offset, s_off, n_max), 0.0)
    since = tf.cast(tf.range(h), tf.float32)[:, None] - first[None, :]
    decay = tf.exp(-tf.maximum(since, 0.0) / _draw_many(lines, s_lines, n_max)[None, :])
    shift = tf.reduce_sum(tf.where(since >= 0, amp * decay, 0.0), axis=1)
    shift = tf.where(tf.random.stateless_uniform([], s_dir) < 0.5, shift, tf.reverse(shift, [0]))
    return image + shift[:, None, None]


@register("periodic")
def periodic(image, seed, amplitude=(0.005, 0.05), cycles=(2.0, 40.0), harmonic=(0.0, 0.5)):
    """Periodic interference (mains pick-up): a sine in scan time has `cycles` periods along each line, and an
    arbitrary phase step from one line to the next (the line period aliases it), so it shows as tilted fringes;
    `harmonic` is the relative amplitude of its second harmonic."""
    s_amp, s_cyc, s_step, s_phase, s_harm = _seeds(seed, 5)
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    kx = 2 * math.pi * _draw(cycles, s_cyc) / tf.cast(w, tf.float32)
    ky = tf.random.stateless_uniform([], s_step, 0.0, 2 * math.pi)  # phase step per line (aliased)
    phase = (kx * tf.cast(tf.range(w), tf.float32)[None, :] + ky * tf.cast(tf.range(h), tf.float32)[:, None]
             + tf.random.stateless_uniform([], s_phase, 0.0, 2 * math.pi))
    wave = tf.sin(phase) + _draw(harmonic, s_harm) * tf.sin(2 * phase + 1.0)
    return image + _draw(amplitude, s_amp) * wave[:, :, None]


@register("flicker")
def flicker(image, seed, sigma=(0.005, 0.03), exponent=(0.8, 1.5)):
    """1/f noise along the fast-scan axis: each line carries its own 1/f^exponent noise, std `sigma`."""
    s_sigma, s_exp, s_noise = _seeds(seed, 3)
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    noise = _power_law(s_noise, [h, w], _draw(exponent, s_exp))
    return image + _draw(sigma, s_sigma) * noise[:, :, None]


@register("gaussian")
def gaussian(image, seed, sigma=(0.0, 0.1)):
    """Additive white Gaussian noise with standard deviation `sigma` (in units of the [0, 1] range)."""
    s_sigma, s_noise = _seeds(seed, 2)
    noise = tf.random.stateless_normal(tf.shape(image), s_noise, dtype=image.dtype)
    return image + _draw(sigma, s_sigma) * noise


@register("salt_pepper")
def salt_pepper(image, seed, fraction=(0.0005, 0.005), salt=0.5):
    """Impulse noise: a `fraction` of the pixels set to 1 (a share `salt` of them) or to 0."""
    s_frac, s_where = _seeds(seed, 2)
    u = tf.random.stateless_uniform(tf.shape(image), s_where)
    fraction = _draw(fraction, s_frac)
    return tf.where(u < fraction, tf.where(u < fraction * salt, 1.0, 0.0), image)


@register("gaussian_blur")
def gaussian_blur(image, seed, sigma=(0.3, 1.5)):
    """Gaussian blur of width `sigma` px (a blunt tip, a slow feedback loop)."""
    return _blur(image, _draw(sigma, seed), _high(sigma))


@register("shot")
def shot(image, seed, counts=(20.0, 200.0)):
    """Counting (shot) noise: the image read as a rate, `counts` events at full scale, Poisson-drawn per pixel."""
    s_counts, s_noise = _seeds(seed, 2)
    counts = _draw(counts, s_counts)
    rate = tf.maximum(image, 0.0) * counts
    return tf.random.stateless_poisson(tf.shape(image), s_noise, rate, dtype=image.dtype) / counts


@register("speckle")
def speckle(image, seed, sigma=(0.05, 0.3)):
    """Multiplicative noise: each pixel times 1 + `sigma` · N(0, 1) (a gain that fluctuates with the signal)."""
    s_sigma, s_noise = _seeds(seed, 2)
    noise = tf.random.stateless_normal(tf.shape(image), s_noise, dtype=image.dtype)
    return image * (1.0 + _draw(sigma, s_sigma) * noise)


@register("pink")
def pink(image, seed, sigma=(0.01, 0.05), exponent=(0.5, 1.5)):
    """Isotropic 2-D noise with power ∝ 1/f^`exponent` (f the radial spatial frequency), std `sigma`: blotches
    of every size, as vibration and thermal drift leave them; unlike `flicker` it is not tied to the lines."""
    s_sigma, s_exp, s_noise = _seeds(seed, 3)
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    fy = tf.signal.fftshift(tf.cast(tf.range(h) - h // 2, tf.float32) / tf.cast(h, tf.float32))
    fx = tf.cast(tf.range(w // 2 + 1), tf.float32) / tf.cast(w, tf.float32)
    f = tf.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    gain = tf.where(f > 0, tf.pow(tf.maximum(f, 1e-6), -_draw(exponent, s_exp) / 2), 0.0)
    spectrum = tf.signal.rfft2d(tf.random.stateless_normal([h, w], s_noise)) * tf.cast(gain, tf.complex64)
    noise = tf.signal.irfft2d(spectrum, fft_length=[h, w])
    noise = noise / (tf.math.reduce_std(noise) + 1e-12)
    return image + _draw(sigma, s_sigma) * noise[:, :, None]


@register("quantize")
def quantize(image, seed, bits=(5, 8)):
    """Too coarse a digitizer: the image rounded to 2^`bits` levels over [0, 1]."""
    levels = tf.cast(tf.pow(2.0, tf.cast(_draw(bits, seed, tf.int32), tf.float32)) - 1.0, image.dtype)
    return tf.round(image * levels) / levels


def _pair_op(name: str):
    def wrap(fn):
        _PAIR_OPS[name] = fn
        return fn

    return wrap


@_pair_op("attenuate")
def attenuate(noisy, clean, seed, keep=(0.0, 1.0)):
    """The noise drawn so far times `keep`: clean + keep · (noisy - clean)."""
    return clean + _draw(keep, seed) * (noisy - clean), clean


def _percentile(image, q: float):
    flat = tf.sort(tf.reshape(image, [-1]))
    n = tf.shape(flat)[0]
    return flat[tf.cast(tf.round(q / 100.0 * tf.cast(n - 1, tf.float32)), tf.int32)]


@_pair_op("renormalize")
def renormalize(noisy, clean, seed, low=0.5, high=99.5):
    """Noisy and clean mapped by the same affine map that takes the noisy image's `low` and `high`
    percentiles to 0 and 1, both clipped to [0, 1] (a real scan is normalized by its own, noisy, range)."""
    lo, hi = _percentile(noisy, low), _percentile(noisy, high)
    scale = tf.maximum(hi - lo, 1e-6)
    return (tf.clip_by_value((noisy - lo) / scale, 0.0, 1.0),
            tf.clip_by_value((clean - lo) / scale, 0.0, 1.0))


PRESETS: dict[str, list[dict]] = {
    # Stripe bands plus Gaussian noise, as in the STM autoencoder thesis.
    "thesis": [
        {"type": "stripes", "p": 1.0, "num_stripes": (1, 10), "width": (1, 4)},
        {"type": "gaussian", "p": 1.0, "sigma": (0.0, 0.08)},
    ],
    # MAED-CNN's three: scan(-line) noise, Gaussian noise, periodic noise.
    "maed": [
        {"type": "line_offsets", "p": 1.0, "sigma": (0.0, 0.08), "exponent": (0.0, 1.5)},
        {"type": "gaussian", "p": 1.0, "sigma": (0.0, 0.08)},
        {"type": "periodic", "p": 1.0, "amplitude": (0.0, 0.06), "cycles": (2.0, 40.0), "harmonic": 0.0},
    ],
    # The whole library, in the order the instrument adds it: the tip (blur, tip change) acts on the signal,
    # then the electronics and feedback add line noise, scars, interference, white and impulse noise.
    # Strengths from the noisy real scans in ../shared/data/stm (leveled, normalized to the 0.5-99.5 %
    # percentiles): line-offset std 0.005-0.07, white noise std up to ~0.07, scars of 1-3 lines.
    "stm": [
        {"type": "gaussian_blur", "p": 0.2, "sigma": (0.3, 1.2)},
        {"type": "tip_change", "p": 0.15, "row": (0.1, 0.9), "offset": (-0.15, 0.15), "blur": (0.0, 2.0),
         "contrast": (0.7, 1.1)},
        {"type": "flicker", "p": 0.5, "sigma": (0.005, 0.03), "exponent": (0.8, 1.5)},
        {"type": "line_offsets", "p": 0.9, "sigma": (0.005, 0.07), "exponent": (0.0, 1.5)},
        {"type": "scars", "p": 0.5, "count": (1, 6), "rows": (1, 3), "length": (0.05, 0.6), "strength": (0.05, 0.4)},
        {"type": "periodic", "p": 0.25, "amplitude": (0.005, 0.04), "cycles": (2.0, 40.0), "harmonic": (0.0, 0.5)},
        {"type": "stripes", "p": 0.1, "num_stripes": (1, 4), "width": (1, 2)},
        {"type": "gaussian", "p": 0.9, "sigma": (0.003, 0.06)},
        {"type": "salt_pepper", "p": 0.1, "fraction": (0.0005, 0.005)},
    ],
    # Wider and heavier than "stm", from clean to heavy, for models meant to generalize (linespec): white noise up
    # to σ 0.1, line offsets up to 0.1 with drift exponents up to 2 (random walk), up to 5 bands of replaced rows,
    # and the scan-start creep with its outlier first lines (the 240 nm Createc survey).
    "wide": [
        {"type": "gaussian_blur", "p": 0.2, "sigma": (0.3, 1.2)},
        {"type": "tip_change", "p": 0.15, "row": (0.1, 0.9), "offset": (-0.15, 0.15), "blur": (0.0, 2.0),
         "contrast": (0.7, 1.1)},
        {"type": "creep", "p": 0.2, "offset": (0.05, 0.5), "lines": (1.0, 40.0), "outliers": (0, 2),
         "outlier_offset": (0.2, 1.0)},
        {"type": "flicker", "p": 0.5, "sigma": (0.005, 0.04), "exponent": (0.8, 1.5)},
        {"type": "line_offsets", "p": 0.9, "sigma": (0.0, 0.1), "exponent": (0.0, 2.0)},
        {"type": "scars", "p": 0.5, "count": (1, 8), "rows": (1, 3), "length": (0.05, 0.8), "strength": (0.05, 0.4)},
        {"type": "periodic", "p": 0.3, "amplitude": (0.005, 0.05), "cycles": (2.0, 60.0), "harmonic": (0.0, 0.5)},
        {"type": "stripes", "p": 0.3, "num_stripes": (1, 5), "width": (1, 3)},
        {"type": "gaussian", "p": 0.9, "sigma": (0.0, 0.1)},
        {"type": "salt_pepper", "p": 0.15, "fraction": (0.0005, 0.005)},
    ],
}
# "wide" plus light and near-clean scans (a third of the draws keep at most half of their noise) and, for half
# of the draws, the normalization of a real scan by its own noisy range (LineSpec's stage 4, issue 17).
PRESETS["wide_norm"] = [
    *PRESETS["wide"],
    {"type": "attenuate", "p": 0.3, "keep": (0.0, 0.5)},
    {"type": "renormalize", "p": 0.5, "low": 0.5, "high": 99.5},
]
# "wide_norm" plus a heavy scan-start creep (LineSpec's stage 10): the 240 nm Createc survey starts with a ramp of
# ~3.5 × its topography's range decaying over ~15 lines below 4 outlier lines; "wide" creeps reach 0.5.
PRESETS["wide_creep"] = [
    *PRESETS["wide"],
    {"type": "creep", "p": 0.1, "offset": (0.5, 4.0), "lines": (3.0, 60.0), "outliers": (0, 4),
     "outlier_offset": (0.5, 4.0)},
    *PRESETS["wide_norm"][len(PRESETS["wide"]):],
]

# "wide_norm" plus, in a quarter of the draws, noise "wide" lacks (LineSpec's stage 23): white noise and impulses up
# to three and ten times heavier, counting (shot) noise, 2-D 1/f blotches and a coarse digitizer. `speckle` stays
# out of every preset, so bench/other_noise.py keeps one noise type no model trained on.
PRESETS["wide_more"] = [
    *PRESETS["wide"],
    {"type": "shot", "p": 0.06, "counts": (10.0, 200.0)},
    {"type": "pink", "p": 0.06, "sigma": (0.01, 0.06), "exponent": (0.5, 1.5)},
    {"type": "gaussian", "p": 0.06, "sigma": (0.1, 0.3)},
    {"type": "salt_pepper", "p": 0.06, "fraction": (0.005, 0.06)},
    {"type": "quantize", "p": 0.06, "bits": (3, 7)},
    *PRESETS["wide_norm"][len(PRESETS["wide"]):],
]


def resolve(spec) -> list[dict]:
    """A preset name or a list of noise specs → validated list of specs (clear error on bad names/params)."""
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"unknown noise preset {spec!r}; known: {', '.join(sorted(PRESETS))}")
        spec = PRESETS[spec]
    specs = []
    for item in spec:
        item = dict(item)
        kind = item.pop("type", None)
        if kind not in _NOISES and kind not in _PAIR_OPS:
            raise ValueError(f"unknown noise type {kind!r}; known: {', '.join(names())}")
        p = float(item.pop("p", 1.0))
        fn = _NOISES.get(kind) or _PAIR_OPS[kind]
        first = 2 if kind in _NOISES else 3  # (image, seed) or (noisy, clean, seed)
        allowed = set(fn.__code__.co_varnames[first : fn.__code__.co_argcount])
        unknown = set(item) - allowed
        if unknown:
            raise ValueError(f"noise {kind!r} has no parameter {sorted(unknown)[0]!r}; known: {sorted(allowed)}")
        specs.append({"type": kind, "p": p, **item})
    return specs


def apply(image, seed, spec) -> tf.Tensor:
    """The noisy image of `apply_pair` (clean `image` → noisy, in [0, 1])."""
    return apply_pair(image, seed, spec)[0]


def apply_pair(image, seed, spec) -> tuple[tf.Tensor, tf.Tensor]:
    """Apply a composition of noises in order, each with its probability; clip the result to [0, 1].
    Returns (noisy, clean): clean is `image`, or its renormalized copy after a `renormalize`.
    A noise that is not drawn is not computed (`tf.cond`)."""
    specs = resolve(spec)
    if not specs:
        return image, image
    noisy, clean = image, image
    for item, s in zip(specs, _seeds(seed, len(specs))):
        params = {k: v for k, v in item.items() if k not in ("type", "p")}
        s_p, s_fn = _seeds(s, 2)
        if item["type"] in _PAIR_OPS:
            op = _PAIR_OPS[item["type"]]
        else:
            fn = _NOISES[item["type"]]
            op = lambda noisy, clean, s, fn=fn, **kw: (fn(noisy, s, **kw), clean)  # noqa: E731
        if item["p"] >= 1.0:
            noisy, clean = op(noisy, clean, s_fn, **params)
        elif item["p"] > 0.0:
            noisy, clean = tf.cond(
                tf.random.stateless_uniform([], s_p) < item["p"],
                lambda op=op, noisy=noisy, clean=clean, s_fn=s_fn, params=params: op(noisy, clean, s_fn, **params),
                lambda noisy=noisy, clean=clean: (noisy, clean),
            )
    return tf.clip_by_value(noisy, 0.0, 1.0), clean
