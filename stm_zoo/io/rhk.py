"""RHK `.sm4` files through spym's RHK reader (`spym.io.rhksm4`, in the `formats` extra).

spym returns each page's raw int32 data with row 0 at the top and backward pages already in forward
orientation (checked on real files: forward/backward correlate without mirroring); values are
`raw * Zscale + Zoffset` in `Zunits`. spym reshapes images as (Xsize, Ysize), which is only right for
square images, so the page is reshaped again here with its flips undone and redone.
Rows that are all zero in the raw data were never scanned (converted to NaN before scaling).

spym's package `__init__` imports xarray and hvplot (with them bokeh, panel and pandas: seconds to import,
a hundred MB to install) for its plotting accessors only; the reader itself (`spym/io/rhksm4/_sm4.py`)
needs numpy alone, so it is loaded on its own from the installed spym, and the normal import (which then
needs xarray and hvplot) is the fallback should a spym release move that file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from stm_zoo.io._common import finish, match_channel, read_error, require, unit_factor

_READER_MODULE = "stm_zoo.io._spym_rhksm4"

_SUFFIXES = {"_forward": "forward", "_backward": "backward"}


def _split_label(label: str) -> tuple[str, str | None]:
    for suffix, direction in _SUFFIXES.items():
        if label.lower().endswith(suffix):
            return label[: -len(suffix)], direction
    return label, None


def _page_image(page) -> np.ndarray:
    attrs = page.attrs
    xsize, ysize = int(attrs["RHK_Xsize"]), int(attrs["RHK_Ysize"])
    data = np.asarray(page.data)
    if attrs["RHK_Yscale"] > 0:  # undo spym's flips (in reverse order), fix the shape, redo them
        data = data[::-1]
    if attrs["RHK_Xscale"] < 0:
        data = data[:, ::-1]
    data = data.reshape(ysize, xsize)
    if attrs["RHK_Xscale"] < 0:
        data = data[:, ::-1]
    if attrs["RHK_Yscale"] > 0:
        data = data[::-1]
    return data


def _load_sm4(path):
    """spym's `RHKsm4(filename)` reader class, without importing spym's plotting stack when possible."""
    if _READER_MODULE not in sys.modules:
        spec = importlib.util.find_spec("spym")
        locations = list(spec.submodule_search_locations or []) if spec else []
        source = Path(locations[0], "io", "rhksm4", "_sm4.py") if locations else None
        if source is None or not source.is_file():
            return require("spym.io.rhksm4", path, ".sm4").load
        module_spec = importlib.util.spec_from_file_location(_READER_MODULE, source)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        sys.modules[_READER_MODULE] = module
    return sys.modules[_READER_MODULE].RHKsm4


def read(path, channel: str, direction: str):
    pages = [p for p in _load_sm4(path)(str(path)) if p.attrs.get("RHK_PageDataType") == 0]  # image pages
    if not pages:
        raise read_error(path, "holds no image pages")
    entries = []
    for page in pages:
        name, page_direction = _split_label(page.label)
        if page_direction is None:
            page_direction = ("forward", "backward")[int(page.attrs.get("RHK_ScanType", 0)) == 1]
        entries.append((name, page_direction, page))
    names = [e[0] for e in entries]
    index = match_channel(path, channel, names)
    name = names[index]
    chosen = [e[2] for e in entries if e[0] == name and e[1] == direction]
    if not chosen:
        raise read_error(path, f"channel {name!r} was not recorded in the {direction} direction")
    page = chosen[0]
    attrs = page.attrs
    raw = _page_image(page).astype(np.float64)
    raw[(raw == 0).all(axis=1)] = np.nan
    unit, factor = unit_factor(str(attrs.get("RHK_Zunits", "")))
    image = (raw * attrs["RHK_Zscale"] + attrs["RHK_Zoffset"]) * factor

    size = None
    if unit_factor(str(attrs.get("RHK_Xunits", "")))[0] == "m":
        size = (abs(attrs["RHK_Yscale"]) * attrs["RHK_Ysize"], abs(attrs["RHK_Xscale"]) * attrs["RHK_Xsize"])
    setpoint = attrs.get("RHK_ZPI_SetPoint")
    if unit_factor(str(attrs.get("RHK_ZPI_SetPointUnit", "")))[0] != "A":
        setpoint = attrs.get("RHK_Current")
    keep = ("RHK_DateTime", "RHK_Angle", "RHK_Period", "RHK_Xoffset", "RHK_Yoffset", "RHK_ScanTypeName",
            "RHK_ZPI_FeedbackType", "RHK_CompletedLineCount", "RHK_UserText")
    metadata = {k[4:].lower(): attrs[k] for k in keep if k in attrs}
    metadata = {k: (v.item() if hasattr(v, "item") else v) for k, v in metadata.items()}
    metadata["format"] = "RHK SM4"
    return finish(path, image, zero_rows_unscanned=False, size=size, unit=unit,
                  bias=None if attrs.get("RHK_Bias") is None else float(attrs["RHK_Bias"]),
                  setpoint=None if setpoint is None else float(setpoint), channel=name, direction=direction,
                  metadata=metadata)
