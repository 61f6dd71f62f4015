"""Leveling, gap filling and an invertible normalization, in numpy (and scipy for the filling).

`plane_fit` and `align_rows` are the classical first steps of STM processing (Gwyddion's "Plane level" and
"Align rows") and the baselines listed in `stm_zoo.classical`. `normalize` maps a scan to [0, 1] for a
model with robust percentiles and returns the `Normalization` that maps the model's output back to the
scan's units. `fill_nonfinite` gives a model finite input where a scan has NaN/Inf pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALIGN_METHODS = ("median", "median_diff", "poly")


def _as_image(data) -> np.ndarray:
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"expected a non-empty 2-D image, got shape {data.shape}")
    return data


def fit_plane(data) -> np.ndarray:
    """The least-squares plane `a + b*x + c*y` of `data`'s finite pixels, evaluated at every pixel."""
    data = _as_image(data)
    rows, cols = data.shape
    x = np.arange(cols) / max(cols - 1, 1) - 0.5  # centred, unit range: a well-conditioned fit
    y = np.arange(rows) / max(rows - 1, 1) - 0.5
    ok = np.isfinite(data)
    complete = ok.all()
    z = data if complete else np.where(ok, data, 0.0)
    # Normal equations from row and column sums: no N×3 design matrix, so memory stays at one image.
    per_col, per_row = ok.sum(axis=0), ok.sum(axis=1)
    sxy = x.sum() * y.sum() if complete else y @ np.einsum("ij,j->i", ok, x)
    normal = np.array([[ok.sum(), per_col @ x, per_row @ y],
                       [per_col @ x, per_col @ x**2, sxy],
                       [per_row @ y, sxy, per_row @ y**2]], dtype=np.float64)
    rhs = np.array([z.sum(), z.sum(axis=0) @ x, z.sum(axis=1) @ y])
    coef, *_ = np.linalg.lstsq(normal, rhs, rcond=None)
    return coef[0] + coef[1] * x[None, :] + coef[2] * y[:, None]


def plane_fit(data) -> np.ndarray:
    """`data` minus its least-squares plane `a + b*x + c*y` (fitted on finite pixels; NaN stay NaN).

    Removes the sample tilt; the result has zero mean over the finite pixels.
    """
    data = _as_image(data)
    return data - fit_plane(data)


def fill_nonfinite(data) -> np.ndarray:
    """A copy of `data` with every NaN/Inf pixel replaced by its nearest finite pixel.

    For a model that needs finite input: a glitch takes a neighbour's value, the missing end of an aborted
    line takes the line above it. Raises ValueError when no pixel is finite.
    """
    data = _as_image(data)
    bad = ~np.isfinite(data)
    if not bad.any():
        return data.copy()
    if bad.all():
        raise ValueError(f"no finite pixel to fill from in an image of shape {data.shape}")
    from scipy import ndimage

    nearest = ndimage.distance_transform_edt(bad, return_distances=False, return_indices=True)
    return data[tuple(nearest)]


def align_rows(data, method: str = "median", degree: int = 1) -> np.ndarray:
    """Remove line-by-line offsets along the fast scan axis (rows), as Gwyddion's "Align rows".

    - "median": subtract each row's median (robust to features covering less than half a row).
    - "median_diff": shift each row so that the median of its difference to the row above is zero, then
      restore the overall median; matches neighbouring lines instead of a per-row statistic, so terraces
      and large features that cover different fractions of each row (which shift "median") survive.
    - "poly": subtract from each row its least-squares polynomial in x of `degree` (degree 0 is the mean).

    `data` must be finite. Returns a new float64 array.
    """
    data = _as_image(data)
    if not np.isfinite(data).all():
        raise ValueError("align_rows needs finite data (crop or fill NaN/Inf first)")
    if method == "median":
        return data - np.median(data, axis=1, keepdims=True)
    if method == "median_diff":
        steps = np.median(np.diff(data, axis=0), axis=1)
        offsets = np.concatenate([[0.0], np.cumsum(steps)])
        aligned = data - offsets[:, None]
        return aligned - np.median(aligned) + np.median(data)
    if method == "poly":
        if int(degree) != degree or degree < 0:
            raise ValueError(f"degree must be a non-negative integer, got {degree!r}")
        cols = data.shape[1]
        x = np.linspace(-1.0, 1.0, cols)
        vander = np.vander(x, int(degree) + 1)
        coef, *_ = np.linalg.lstsq(vander, data.T, rcond=None)
        return data - (vander @ coef).T
    raise ValueError(f"unknown align_rows method {method!r}; choose one of {', '.join(ALIGN_METHODS)}")


@dataclass(frozen=True)
class Normalization:
    """The affine map between a scan's units and [0, 1]: `array01 = (data - offset) / scale`."""

    offset: float
    scale: float

    def apply(self, data) -> np.ndarray:
        """`data` in [0, 1] (clipped), float32."""
        out = np.subtract(data, self.offset, dtype=np.float64)  # one float64 temporary: large scans
        out /= self.scale
        return np.clip(out, 0.0, 1.0, out=out).astype(np.float32)

    def inverse(self, array01) -> np.ndarray:
        """Back to the scan's units (float64): `array01 * scale + offset`."""
        out = np.multiply(array01, self.scale, dtype=np.float64)
        out += self.offset
        return out


def prepare(data) -> tuple[np.ndarray, Normalization]:
    """A raw topograph as the models see it: plane removed, then mapped to [0, 1] (`normalize`)."""
    return normalize(plane_fit(data))


def normalize(data, low: float = 0.5, high: float = 99.5) -> tuple[np.ndarray, Normalization]:
    """Map `data` to [0, 1] between its `low` and `high` percentiles; returns (float32 array, Normalization).

    Values outside the percentile range are clipped to 0 or 1, so `inverse` restores exactly the pixels
    inside it (use low=0, high=100 for a lossless round trip). When the percentiles coincide (almost every
    pixel equal) the full min-max range is used; a constant image raises ValueError.
    """
    data = _as_image(data)
    if not 0 <= low < high <= 100:
        raise ValueError(f"need 0 <= low < high <= 100, got low={low}, high={high}")
    ok = np.isfinite(data)
    finite = data.ravel() if ok.all() else data[ok]
    if finite.size == 0:
        raise ValueError("cannot normalize: no finite values")
    lo, hi = np.percentile(finite, [low, high])
    if hi <= lo:
        lo, hi = finite.min(), finite.max()
    if hi <= lo:
        raise ValueError(f"cannot normalize a constant image (every value is {lo:g})")
    norm = Normalization(offset=float(lo), scale=float(hi - lo))
    return norm.apply(data), norm
