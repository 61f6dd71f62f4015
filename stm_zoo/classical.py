"""Classical denoisers, listed beside the deep models in `stm-zoo eval`.

Every baseline is `fn(image) -> image`: a 2-D float array in [0, 1] in, a float32 array of the same shape out
(not clipped). `BASELINES` maps names to them; `names()` and `get(name)` look them up.
"""

import importlib.util
from typing import Callable

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

from stm_zoo.level import align_rows

# Gwyddion's "Remove Scars" defaults (modules/process/scars.c)
SCAR_THRESHOLD_HIGH = 0.666
SCAR_THRESHOLD_LOW = 0.25
SCAR_MIN_LENGTH = 16
SCAR_MAX_WIDTH = 4


def _as_image(image) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinite values")
    return image


def _mark_positive_scars(z: np.ndarray, threshold_high, threshold_low, min_length, max_width) -> np.ndarray:
    """Gwyddion's `gwy_data_field_mark_scars` for ridges, vectorised over pixels."""
    h, w = z.shape
    max_width = min(max_width, h - 2)
    threshold_high = max(threshold_high, threshold_low)
    if min_length > w or max_width < 1 or threshold_low <= 0:
        return np.zeros(z.shape, bool)
    rms = np.sqrt(np.sum(np.diff(z, axis=0) ** 2) / z.size)  # "vertical RMS", as Gwyddion divides it
    if rms == 0:
        return np.zeros(z.shape, bool)

    # A band of k ≤ max_width rows (i+1 .. i+k) whose lowest value stands threshold_low·rms above both rows
    # around it (i and i+k+1); the narrowest such band wins. Each band pixel gets its height above them in rms.
    starts = h - (max_width + 1)
    strength = np.zeros(z.shape)
    found = np.zeros((starts, w), bool)
    band_min = z[1 : 1 + starts]
    for k in range(1, max_width + 1):
        band_min = np.minimum(band_min, z[k : k + starts])
        around = np.maximum(z[:starts], z[k + 1 : k + 1 + starts])
        hit = ~found & (band_min - around >= threshold_low * rms)
        found |= hit
        for r in range(1, k + 1):
            rise = np.where(hit, (z[r : r + starts] - around) / rms, 0.0)
            np.maximum(strength[r : r + starts], rise, out=strength[r : r + starts])

    # Along each row: runs above threshold_low that contain a pixel above threshold_high, if min_length long.
    runs, n_runs = ndimage.label(strength >= threshold_low, structure=[[0, 0, 0], [1, 1, 1], [0, 0, 0]])
    if n_runs == 0:
        return np.zeros(z.shape, bool)
    flat_runs = runs.ravel()
    seeded = np.bincount(flat_runs, weights=(strength >= threshold_high).ravel(), minlength=n_runs + 1)[1:] > 0
    long_enough = np.bincount(flat_runs, minlength=n_runs + 1)[1:] >= min_length
    keep = np.concatenate([[False], seeded & long_enough])
    return keep[runs]


def mark_scars(
    image,
    threshold_high: float = SCAR_THRESHOLD_HIGH,
    threshold_low: float = SCAR_THRESHOLD_LOW,
    min_length: int = SCAR_MIN_LENGTH,
    max_width: int = SCAR_MAX_WIDTH,
) -> np.ndarray:
    """Boolean mask of scars as Gwyddion marks them: horizontal runs ≥ `min_length` px, ≤ `max_width` rows wide,
    standing out from the rows above and below by `threshold_high` × the vertical RMS difference (extended along
    the row while above `threshold_low`), ridges and trenches alike."""
    z = _as_image(image)
    args = (threshold_high, threshold_low, min_length, max_width)
    return _mark_positive_scars(z, *args) | _mark_positive_scars(-z, *args)


def laplace_fill(image, mask) -> np.ndarray:
    """Replace the `mask`ed pixels by the solution of Laplace's equation with the other pixels as boundary values
    (Gwyddion's `gwy_data_field_laplace_solve`). A scar a few rows tall is thus filled from the rows above and
    below it; the sparse system has one unknown per masked pixel."""
    z = _as_image(image)
    mask = np.asarray(mask, bool)
    if mask.shape != z.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {z.shape}")
    if mask.all():
        raise ValueError("laplace_fill: every pixel is masked, nothing to interpolate from")
    out = z.copy()
    n = int(mask.sum())
    if n == 0:
        return out
    h, w = z.shape
    unknown = np.full(z.shape, -1)
    unknown[mask] = np.arange(n)
    rows, cols = np.nonzero(mask)
    diagonal = np.zeros(n)
    rhs = np.zeros(n)
    off_rows, off_cols = [], []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = rows + dy, cols + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        me, ny, nx = unknown[rows[inside], cols[inside]], ny[inside], nx[inside]
        diagonal[me] += 1
        other = unknown[ny, nx]
        is_unknown = other >= 0
        off_rows.append(me[is_unknown])
        off_cols.append(other[is_unknown])
        np.add.at(rhs, me[~is_unknown], z[ny[~is_unknown], nx[~is_unknown]])
    off_rows, off_cols = np.concatenate(off_rows), np.concatenate(off_cols)
    matrix = sparse.csr_matrix(
        (np.concatenate([diagonal, -np.ones(len(off_rows))]),
         (np.concatenate([np.arange(n), off_rows]), np.concatenate([np.arange(n), off_cols]))),
        shape=(n, n),
    )
    out[mask] = spsolve(matrix, rhs)
    return out


def remove_scars(image, **mark_kwargs) -> np.ndarray:
    """Gwyddion's "Remove Scars": mark scars (defaults as Gwyddion's) and fill them by Laplace interpolation.

    Like Gwyddion's, it also takes atom rows that run along the scan lines for scars (7–25 % of the pixels of
    the graphene PNGs in shared/), which costs lattice peak amplitude: that is the baseline users have today."""
    z = _as_image(image)
    return laplace_fill(z, mark_scars(z, **mark_kwargs)).astype(np.float32)


def median3(image) -> np.ndarray:
    """3×3 median filter (scipy.ndimage, edges mirrored)."""
    return ndimage.median_filter(_as_image(image), size=3, mode="reflect").astype(np.float32)


def _align(image, method: str, **kwargs) -> np.ndarray:
    z = _as_image(image)
    aligned = np.asarray(align_rows(z, method=method, **kwargs), dtype=np.float64)
    return aligned + (z.mean() - aligned.mean())  # keep the image's mean level, so it stays comparable in [0, 1]


def align_median(image) -> np.ndarray:
    """Gwyddion "Align rows", median: shift each row so its median matches."""
    return _align(image, "median").astype(np.float32)


def align_median_diff(image) -> np.ndarray:
    """Gwyddion "Align rows", median of differences: shift each row by the median step from the row above."""
    return _align(image, "median_diff").astype(np.float32)


def align_poly(image) -> np.ndarray:
    """Gwyddion "Align rows", polynomial: subtract a degree-1 fit from each row (Gwyddion's default degree)."""
    return _align(image, "poly", degree=1).astype(np.float32)


def align_scars(image) -> np.ndarray:
    """What Gwyddion users do today: align rows (median), then remove scars."""
    return remove_scars(_align(image, "median"))


def bm3d_available() -> bool:
    """Whether the optional `bm3d` package (the `baselines` extra) is installed."""
    return importlib.util.find_spec("bm3d") is not None


def bm3d(image, sigma: float | None = None) -> np.ndarray:
    """BM3D (Dabov et al. 2007, the `bm3d` package); noise sigma estimated by scikit-image when not given."""
    try:
        import bm3d as bm3d_package
    except ImportError:
        raise ImportError("BM3D needs `pip install stm-zoo[baselines]`") from None
    from skimage.restoration import estimate_sigma

    z = _as_image(image)
    if sigma is None:
        sigma = float(estimate_sigma(z))
    if sigma <= 0:
        return z.astype(np.float32)
    return np.asarray(bm3d_package.bm3d(z, sigma_psd=sigma), dtype=np.float32)


BASELINES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "align_median": align_median,
    "align_median_diff": align_median_diff,
    "align_poly": align_poly,
    "remove_scars": remove_scars,
    "align_scars": align_scars,
    "median3": median3,
    "bm3d": bm3d,
}


def names() -> list[str]:
    return list(BASELINES)


def get(name: str) -> Callable[[np.ndarray], np.ndarray]:
    try:
        return BASELINES[name]
    except KeyError:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}") from None
