"""Reading and writing SPM files: `read(path) -> Scan`, `write(scan, path)`, `formats()`.

Every reader returns a `Scan` in physical units (metres for Z, amperes for current) with row 0 at the top
and backward scans mirrored to match forward, whatever the instrument; rows never scanned are cropped and
counted. Any problem with a file (missing, unknown extension, truncated, empty, constant, NaN/Inf inside
the image, a missing optional reader) raises `ReadError`, a ValueError with a one-line message that names
the file. The RHK, MATRIX and Gwyddion reader packages (default dependencies) are imported only when used.

`write` writes .sxm, .gwy, .nc (xarray/spym NetCDF), .npy (+ a `NAME.json` sidecar), .tif and .png;
`output_format(path)` is the format a denoised `path` is written in by default: its own where a writer
holds its data and metadata, else .gwy.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from stm_zoo._atomic import atomic_path, write_json
from stm_zoo.io._common import ReadError, Scan, check_direction, keeping_unscanned, read_error, require

__all__ = ["Scan", "ReadError", "read", "write", "formats", "output_format"]


@dataclass(frozen=True)
class _Format:
    name: str
    module: str  # stm_zoo.io.<module>
    reader: str | None  # function names in that module
    writer: str | None = None
    needs: str | None = None  # package imported only when this format is used
    sidecar: str | None = None  # function giving the JSON written beside the file as NAME.json
    beside_original: bool = False  # the writer takes `original=` and keeps it beside the result


_FORMATS = {
    ".sxm": _Format("Nanonis SXM", "nanonis", "read", "write"),
    ".sm4": _Format("RHK SM4", "rhk", "read", needs="spym"),
    ".z_mtrx": _Format("Omicron MATRIX (Z)", "matrix", "read", needs="access2thematrix"),
    ".i_mtrx": _Format("Omicron MATRIX (current)", "matrix", "read", needs="access2thematrix"),
    ".gwy": _Format("Gwyddion", "gwyddion", "read", "write", needs="gwyfile", beside_original=True),
    ".dat": _Format("Createc", "createc", "read"),
    ".stp": _Format("WSxM", "wsxm", "read"),
    ".top": _Format("WSxM", "wsxm", "read"),
    ".nc": _Format("GXSM or xarray NetCDF", "netcdf", "read", "write"),
    ".npy": _Format("NumPy array", "images", "read_npy", "write_npy", sidecar="npy_sidecar"),
    ".tif": _Format("TIFF (float32)", "images", "read_tif", "write_tif"),
    ".tiff": _Format("TIFF (float32)", "images", "read_tif", "write_tif"),
    ".png": _Format("PNG (8-bit preview when written)", "images", "read_picture", "write_png"),
    ".jpg": _Format("JPEG rendering", "images", "read_picture"),
    ".jpeg": _Format("JPEG rendering", "images", "read_picture"),
}


# Inputs written back in their own format by default. GXSM .nc is not among them (the .nc writer writes the
# xarray layout, which GXSM does not open), nor pictures (.png is written as an 8-bit preview).
_OWN_OUTPUT = (".sxm", ".gwy", ".npy", ".tif", ".tiff")


def output_format(path) -> str:
    """The extension a result computed from `path` is written with by default: its own (.sxm, .gwy, .npy,
    .tif), else ".gwy"."""
    ext = Path(path).suffix.lower()
    return ext if ext in _OWN_OUTPUT else ".gwy"


def formats() -> dict[str, dict]:
    """Supported extensions: {".sxm": {"name", "read", "write", "needs", "available"}, ...}.

    `needs` names the reader package it imports (a default dependency of stm-zoo), `available` says
    whether it is installed here.
    """
    return {
        ext: {"name": f.name, "read": f.reader is not None, "write": f.writer is not None, "needs": f.needs,
              "available": f.needs is None or importlib.util.find_spec(f.needs) is not None}
        for ext, f in _FORMATS.items()
    }


def find_scans(folder) -> list[Path]:
    """Every file under `folder` (recursively, sorted) with an extension stm-zoo reads."""
    readable = {ext for ext, f in _FORMATS.items() if f.reader is not None}
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in readable)


def _format(path: Path, action: str) -> _Format:
    fmt = _FORMATS.get(path.suffix.lower())
    usable = sorted(e for e, f in _FORMATS.items() if (f.reader if action == "read" else f.writer))
    if fmt is None or getattr(fmt, "reader" if action == "read" else "writer") is None:
        problem = f"cannot {action} {path.suffix or 'files without extension'!r} (supported: {' '.join(usable)})"
        raise read_error(path, problem) if action == "read" else ValueError(f"{path}: {problem}")
    return fmt


def read(path, channel: str = "Z", direction: str = "forward", unscanned: str = "crop") -> Scan:
    """Read one image of an SPM file as a `Scan` (see the module docstring).

    `channel` is matched case-insensitively against the file's channel names ("Z" also finds Topography /
    Height, "Current" finds I); formats holding one unnamed image (.npy, .tif, .png, .jpg) ignore it.
    `direction` ("forward"/"backward") chooses between the two scans of files that hold both; files that
    hold one image ignore it, and `Scan.direction` tells what the file holds (None when unknown).
    `unscanned="keep"` returns the file's whole image instead of cropping and refusing: never-scanned rows
    and NaN/Inf pixels are NaN (for `stm_zoo.denoise`, which keeps them NaN).
    """
    path = Path(path).expanduser()
    check_direction(direction)
    if unscanned not in ("crop", "keep"):
        raise ValueError(f"unscanned must be 'crop' or 'keep', got {unscanned!r}")
    fmt = _format(path, "read")
    if not path.is_file():
        raise read_error(path, "file not found" if not path.exists() else "is not a file")
    reader = getattr(importlib.import_module(f"stm_zoo.io.{fmt.module}"), fmt.reader)
    try:
        with keeping_unscanned(unscanned == "keep"):
            return reader(path, channel, direction)
    except ReadError:
        raise
    except Exception as err:  # a reader library failing deep inside: one line, never its traceback
        raise read_error(path, f"cannot be read as {fmt.name} ({type(err).__name__}: {err})") from None


def write(scan: Scan, path, original: Scan | None = None) -> Path:
    """Write `scan` to `path`; returns the path.

    Formats: .sxm (Nanonis, float32), .gwy, .nc (xarray/spym NetCDF, coordinates in metres), .npy and
    .tif/.tiff (float32), .png (8-bit preview). Each keeps the scan's size, units, bias, set-point, channel and
    direction (a .npy in a sidecar `NAME.json`; a .png keeps none). `original`, the scan `scan` was computed
    from, is kept beside it where the format holds several channels (.gwy: see `gwyddion.write`).
    Every file is written to a temporary name beside it, then renamed, so a crash never leaves half a file.
    Refuses to overwrite `scan.source`, the file the scan was read from.
    """
    path = Path(path).expanduser()
    fmt = _format(path, "write")
    if scan.source is not None and path.resolve() == Path(scan.source).resolve():
        raise ValueError(f"{path}: refusing to overwrite the file this scan was read from")
    if fmt.needs:
        require(fmt.needs, path, path.suffix, "writing")
    module = importlib.import_module(f"stm_zoo.io.{fmt.module}")
    extra = {"original": original} if fmt.beside_original and original is not None else {}
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as file:
            getattr(module, fmt.writer)(scan, file, **extra)
    except ValueError as err:  # what this format cannot hold: one line naming the file
        raise ValueError(f"{path}: {err}") from None
    if fmt.sidecar:
        write_json(path.with_suffix(".json"), getattr(module, fmt.sidecar)(scan))
    return path
