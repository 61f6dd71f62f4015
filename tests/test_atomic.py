"""Atomic writes: a normal file mode, nothing left behind on failure, the old file kept."""

import os

import pytest

from stm_zoo._atomic import atomic_path, write_text


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
