"""Atomic writes: a normal file mode, nothing left behind on failure, the old file kept."""

import json
import os
from pathlib import Path

import pytest

from stm_zoo._atomic import atomic_path, write_json, write_text


def test_written_file_has_the_umask_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_text(tmp_path / "sub" / "a.json", "{}")
    finally:
        os.umask(umask)
    assert path.read_text() == "{}"
    assert path.stat().st_mode & 0o777 == 0o644


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path, ".keras") as tmp:
        assert tmp.suffix == ".keras" and tmp.parent == tmp_path
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_write_json_round_trips_and_writes_paths_as_text(tmp_path):
    path = write_json(tmp_path / "recipe.json", {"out": Path("runs/x"), "steps": 3})
    assert json.loads(path.read_text()) == {"out": "runs/x", "steps": 3}
    assert path.read_text().endswith("}\n")
