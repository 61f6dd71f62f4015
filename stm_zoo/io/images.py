"""Plain arrays and pictures: `.npy`, `.tif`/`.tiff`, `.png`, `.jpg`/`.jpeg`.

`.npy` and `.tif` hold raw values (unit "a.u." unless stm-zoo wrote them: `write` stores the Scan's unit,
size, bias, set-point, channel and direction as JSON in the TIFF description, and beside a `.npy` in a
sidecar `NAME.json`, which reading uses when its shape matches the array).
Both are written as float32. `.png`/`.jpg` are renderings: 8- or 16-bit intensities scaled to [0, 1]; grey images stored as RGB keep
one channel, coloured ones are converted to luminance (ITU-R 601), and alpha is dropped.
Written PNGs are 8-bit previews stretched between the 0.5th and 99.5th percentiles.
"""

from __future__ import annotations

import numpy as np

from stm_zoo.io._common import denoised_by, finish, read_error

_SCAN_KEYS = ("unit", "size", "bias", "setpoint", "channel", "direction")


def _squeeze(array: np.ndarray) -> np.ndarray:
    """Drop length-1 axes beyond two: (1, H, W, 1) → (H, W), while (1, 1) and (1, W) stay 2-D."""
    while array.ndim > 2 and 1 in array.shape:
        array = np.squeeze(array, axis=array.shape.index(1))
    return array


def _to_grey(path, array: np.ndarray) -> tuple[np.ndarray, str]:
    if array.ndim == 2:
        return array, "grey"
    if array.ndim == 3 and array.shape[-1] in (2, 4):  # drop alpha
        array = array[..., :-1]
    if array.ndim == 3 and array.shape[-1] == 1:
        return array[..., 0], "grey"
    if array.ndim == 3 and array.shape[-1] == 3:
        if np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 1], array[..., 2]):
            return array[..., 0], "grey stored as RGB"
        return array.astype(np.float64) @ np.array([0.299, 0.587, 0.114]), "RGB converted to luminance"
    raise read_error(path, f"holds an image of shape {array.shape}, not a single 2-D image")


def read_npy(path, channel: str, direction: str):
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise read_error(path, f"is not a readable .npy array ({err})") from None
    if not isinstance(array, np.ndarray):
        raise read_error(path, "is not a single array")
    array = _squeeze(array)
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise read_error(path, f"holds a {array.dtype} array of shape {array.shape}, not a 2-D numeric image")
    if np.iscomplexobj(array):
        raise read_error(path, "holds complex values")
    fields, metadata = _sidecar(path, array.shape)
    fields.setdefault("channel", "unknown")
    return finish(path, array, zero_rows_unscanned=False, metadata={"format": "npy", **metadata}, **fields)


def _sidecar(path, shape) -> tuple[dict, dict]:
    """Scan fields and metadata from the `NAME.json` beside `NAME.npy`, if it is stm-zoo's and fits."""
    import json

    side = path.with_suffix(".json")
    try:
        stored = json.loads(side.read_text())
    except (OSError, ValueError):
        return {}, {}
    if not isinstance(stored, dict) or stored.get("shape") != list(shape):
        return {}, {}
    fields = {k: stored[k] for k in _SCAN_KEYS if stored.get(k) is not None}
    if "size" in fields:
        fields["size"] = tuple(fields["size"])
    extra = {k: stored[k] for k in ("source", "model", "level") if k in stored}  # the run that wrote it
    return fields, {"sidecar": {"file": side.name, **extra}}


def read_tif(path, channel: str, direction: str):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if len(tif.series) != 1 or len(tif.series[0].pages) > 1:
            raise read_error(path, "holds several images; stm-zoo reads single 2-D images")
        array = tif.asarray()
        stored = (tif.shaped_metadata or [{}])[0] or {}
    array, colour = _to_grey(path, _squeeze(array))
    fields = {k: stored[k] for k in _SCAN_KEYS if stored.get(k) is not None}
    if "size" in fields:
        fields["size"] = tuple(fields["size"])
    fields.setdefault("channel", "unknown")
    metadata = {"format": "TIFF", "colour": colour, **stored.get("metadata", {})}
    return finish(path, array, zero_rows_unscanned=False, metadata=metadata, **fields)


def read_picture(path, channel: str, direction: str):
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        mode = image.mode
        if mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif mode == "1":
            image = image.convert("L")
        array = np.asarray(image)
    array, colour = _to_grey(path, array)
    # 16-bit PNGs come as uint16 or int32 ("I;16"/"I"); everything else is 8-bit.
    full_scale = 65535.0 if (mode.startswith("I") or array.dtype == np.uint16) else 255.0
    metadata = {"format": path.suffix.lower().lstrip("."), "mode": mode, "colour": colour,
                "bit_depth": 16 if full_scale > 255 else 8}
    return finish(path, array / full_scale, zero_rows_unscanned=False, channel="intensity",
                  metadata=metadata)


def _plain(value):
    """JSON-friendly copy of metadata values (drops what JSON cannot hold)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if _plain(v) is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (str, int, float, bool)) else None


def write_npy(scan, file) -> None:
    np.save(file, scan.data.astype(np.float32), allow_pickle=False)  # float32, like .tif


def npy_sidecar(scan) -> dict:
    """What the `NAME.json` beside a written `NAME.npy` holds: SI units (size in m, bias in V, set-point in A)."""
    return {"shape": list(scan.data.shape), "size": list(scan.size) if scan.size else None, "unit": scan.unit,
            "bias": scan.bias, "setpoint": scan.setpoint, "channel": scan.channel, "direction": scan.direction,
            "units": {"size": "m", "bias": "V", "setpoint": "A"},
            "source": str(scan.source) if scan.source is not None else None,
            "model": denoised_by(scan), "level": scan.metadata.get("level")}


def write_tif(scan, file) -> None:
    import tifffile

    stored = {"unit": scan.unit, "size": list(scan.size) if scan.size else None, "bias": scan.bias,
              "setpoint": scan.setpoint, "channel": scan.channel, "direction": scan.direction,
              "metadata": _plain(scan.metadata)}
    tifffile.imwrite(file, scan.data.astype(np.float32), metadata=_plain(stored))


def write_png(scan, file) -> None:
    from PIL import Image

    from stm_zoo.level import normalize

    array01, _ = normalize(scan.data)
    array01 = np.nan_to_num(array01, nan=0.0)  # unscanned (NaN) pixels black
    Image.fromarray(np.round(array01 * 255).astype(np.uint8)).save(file, format="PNG")
