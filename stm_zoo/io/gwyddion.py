"""Gwyddion `.gwy` files (Gwyddion 2 format) through gwyfile (in the `formats` extra).

Reading picks the data field whose title names the channel ("Z" also matches Height/Topography titles);
when both a trace and a retrace field match, `direction` chooses. Gwyddion keeps row 0 at the top.
Gwyddion 1.x files (magic `GWYO`) are not readable by gwyfile: they are reported, not guessed at.
Writing stores a GwyDataField with its lateral size and the SI units of x/y (m) and z, so Gwyddion
opens it with the right scales, plus the scan's bias, set-point and channel as Gwyddion metadata; a
denoised scan is written as a new channel beside the original data (see `write`).
"""

from __future__ import annotations

import re
from dataclasses import replace

from stm_zoo.io._common import CHANNEL_ALIASES, denoised_by, finish, read_error, require, unit_factor

_RETRACE = ("retrace", "backward", "bwd", "(b)")


def _direction_of(title: str) -> str | None:
    low = title.lower()
    if any(word in low for word in _RETRACE):
        return "backward"
    return "forward" if ("trace" in low or "forward" in low or "fwd" in low) else None


def read(path, channel: str, direction: str):
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"GWYO":
        raise read_error(path, "is a Gwyddion 1.x file (magic GWYO), which cannot be read: re-save it in Gwyddion 2")
    if magic != b"GWYP":
        raise read_error(path, f"is not a Gwyddion file (magic {magic!r})")
    gwyfile = require("gwyfile", path, ".gwy")
    from gwyfile.objects import GwyObject

    container = GwyObject.fromfile(str(path))
    # gwyfile stores one-letter strings as chars: read those back as text
    fields = {chr(t) if isinstance(t, int) else str(t): f for t, f in gwyfile.util.get_datafields(container).items()}
    if not fields:
        raise read_error(path, "holds no data fields")
    key = channel.lower().strip()
    aliases = CHANNEL_ALIASES.get(key, (key,))
    titles = list(fields)
    candidates = [t for t in titles if t.lower().strip() == key]
    if not candidates:
        candidates = [t for t in titles if any(t.lower().startswith(a) for a in aliases if len(a) > 1)]
    if not candidates:
        raise read_error(path, f"has no channel {channel!r} (its data fields: {', '.join(titles)})")
    preferred = [t for t in candidates if (_direction_of(t) or "forward") == direction]
    title = (preferred or candidates)[0]
    field = fields[title]

    unit_z = field["si_unit_z"].unitstr if "si_unit_z" in field else ""
    unit_xy = field["si_unit_xy"].unitstr if "si_unit_xy" in field else ""
    size = None
    if unit_factor(unit_xy)[0] == "m":
        factor = unit_factor(unit_xy)[1]
        size = (field.yreal * factor, field.xreal * factor)
    unit, factor = unit_factor(unit_z) if unit_z else ("a.u.", 1.0)
    meta = {}
    meta_key = next((k[: -len("/data/title")] for k in container if k.endswith("/data/title")
                     and container[k] in (title, ord(title[0]) if len(title) == 1 else title)), None)
    if meta_key and f"{meta_key}/meta" in container:
        meta = {k: v for k, v in container[f"{meta_key}/meta"].items() if isinstance(v, (str, int, float))}

    def number(name):
        try:
            return float(str(meta.get(name, "")).split()[0])
        except (IndexError, ValueError):
            return None

    return finish(path, field.data * factor, zero_rows_unscanned=False, size=size, unit=unit,
                  bias=number("Bias"), setpoint=number("Setpoint"), channel=title,
                  direction=_direction_of(title) or meta.get("Direction"),
                  metadata={"format": "Gwyddion", "meta": meta})


def _field(scan):
    """A GwyDataField with the scan's lateral size and the SI units of x/y (m) and z."""
    from gwyfile.objects import GwyDataField

    rows, cols = scan.data.shape
    height, width = scan.size if scan.size is not None else (float(rows), float(cols))
    return GwyDataField(scan.data.astype("float64"), xreal=width, yreal=height,
                        si_unit_xy="m" if scan.size is not None else "",
                        si_unit_z="" if scan.unit == "a.u." else scan.unit)


def _meta(scan):
    from gwyfile.objects import GwyContainer

    meta = GwyContainer()
    for name, value in (("Bias", scan.bias is not None and f"{scan.bias:g} V"),
                        ("Setpoint", scan.setpoint is not None and f"{scan.setpoint:g} A"),
                        ("Direction", scan.direction), ("Source", scan.source and scan.source.name),
                        ("Denoised by", denoised_by(scan)), ("Level", scan.metadata.get("level"))):
        if value:
            meta[name] = str(value)
            meta.typecodes[name] = "s"  # gwyfile would store one-letter strings as chars
    return meta


def _add_channel(container, number: int, scan) -> None:
    container[f"/{number}/data/title"] = scan.channel
    container.typecodes[f"/{number}/data/title"] = "s"
    container[f"/{number}/data"] = _field(scan)
    meta = _meta(scan)
    if len(meta):
        container[f"/{number}/meta"] = meta


def _channels(container) -> dict[int, str]:
    """{channel number: title} of a Gwyddion container (titles stored as chars read back as text)."""
    found = (re.fullmatch(r"/(\d+)/data/title", key) for key in container)
    return {int(m.group(1)): (chr(container[m.group(0)]) if isinstance(container[m.group(0)], int)
                              else str(container[m.group(0)])) for m in found if m}


def write(scan, file, original=None) -> None:
    """Write `scan` as a Gwyddion 2 container to the open binary `file`.

    With `original` (the scan `scan` was computed from), `scan` is a new channel beside the original data,
    titled "<channel> (denoised)" when `scan` says it was denoised: a .gwy original is copied whole (every
    channel, its metadata, graphs and masks) with the new channel added after its last one, any other
    original is written as channel 0 and `scan` as channel 1. Without it, `scan` is the only channel.
    """
    from gwyfile.objects import GwyContainer, GwyObject

    if original is None:
        container = GwyContainer()
        _add_channel(container, 0, scan)
        container.tofile(file)
        return
    title = f"{original.channel} (denoised)" if denoised_by(scan) else f"{scan.channel} (result)"
    source = original.source
    if source is not None and source.suffix.lower() == ".gwy" and source.is_file():
        container = GwyObject.fromfile(str(source))
        channels = _channels(container)
        number = max(channels, default=-1) + 1
        here = next((n for n, t in channels.items() if t == original.channel), None)
        palette = f"/{here}/base/palette"
        if palette in container:  # shown with the original's colours
            container[f"/{number}/base/palette"] = container[palette]
            container.typecodes[f"/{number}/base/palette"] = container.typecodes.get(palette, "s")
    else:
        container = GwyContainer()
        _add_channel(container, 0, original)
        number = 1
    _add_channel(container, number, replace(scan, channel=title))
    container.tofile(file)
