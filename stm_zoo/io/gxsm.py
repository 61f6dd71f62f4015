"""GXSM NetCDF `.nc` images, read with scipy's NetCDF-3 reader (no maintained GXSM reader on PyPI).

One file is one channel and one direction: the field variable (`FloatField`, or int16 `H`) has shape
(time, value, y, x); values times `dz` give the channel's unit, with lengths stored in angstrom
(`rangex`, `rangey`, `dz` of a Z channel). File names end in `-Xp-<channel>` (forward) or
`-Xm-<channel>` (backward, stored right-to-left: mirrored here). `spm_scancontrol` "TopDown" stores the
top line first; "BottomUp" is flipped.
"""

from __future__ import annotations

import re

import numpy as np

from stm_zoo.io._common import finish, match_channel, unit_factor

_FIELDS = ("FloatField", "DoubleField", "H", "Intensity")


def _text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.tobytes()
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    return str(value).strip("\x00 ").strip()


def is_gxsm(nc) -> bool:
    """Whether the open NetCDF file `nc` holds a GXSM image field."""
    return any(name in nc.variables for name in _FIELDS)


def read_open(path, nc, channel: str, direction: str):
    """The GXSM scan in `nc`, the NetCDF file `path` opened by `stm_zoo.io.netcdf.read` (see `is_gxsm`)."""
    variables = nc.variables
    field_name = next(f for f in _FIELDS if f in variables)
    var = variables[field_name]
    attrs = {k: _text(v) for k, v in var._attributes.items()}
    image = np.array(var.data, dtype=np.float64)
    while image.ndim > 2:
        image = image[0]

    def scalar(name):
        return float(variables[name].data) if name in variables else None

    dz = scalar("dz") or 1.0
    unit_text = attrs.get("unit", "")
    unit, factor = unit_factor(unit_text)
    if unit == "m":
        factor = 1e-10  # GXSM keeps lengths in angstrom whatever the display unit
    image = image * dz * factor
    rangex, rangey = scalar("rangex"), scalar("rangey")
    scan_control = _text(variables["spm_scancontrol"].data) if "spm_scancontrol" in variables else ""
    bias = scalar("sranger_mk2_hwi_bias")
    setpoint_na = scalar("sranger_mk2_hwi_mix0_set_point")

    match = re.search(r"-X([pm])-([^-.]+)(?:\.nc)?$", path.name)
    token = match.group(2) if match else ""
    label = attrs.get("ZLabel", token) or token
    names = [n for n in (label, token) if n]
    match_channel(path, channel, names)
    file_direction = {"p": "forward", "m": "backward"}.get(match.group(1)) if match else None
    if file_direction == "backward":
        image = image[:, ::-1]
    if scan_control.lower().startswith("bottomup"):
        image = image[::-1]
    size = (rangey * 1e-10, rangex * 1e-10) if rangex and rangey else None
    metadata = {"format": "GXSM NetCDF", "field": field_name, "scan_control": scan_control,
                "unit_in_file": unit_text}
    return finish(path, image, zero_rows_unscanned=True, size=size, unit=unit, bias=bias,
                  setpoint=None if setpoint_na is None else setpoint_na * 1e-9, channel=label,
                  direction=file_direction, metadata=metadata)
