""".nc files: GXSM scans (`stm_zoo.io.gxsm`) and NetCDF in the xarray/spym convention, which `write` makes.

The xarray layout: one data variable named after the channel with dims ("y", "x") and attributes `units`,
`long_name`, `bias`/`bias_units`, `setpoint`/`setpoint_units`, `direction`, `filename`, and coordinate
variables `x`, `y` in metres (`units` "m"; pixel indices with units "pixel" when the scan range is unknown).
`x` is 0 at the left column and `y` is 0 at the bottom row, increasing upwards, so `xarray.open_dataset(path)
[channel].plot()` shows the scan upright; reading flips a file whose `y` increases down the rows.
Written with scipy's NetCDF-3 writer (what xarray's "scipy" engine uses), so neither xarray nor a netCDF
library is needed to write or read it: `xarray.open_dataset(path)` opens it where xarray is installed.
"""

from __future__ import annotations

import re

import numpy as np

from stm_zoo.io import gxsm
from stm_zoo.io._common import CHANNEL_ALIASES, finish, history, match_channel, read_error, unit_factor

_SKIP = {"x", "y"}  # coordinate variables, never the image


def read(path, channel: str, direction: str):
    from scipy.io import netcdf_file

    with open(path, "rb") as f:
        magic = f.read(3)
    if magic != b"CDF":
        raise read_error(path, "is not a NetCDF-3 file (GXSM or xarray .nc)")
    with netcdf_file(path, "r", mmap=False) as nc:
        if gxsm.is_gxsm(nc):
            return gxsm.read_open(path, nc, channel, direction)
        images = {name: var for name, var in nc.variables.items()
                  if name not in _SKIP and var.dimensions == ("y", "x")}
        if not images:
            raise read_error(path, f"holds no GXSM field ({', '.join(gxsm._FIELDS)}) and no 2-D (y, x) variable")
        names = list(images)
        index = _pick(path, channel, names, [gxsm._text(images[n]._attributes.get("long_name", n)) for n in names])
        var = images[names[index]]
        attrs = {k: (gxsm._text(v) if isinstance(v, (bytes, np.ndarray)) and np.asarray(v).dtype.kind in "SU"
                     else v) for k, v in var._attributes.items()}
        image = np.array(var.data, dtype=np.float64)
        fill = attrs.get("_FillValue")
        if fill is not None and np.isfinite(fill):
            image[image == fill] = np.nan
        coords = {axis: (np.array(nc.variables[axis].data, dtype=np.float64),
                         gxsm._text(nc.variables[axis]._attributes.get("units", b"")))
                  for axis in ("y", "x") if axis in nc.variables}
    size = None
    if "y" in coords and coords["y"][0].size > 1 and coords["y"][0][-1] > coords["y"][0][0]:
        image = image[::-1]  # y increases down the rows: row 0 is the bottom line
    if set(coords) == {"y", "x"} and all(unit_factor(u)[0] == "m" for _, u in coords.values()):
        size = tuple(_extent(values) * unit_factor(u)[1] for values, u in (coords["y"], coords["x"]))
    unit, factor = unit_factor(str(attrs.get("units", "")))

    def number(name):
        value = attrs.get(name)
        return float(np.ravel(value)[0]) if isinstance(value, (int, float, np.ndarray, np.generic)) else None

    return finish(path, image * factor, zero_rows_unscanned=False, size=size, unit=unit, bias=number("bias"),
                  setpoint=number("setpoint"), channel=str(attrs.get("long_name", names[index])),
                  direction=attrs.get("direction") if attrs.get("direction") in ("forward", "backward") else None,
                  metadata={"format": "NetCDF (xarray)", "variable": names[index]})


def _pick(path, channel: str, names: list[str], titles: list[str]) -> int:
    """The variable holding `channel`: by name or title, then by an alias title starts with ("Z": Height...)."""
    key = channel.lower().strip()
    for i, (name, title) in enumerate(zip(names, titles)):
        if key in (name.lower(), title.lower().strip()):
            return i
    for i, title in enumerate(titles):
        if any(title.lower().startswith(a) for a in CHANNEL_ALIASES.get(key, ()) if len(a) > 1):
            return i
    return match_channel(path, channel, titles)  # raises, naming what the file holds


def _extent(values: np.ndarray) -> float:
    """Scan range of pixel-centre coordinates: n pixels of their spacing."""
    return float(abs(values[-1] - values[0]) * values.size / (values.size - 1)) if values.size > 1 else 0.0


def _name(channel: str) -> str:
    """A NetCDF variable name for the channel: letters, digits and _ only, not starting with a digit."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", channel).strip("_") or "data"
    return f"c_{name}" if name[0].isdigit() or name in _SKIP else name


def write(scan, file) -> None:
    """Write `scan` as an xarray/spym-style NetCDF-3 Dataset to the open binary `file`."""
    import io

    from scipy.io import netcdf_file

    rows, cols = scan.data.shape
    buffer = io.BytesIO()  # scipy closes the file it writes to; the caller owns `file`
    nc = netcdf_file(buffer, "w", version=2)  # 64-bit offsets: no 2 GiB limit on the variable
    nc.Conventions = "CF-1.8"
    nc.title = f"{scan.channel} scan"
    if scan.source is not None:
        nc.source = scan.source.name
    if history(scan):
        nc.history = history(scan)
    nc.createDimension("y", rows)
    nc.createDimension("x", cols)
    for axis, count, along in (("y", rows, 0), ("x", cols, 1)):
        var = nc.createVariable(axis, "f8", (axis,))
        step = scan.size[along] / count if scan.size is not None else 1.0
        index = np.arange(count, dtype=np.float64)
        var[:] = (index if axis == "x" else index[::-1]) * step  # y: 0 at the bottom row, up the image
        var.units = "m" if scan.size is not None else "pixel"
        var.long_name = f"{axis} (from the {'left' if axis == 'x' else 'bottom'} edge)"
    var = nc.createVariable(_name(scan.channel), "f4", ("y", "x"))
    var._FillValue = np.float32(np.nan)  # as xarray writes floats: NaN where nothing was measured
    var[:] = scan.data.astype(np.float32)
    var.units = scan.unit
    var.long_name = scan.channel
    var.interpretation = "image"
    for name, value, unit in (("bias", scan.bias, "V"), ("setpoint", scan.setpoint, "A")):
        if value is not None:
            setattr(var, name, np.float64(value))  # a Python float would be stored as float32
            setattr(var, f"{name}_units", unit)
    if scan.direction:
        var.direction = scan.direction
    if scan.source is not None:
        var.filename = scan.source.name
    nc.flush()
    file.write(buffer.getvalue())
    nc.close()
