"""stm_zoo.io: real instrument files from ../shared, write/read round trips, and bad input."""

import csv
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import stm_zoo.io as sio
from stm_zoo.io import ReadError, Scan, read, write
from stm_zoo.level import normalize

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "stm"
# Reader packages of the `formats` extra, by extension.
EXTRA = {".sm4": "spym", ".z_mtrx": "access2thematrix", ".i_mtrx": "access2thematrix", ".gwy": "gwyfile"}
AU_MICA = "FAIRmat-NFDI__pynxtools-stm/test_example/Au_mica_2023_Y_A_099.sxm"
CREATEC = "SPMQT-Lab__nanonis-file-conversion-1.01/anonymised_testdata/"
SM4 = "rescipy-project__spym/test/lia_image_ABC_Graphite-Sample5_9K_2021_08_17_23_02_19_872.sm4"
MATRIX = "matkrin__proespm-py3/tests/testdata/20201111--4_1.Z_mtrx"
STP = "Chitran1987__sn-1X1-fft-mapping/m1_m_750mV_25pA_Z TraceDown Thu Feb 10 22.53.28 2022 [17-33]  STM_Spectroscopy STM.stp"


def _needs_reader(path: Path):
    """Skip when the optional reader package is not installed (looked up, not imported: spym's import
    pulls in its whole plotting stack, which stm_zoo avoids)."""
    package = EXTRA.get(path.suffix.lower())
    if package and importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} (stm-zoo[formats]) not installed")


def _topographs():
    """MANIFEST rows of topographs in a format stm_zoo reads, as (relative path, channel, (rows, cols))."""
    manifest = SHARED / "MANIFEST.csv"
    if not manifest.is_file():
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=f"{SHARED} not found"))]
    cases = []
    for row in csv.DictReader(manifest.open()):
        rel = f"{row['repo'].replace('/', '__')}/{row['path']}"
        if "topo" not in row["category"].lower() or Path(rel).suffix.lower() not in sio.formats():
            continue
        cols, rows = (int(v) for v in row["pixels"].split("x"))
        token = re.search(r"-X[pm]-([^-.]+)\.nc$", rel)  # GXSM: one channel per file, named in the file name
        cases.append(pytest.param(rel, token.group(1) if token else "Z", (rows, cols), id=Path(rel).name[-45:]))
    return cases


@pytest.mark.parametrize("rel, channel, shape", _topographs())
def test_shared_topograph_loads_with_its_shape(shared_stm, rel, channel, shape):
    path = shared_stm / rel
    _needs_reader(path)
    scan = read(path, channel=channel)
    rows, cols = shape
    assert scan.data.shape[1] == cols
    assert scan.data.shape[0] + scan.cropped_rows == rows
    assert scan.data.dtype == np.float64 and np.isfinite(scan.data).all()
    assert scan.source == path and scan.size is not None
    if channel.lower() in ("z", "topo"):
        assert scan.unit == "m"
        assert 1e-13 < np.ptp(scan.data) < 1e-5  # a plausible height range in metres


@pytest.mark.parametrize("name, rows_left", [("anonymised_testdata/createc_scan_step_20nm.dat", 330),
                                             ("data/sample_input/A250320.191933.dat", 60),
                                             ("data/sample_input/A250407.141806.dat", 9)])
def test_aborted_createc_scans_are_cropped(shared_stm, name, rows_left):
    scan = read(shared_stm / "SPMQT-Lab__nanonis-file-conversion-1.01" / name)
    assert scan.data.shape[0] == rows_left
    assert scan.cropped_rows == scan.data.shape[1] - rows_left  # these scans are square
    assert scan.size[0] == pytest.approx(scan.size[1] * rows_left / scan.data.shape[1])


def _match(a, b):
    """Best correlation of band-passed images over lateral shifts (fwd/bwd scans are offset by hysteresis)."""
    def band(z):
        z = z - np.median(z, axis=1, keepdims=True)
        return ndimage.gaussian_filter(z, 1) - ndimage.gaussian_filter(z, z.shape[1] / 32)

    a, b = band(a), band(b)
    n = a.shape[1]
    scores = []
    for s in range(-n // 10, n // 10 + 1):
        u, v = a[:, max(0, s) : n + min(0, s)], b[:, max(0, -s) : n + min(0, -s)]
        scores.append((u * v).sum() / np.sqrt((u * u).sum() * (v * v).sum()))
    return max(scores)


@pytest.mark.parametrize("rel", [AU_MICA, CREATEC + "createc_scan_close_100nm.dat", SM4, MATRIX])
def test_backward_scan_is_mirrored_to_match_forward(shared_stm, rel):
    _needs_reader(shared_stm / rel)
    forward = read(shared_stm / rel).data
    backward = read(shared_stm / rel, direction="backward")
    assert backward.direction == "backward" and backward.data.shape == forward.shape
    assert _match(forward, backward.data) > 0.5 > _match(forward, backward.data[:, ::-1])


def test_metadata_of_a_nanonis_scan(shared_stm):
    scan = read(shared_stm / AU_MICA)
    assert scan.size == pytest.approx((4e-9, 4e-9))
    assert scan.pixel_size == pytest.approx((4e-9 / 256, 4e-9 / 256))
    assert scan.bias == pytest.approx(-0.05) and scan.setpoint == pytest.approx(2e-11)
    assert (scan.channel, scan.direction, scan.cropped_rows) == ("Z", "forward", 0)


def test_constant_height_files_read_their_signal_channel(shared_stm):
    path = shared_stm / "FAIRmat-NFDI__pynxtools-spm/tests/data/nanonis/stm/version_gen_5_with_default_config" \
                        "/Au_mica_2023_Y_A_diPAMY_195.sxm"
    with pytest.raises(ReadError, match="constant image"):  # Z held still: nothing to denoise
        read(path)
    current = read(path, channel="Current")
    assert current.unit == "A" and current.data.shape == (256, 256)


# --- synthetic Nanonis files: orientation and aborted scans -------------------------------------------------

def _write_sxm(path, forward_stored, backward_stored, scan_dir):
    ny, nx = forward_stored.shape
    header = (
        ":NANONIS_VERSION:\n2\n:SCANIT_TYPE:\n              FLOAT            MSBFIRST\n"
        f":SCAN_PIXELS:\n       {nx}       {ny}\n:SCAN_RANGE:\n           1.000000E-8           2.000000E-8\n"
        f":SCAN_DIR:\n{scan_dir}\n:BIAS:\n1.000E-1\n"
        ":Z-CONTROLLER:\n\tName\ton\tSetpoint\tP-gain\tI-gain\tT-const\n"
        "\tlog Current\t1\t5.000E-11 A\t1E-11 m\t1E-8 m/s\t1E-3 s\n"
        ":DATA_INFO:\n\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n\t14\tZ\tm\tboth\t1E-8\t0E+0\n\n"
        ":SCANIT_END:\n\n\n"
    )
    body = np.concatenate([forward_stored.ravel(), backward_stored.ravel()]).astype(">f4").tobytes()
    path.write_bytes(header.encode() + b"\x1a\x04" + body)


TRUE = (10 * np.arange(6)[:, None] + np.arange(8)[None, :]) * 1e-10  # as displayed: row 0 on top


@pytest.mark.parametrize("scan_dir", ["down", "up"])
def test_sxm_orientation(tmp_path, scan_dir):
    stored = TRUE if scan_dir == "down" else TRUE[::-1]  # an upward scan records the bottom line first
    path = tmp_path / f"{scan_dir}.sxm"
    _write_sxm(path, stored, stored[:, ::-1], scan_dir)  # backward lines are recorded right to left
    for direction in ("forward", "backward"):
        scan = read(path, direction=direction)
        np.testing.assert_allclose(scan.data, TRUE, rtol=1e-6)
    assert scan.size == pytest.approx((2e-8, 1e-8)) and scan.setpoint == pytest.approx(5e-11)


@pytest.mark.parametrize("scan_dir, kept", [("down", slice(0, 3)), ("up", slice(3, 6))])
def test_aborted_sxm_rows_are_cropped(tmp_path, scan_dir, kept):
    stored = (TRUE if scan_dir == "down" else TRUE[::-1]).astype(np.float32)
    stored[3, 4:] = np.nan  # the scan stopped in the 4th recorded line
    stored[4:] = np.nan
    path = tmp_path / "aborted.sxm"
    _write_sxm(path, stored, stored[:, ::-1], scan_dir)
    scan = read(path)
    np.testing.assert_allclose(scan.data, TRUE[kept], rtol=1e-6)
    assert scan.cropped_rows == 3
    assert scan.size == pytest.approx((1e-8, 1e-8))  # the kept half of the 20 nm height


# --- bad input ------------------------------------------------------------------------------------------------

def test_empty_scan(shared_stm):
    with pytest.raises(ReadError, match=r"empty\.sxm: is empty"):
        read(shared_stm / "alexriss__SpmImageTycoon.jl/test/data/empty.sxm")


def test_gwyddion_1_file(shared_stm):
    with pytest.raises(ReadError, match=r"bipm\.gwy: is a Gwyddion 1\.x file"):
        read(shared_stm / "pycroscopy__SciFiReaders/data/bipm.gwy")


@pytest.mark.parametrize("rel", [AU_MICA, CREATEC + "createc_scan_atomic_11nm.dat", STP, SM4,
                                 "pycroscopy__SciFiReaders/PTO_110_Virgin0001 (1).gwy", MATRIX])
def test_truncated_file(shared_stm, tmp_path, rel):
    source = shared_stm / rel
    _needs_reader(source)
    target = tmp_path / source.name
    target.write_bytes(source.read_bytes()[: source.stat().st_size * 6 // 10])
    if source.suffix == ".Z_mtrx":
        shutil.copy(source.with_name("20201111_0001.mtrx"), tmp_path)
    with pytest.raises(ReadError) as err:
        read(target)
    assert str(err.value).startswith(str(target)) and "\n" not in str(err.value)


def test_truncated_npy(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, np.random.default_rng(0).normal(size=(32, 32)))
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ReadError, match=r"cut\.npy"):
        read(path)


def _npy(tmp_path, array, name="a.npy"):
    np.save(tmp_path / name, array)
    return tmp_path / name


def test_constant_image(tmp_path):
    with pytest.raises(ReadError, match="constant image"):
        read(_npy(tmp_path, np.full((16, 16), 3.0)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_inside_the_image(tmp_path, bad):
    array = np.random.default_rng(0).normal(size=(16, 16))
    array[7, 5] = bad
    with pytest.raises(ReadError, match="1 NaN/Inf values inside"):
        read(_npy(tmp_path, array))


def test_unscanned_nan_rows_are_cropped(tmp_path):
    array = np.random.default_rng(0).normal(size=(20, 16))
    array[:2] = np.nan
    array[-3:] = np.nan
    scan = read(_npy(tmp_path, array))
    assert scan.cropped_rows == 5 and scan.data.shape == (15, 16)
    np.testing.assert_array_equal(scan.data, array[2:-3])


def test_all_nan_is_empty(tmp_path):
    with pytest.raises(ReadError, match="is empty"):
        read(_npy(tmp_path, np.full((8, 8), np.nan)))


def test_unknown_extension_and_missing_file(tmp_path):
    (tmp_path / "scan.xyz").write_text("hello")
    with pytest.raises(ReadError, match=r"scan\.xyz: cannot read '\.xyz' \(supported: .*\.sxm"):
        read(tmp_path / "scan.xyz")
    with pytest.raises(ReadError, match=r"nothere\.sxm: file not found"):
        read(tmp_path / "nothere.sxm")


def test_unknown_channel_and_direction(shared_stm):
    with pytest.raises(ReadError, match=r"has no channel 'Phase' \(it holds: Z, Current\)"):
        read(shared_stm / AU_MICA, channel="Phase")
    with pytest.raises(ValueError, match="direction must be"):
        read(shared_stm / AU_MICA, direction="up")


def test_missing_optional_reader_says_which_extra(tmp_path, monkeypatch):
    for module in ("spym", "spym.io.rhksm4"):  # as if spym were not installed
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, "stm_zoo.io._spym_rhksm4", raising=False)
    (tmp_path / "x.sm4").write_bytes(b"\0" * 64)
    with pytest.raises(ReadError, match=r"x\.sm4: reading \.sm4 needs `pip install stm-zoo\[formats\]`"):
        read(tmp_path / "x.sm4")


def test_reader_library_errors_become_one_line(tmp_path):
    path = tmp_path / "junk.nc"
    path.write_bytes(b"CDF\x01" + b"\xff" * 40)  # a NetCDF magic, then garbage for scipy to choke on
    with pytest.raises(ReadError, match=r"junk\.nc: cannot be read as GXSM or xarray NetCDF \(\w+") as err:
        read(path)
    assert "\n" not in str(err.value) and err.value.__cause__ is None


# --- writing --------------------------------------------------------------------------------------------------

def _scan():
    y, x = np.mgrid[0:24, 0:32]
    data = 1e-10 * (np.sin(x / 3.0) + np.cos(y / 4.0)) + 2e-12 * x
    return Scan(data=data, unit="m", size=(3e-9, 4e-9), bias=0.5, setpoint=1e-10, channel="Z",
                direction="forward", metadata={"note": "test"})


def test_npy_round_trip_with_its_sidecar(tmp_path):
    scan = _scan()
    scan.metadata.update(denoised_by="linespec", level="plane")
    scan.source = tmp_path / "scan.sxm"
    path = write(scan, tmp_path / "s.npy")
    assert np.load(path).dtype == np.float32  # like .tif
    side = json.loads((tmp_path / "s.json").read_text())
    assert side == {"shape": [24, 32], "size": [3e-9, 4e-9], "unit": "m", "bias": 0.5, "setpoint": 1e-10,
                    "channel": "Z", "direction": "forward", "units": {"size": "m", "bias": "V", "setpoint": "A"},
                    "source": str(tmp_path / "scan.sxm"), "model": "linespec", "level": "plane"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left
    back = read(path)
    np.testing.assert_array_equal(back.data, scan.data.astype(np.float32))
    assert (back.unit, back.size, back.bias, back.setpoint, back.channel, back.direction) == \
        ("m", (3e-9, 4e-9), 0.5, 1e-10, "Z", "forward")
    assert back.metadata["sidecar"]["model"] == "linespec" and "model" not in back.metadata  # not re-credited
    np.save(tmp_path / "s.npy", np.ones((3, 3)) + np.eye(3))  # the sidecar no longer fits: ignored
    assert read(path).unit == "a.u."
    (tmp_path / "s.json").unlink()
    assert read(write(scan, tmp_path / "bare.npy")).unit == "m"
    (tmp_path / "bare.json").unlink()
    assert read(tmp_path / "bare.npy").unit == "a.u."  # a bare array carries no unit


def test_tif_round_trip_keeps_units_and_size(tmp_path):
    scan = _scan()
    back = read(write(scan, tmp_path / "s.tif"))
    np.testing.assert_array_equal(back.data, scan.data.astype(np.float32))
    assert (back.unit, back.channel, back.direction) == ("m", "Z", "forward")
    assert back.size == pytest.approx(scan.size) and back.bias == 0.5 and back.setpoint == 1e-10
    assert back.metadata["note"] == "test"


def test_gwy_round_trip_keeps_units_and_size(tmp_path):
    _needs_reader(Path("s.gwy"))
    scan = _scan()
    back = read(write(scan, tmp_path / "s.gwy"))
    np.testing.assert_array_equal(back.data, scan.data)
    assert (back.unit, back.channel, back.direction) == ("m", "Z", "forward")
    assert back.size == pytest.approx(scan.size)
    assert back.bias == pytest.approx(0.5) and back.setpoint == pytest.approx(1e-10)


@pytest.mark.parametrize("scan_dir", ["down", "up"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_sxm_round_trip(tmp_path, scan_dir, direction):
    scan = _scan()
    scan.direction = direction
    scan.metadata.update(format="Nanonis SXM", scan_dir=scan_dir, rec_date="19.05.2023", scan_offset="1E-7 2E-7")
    path = write(scan, tmp_path / "s.sxm")
    back = read(path, direction=direction)
    np.testing.assert_array_equal(back.data, scan.data.astype(np.float32))
    assert (back.unit, back.channel, back.direction, back.cropped_rows) == ("m", "Z", direction, 0)
    assert back.size == pytest.approx(scan.size, rel=1e-9)
    assert back.bias == pytest.approx(0.5) and back.setpoint == pytest.approx(1e-10)
    assert (back.metadata["scan_dir"], back.metadata["rec_date"], back.metadata["scan_offset"]) == \
        (scan_dir, "19.05.2023", "1E-7 2E-7")
    other = "backward" if direction == "forward" else "forward"
    with pytest.raises(ReadError, match="is empty"):  # stored as never scanned, not invented
        read(path, direction=other)


@pytest.mark.parametrize("scan_dir", ["down", "up"])
def test_sxm_written_reads_with_nanonispy2(tmp_path, scan_dir):
    """An independent reader (nanonispy2, which assumes both directions) sees the same scan."""
    nanonispy2 = pytest.importorskip("nanonispy2")
    scan = _scan()
    scan.metadata.update(format="Nanonis SXM", scan_dir=scan_dir)
    other = nanonispy2.read.Scan(str(write(scan, tmp_path / "s.sxm")))
    stored = other.signals["Z"]["forward"]
    np.testing.assert_array_equal(stored[::-1] if scan_dir == "up" else stored, scan.data.astype(np.float32))
    assert np.isnan(other.signals["Z"]["backward"]).all()
    assert list(other.header["scan_range"]) == pytest.approx([4e-9, 3e-9])  # width, height
    assert list(other.header["scan_pixels"]) == [32, 24] and other.header["bias"] == pytest.approx(0.5)
    assert other.header["scan_dir"] == scan_dir and other.header["data_info"]["Unit"] == ("m",)


def test_real_sxm_round_trip_keeps_its_header(shared_stm, tmp_path):
    scan = read(shared_stm / AU_MICA)
    back = read(write(scan, tmp_path / "au.sxm"))
    np.testing.assert_array_equal(back.data, scan.data.astype(np.float32))
    assert back.size == pytest.approx(scan.size) and back.setpoint == pytest.approx(scan.setpoint)
    for key in ("rec_date", "rec_time", "scan_offset", "scan_angle", "scan_dir", "acq_time", "comment"):
        assert back.metadata[key] == scan.metadata[key], key


def test_sxm_needs_a_scan_size(tmp_path):
    with pytest.raises(ValueError, match=r"x\.sxm: .*needs the scan size"):
        write(Scan(np.eye(4)), tmp_path / "x.sxm")
    assert list(tmp_path.iterdir()) == []


def _netcdf(path):
    from scipy.io import netcdf_file

    with netcdf_file(path, mmap=False) as nc:
        return {name: (np.array(v.data), {k: v.decode() if isinstance(v, bytes) else v
                                          for k, v in v._attributes.items()}, v.dimensions)
                for name, v in nc.variables.items()}


def test_nc_round_trip_with_coordinates_in_metres(tmp_path):
    scan = _scan()
    scan.channel = "Z (fwd)"
    path = write(scan, tmp_path / "s.nc")
    variables = _netcdf(path)
    data, attrs, dims = variables["Z_fwd"]
    assert dims == ("y", "x") and data.dtype.kind == "f" and data.dtype.itemsize == 4
    np.testing.assert_array_equal(data, scan.data.astype(np.float32))
    assert (attrs["units"], attrs["long_name"], attrs["bias"], attrs["bias_units"], attrs["setpoint"],
            attrs["setpoint_units"], attrs["direction"]) == ("m", "Z (fwd)", 0.5, "V", 1e-10, "A", "forward")
    x, x_attrs, _ = variables["x"]
    y, y_attrs, _ = variables["y"]
    assert x_attrs["units"] == y_attrs["units"] == "m"
    np.testing.assert_allclose(x, np.arange(32) * 4e-9 / 32)
    np.testing.assert_allclose(y, np.arange(24)[::-1] * 3e-9 / 24)  # row 0 on top: the largest y
    back = read(path, channel="Z (fwd)")
    np.testing.assert_array_equal(back.data, scan.data.astype(np.float32))
    assert back.size == pytest.approx(scan.size) and (back.bias, back.setpoint) == (0.5, 1e-10)
    assert (back.unit, back.channel, back.direction, back.metadata["format"]) == \
        ("m", "Z (fwd)", "forward", "NetCDF (xarray)")
    assert read(path, channel="Z_fwd").channel == "Z (fwd)"  # by variable name too


def test_nc_reads_with_xarray(tmp_path):
    xr = pytest.importorskip("xarray")
    scan = _scan()
    with xr.open_dataset(write(scan, tmp_path / "s.nc"), engine="scipy") as ds:
        z = ds["Z"]
        assert z.dims == ("y", "x") and z.attrs["units"] == "m" and z.attrs["bias"] == 0.5
        assert ds["x"].attrs["units"] == "m" and float(ds["x"][-1]) == pytest.approx(4e-9 * 31 / 32)
        np.testing.assert_array_equal(z.values, scan.data.astype(np.float32))


def test_nc_without_a_size_counts_pixels(tmp_path):
    image = np.random.default_rng(0).normal(size=(6, 5))
    image[0] = np.nan  # unscanned rows stay NaN
    path = write(Scan(image, direction=None), tmp_path / "a.nc")
    assert _netcdf(path)["x"][1]["units"] == "pixel"
    back = read(path, unscanned="keep")
    assert back.size is None and back.unit == "a.u."
    np.testing.assert_array_equal(back.data, image.astype(np.float32))


def test_gwy_keeps_the_original_channels_beside_the_result(tmp_path):
    _needs_reader(Path("s.gwy"))
    from gwyfile.objects import GwyObject

    first = _scan()
    write(first, tmp_path / "in.gwy")
    original = read(tmp_path / "in.gwy")
    denoised = Scan(original.data * 0.5, unit="m", size=original.size, bias=0.5, channel="Z", source=original.source,
                    metadata={**original.metadata, "denoised_by": "linespec", "level": "plane"})
    path = write(denoised, tmp_path / "out.gwy", original=original)
    container = GwyObject.fromfile(str(path))
    assert [container[f"/{i}/data/title"] for i in (0, 1)] == ["Z", "Z (denoised)"]
    assert container["/1/meta"]["Denoised by"] == "linespec"
    np.testing.assert_array_equal(read(path, channel="Z").data, first.data)  # the original, untouched
    np.testing.assert_array_equal(read(path, channel="Z (denoised)").data, first.data * 0.5)
    again = write(denoised, tmp_path / "again.gwy", original=read(path))  # a third channel, the others kept
    assert [GwyObject.fromfile(str(again))[f"/{i}/data/title"] for i in range(3)] == ["Z", "Z (denoised)",
                                                                                      "Z (denoised)"]
    npy = read(write(first, tmp_path / "in.npy"))
    path = write(Scan(npy.data * 0.5, metadata={"denoised_by": "m"}), tmp_path / "from_npy.gwy", original=npy)
    assert sio.gwyddion._channels(GwyObject.fromfile(str(path))) == {0: "Z", 1: "Z (denoised)"}


def test_output_format_is_the_inputs_own_where_written():
    assert [sio.output_format(f"a{ext}") for ext in (".sxm", ".GWY", ".npy", ".tif", ".dat", ".sm4", ".nc", ".png")] \
        == [".sxm", ".gwy", ".npy", ".tif", ".gwy", ".gwy", ".gwy", ".gwy"]


def test_png_preview(tmp_path):
    scan = _scan()
    back = read(write(scan, tmp_path / "s.png"))
    assert back.data.shape == scan.data.shape and back.metadata["bit_depth"] == 8
    np.testing.assert_allclose(back.data, normalize(scan.data)[0], atol=0.5 / 255 + 1e-6)


def test_write_refuses_to_overwrite_the_input(tmp_path):
    path = _npy(tmp_path, np.random.default_rng(1).normal(size=(8, 8)))
    before = path.read_bytes()
    scan = read(path)
    with pytest.raises(ValueError, match="refusing to overwrite"):
        write(scan, tmp_path / "." / "a.npy")
    assert path.read_bytes() == before


def test_write_is_atomic(tmp_path, monkeypatch):
    import stm_zoo.io.images as images

    def half_then_crash(scan, file):
        file.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(images, "write_npy", half_then_crash)
    with pytest.raises(RuntimeError):
        write(_scan(), tmp_path / "out.npy")
    assert list(tmp_path.iterdir()) == []


def test_write_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"cannot write '\.dat'"):
        write(_scan(), tmp_path / "x.dat")


def test_formats_table():
    table = sio.formats()
    assert {".sxm", ".sm4", ".z_mtrx", ".gwy", ".dat", ".stp", ".nc", ".npy", ".tif", ".png"} <= set(table)
    assert sorted(e for e, f in table.items() if f["write"]) == [".gwy", ".nc", ".npy", ".png", ".sxm", ".tif",
                                                                  ".tiff"]
    assert table[".sxm"]["needs"] is None and table[".sm4"]["needs"] == "spym"


def test_default_data_set():
    folder = Path(sio.__file__).parents[1] / "data" / "default"
    files = sorted(folder.glob("*.npy"))
    sources = (folder / "SOURCES.md").read_text()
    assert len(files) >= 5
    for path in files:
        assert f"`{path.name}`" in sources and path.stat().st_size <= 600_000
        array = np.load(path)
        assert array.dtype == np.float16 and array.ndim == 2 and min(array.shape) >= 128
        assert array.min() == 0 and array.max() == 1


def test_find_scans_lists_readable_files_only_recursively(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "folder.sxm").mkdir()  # a folder with a scan's suffix is not a scan
    for name in ("a/b/x.npy", "a/y.SXM", "z.npy", "notes.txt", "w.json"):
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in sio.find_scans(tmp_path)]
    assert found == ["a/b/x.npy", "a/y.SXM", "z.npy"]
