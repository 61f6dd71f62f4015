"""Createc `.dat` images (no maintained reader on PyPI, so a small one here).

Layout of the `[Paramco32]` files: a `key=value` text header, a line `DATA`, then a zlib stream of
little-endian float32: one unused value, then `Channels` images of `Num.Y x Num.X` in DAC units. The first
`Chan(1,2,4)` images are the forward channels (Z, current, ADC1, ADC2, ...) and, when `Channels` is twice
that, the backward ones follow in the same order. Lines are stored top first and backward lines are already
in forward orientation (checked on real files: fwd/bwd correlate without mirroring). Aborted scans leave
zero-filled rows.

Scaling, checked against the header set-points of real files: one DAC step is `20 V / 2**bits` (DAC-Type,
20-bit by default); Z = DAC * `Dacto[A]z` * `GainZ` angstrom (equal to 20 V/2**bits * GainZ * ZPiezoconst);
current = DAC * 20 V/2**bits / 10**`GainPre` ampere.
"""

from __future__ import annotations

import zlib

import numpy as np

from stm_zoo.io._common import finish, match_channel, read_error

_CHANNEL_NAMES = ("Z", "Current", "ADC1", "ADC2", "ADC3", "ADC4", "ADC5", "ADC6")


def _header(text: str) -> dict[str, str]:
    header = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            key = key.strip()
            header[key] = value.strip()
            if " / " in key:  # "Num.X / Num.X": keep the short name too
                header.setdefault(key.split(" / ")[0].strip(), value.strip())
    return header


def _number(header, *keys, default=None):
    for key in keys:
        try:
            return float(header[key])
        except (KeyError, ValueError):
            continue
    return default


def read(path, channel: str, direction: str):
    raw = path.read_bytes()
    if not raw.startswith(b"[Param"):
        raise read_error(path, "is not a Createc image file (no [Param...] header; Nanonis spectra are .dat too)")
    version = raw[: raw.find(b"]") + 1].decode("latin-1")
    if version != "[Paramco32]":
        raise read_error(path, f"is a Createc {version} file; only compressed [Paramco32] images are supported")
    marker = raw.find(b"\nDATA")
    if marker < 0:
        raise read_error(path, "is truncated: no DATA section after the header")
    header = _header(raw[:marker].decode("latin-1"))
    try:
        nx, ny = int(_number(header, "Num.X")), int(_number(header, "Num.Y"))
        total = int(_number(header, "Channels", default=1))
        per_direction = int(_number(header, "Chan(1,2,4)", default=total))
    except TypeError:
        raise read_error(path, "has no image size (Num.X / Num.Y) in its header") from None
    try:
        values = np.frombuffer(zlib.decompress(raw[marker + 5 :]), dtype="<f4")
    except zlib.error as err:
        raise read_error(path, f"has truncated or corrupt compressed data ({err})") from None
    count = nx * ny
    if values.size < 1 + total * count:
        raise read_error(path, f"is truncated: {values.size - 1} of {total * count} values present")

    names = list(_CHANNEL_NAMES[:per_direction])
    index = match_channel(path, channel, names)
    if direction == "backward":
        if total < 2 * per_direction:
            raise read_error(path, "holds no backward scan")
        index += per_direction
    image = values[1 + index * count : 1 + (index + 1) * count].reshape(ny, nx).astype(np.float64)

    bits = header.get("DAC-Type", "20bit").lower().removesuffix("bit")
    volts_per_dac = 20.0 / 2 ** (int(bits) if bits.isdigit() else 20)
    name = names[index % per_direction]
    if name == "Z":
        angstrom_per_dac = _number(header, "Dacto[A]z")
        gain = _number(header, "GainZ", default=1.0)
        if angstrom_per_dac is not None:
            angstrom_per_dac *= gain
        else:
            angstrom_per_dac = volts_per_dac * gain * _number(header, "ZPiezoconst", default=1.0)
        image, unit = image * angstrom_per_dac * 1e-10, "m"
    elif name == "Current":
        image, unit = image * volts_per_dac / 10 ** _number(header, "Gainpreamp", "GainPre 10^", default=9), "A"
    else:
        image, unit = image * volts_per_dac, "V"

    bias_mv = _number(header, "Biasvolt[mV]", "BiasVoltage")
    current_feedback = _number(header, "FBLog") == 1 and _number(header, "FBLogIset") is not None
    setpoint = _number(header, "FBLogIset") * 1e-12 if current_feedback else None  # pA
    size = None
    if _number(header, "Length x[A]") and _number(header, "Length y[A]"):
        size = (_number(header, "Length y[A]") * 1e-10, _number(header, "Length x[A]") * 1e-10)
    keep = ("Titel(File)", "Scantype", "ScanYDirec", "Rotation", "GainZ", "Dacto[A]z", "FBLogIset", "Sec/line:")
    metadata = {k: header[k] for k in keep if k in header}
    metadata.update(format=f"Createc {version}", channels=total)
    return finish(path, image, zero_rows_unscanned=True, size=size, unit=unit,
                  bias=None if bias_mv is None else bias_mv * 1e-3, setpoint=setpoint, channel=name,
                  direction=direction, metadata=metadata)
