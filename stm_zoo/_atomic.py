"""Atomic file writes: write to a temporary file beside the target, then rename, so that an interrupted write
never leaves a half-written file under the target's name."""

import contextlib
import glob
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "", durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder (ending in `suffix`, for writers that look at it); on success it
    is renamed to `path` with a normal file's mode (0666 minus the umask), on any error it is removed.
    `durable`: flush the file, then the rename, to disk (a power cut then leaves the old or the new file).
    A killed process leaves its temporary behind: see `remove_temporaries`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private
    try:
        yield Path(tmp)
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _fsync(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporaries that `atomic_path(path)` left when its process was killed; return them."""
    path = Path(path)
    stray = sorted(p for p in path.parent.glob(f".{glob.escape(path.name)}.*") if p.is_file())
    for p in stray:
        p.unlink(missing_ok=True)
    return stray


def write_text(path: str | Path, text: str) -> Path:
    """`Path(path).write_text(text)`, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, data) -> Path:
    """`data` as indented JSON (non-JSON values by `str`), atomically."""
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n")
