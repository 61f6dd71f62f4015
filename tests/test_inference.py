import numpy as np
import pytest
import keras
from typer.testing import CliRunner

import stm_zoo
import stm_zoo.models
from stm_zoo import inference, io
from stm_zoo.cli import app
from stm_zoo.io import Scan


def identity_model():
    inputs = keras.Input((None, None, 1))
    conv = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="identity")
    return keras.Model(inputs, conv(inputs))


@pytest.fixture(scope="module")
def autoencoder():
    return stm_zoo.models.build("autoencoder_thesis")


@pytest.mark.parametrize("shape", [(630, 630), (333, 517), (40, 70), (64, 64)])
def test_tiling_keeps_shape_and_blends_without_seams(shape):
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = inference.predict_tiled(identity_model(), image, tile=128, overlap=32)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_allclose(out, image, atol=1e-6)  # blend weights sum to one everywhere


def test_tiled_equals_whole_on_an_image_that_fits(autoencoder):
    image = np.random.default_rng(1).random((128, 192), dtype=np.float32)
    whole = autoencoder.predict(image[None, :, :, None], verbose=0)[0, :, :, 0]
    np.testing.assert_allclose(inference.predict_tiled(autoencoder, image, tile=256), whole, atol=1e-5)
    fast = inference._fast_graph(autoencoder)  # tiles run through the rewritten graph, built once per model
    assert fast is not autoencoder and inference._fast_graph(autoencoder) is fast


def test_tiled_close_to_whole_on_a_larger_image(autoencoder):
    y, x = np.mgrid[0:320, 0:320]
    image = (0.5 + 0.25 * np.sin(x / 5.0) * np.cos(y / 7.0)).astype(np.float32)
    whole = autoencoder.predict(image[None, :, :, None], verbose=0)[0, :, :, 0]
    tiled = inference.predict_tiled(autoencoder, image, tile=128, overlap=48)
    assert np.abs(tiled - whole).mean() < 2e-3


def test_no_seams_on_a_constant_image(autoencoder):
    image = np.full((300, 300), 0.4, np.float32)
    out = inference.predict_tiled(autoencoder, image, tile=128, overlap=32)
    interior = out[16:-16, 16:-16]
    assert interior.std() < 1e-3 + 0.05 * abs(interior.mean())


def test_denoise_keeps_units_and_type():
    y, x = np.mgrid[0:96, 0:128]
    metres = 1e-10 * (np.sin(x / 3.0) + 0.01 * y) + 2e-9
    scan = Scan(data=metres, unit="m", size=(9.6e-9, 12.8e-9), channel="Z", direction="forward")
    out = stm_zoo.denoise(scan, identity_model(), level="none")  # absolute heights kept
    assert isinstance(out, Scan) and out.unit == "m" and out.data.shape == metres.shape
    assert np.abs(out.data - metres).max() < 0.05 * np.ptp(metres)  # only the 0.5 % tails are clipped
    arr = np.clip(metres / metres.max(), 0, 1).astype(np.float32)
    out_arr = stm_zoo.denoise(arr, identity_model(), level="none")
    assert isinstance(out_arr, np.ndarray) and out_arr.dtype == np.float32 and out_arr.shape == arr.shape
    assert np.abs(out_arr - arr).max() < 0.05


Y, X = np.mgrid[0:64, 0:96]
TEXTURE = 1e-10 * np.sin(X / 3.0) * np.cos(Y / 4.0)
TILT = 2e-11 * X + 3e-11 * Y + 5e-9  # sample tilt and a piezo offset


def _tilt_of(image):
    """(offset, x slope, y slope) of the least-squares plane, per pixel."""
    y, x = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    ok = np.isfinite(image)
    design = np.stack([np.ones(ok.sum()), x[ok], y[ok]], axis=1)
    return np.linalg.lstsq(design, image[ok], rcond=None)[0]


def test_level_plane_is_the_default_and_drops_the_input_plane():
    out = stm_zoo.denoise(TEXTURE + TILT, identity_model())
    np.testing.assert_allclose(_tilt_of(out), 0, atol=1e-13)  # no tilt, no offset: plane-leveled
    assert np.abs(out - (TEXTURE - TEXTURE.mean())).max() < 0.05 * np.ptp(TEXTURE)
    kept = stm_zoo.denoise(TEXTURE + TILT, identity_model(), level="none")
    np.testing.assert_allclose(_tilt_of(kept), _tilt_of(TEXTURE + TILT), rtol=0.02)  # today's behaviour


def test_level_rows_removes_line_offsets_left_by_the_model():
    offsets = np.random.default_rng(0).normal(scale=3e-10, size=(64, 1))
    striped = TEXTURE + TILT + offsets
    plane = stm_zoo.denoise(striped, identity_model(), level="plane")  # the identity keeps the stripes
    rows = stm_zoo.denoise(striped, identity_model(), level="rows")
    row_spread = lambda image: np.std(np.median(image, axis=1))  # noqa: E731
    assert row_spread(plane) > 1e-10 and row_spread(rows) < 0.2 * row_spread(plane)
    np.testing.assert_allclose(_tilt_of(rows), 0, atol=1e-13)
    with pytest.raises(ValueError, match="level must be one of plane, rows, none"):
        stm_zoo.denoise(striped, identity_model(), level="flat")


def test_partial_scan_keeps_its_shape_and_nan_where_nothing_was_measured():
    image = TEXTURE + TILT
    image[40:] = np.nan  # an aborted scan: 24 of 64 rows never scanned
    image[39, 50:] = np.nan  # the line where it stopped
    image[10, 20], image[25, 70] = np.nan, np.inf  # glitches inside the scan
    out = stm_zoo.denoise(image, identity_model(), level="none")
    assert out.shape == image.shape
    np.testing.assert_array_equal(np.isnan(out), ~np.isfinite(image))  # NaN exactly where the input had none
    scanned = np.isfinite(image)
    assert np.abs(out[scanned] - image[scanned]).max() < 0.05 * np.ptp(TEXTURE)
    assert inference.describe_missing(image) == (
        "24 of 64 rows unscanned (NaN), denoised the 40 scanned rows; "
        "48 NaN/Inf pixels inside them filled for the model, NaN in the result")
    assert inference.describe_missing(TEXTURE) is None
    scan = Scan(data=image, unit="m", size=(6.4e-9, 9.6e-9))
    assert stm_zoo.denoise(scan, identity_model()).data.shape == (64, 96)


def test_bad_tiling_and_level_are_refused_before_the_model_loads(tmp_path):
    missing = tmp_path / "nothere.keras"
    with pytest.raises(ValueError, match="tile must be a positive multiple of 64, got 100"):
        stm_zoo.denoise(TEXTURE, missing, tile=100)
    with pytest.raises(ValueError, match=r"overlap must be in \[0, 128\), got 128"):
        stm_zoo.denoise(TEXTURE, missing, overlap=128)
    with pytest.raises(ValueError, match="level must be one of"):
        stm_zoo.denoise(TEXTURE, missing, level="flat")


def test_a_one_pixel_image_is_reported_with_its_shape():
    with pytest.raises(ValueError, match=r"\(1, 1\)"):
        stm_zoo.denoise(np.ones((1, 1)), identity_model())
    with pytest.raises(ValueError, match=r"no finite pixel.*\(3, 4\)"):
        stm_zoo.denoise(np.full((3, 4), np.nan), identity_model())


def test_corrupt_keras_file_is_named_as_such(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"model\.keras: not a valid \.keras model"):
        stm_zoo.models.load(bad)


def test_architecture_without_published_weights_says_how_to_train_it():
    with pytest.raises(ValueError) as info:
        stm_zoo.models.load("swinir")
    message = str(info.value)
    assert "no published weights" in message and "stm-zoo fit recipes/swinir.py" in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="unknown pretrained model 'nonsense'"):
        stm_zoo.models.load("nonsense")


def test_cli_denoise_folder_with_a_corrupt_file(tmp_path):
    model_path = tmp_path / "identity.keras"
    identity_model().save(model_path)
    data = tmp_path / "in"
    data.mkdir()
    for i in range(2):
        np.save(data / f"good{i}.npy", np.random.default_rng(i).random((70, 90)).astype(np.float32))
    (data / "broken.npy").write_bytes(b"not a numpy file")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["denoise", str(data), "--model", str(model_path), "--output", str(out)])
    assert result.exit_code != 0
    assert "broken.npy" in result.output
    for i in range(2):
        den = np.load(out / f"good{i}.npy")
        assert den.shape == (70, 90) and den.dtype == np.float32
    assert not (out / "broken.npy").exists()


def test_cli_denoise_real_files(tmp_path, shared_stm):
    model_path = tmp_path / "identity.keras"
    identity_model().save(model_path)
    files = [shared_stm / "scholi__pySPM/pySPM/data/test.sxm",
             shared_stm / "SPMQT-Lab__nanonis-file-conversion-1.01/anonymised_testdata/createc_scan_step_20nm.dat"]
    result = CliRunner().invoke(app, ["denoise", *map(str, files), "--model", str(model_path), "--output",
                                      str(tmp_path / "out"), "--format", "tif"])
    assert result.exit_code == 0, result.output
    for f in files:
        original = io.read(f)
        back = io.read(tmp_path / "out" / f"{f.stem}.tif")
        assert back.data.shape == original.data.shape


def test_keras_imported_first_warns_and_denoise_still_works(tmp_path):
    """A user who imports keras before stm_zoo gets Keras' default TensorFlow backend: told so, and tiled
    denoising (with the fast-graph rewrite of max pooling) still runs there, on an odd-sized image."""
    import os
    import subprocess
    import sys

    code = """
import warnings
import keras
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import stm_zoo.models
import numpy as np
assert keras.backend.backend() == "tensorflow", keras.backend.backend()
assert any("import stm_zoo first" in str(w.message) for w in caught), [str(w.message) for w in caught]
out = stm_zoo.denoise(np.random.default_rng(0).random((71, 90), dtype=np.float32), stm_zoo.models.build("autoencoder_thesis"))
assert out.shape == (71, 90) and np.isfinite(out).all()
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)  # no keras.json: Keras' own default backend
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


def test_tiles_done_are_reported_within_a_scan():
    calls = []
    inference.predict_tiled(identity_model(), np.zeros((600, 600), np.float32), tile=128, overlap=32, batch_size=4,
                            progress=lambda done, total: calls.append((done, total)))
    total = calls[-1][1]
    assert total == 36 and [d for d, _ in calls] == [4, 8, 12, 16, 20, 24, 28, 32, 36]


def test_cli_denoise_bar_names_the_file_and_its_tiles_on_a_terminal(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    model_path = tmp_path / "identity.keras"
    identity_model().save(model_path)
    np.save(tmp_path / "big_scan.npy", np.random.default_rng(0).random((700, 700)).astype(np.float32))
    main, terminal = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "stm_zoo.cli", "denoise", str(tmp_path / "big_scan.npy"), "--model",
                           str(model_path), "--output", str(tmp_path / "out"), "--tile", "128"],
                          stderr=terminal, stdout=subprocess.PIPE, text=True, timeout=300)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert proc.returncode == 0, proc.stdout
    text = shown.decode(errors="replace")
    assert "big_scan.npy" in text and "tile 16/49" in text  # 128² tiles: 16 per batch of 4 × 256² pixels


def test_linespec_runs_whole_scans_up_to_1024_and_local_models_in_256_tiles(autoencoder):
    linespec = stm_zoo.models.build("linespec", filters=8, row_features=4)
    assert inference.default_tile(linespec) == 1024 and inference.default_tile(autoencoder) == 256
    image = np.random.default_rng(0).random((600, 700), dtype=np.float32)
    calls = []
    out = inference.predict_tiled(linespec, image, progress=lambda done, total: calls.append((done, total)))
    assert out.shape == image.shape and calls == [(1, 1)]  # one tile: whole lines, the whole lattice
    calls.clear()
    inference.predict_tiled(autoencoder, image, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(4, 9), (8, 9), (9, 9)]  # 3 × 3 tiles of 256², four per batch
