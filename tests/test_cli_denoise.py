"""`stm-zoo denoise` and `stm-zoo show`: batch output names, partial scans, leveling and one-line errors."""

import tomllib
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from stm_zoo import io
from stm_zoo.cli import app
from stm_zoo.level import plane_fit

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def identity(tmp_path_factory) -> Path:
    """A saved 1×1-convolution identity model: the result is the input, leveled and clipped at the tails."""
    inputs = keras.Input((None, None, 1))
    conv = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones")
    path = tmp_path_factory.mktemp("model") / "identity.keras"
    keras.Model(inputs, conv(inputs)).save(path)
    return path


@pytest.fixture
def corrupt(tmp_path) -> Path:
    """A `.keras` file that is not a model: any check that runs before the model loads fires first."""
    path = tmp_path / "corrupt.keras"
    path.write_bytes(b"not a zip archive")
    return path


def _image(seed=0, shape=(40, 48)):
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (np.sin(x / 3.0 + seed) * np.cos(y / 4.0) + 0.01 * x).astype(np.float32)


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_line_error(result, *fragments):
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], result.output


def test_batch_mirrors_subfolders_and_names_colliding_stems_by_extension(tmp_path, identity):
    data = tmp_path / "scans"
    for rel in ("a/x.npy", "b/x.npy", "x.npy"):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        np.save(data / rel, _image(len(rel)))
    io.write(io.Scan(_image(7)), data / "x.tif")  # same stem as x.npy in the same folder
    out = tmp_path / "out"
    result = _run("denoise", data, "--model", identity, "--output", out, "--format", "npy")
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.npy"))
    assert written == ["a/x.npy", "b/x.npy", "x_npy.npy", "x_tif.npy"]
    assert "4 denoised, 0 skipped, 0 failed" in result.output
    rerun = _run("denoise", data, "--model", identity, "--output", data / "clean")  # results inside the input
    again = _run("denoise", data, "--model", identity, "--output", data / "clean")
    assert rerun.exit_code == again.exit_code == 0 and "4 denoised" in again.output  # earlier results not re-read


def test_batch_never_overwrites_an_output_of_the_same_run(tmp_path, identity):
    for seed, folder in enumerate(("day1", "day2")):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "scan.npy", _image(seed))
    out = tmp_path / "out"
    result = _run("denoise", tmp_path / "day1", tmp_path / "day2", "--model", identity, "--output", out)
    assert result.exit_code == 1
    assert "1 denoised, 1 skipped, 0 failed" in result.output
    assert f"skipped: {tmp_path / 'day2' / 'scan.npy'}" in result.output
    result = np.load(out / "scan.npy")
    assert np.abs(result - plane_fit(_image(0))).max() < 0.05 < np.abs(result - plane_fit(_image(1))).max()  # day1's


def test_partial_scan_keeps_its_shape_and_says_so(tmp_path, identity):
    image = _image().astype(np.float64)
    image[30:] = np.nan  # aborted after 30 of 40 rows
    image[5, 6] = np.inf
    np.save(tmp_path / "aborted.npy", image)
    result = _run("denoise", tmp_path / "aborted.npy", "--model", identity, "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'aborted.npy'}: 10 of 40 rows unscanned (NaN), denoised the 30 scanned rows" in result.output
    out = np.load(tmp_path / "out" / "aborted.npy")
    assert out.shape == (40, 48)
    np.testing.assert_array_equal(np.isnan(out), ~np.isfinite(image))


def test_aborted_createc_scan_keeps_its_512_rows(tmp_path, identity, shared_stm):
    path = shared_stm / "SPMQT-Lab__nanonis-file-conversion-1.01/data/sample_input/A250320.191933.dat"
    result = _run("denoise", path, "--model", identity, "--output", tmp_path, "--format", "tif")
    assert result.exit_code == 0, result.output
    assert f"{path}: 452 of 512 rows unscanned (NaN), denoised the 60 scanned rows" in result.output
    out = io.read(tmp_path / "A250320.191933.tif", unscanned="keep")
    assert out.data.shape == (512, 512) and out.size == pytest.approx(io.read(path, unscanned="keep").size)
    assert np.isnan(out.data[60:]).all() and np.isfinite(out.data[:60]).all()


def test_read_keep_mode_refuses_nothing_that_has_a_finite_pixel(tmp_path):
    image = _image().astype(np.float64)
    image[np.arange(40), np.arange(40)] = np.nan  # a NaN in every row: no row is whole
    np.save(tmp_path / "holes.npy", image)
    with pytest.raises(io.ReadError, match="is empty"):
        io.read(tmp_path / "holes.npy")  # the default: crop, refuse NaN inside
    kept = io.read(tmp_path / "holes.npy", unscanned="keep")
    np.testing.assert_array_equal(kept.data, image)
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan))
    with pytest.raises(io.ReadError, match="is empty"):
        io.read(tmp_path / "nan.npy", unscanned="keep")


def test_level_option(tmp_path, identity):
    striped = _image().astype(np.float64) + np.random.default_rng(0).normal(scale=2.0, size=(40, 1)) + 100.0
    np.save(tmp_path / "s.npy", striped)
    spreads = {}
    for level in ("none", "plane", "rows"):
        result = _run("denoise", tmp_path / "s.npy", "-m", identity, "-o", tmp_path / level, "--level", level)
        assert result.exit_code == 0, result.output
        out = np.load(tmp_path / level / "s.npy")
        spreads[level] = np.std(np.median(out, axis=1))
        assert (abs(out.mean() - 100) < 5) == (level == "none")  # only `none` keeps the absolute height
    assert spreads["rows"] < 0.2 * spreads["plane"]
    _one_line_error(_run("denoise", tmp_path / "s.npy", "-m", identity, "-o", tmp_path / "x", "--level", "flat"),
                    "level must be one of plane, rows, none")


def test_show_has_the_level_option(tmp_path, identity):
    np.save(tmp_path / "s.npy", _image())
    result = _run("show", tmp_path / "s.npy", "-m", identity, "-o", tmp_path / "figs" / "s.png", "--level", "rows")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "figs" / "s.png").stat().st_size > 1000


def test_denoise_errors_are_one_line_and_come_before_the_model_loads(tmp_path, corrupt):
    scan = tmp_path / "s.npy"
    np.save(scan, _image())
    denoise = ("denoise", scan, "--model", corrupt, "--output")
    _one_line_error(_run(*denoise, tmp_path / "o", "--tile", 100), "tile must be a positive multiple of 64, got 100")
    _one_line_error(_run(*denoise, tmp_path / "o", "--overlap", 200), "overlap must be in [0, 128), got 200")
    _one_line_error(_run(*denoise, tmp_path / "o", "--format", "jpg"), "cannot write 'jpg'")
    _one_line_error(_run(*denoise, scan), f"{scan}: is a file, not a folder")
    _one_line_error(_run(*denoise, tmp_path / "clean.tif"), "clean.tif: --output takes a folder, not a file name")
    assert not (tmp_path / "clean.tif").exists()
    (tmp_path / "plain").write_text("a file")
    _one_line_error(_run(*denoise, tmp_path / "plain" / "sub"), f"{tmp_path / 'plain' / 'sub'}: cannot create")
    _one_line_error(_run(*denoise, tmp_path / "o"), f"{corrupt}: not a valid .keras model")
    assert not (tmp_path / "o").exists()  # a run that never started leaves no empty folder behind
    _one_line_error(_run("denoise", scan, "--model", "swinir", "--output", tmp_path / "o"),
                    "no published weights", "stm-zoo fit recipes/swinir.py")


def test_a_run_where_every_scan_fails_leaves_no_folder_behind(tmp_path, identity):
    (tmp_path / "cut.sxm").write_bytes(b"NANONIS_VERSION\n2\n:SCANIT_TYPE:\n")
    result = _run("denoise", tmp_path / "cut.sxm", "--model", identity, "--output", tmp_path / "out" / "clean")
    assert result.exit_code == 1 and "failed: " in result.output and "0 denoised" in result.output
    assert not (tmp_path / "out").exists()
    np.save(tmp_path / "good.npy", _image())
    result = _run("denoise", tmp_path / "cut.sxm", tmp_path / "good.npy", "--model", identity, "--output",
                  tmp_path / "out")
    assert result.exit_code == 1 and (tmp_path / "out" / "good.npy").exists()  # written results stay


def test_a_missing_writer_is_reported_before_the_model_loads(tmp_path, corrupt, monkeypatch):
    np.save(tmp_path / "s.npy", _image())
    real = io.formats()
    monkeypatch.setattr(io, "formats", lambda: {**real, ".gwy": {**real[".gwy"], "available": False}})
    _one_line_error(_run("denoise", tmp_path / "s.npy", "-m", corrupt, "-o", tmp_path / "o", "-f", "gwy"),
                    "writing .gwy needs the Python package gwyfile")
    io.write(io.Scan(_image()), tmp_path / "p.png")  # by default a .png input is written as .gwy
    _one_line_error(_run("denoise", tmp_path / "p.png", "-m", corrupt, "-o", tmp_path / "o"),
                    "writing .gwy needs the Python package gwyfile")


def _sxm_scan(seed=0):
    return io.Scan(_image(seed).astype(np.float64) * 1e-10, unit="m", size=(4e-9, 4.8e-9), bias=-0.05,
                   setpoint=2e-11, channel="Z", direction="forward", metadata={"format": "Nanonis SXM",
                                                                               "scan_dir": "up"})


def test_default_format_is_each_inputs_own_with_its_metadata(tmp_path, identity):
    data = tmp_path / "scans"
    io.write(_sxm_scan(), data / "a.sxm")
    io.write(_sxm_scan(1), data / "b.gwy")
    np.save(data / "c.npy", _image(2))
    io.write(io.Scan(_image(3)), data / "d.png")
    io.write(_sxm_scan(4), data / "e.gwy.tif")  # e.tif and e.gwy would not collide: different stems
    out = tmp_path / "out"
    result = _run("denoise", data, "-m", identity, "-o", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.sxm", "b.gwy", "c.json", "c.npy", "d.gwy", "e.gwy.tif"]
    sxm = io.read(out / "a.sxm")
    assert (sxm.unit, sxm.bias, sxm.setpoint, sxm.metadata["scan_dir"]) == ("m", -0.05, 2e-11, "up")
    assert sxm.size == pytest.approx((4e-9, 4.8e-9)) and f"denoised by stm-zoo ({identity}, level plane)" in sxm.metadata["comment"]
    np.testing.assert_allclose(sxm.data, plane_fit(_image(0) * 1e-10), atol=0.05 * np.ptp(_image(0)) * 1e-10)
    # the .gwy keeps the original channel and adds the denoised one
    np.testing.assert_array_equal(io.read(out / "b.gwy", channel="Z").data, io.read(data / "b.gwy").data)
    denoised = io.read(out / "b.gwy", channel="Z (denoised)")
    assert denoised.bias == pytest.approx(-0.05) and denoised.size == pytest.approx((4e-9, 4.8e-9))
    side = __import__("json").loads((out / "c.json").read_text())
    assert (side["shape"], side["source"], side["model"], side["level"]) == \
        ([40, 48], str(data / "c.npy"), str(identity), "plane")
    assert io.read(out / "d.gwy", channel="intensity (denoised)").data.shape == (40, 48)
    assert io.read(out / "e.gwy.tif").bias == pytest.approx(-0.05)


def test_explicit_formats_still_win(tmp_path, identity):
    io.write(_sxm_scan(), tmp_path / "a.sxm")
    for fmt in ("nc", "npy", "gwy", "tif", "png", "sxm"):
        result = _run("denoise", tmp_path / "a.sxm", "-m", identity, "-o", tmp_path / fmt, "--format", fmt)
        assert result.exit_code == 0, result.output
        assert (tmp_path / fmt / f"a.{fmt}").is_file()
    back = io.read(tmp_path / "nc" / "a.nc")
    assert back.size == pytest.approx((4e-9, 4.8e-9)) and back.bias == pytest.approx(-0.05)
    assert io.read(tmp_path / "gwy" / "a.gwy", channel="Z (denoised)").data.shape == (40, 48)


def test_a_one_pixel_file_is_reported_with_its_shape(tmp_path, identity):
    np.save(tmp_path / "one.npy", np.ones((1, 1)))
    result = _run("denoise", tmp_path / "one.npy", "-m", identity, "-o", tmp_path / "out")
    assert result.exit_code == 1 and "(1, 1)" in result.output and "shape ()" not in result.output
    assert result.output.count(str(tmp_path / "one.npy")) == 1  # the path once, not twice


def test_show_errors_are_one_line_and_come_before_the_model_loads(tmp_path, corrupt):
    scan = tmp_path / "s.npy"
    np.save(scan, _image())
    _one_line_error(_run("show", scan, "-m", corrupt, "-o", tmp_path / "s.txt"), "s.txt", ".png")
    _one_line_error(_run("show", scan, "-m", corrupt, "-o", tmp_path), f"{tmp_path}: is a folder")
    (tmp_path / "plain").write_text("a file")
    _one_line_error(_run("show", scan, "-m", corrupt, "-o", tmp_path / "plain" / "f.png"), "cannot create")
    _one_line_error(_run("show", scan, "-m", corrupt, "-o", tmp_path / "f.png", "--level", "x"), "level must be")
    _one_line_error(_run("show", scan, "-m", corrupt, "-o", tmp_path / "f.png"), "not a valid .keras model")


def test_readers_are_installed_by_default():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
             for dep in project["dependencies"]}
    assert {"spym", "access2thematrix", "gwyfile"} <= names
    assert "formats" in project["optional-dependencies"]  # `pip install -e ".[formats]"` still works
