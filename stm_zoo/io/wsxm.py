"""WSxM `.stp` (and `.top`) images.

Own reader rather than AFMReader: the format is a text header then rows x columns of little-endian
numbers, while AFMReader pulls in pySPM, IPython, scikit-learn and seaborn and rejects non-square images.

Header: `[Section]` blocks of `Key: value` lines ending with `[Header end]`; `General Info` gives the
`Number of rows/columns`, the `Image Data Type` (double, float, short/integer = int16) and the
`Z Amplitude` with its unit; `Control` gives `X/Y Amplitude`. As in Gwyddion's wsxmfile module (the
reference implementation): floating-point data are already in the Z Amplitude unit, integer data span the
Z Amplitude from their minimum to their maximum, and the pixels are stored last-first (rotated 180 degrees).
One file holds one channel.
"""

from __future__ import annotations

import re

import numpy as np

from stm_zoo.io._common import finish, match_channel, read_error, unit_factor

_TYPES = {"double": "<f8", "float": "<f4", "short": "<i2", "integer": "<i2", "int": "<i4"}
_QUANTITY = re.compile(r"\s*([-+0-9.eE]+)\s*(.*)$")


def _quantity(text: str | None) -> tuple[float | None, str]:
    match = _QUANTITY.match(text or "")
    if not match:
        return None, ""
    try:
        return float(match.group(1)), match.group(2).strip()
    except ValueError:
        return None, ""


def read(path, channel: str, direction: str):
    raw = path.read_bytes()
    if not raw.startswith(b"WSxM file copyright"):
        raise read_error(path, "is not a WSxM file (no 'WSxM file copyright' line)")
    end = raw.find(b"[Header end]")
    if end < 0:
        raise read_error(path, "is truncated: no [Header end] line")
    start = raw.find(b"\n", end) + 1  # some writers miscount 'Image header size', so trust the end marker
    header: dict[str, str] = {}
    section = ""
    for line in raw[:end].decode("latin-1").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif ":" in line and section:
            key, _, value = line.partition(":")
            header[f"{section}::{key.strip()}"] = value.strip()
    try:
        cols = int(header["General Info::Number of columns"])
        rows = int(header["General Info::Number of rows"])
    except (KeyError, ValueError):
        raise read_error(path, "has no image size (Number of rows/columns) in its header") from None
    kind = header.get("General Info::Image Data Type", "short").lower()
    if kind not in _TYPES:
        raise read_error(path, f"has unsupported WSxM data type {kind!r}")
    dtype = np.dtype(_TYPES[kind])
    if len(raw) - start < rows * cols * dtype.itemsize:
        raise read_error(path, f"is truncated: {len(raw) - start} of {rows * cols * dtype.itemsize} data bytes present")
    image = np.frombuffer(raw, dtype=dtype, count=rows * cols, offset=start).reshape(rows, cols)
    image = image[::-1, ::-1].astype(np.float64)

    amplitude, zunit = _quantity(header.get("General Info::Z Amplitude"))
    unit, factor = unit_factor(zunit)
    if dtype.kind == "i" and amplitude is not None and image.max() > image.min():
        image = (image - image.min()) * (amplitude / (image.max() - image.min()))
    image = image * factor
    name = {"m": "Z", "A": "Current"}.get(unit, header.get("General Info::Acquisition channel", "unknown"))
    match_channel(path, channel, [name])

    size = None
    width, xunit = _quantity(header.get("Control::X Amplitude"))
    height, yunit = _quantity(header.get("Control::Y Amplitude") or header.get("Control::X Amplitude"))
    if width and height and unit_factor(xunit)[0] == "m" and unit_factor(yunit)[0] == "m":
        size = (height * unit_factor(yunit)[1], width * unit_factor(xunit)[1])
    scan_dir = header.get("General Info::X scanning direction", "").lower()
    file_direction = scan_dir if scan_dir in ("forward", "backward") else None
    bias, bias_unit = _quantity(header.get("Control::Topography Bias"))
    setpoint, sp_unit = _quantity(header.get("Control::Set Point"))
    keep = ("General Info::Image processes", "General Info::Acquisition channel", "General Info::Head type",
            "Control::X Offset", "Control::Y Offset")
    metadata = {k.split("::")[1].lower().replace(" ", "_"): header[k] for k in keep if k in header}
    metadata["format"] = "WSxM"
    return finish(path, image, zero_rows_unscanned=False, size=size, unit=unit,
                  bias=bias if bias_unit == "V" else None,
                  setpoint=setpoint * unit_factor(sp_unit)[1] if setpoint and unit_factor(sp_unit)[0] == "A" else None,
                  channel=name, direction=file_direction, metadata=metadata)
