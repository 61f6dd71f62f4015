"""Denoise images of any size: level → normalize → overlapping tiles → model → blend → inverse → level.

One tiling routine serves every model. Tiles have one fixed shape (a multiple of 64, so every zoo model's
stride or window fits) and are fed in fixed-size batches, so the model compiles once per tile shape and memory
stays flat as the image grows. A model with layers that see the whole image (`whole_image = True`: LineSpec's
whole-line and Fourier layers) gets 1024² tiles, one at a time, so a scan up to 1024² runs whole; every other
model 256² tiles, four at a time. Partial scans keep their shape: NaN where nothing was measured.
"""

import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np

TILE_MULTIPLE = 64
LOCAL_TILE, WHOLE_IMAGE_TILE = 256, 1024
BATCH_PIXELS = 4 * LOCAL_TILE * LOCAL_TILE  # pixels per batch of tiles when the batch size is not given
LEVELS = ("plane", "rows", "none")  # leveling of the result; see `denoise`
_FAST_GRAPHS = weakref.WeakKeyDictionary()  # model → its `models.fast_graph.fast_graph`, compiled once per model


def _fast_graph(model):
    from stm_zoo.models.fast_graph import fast_graph

    if model not in _FAST_GRAPHS:
        _FAST_GRAPHS[model] = fast_graph(model)
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


def default_tile(model) -> int:
    """1024 for a model with a layer that sees the whole image (`whole_image`), else 256."""
    return WHOLE_IMAGE_TILE if any(getattr(layer, "whole_image", False) for layer in model.layers) else LOCAL_TILE


def check_options(tile: int | None = None, overlap: int = 32, level: str = "plane") -> None:
    """Raise a one-line ValueError for a tile, overlap or level that `denoise` refuses (cheap: no model).
    tile None: the model's `default_tile`."""
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile <= 0
                             or tile % TILE_MULTIPLE):
        raise ValueError(f"tile must be a positive multiple of {TILE_MULTIPLE}, got {tile}")
    smallest = LOCAL_TILE if tile is None else tile
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or not 0 <= overlap < smallest // 2:
        raise ValueError(f"overlap must be in [0, {smallest // 2}), got {overlap}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")


def predict_tiled(model, image: np.ndarray, tile: int | None = None, overlap: int = 32, batch_size: int | None = None,
                  progress=None) -> np.ndarray:
    """Apply `model` to a 2-D float image in [0, 1] of any size; returns float32 of the same shape.

    Images no larger than one tile are run whole (padded by reflection to a multiple of 64). Larger images
    are cut into `tile`² tiles (default: `default_tile(model)`) overlapping by `overlap` pixels and blended with
    a raised-cosine window, `batch_size` tiles at a time (default: as many as fit 4 × 256² pixels, at least one).
    `progress(done, total)` is called with the tiles done after each batch of tiles.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    tile = default_tile(model) if tile is None else tile
    check_options(tile, overlap)
    batch_size = max(1, BATCH_PIXELS // (tile * tile)) if batch_size is None else batch_size
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
        if progress is not None:
            progress(i + len(chunk), len(positions))
    total /= norm
    return total[:h, :w]


def denoise(data, model, tile: int | None = None, overlap: int = 32, batch_size: int | None = None,
            level: str = "plane", progress=None):
    """Denoise a 2-D array or a `stm_zoo.io.Scan`; returns the same type and shape, in the input's units.

    The plane fitted to the input is removed and a robust [0, 1] normalization applied for the model, then
    inverted, so a result in metres stays in metres. `level` sets how the result is leveled:

    - "plane" (default): plane-leveled with zero mean, as Gwyddion's "Plane level": the input's tilt and
      offset (sample tilt, piezo offset, the tilt that line-offset drift adds) are not put back;
    - "rows": row offsets the model left are removed first (Gwyddion's "Align rows", median of differences),
      then plane-leveled;
    - "none": the input's plane is added back: absolute heights and tilt as in the file.

    NaN/Inf pixels are allowed: rows with no finite pixel (an aborted scan) are not denoised, other NaN/Inf
    pixels get their nearest finite neighbour's value for the model; all are NaN in the result
    (`describe_missing` says so in one line). tile, overlap and level are checked before `model` loads.
    tile, batch_size, `progress(done, total)`: as in `predict_tiled`.
    """
    from stm_zoo import level as leveling
    from stm_zoo.io import Scan

    check_options(tile, overlap, level)
    array = data.data if isinstance(data, Scan) else np.asarray(data, np.float64)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {array.shape}")
    finite = np.isfinite(array)
    scanned = np.flatnonzero(finite.any(axis=1))
    if scanned.size == 0:
        raise ValueError(f"no finite pixel in the image of shape {array.shape}: nothing to denoise")
    from stm_zoo import models

    model = models.load(model)
    top, bottom = scanned[0], scanned[-1] + 1  # unscanned rows above and below stay NaN
    holes = ~finite[top:bottom]
    any_holes = bool(holes.any())
    part = np.where(holes, np.nan, array[top:bottom]) if any_holes else array[top:bottom]
    plane = leveling.fit_plane(part)
    leveled = part - plane
    del part
    if level != "none":
        del plane  # large scans: only `none` puts it back
    try:
        normalized, norm = leveling.normalize(leveled)
    except ValueError:
        raise ValueError(f"the image of shape {array.shape} is a plane (constant after leveling): "
                         "nothing to denoise") from None
    if any_holes:
        normalized = norm.apply(leveling.fill_nonfinite(leveled))
    del leveled
    result = norm.inverse(predict_tiled(model, normalized, tile=tile, overlap=overlap, batch_size=batch_size,
                                        progress=progress))
    del normalized
    if level == "rows":
        result = leveling.align_rows(result, "median_diff")
    result[holes] = np.nan
    if level == "none":
        result += plane
    else:
        result -= leveling.fit_plane(result)
    if bottom - top < array.shape[0]:
        result = np.concatenate([np.full((top, array.shape[1]), np.nan), result,
                                 np.full((array.shape[0] - bottom, array.shape[1]), np.nan)])
    result = result.astype(np.float32)
    if isinstance(data, Scan):
        return replace(data, data=result, metadata={**data.metadata, "denoised_by": model.name, "level": level})
    return result


def describe_missing(array) -> str | None:
    """One line on what `denoise` does with the NaN/Inf of `array` (None when every pixel is finite), e.g.
    "452 of 512 rows unscanned (NaN), denoised the 60 scanned rows"."""
    finite = np.isfinite(np.asarray(array))
    scanned = finite.any(axis=1)
    rows, kept = finite.shape[0], int(scanned.sum())
    if kept == 0:
        return None  # `denoise` refuses it
    parts = []
    if kept < rows:
        parts.append(f"{rows - kept} of {rows} rows unscanned (NaN), denoised the {kept} scanned row{'s' * (kept > 1)}")
    holes = int((~finite[scanned]).sum())
    if holes:
        parts.append(f"{holes} NaN/Inf pixel{'s' * (holes > 1)} inside {'them' if parts else 'the scan'} "
                     "filled for the model, NaN in the result")
    return "; ".join(parts) or None


def batch_targets(inputs, output, suffix) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Where batch denoising writes each input: ([(input, output file)], [(skipped input, why)]).

    `suffix` is the output extension (".npy"), or a function of the input path giving it
    (`stm_zoo.io.output_format`: each input in its own format).
    `inputs` are files and folders (searched recursively by `stm_zoo.io.find_scans`). A file found in
    a folder keeps its path relative to that folder (subfolders are mirrored under `output`); a file given
    by itself goes to `output`. Inputs that would share an output name get their extension added to the stem
    (x.sxm, x.dat → x_sxm.npy, x_dat.npy; x.gwy, x.dat → x_gwy.gwy, x_dat.gwy); a name still shared (the same
    relative path under two folders) is written once, from the first input, and the others are skipped. Files under `output` when it lies inside
    an input folder (results of an earlier run) are not inputs; a file listed twice counts once.
    Raises ValueError for an input that does not exist.
    """
    from stm_zoo import io

    output = Path(output)
    out_dir = output.resolve()
    found, seen = [], set()
    for item in map(Path, inputs):
        if item.is_dir():
            base = item.resolve()
            skip_out = out_dir != base and out_dir.is_relative_to(base)
            candidates = [(p, p.relative_to(item)) for p in io.find_scans(item)
                          if not (skip_out and p.resolve().is_relative_to(out_dir))]
        elif item.exists():
            candidates = [(item, Path(item.name))]
        else:
            raise ValueError(f"{item}: no such file or folder")
        for path, rel in candidates:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append((path, rel))
    ends = [suffix(path) if callable(suffix) else suffix for path, _ in found]
    plain = [rel.parent / f"{rel.stem}{end}" for (_, rel), end in zip(found, ends)]
    suffixes = {}
    for (_, rel), name in zip(found, plain):
        suffixes.setdefault(name, set()).add(rel.suffix.lower())
    names = [rel.parent / f"{rel.stem}_{rel.suffix.lower().lstrip('.')}{end}" if len(suffixes[name]) > 1 else name
             for (_, rel), name, end in zip(found, plain, ends)]
    jobs, skipped, source_of = [], [], {}
    for (path, _), name in zip(found, names):
        if name in source_of:
            skipped.append((path, f"its output {output / name} is written from {source_of[name]} in this run"))
        else:
            source_of[name] = path
            jobs.append((path, output / name))
    return jobs, skipped
