"""Omicron MATRIX `.Z_mtrx` / `.I_mtrx` images through access2thematrix (in the `formats` extra).

The image file needs its session's parameter file `<name>_0001.mtrx` beside it. access2thematrix returns
each trace with the first recorded line in row 0 (the bottom of the frame) and backward lines already
mirrored to forward orientation; rows are flipped here so row 0 is the top. It drops lines an aborted scan
never reached; those are counted in `cropped_rows`.
"""

from __future__ import annotations

import re

import numpy as np

from stm_zoo.io._common import finish, match_channel, read_error, require

_CHANNELS = {".z_mtrx": "Z", ".i_mtrx": "Current"}
_UNITS = {"m": "m", "A": "A"}


def read(path, channel: str, direction: str):
    match_channel(path, channel, [_CHANNELS[path.suffix.lower()]])
    stem = re.match(r"(.*)--", path.name)
    if not stem:
        raise read_error(path, "does not have a MATRIX image name (<session>--<n>_<m>.Z_mtrx)")
    params = path.with_name(f"{stem.group(1)}_0001.mtrx")
    if not params.exists():
        raise read_error(path, f"needs its MATRIX parameter file {params.name} beside it")
    a2m = require("access2thematrix", path, path.suffix)
    mtrx = a2m.MtrxData()
    traces, message = mtrx.open(str(path))
    if not traces:
        raise read_error(path, f"could not be opened by access2thematrix ({message})")
    wanted = [t for t in traces.values() if str(t).startswith(direction)]
    if not wanted:
        raise read_error(path, f"holds no {direction} trace (traces: {', '.join(map(str, traces.values()))})")
    trace = sorted(wanted, key=lambda t: not str(t).endswith("/up"))[0]  # the up frame first
    image, message = mtrx.select_image(trace)
    if not hasattr(image, "data"):
        raise read_error(path, f"could not select trace {trace} ({message})")
    data = np.asarray(image.data, dtype=np.float64)[::-1]
    lines = int(mtrx.param["EEPA::XYScanner.Lines"][0])
    name, unit = image.channel_name_and_unit
    bias = mtrx.param.get("EEPA::GapVoltageControl.Voltage", [None])[0]
    setpoint = mtrx.param.get("EEPA::Regulator.Setpoint_1", [None, ""])
    full_height = float(mtrx.param["EEPA::XYScanner.Height"][0])
    scan = finish(path, data, zero_rows_unscanned=False, size=(image.height, image.width),
                  unit=_UNITS.get(unit, unit), bias=None if bias is None else float(bias),
                  setpoint=float(setpoint[0]) if setpoint[1] == "Ampere" else None, channel=name,
                  direction=direction,
                  metadata={"format": "Omicron MATRIX", "trace": str(trace), "angle": getattr(image, "angle", None),
                            "full_height": full_height, "sample": mtrx.sample_name})
    scan.cropped_rows += lines - data.shape[0]
    return scan
