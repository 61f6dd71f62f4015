"""Denoise images of any size: level → normalize → overlapping tiles → model → smooth blend → inverse.

One tiling routine serves every model. Tiles have one fixed shape (a multiple of 64, so every zoo model's
stride or window fits) and are fed in fixed-size batches, so the model compiles once per tile shape and memory
stays flat as the image grows.
"""

import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np

TILE_MULTIPLE = 64
_FAST_GRAPHS = weakref.WeakKeyDictionary()  # model → its `scale.fast_graph`, compiled once per model


def load_model(spec):
    """A keras.Model as is, a path to a `.keras` file, or the name of a pretrained zoo model."""
    import keras

    if isinstance(spec, keras.Model):
        return spec
    path = Path(str(spec))
    if path.suffix == ".keras":
        if not path.is_file():
            raise ValueError(f"{path}: model file not found")
        import stm_zoo.models  # noqa: F401  (registers stm_zoo's custom layers)

        return keras.saving.load_model(path)
    from stm_zoo import weights

    return weights.load(str(spec))


def _fast_graph(model):
    from stm_zoo import scale

    if model not in _FAST_GRAPHS:
        _FAST_GRAPHS[model] = scale.fast_graph(model)
    return _FAST_GRAPHS[model]


def _window_1d(n: int, overlap: int) -> np.ndarray:
    """1 in the middle, a raised-cosine ramp over `overlap` pixels at both ends (never exactly 0)."""
    w = np.ones(n)
    if overlap > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap) + 0.5) / overlap)
        w[:overlap] = ramp
        w[n - overlap :] = ramp[::-1]
    return w


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def predict_tiled(model, image: np.ndarray, tile: int = 256, overlap: int = 32, batch_size: int = 4) -> np.ndarray:
    """Apply `model` to a 2-D float image in [0, 1] of any size; returns float32 of the same shape.

    Images no larger than one tile are run whole (padded by reflection to a multiple of 64). Larger images
    are cut into `tile`² tiles overlapping by `overlap` pixels and blended with a raised-cosine window.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    if tile % TILE_MULTIPLE:
        raise ValueError(f"tile must be a multiple of {TILE_MULTIPLE}, got {tile}")
    if not 0 <= overlap < tile // 2:
        raise ValueError(f"overlap must be in [0, tile/2), got {overlap}")
    h, w = image.shape
    th = min(tile, _round_up(h, TILE_MULTIPLE))
    tw = min(tile, _round_up(w, TILE_MULTIPLE))
    padded = np.pad(image, ((0, max(th - h, 0)), (0, max(tw - w, 0))), mode="reflect" if min(h, w) > 1 else "edge")
    ph, pw = padded.shape
    ys = _starts(ph, th, th - overlap)
    xs = _starts(pw, tw, tw - overlap)
    positions = [(y, x) for y in ys for x in xs]
    oy = overlap if len(ys) > 1 else 0
    ox = overlap if len(xs) > 1 else 0
    weight = np.outer(_window_1d(th, oy), _window_1d(tw, ox)).astype(np.float32)
    total = np.zeros((ph, pw), np.float32)
    norm = np.zeros((ph, pw), np.float32)
    batch_size = min(batch_size, len(positions))  # a one-tile image runs as a batch of one
    forward = _fast_graph(model)  # the same values, faster on XLA:CPU
    batch = np.zeros((batch_size, th, tw, 1), np.float32)
    for i in range(0, len(positions), batch_size):
        chunk = positions[i : i + batch_size]
        for j, (y, x) in enumerate(chunk):
            batch[j, :, :, 0] = padded[y : y + th, x : x + tw]
        out = np.asarray(forward.predict_on_batch(batch), np.float32)  # full batch: one compiled shape
        for j, (y, x) in enumerate(chunk):
            total[y : y + th, x : x + tw] += out[j, :, :, 0] * weight
            norm[y : y + th, x : x + tw] += weight
    return (total / norm)[:h, :w]


def denoise(data, model, tile: int = 256, overlap: int = 32, batch_size: int = 4):
    """Denoise a 2-D array or a `stm_zoo.io.Scan` and return the same type, in the input's units.

    The plane fit removed before the model is added back, and the robust [0, 1] normalization is inverted,
    so a result in metres stays in metres and a [0, 1] array stays in [0, 1].
    """
    from stm_zoo import level
    from stm_zoo.io import Scan

    model = load_model(model)
    array = data.data if isinstance(data, Scan) else np.asarray(data, np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("image contains NaN or Inf")
    leveled = level.plane_fit(array)
    plane = array - leveled
    normalized, norm = level.normalize(leveled)
    denoised = predict_tiled(model, normalized, tile=tile, overlap=overlap, batch_size=batch_size)
    result = norm.inverse(denoised) + plane
    if isinstance(data, Scan):
        return replace(data, data=result.astype(np.float32), metadata={**data.metadata, "denoised_by": model.name})
    return result.astype(np.float32)
