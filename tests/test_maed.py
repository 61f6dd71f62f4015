"""MAED-CNN: SE fusion, padding to /32, EfficientNet backbones and skips, encoder weights (imagenet via a local
HTTP server, and a local file). Only B0/B1 at tiny sizes: B7 is measured in bench/maed.py."""

import hashlib
import http.server
import threading
from functools import partial

import h5py
import numpy as np
import pytest

import stm_zoo.models as zoo
from stm_zoo.models import maed
from stm_zoo.models.layers import CropToMatch, PadToMultiple

import keras  # noqa: E402  (after stm_zoo: backend choice)

TINY = dict(backbone="B0", decoder_filters=[32, 16, 16, 8, 8])


@pytest.fixture(scope="module")
def b0():
    return zoo.build("maed_cnn", **TINY)


@pytest.fixture(scope="module")
def bare_b0():
    """A bare EfficientNetB0 encoder with random weights: the stand-in for the ImageNet file."""
    return keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(None, None, 3))


def encoder_of(model):
    return next(l for l in model.layers if l.name.startswith("efficientnet"))


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def test_pad_and_crop_undo_each_other():
    x = np.random.default_rng(0).random((2, 48, 80, 1), dtype=np.float32)
    padded = np.asarray(PadToMultiple(32)(x))
    assert padded.shape == (2, 64, 96, 1)
    np.testing.assert_array_equal(padded, np.pad(x, [(0, 0), (8, 8), (8, 8), (0, 0)], mode="reflect"))
    np.testing.assert_array_equal(np.asarray(CropToMatch(32)([padded, x])), x)
    # odd padding: the extra pixel goes to the end
    x = x[:, :47, :77]
    padded = np.asarray(PadToMultiple(32)(x))
    np.testing.assert_array_equal(padded, np.pad(x, [(0, 0), (8, 9), (9, 10), (0, 0)], mode="reflect"))
    np.testing.assert_array_equal(np.asarray(CropToMatch(32)([padded, x])), x)


def test_squeeze_excite_is_a_per_channel_mask_from_two_dense_layers():
    inputs = keras.Input((None, None, 40))
    model = keras.Model(inputs, maed.squeeze_excite(inputs, reduction=4, name="se"))
    w1, b1 = model.get_layer("se_reduce").get_weights()
    w2, b2 = model.get_layer("se_mask").get_weights()
    assert w1.shape == (40, 10) and w2.shape == (10, 40)
    rng = np.random.default_rng(0)
    b1, b2 = rng.normal(size=b1.shape).astype("float32"), rng.normal(size=b2.shape).astype("float32")
    model.get_layer("se_reduce").set_weights([w1, b1])
    model.get_layer("se_mask").set_weights([w2, b2])

    x = rng.random((2, 6, 5, 40), dtype=np.float32)
    hidden = np.maximum(x.mean(axis=(1, 2)) @ w1 + b1, 0)
    mask = 1 / (1 + np.exp(-(hidden @ w2 + b2)))
    y = np.asarray(model(x))
    np.testing.assert_allclose(y, x * mask[:, None, None, :], rtol=1e-5, atol=1e-6)
    assert not np.allclose(mask, mask[:, :1])  # really one weight per channel


def test_fusion_has_40_channels_and_feeds_the_gray_image_in_0_255(b0):
    assert b0.get_layer("fusion_se_scale").output.shape[-1] == 40
    assert [b0.get_layer(f"ms_conv{k}x{k}").kernel.shape[0] for k in (1, 3, 5, 7, 9)] == [1, 3, 5, 7, 9]
    # zero-initialised projection: the encoder starts from the grayscale image replicated to RGB, ×255
    stem = keras.Model(b0.input, b0.get_layer("to_0_255").output)
    x = np.random.default_rng(2).random((1, 64, 64, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(stem(x)), 255 * np.repeat(x, 3, axis=-1), rtol=1e-6)


def test_skips_exist_at_strides_2_to_32(b0):
    encoder = encoder_of(b0)
    sizes = [tuple(s[1:3]) for s in encoder.compute_output_shape((1, 64, 96, 3))]
    assert sizes == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    assert [f.shape[-1] for f in encoder.outputs] == [96, 144, 240, 672, 1280]  # EfficientNet-B0 widths
    for name in maed.SKIP_LAYERS:
        encoder.get_layer(name)


def test_odd_sizes_come_back_in_shape(b0):
    x = np.random.default_rng(3).random((2, 48, 80, 1), dtype=np.float32)
    y = np.asarray(b0(x))
    assert y.shape == x.shape
    assert np.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_same_code_builds_another_backbone(b0):
    b1 = zoo.build("maed_cnn", backbone="B1", decoder_filters=[8, 8, 8, 8, 8])
    enc0, enc1 = encoder_of(b0), encoder_of(b1)
    assert (enc0.name, enc1.name) == ("efficientnetb0_encoder", "efficientnetb1_encoder")
    names0 = {l.name for l in enc0.layers}
    names1 = {l.name for l in enc1.layers}
    assert "block2c_expand_activation" in names1 - names0  # B1 is deeper: 3 blocks in stage 2, B0 has 2
    assert enc1.count_params() > enc0.count_params()
    assert b1(np.zeros((1, 40, 40, 1), "float32")).shape == (1, 40, 40, 1)


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="backbone must be one of B0, .*B7, got 'B9'"):
        zoo.build("maed_cnn", backbone="B9")
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(ValueError, match=f"{missing}: encoder weights file not found"):
        zoo.build("maed_cnn", backbone="B0", encoder_weights=str(missing))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requested: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requested.append(self.path)
        super().do_GET()


def test_imagenet_weights_download_through_keras_applications(tmp_path, monkeypatch, bare_b0):
    """encoder_weights="imagenet" goes through keras.applications' real download (get_file + hash check +
    legacy .h5 load); here its base URL points at a local server that serves our stand-in file."""
    from keras.src.applications import efficientnet
    from keras.src.backend import config
    from keras.src.legacy.saving import legacy_h5_format

    served = tmp_path / "served"
    served.mkdir()
    weights_file = served / "efficientnetb0_notop.h5"  # the name keras.applications asks for
    with h5py.File(weights_file, "w") as f:  # the legacy format of the published ImageNet files
        legacy_h5_format.save_weights_to_hdf5_group(f, bare_b0)
    sha256 = hashlib.sha256(weights_file.read_bytes()).hexdigest()

    handler = partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(efficientnet, "BASE_WEIGHTS_PATH", f"http://127.0.0.1:{server.server_port}/")
        monkeypatch.setitem(efficientnet.WEIGHTS_HASHES, "b0", ("unused", sha256))
        (tmp_path / "keras_home").mkdir()  # get_file falls back to /tmp/.keras if the cache dir is missing
        monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras_home"))
        _QuietHandler.requested.clear()
        model = zoo.build("maed_cnn", encoder_weights="imagenet", **TINY)
    finally:
        server.shutdown()
        thread.join()
    assert _QuietHandler.requested == ["/efficientnetb0_notop.h5"]
    assert (tmp_path / "keras_home" / "models" / "efficientnetb0_notop.h5").is_file()
    assert_same_weights(encoder_of(model), bare_b0)
    assert model(np.zeros((1, 32, 32, 1), "float32")).shape == (1, 32, 32, 1)


def test_encoder_weights_from_a_local_file(tmp_path, bare_b0):
    path = tmp_path / "b0_encoder.weights.h5"
    bare_b0.save_weights(path)
    model = zoo.build("maed_cnn", encoder_weights=str(path), **TINY)
    assert_same_weights(encoder_of(model), bare_b0)


def test_recipe_trains_a_few_steps(tmp_path):
    from conftest import REPO
    from stm_zoo import training

    config = training.load_recipe(
        REPO / "recipes" / "maed.py",
        [
            "model_kwargs.backbone=B0",
            "model_kwargs.decoder_filters=[8, 8, 8, 8, 8]",
            "patch_size=32",
            "batch_size=2",
            "epochs=1",
            "steps_per_epoch=1",
            "validation_steps=1",
            f"out={str(tmp_path / 'run')!r}",
        ],
    )
    assert config["model_kwargs"] == {"backbone": "B0", "encoder_weights": None, "decoder_filters": [8] * 5}
    history = training.fit(config, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.name == "maed_cnn_b0"


def test_tensorflow_backend_handles_changing_odd_sizes():
    """predict retraces with unknown H×W on TensorFlow: padding, upsampling and crop must stay shape-agnostic."""
    pytest.importorskip("tensorflow")
    from conftest import run_python

    code = f"""
import numpy as np, keras
assert keras.backend.backend() == "tensorflow"
import stm_zoo.models as zoo
m = zoo.build("maed_cnn", **{TINY!r})
for h, w in [(48, 80), (50, 70), (33, 40)]:
    y = m.predict(np.random.default_rng(0).random((1, h, w, 1), dtype="float32"), verbose=0)
    assert y.shape == (1, h, w, 1), y.shape
print("ok")
"""
    assert run_python(code, env={"KERAS_BACKEND": "tensorflow"}).stdout.strip().endswith("ok")
