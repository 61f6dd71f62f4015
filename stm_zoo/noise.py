"""STM noise, synthesized on the fly inside `tf.data`.

Every noise type is one function `fn(image, seed, **params) -> image` on a single float32 image of shape
(H, W, 1) with values in [0, 1]; `seed` is a shape-(2,) int tensor for TensorFlow's stateless random ops, so a
draw is a pure function of its seed (deterministic under a seed, different for every element and epoch when
the pipeline feeds fresh seeds). Rows are the fast-scan lines: stripes run along axis 1 (W).

A parameter given as a pair `(low, high)` is drawn uniformly per image; a scalar is used as is.
A recipe composes noises as a list of specs `{"type": name, "p": probability, **params}` or names a preset.
"""

from typing import Callable

import tensorflow as tf

NoiseFn = Callable[..., tf.Tensor]
_NOISES: dict[str, NoiseFn] = {}


def register(name: str):
    def wrap(fn):
        _NOISES[name] = fn
        return fn

    return wrap


def names() -> list[str]:
    return sorted(_NOISES)


def _draw(value, seed, dtype=tf.float32):
    """A scalar parameter, or a uniform draw from a (low, high) range."""
    if isinstance(value, (tuple, list)):
        low, high = value
        if dtype.is_integer:
            return tf.random.stateless_uniform([], seed, int(low), int(high) + 1, dtype=dtype)
        return tf.random.stateless_uniform([], seed, float(low), float(high), dtype=dtype)
    return tf.constant(value, dtype)


def _seeds(seed, n: int):
    return tf.unstack(tf.random.experimental.stateless_split(seed, n))


@register("stripes")
def stripes(image, seed, num_stripes=(1, 10), width=(1, 4)):
    """The thesis' stripe bands: `num_stripes` horizontal bands, each with a random start row and random
    width; pixels inside a band are replaced by uniform random values, the rest are kept."""
    h = tf.shape(image)[0]
    s_n, s_start, s_width, s_val = _seeds(seed, 4)
    n_max = int(num_stripes[1]) if isinstance(num_stripes, (tuple, list)) else int(num_stripes)
    n = _draw(num_stripes, s_n, tf.int32)
    w_lo, w_hi = (width, width) if not isinstance(width, (tuple, list)) else width
    starts = tf.random.stateless_uniform([n_max], s_start, 0, h, dtype=tf.int32)
    widths = tf.random.stateless_uniform([n_max], s_width, int(w_lo), int(w_hi) + 1, dtype=tf.int32)
    active = tf.range(n_max) < n
    rows = tf.range(h)[:, None]
    in_band = (rows >= starts[None, :]) & (rows < (starts + widths)[None, :]) & active[None, :]
    row_mask = tf.reduce_any(in_band, axis=1)[:, None, None]
    values = tf.random.stateless_uniform(tf.shape(image), s_val, dtype=image.dtype)
    return tf.where(row_mask, values, image)


@register("gaussian")
def gaussian(image, seed, sigma=(0.0, 0.1)):
    """Additive white Gaussian noise with standard deviation `sigma` (in units of the [0, 1] range)."""
    s_sigma, s_noise = _seeds(seed, 2)
    noise = tf.random.stateless_normal(tf.shape(image), s_noise, dtype=image.dtype)
    return image + _draw(sigma, s_sigma) * noise


PRESETS: dict[str, list[dict]] = {
    # Stripe bands plus Gaussian noise, as in the STM autoencoder thesis.
    "thesis": [
        {"type": "stripes", "p": 1.0, "num_stripes": (1, 10), "width": (1, 4)},
        {"type": "gaussian", "p": 1.0, "sigma": (0.0, 0.08)},
    ],
}


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
        if kind not in _NOISES:
            raise ValueError(f"unknown noise type {kind!r}; known: {', '.join(names())}")
        p = float(item.pop("p", 1.0))
        fn = _NOISES[kind]
        allowed = set(fn.__code__.co_varnames[2 : fn.__code__.co_argcount])
        unknown = set(item) - allowed
        if unknown:
            raise ValueError(f"noise {kind!r} has no parameter {sorted(unknown)[0]!r}; known: {sorted(allowed)}")
        specs.append({"type": kind, "p": p, **item})
    return specs


def apply(image, seed, spec) -> tf.Tensor:
    """Apply a composition of noises in order, each with its probability; clip the result to [0, 1]."""
    specs = resolve(spec)
    if not specs:
        return image
    for item, s in zip(specs, _seeds(seed, len(specs))):
        params = {k: v for k, v in item.items() if k not in ("type", "p")}
        s_p, s_fn = _seeds(s, 2)
        noisy = _NOISES[item["type"]](image, s_fn, **params)
        if item["p"] >= 1.0:
            image = noisy
        else:
            image = tf.where(tf.random.stateless_uniform([], s_p) < item["p"], noisy, image)
    return tf.clip_by_value(image, 0.0, 1.0)
