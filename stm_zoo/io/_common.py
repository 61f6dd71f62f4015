"""What every reader shares: the `Scan` record, `ReadError`, channel matching and the final clean-up
(orientation is each reader's job; cropping never-scanned rows and rejecting unusable data is done here)."""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DIRECTIONS = ("forward", "backward")

# Names a file may give the channels a user asks for as "Z" or "Current" (compared lower-case).
CHANNEL_ALIASES = {
    "z": ("z", "topography", "topo", "height", "z (m)"),
    "current": ("current", "i", "it", "tunnel current", "current (a)"),
}

# Case matters: "A" is ampere, angstrom is "Å", "AA" or "Ang".
LENGTH_UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "nm": 1e-9, "Å": 1e-10, "Å": 1e-10,
                "AA": 1e-10, "Ang": 1e-10, "Angstrom": 1e-10, "angstrom": 1e-10, "pm": 1e-12}
CURRENT_UNITS = {"A": 1.0, "mA": 1e-3, "uA": 1e-6, "µA": 1e-6, "μA": 1e-6, "nA": 1e-9, "pA": 1e-12, "fA": 1e-15}


# Set by `read(..., unscanned="keep")`: `finish` keeps the full image, NaN where nothing was measured.
_KEEP_UNSCANNED = contextvars.ContextVar("keep_unscanned", default=False)


@contextlib.contextmanager
def keeping_unscanned(keep: bool = True):
    token = _KEEP_UNSCANNED.set(keep)
    try:
        yield
    finally:
        _KEEP_UNSCANNED.reset(token)


class ReadError(ValueError):
    """A file could not be turned into a `Scan`; the message names the file and the problem in one line."""


def read_error(path, problem: str) -> ReadError:
    """`raise read_error(path, "...")`: a ReadError whose one-line message starts with the file."""
    return ReadError(f"{path}: {' '.join(str(problem).split())}")


def require(module: str, path, ext: str, verb: str = "reading"):
    """Import an optional reader package, or explain which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise read_error(path, f"{verb} {ext} needs `pip install stm-zoo[formats]` (package {module} is missing)") from None


@dataclass
class Scan:
    """One 2-D image from an SPM file, in physical units.

    `data` is float64, row 0 is the top row as displayed, and backward scans are mirrored to match the
    forward ones, whatever the instrument. `size` is the (height, width) scan range in metres of the
    returned `data` (after any cropping), or None when the file does not say. `cropped_rows` counts rows
    removed because they were never scanned (an aborted scan). `metadata` keeps a few raw header values.
    """

    data: np.ndarray
    unit: str = "a.u."
    size: tuple[float, float] | None = None
    bias: float | None = None
    setpoint: float | None = None
    channel: str = "Z"
    direction: str | None = None
    source: Path | None = None
    cropped_rows: int = 0
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.data = np.asarray(self.data, dtype=np.float64)
        if self.data.ndim != 2:
            raise ValueError(f"Scan.data must be 2-D, got shape {self.data.shape}")
        if self.size is not None:
            self.size = (float(self.size[0]), float(self.size[1]))
        if self.source is not None:
            self.source = Path(self.source)

    @property
    def pixel_size(self) -> tuple[float, float] | None:
        """(dy, dx) in metres per pixel, or None when the scan range is unknown."""
        if self.size is None:
            return None
        rows, cols = self.data.shape
        return (self.size[0] / rows, self.size[1] / cols)

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape


def denoised_by(scan) -> str | None:
    """The model a scan was denoised with: the name or file given to `stm-zoo denoise --model`
    (`metadata["model"]`), else the Keras model's name (`metadata["denoised_by"]`); None if not denoised."""
    return scan.metadata.get("model") or scan.metadata.get("denoised_by")


def history(scan) -> str | None:
    """One line for a written file's comment: "denoised by stm-zoo (linespec, level plane)"."""
    model = denoised_by(scan)
    return model and f"denoised by stm-zoo ({model}, level {scan.metadata.get('level', '?')})"


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
    return direction


def match_channel(path, wanted: str, names: list[str]) -> int:
    """Index of the channel `wanted` among the file's channel `names` (case-insensitive, with aliases)."""
    lower = [n.lower().strip() for n in names]
    key = wanted.lower().strip()
    if key in lower:
        return lower.index(key)
    for alias in CHANNEL_ALIASES.get(key, ()):
        if alias in lower:
            return lower.index(alias)
    raise read_error(path, f"has no channel {wanted!r} (it holds: {', '.join(dict.fromkeys(names)) or 'nothing'})")


def unit_factor(unit: str) -> tuple[str, float]:
    """('m', factor) for a length unit, ('A', factor) for a current unit, else (unit, 1.0)."""
    key = unit.strip()
    if key in LENGTH_UNITS:
        return "m", LENGTH_UNITS[key]
    if key in CURRENT_UNITS:
        return "A", CURRENT_UNITS[key]
    return unit.strip() or "a.u.", 1.0


def finish(path, data, *, zero_rows_unscanned: bool, size=None, **fields) -> Scan:
    """Crop never-scanned rows at the top and bottom, reject what a model cannot use, build the Scan.

    A row is never-scanned when it holds a NaN/Inf (the instrument fills unscanned pixels so, and the line
    where the scan stopped is incomplete) or, for instrument formats (`zero_rows_unscanned`), when it is
    exactly zero everywhere (zero-filled). What is left must be finite and not constant.
    Under `keeping_unscanned()` nothing is cropped or refused for NaN/Inf: the zero-filled rows at the top
    and bottom and every NaN/Inf pixel become NaN, and the image keeps the file's shape.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2 or data.size == 0:
        raise read_error(path, f"holds no 2-D image (data shape {data.shape})")
    if _KEEP_UNSCANNED.get():
        return _keep_unscanned(path, data, zero_rows_unscanned, size, fields)
    unscanned = ~np.isfinite(data).all(axis=1)
    if zero_rows_unscanned:
        unscanned |= (data == 0).all(axis=1)
    kept = np.flatnonzero(~unscanned)
    if kept.size == 0:
        raise read_error(path, "is empty: no scan line was recorded (every row is NaN or zero-filled)")
    rows = data.shape[0]
    data = data[kept[0] : kept[-1] + 1]
    bad = ~np.isfinite(data)
    if bad.any():
        bad_rows = np.flatnonzero(bad.any(axis=1))
        raise read_error(path, f"has {int(bad.sum())} NaN/Inf values inside the scanned area "
                         f"(rows {bad_rows[0]}-{bad_rows[-1]} of the kept image)")
    if data.min() == data.max():
        raise read_error(path, f"is a constant image (shape {data.shape}, every pixel is {data.flat[0]:g}): nothing to read")
    if size is not None:
        size = (size[0] * data.shape[0] / rows, size[1])
    return Scan(data=np.ascontiguousarray(data), size=size, source=Path(path),
                cropped_rows=rows - data.shape[0], **fields)


def _keep_unscanned(path, data, zero_rows_unscanned: bool, size, fields) -> Scan:
    """`finish` for `read(..., unscanned="keep")`: the file's shape, NaN where nothing was measured."""
    data = np.where(np.isfinite(data), data, np.nan)
    if zero_rows_unscanned:  # zero-filled rows above and below the scanned ones
        measured = np.flatnonzero(~(data == 0).all(axis=1))
        if measured.size:
            data[: measured[0]] = np.nan
            data[measured[-1] + 1 :] = np.nan
    finite = data[np.isfinite(data)]
    if finite.size == 0 or (zero_rows_unscanned and not finite.any()):
        raise read_error(path, "is empty: no scan line was recorded (every row is NaN or zero-filled)")
    if finite.min() == finite.max():
        raise read_error(path, f"is a constant image (shape {data.shape}, every pixel is {finite[0]:g}): nothing to read")
    return Scan(data=data, size=size, source=Path(path), **fields)
