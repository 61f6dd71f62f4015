"""Nanonis `.sxm` scans.

Own reader rather than nanonispy2/pySPM: the format is a text header then big-endian float32 images, and
both libraries assume every channel was recorded in both directions, fail with a bare reshape error on a
truncated or aborted file, and leave the orientation (scan up/down, backward lines) to the caller, so most
of the reader would have to be written around them anyway; this one needs only numpy.

Layout: for each channel of the DATA_INFO table, the forward image then (if "both") the backward image,
each `lines x pixels` in acquisition order. Backward lines are stored right-to-left (mirrored here), and a
scan going "up" stores the bottom line first (flipped here). Unscanned pixels of an aborted scan are NaN.

`write` stores one channel in both directions, which readers that assume both (nanonispy2) need: the
scan's own direction holds the data, the other is all NaN (never scanned), so nothing is invented.
The header keeps what the source .sxm said (scan direction, offset, angle, dates, comment) where known.
"""

from __future__ import annotations

import re

import numpy as np

from stm_zoo.io._common import finish, history, match_channel, read_error, unit_factor

_TYPES = {"FLOAT": "f4", "INT": "i4", "UINT": "u4", "DOUBLE": "f8"}


def _header(raw: bytes) -> dict[str, str]:
    header: dict[str, str] = {}
    key = None
    for line in raw.decode("latin-1").splitlines():
        if len(line) > 2 and line.startswith(":") and line.endswith(":"):
            key = line[1:-1]
            header[key] = ""
        elif key is not None:
            header[key] = f"{header[key]}\n{line}" if header[key] else line
    return header


def _float(text: str | None) -> float | None:
    try:
        return float(text.split()[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _setpoint(header: dict[str, str]) -> tuple[float | None, str]:
    """Z-controller setpoint in amperes (None when the controller regulates something else)."""
    lines = [ln.strip("\t").split("\t") for ln in header.get("Z-CONTROLLER", "").splitlines()]
    if len(lines) < 2 or "Setpoint" not in lines[0] or len(lines[1]) < len(lines[0]):
        return None, ""
    text = lines[1][lines[0].index("Setpoint")]
    value, _, unit = text.partition(" ")
    try:
        return (float(value), text) if unit.strip() == "A" else (None, text)
    except ValueError:
        return None, text


def read(path, channel: str, direction: str):
    raw = path.read_bytes()
    end = raw.find(b":SCANIT_END:")
    start = raw.find(b"\x1a\x04", end)
    if end < 0 or start < 0:
        raise read_error(path, "is not a Nanonis .sxm file, or is truncated inside its header (no :SCANIT_END:)"
                   if end < 0 else "is truncated: the header ends but no data follows")
    header = _header(raw[:end])
    try:
        nx, ny = (int(v) for v in header["SCAN_PIXELS"].split()[:2])
        width, height = (float(v) for v in header["SCAN_RANGE"].split()[:2])
        kind, order = header.get("SCANIT_TYPE", "FLOAT MSBFIRST").split()[:2]
        table = [ln.strip().split("\t") for ln in header["DATA_INFO"].strip().splitlines()]
    except (KeyError, ValueError) as err:
        raise read_error(path, f"has an unreadable header ({type(err).__name__}: {err})") from None
    if kind not in _TYPES:
        raise read_error(path, f"has unsupported data type {kind!r}")
    dtype = np.dtype((">" if order == "MSBFIRST" else "<") + _TYPES[kind])
    cols = table[0]
    rows = [dict(zip(cols, r)) for r in table[1:] if len(r) >= len(cols)]
    names = [r["Name"] for r in rows]

    # Image order in the file: channel by channel, forward then backward.
    images = []
    for r in rows:
        dirs = ("forward", "backward") if r.get("Direction", "both") == "both" else (r["Direction"],)
        images += [(r["Name"], d) for d in dirs]
    index = match_channel(path, channel, names)
    name = names[index]
    if (name, direction) not in images:
        raise read_error(path, f"channel {name!r} was not recorded in the {direction} direction")

    count = nx * ny
    data = np.frombuffer(raw, dtype=dtype, offset=start + 2)
    if data.size < count * len(images):
        raise read_error(path, f"is truncated: {data.size * dtype.itemsize} of {count * len(images) * dtype.itemsize} "
                         "data bytes present")
    k = images.index((name, direction))
    image = data[k * count : (k + 1) * count].reshape(ny, nx).astype(np.float64)
    if direction == "backward":
        image = image[:, ::-1]
    if header.get("SCAN_DIR", "").strip() == "up":
        image = image[::-1]

    unit, factor = unit_factor(rows[index].get("Unit", ""))
    setpoint, setpoint_text = _setpoint(header)
    keep = ("NANONIS_VERSION", "REC_DATE", "REC_TIME", "SCAN_DIR", "SCAN_ANGLE", "SCAN_OFFSET", "ACQ_TIME",
            "SCAN_TIME", "COMMENT")
    metadata = {k.lower(): header[k].strip() for k in keep if k in header}
    metadata.update(format="Nanonis SXM", z_controller_setpoint=setpoint_text)
    return finish(path, image * factor, zero_rows_unscanned=True, size=(height, width), unit=unit,
                  bias=_float(header.get("BIAS")), setpoint=setpoint, channel=name, direction=direction,
                  metadata=metadata)


def _text(value) -> str:
    """One header value: no tabs, and no line that would read as a `:KEY:`."""
    lines = [ln.replace("\t", " ").rstrip() for ln in str(value).splitlines()]
    return "\n".join(ln if not re.fullmatch(r":.*:", ln) else f" {ln}" for ln in lines)


def write(scan, file) -> None:
    """Write `scan` as a Nanonis .sxm (big-endian float32) to the open binary `file`; row 0 stays on top."""
    if scan.size is None:
        raise ValueError("a .sxm needs the scan size in metres, which this scan lacks (write .gwy, .tif or .npy)")
    rows, cols = scan.data.shape
    own = scan.metadata if scan.metadata.get("format") == "Nanonis SXM" else {}  # what the source .sxm said
    scan_dir = "up" if own.get("scan_dir") == "up" else "down"
    direction = "backward" if scan.direction == "backward" else "forward"
    comment = "\n".join(filter(None, [own.get("comment", ""), history(scan)]))
    fields = [
        ("NANONIS_VERSION", own.get("nanonis_version", "2")),
        ("SCANIT_TYPE", "              FLOAT            MSBFIRST"),
        ("REC_DATE", own.get("rec_date")),
        ("REC_TIME", own.get("rec_time")),
        ("ACQ_TIME", own.get("acq_time", "0.0")),
        ("SCAN_PIXELS", f"{cols:>10d}{rows:>10d}"),
        ("SCAN_TIME", own.get("scan_time", "0.000E+0 0.000E+0")),
        ("SCAN_RANGE", f"{scan.size[1]:22.9E}{scan.size[0]:22.9E}"),
        ("SCAN_OFFSET", own.get("scan_offset", "0.000000E+0 0.000000E+0")),
        ("SCAN_ANGLE", own.get("scan_angle", "0.000E+0")),
        ("SCAN_DIR", scan_dir),
        ("BIAS", None if scan.bias is None else f"{scan.bias:.9E}"),
        ("Z-CONTROLLER", None if scan.setpoint is None else
         f"\tName\ton\tSetpoint\n\tCurrent\t1\t{scan.setpoint:.9E} A"),
        ("COMMENT", comment or None),
        ("DATA_INFO", "\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n"
                      f"\t0\t{_text(scan.channel).strip() or 'Z'}\t{_text(scan.unit).strip()}\tboth\t1.000E+0\t0.000E+0\n"),
    ]
    header = "".join(f":{key}:\n{value if key in ('SCANIT_TYPE', 'Z-CONTROLLER', 'DATA_INFO') else _text(value)}\n"
                     for key, value in fields if value is not None)
    image = scan.data[::-1] if scan_dir == "up" else scan.data  # stored in acquisition order
    if direction == "backward":
        image = image[:, ::-1]  # backward lines are recorded right to left
    empty = np.full_like(image, np.nan)
    images = (image, empty) if direction == "forward" else (empty, image)
    file.write(f"{header}:SCANIT_END:\n\n\n".encode("latin-1", errors="replace") + b"\x1a\x04")
    file.write(np.concatenate([i.ravel() for i in images]).astype(">f4").tobytes())
