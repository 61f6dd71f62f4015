import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from stm_zoo import models, training
from stm_zoo.training import core
from stm_zoo.training import losses, selfsup

SELFSUP = str(REPO / "recipes" / "selfsup.py")
FINETUNE = str(REPO / "recipes" / "finetune.py")
TINY = ["patch_size=32", "batch_size=4", "epochs=1", "steps_per_epoch=3", "validation_steps=1"]


def seed(a, b=0):
    return tf.constant([a, b], tf.int64)


def test_whole_line_mask_hides_whole_rows():
    for s in range(10):
        mask = selfsup.blindspot_mask(32, 48, seed(s), count=3, rows=(1, 3), length=1.0).numpy()
        rows = mask.any(axis=1)
        assert (mask[rows] == True).all() and not mask[~rows].any()  # noqa: E712  a row is all in or all out
        assert 1 <= rows.sum() <= 9


def test_segments_lie_along_rows():
    for s in range(10):
        mask = selfsup.blindspot_mask(32, 64, seed(s), count=1, rows=1, length=0.25).numpy()
        (row,) = np.nonzero(mask.any(axis=1))[0]
        (cols,) = np.nonzero(mask[row])
        assert len(cols) == 16 and (np.diff(cols) == 1).all()  # one run of ceil(0.25 × 64) pixels in one row
    pixel = selfsup.blindspot_mask(32, 64, seed(0), count=1, length=0.0).numpy()
    assert pixel.sum() == 1  # length 0: the one-pixel blind spot of Noise2Void


def test_masked_input_differs_exactly_at_the_mask():
    noisy = tf.random.stateless_uniform([32, 40, 1], seed(7))
    masked, y = selfsup.mask_patch(noisy, seed(3), count=4, rows=(1, 2), length=0.5)
    mask = y[..., 1].numpy().astype(bool)
    assert y.shape == (32, 40, 2) and set(np.unique(y[..., 1])) == {0.0, 1.0}
    np.testing.assert_array_equal(y[..., 0], noisy[..., 0])  # the target is the untouched noisy patch
    changed = masked.numpy()[..., 0] != noisy.numpy()[..., 0]
    np.testing.assert_array_equal(changed, mask)
    visible = noisy.numpy()[..., 0][~mask]
    assert np.isin(masked.numpy()[..., 0][mask], visible).all()  # hidden pixels get values of visible ones
    again, _ = selfsup.mask_patch(noisy, seed(3), count=4, rows=(1, 2), length=0.5)
    np.testing.assert_array_equal(again, masked)  # a pure function of its seed


def test_loss_reads_only_masked_pixels():
    rng = np.random.default_rng(0)
    target = rng.random((2, 16, 16, 1)).astype("float32")
    mask = np.zeros_like(target)
    mask[:, 5] = 1.0  # row 5 hidden
    y_true = np.concatenate([target, mask], axis=-1)
    wild = np.where(mask > 0, target, rng.random(target.shape) * 100).astype("float32")
    loss = losses.get("blindspot_mse")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(y_true, wild)), 0.0, atol=1e-7)
    off = wild.copy()
    off[0, 5, :4] += 0.5  # 4 of the 16 hidden pixels of sample 0 wrong by 0.5
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(y_true, off)), [0.25 * 4 / 16, 0.0], rtol=1e-5)


def test_validation_masks_are_fixed_and_training_masks_fresh_along_a_resumable_stream(tmp_path):
    config = training.load_recipe(SELFSUP, TINY + ["data='synthetic'"])
    train_ds, val_ds = selfsup.training_datasets(config)
    first, second = [y.numpy() for _, y in val_ds], [y.numpy() for _, y in val_ds]
    np.testing.assert_array_equal(first[0], second[0])
    stream = [y.numpy() for _, y in train_ds.take(config["steps_per_epoch"] + 1)]
    assert not np.array_equal(stream[0][..., 1], stream[1][..., 1])  # every batch its own masks
    resumed, _ = selfsup.training_datasets(config, start_epoch=1)  # a run resumed after epoch 1 goes on from there
    np.testing.assert_array_equal(next(iter(resumed))[1].numpy(), stream[config["steps_per_epoch"]])


def noisy_folder(path, n=3, size=48):
    """.npy scans with row offsets and white noise on a smooth surface."""
    path.mkdir()
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:size, :size] / size
    for i in range(n):
        surface = np.sin(2 * np.pi * (3 + i) * x) * np.cos(2 * np.pi * 2 * y)
        noisy = surface + 0.3 * rng.standard_normal((size, 1)) + 0.1 * rng.standard_normal((size, size))
        np.save(path / f"scan_{i}.npy", noisy.astype(np.float32))
    return path


def test_tiny_selfsup_fit_on_a_folder_writes_model(tmp_path):
    folder = noisy_folder(tmp_path / "scans")
    config = training.load_recipe(SELFSUP, TINY + [f"data={str(folder)!r}", f"out={str(tmp_path / 'run')!r}"])
    assert not selfsup.adds_noise(config["data"])  # the user's scans are used as they are
    history = training.fit(config, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and np.isfinite(history.history["val_loss"]).all()
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.count_params() == models.build("autoencoder_thesis").count_params()
    recipe = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert recipe["trainer"] == "selfsup" and recipe["blindspot"]["length"] == 1.0


class WeightsAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [np.array(w) for w in self.model.get_weights()]


def test_init_from_loads_the_weights(tmp_path):
    keras.utils.set_random_seed(123)
    start = models.build("autoencoder_thesis")
    core.save_model_atomic(start, tmp_path / "start.keras")
    config = training.load_recipe(FINETUNE, TINY + ["steps_per_epoch=1", f"init_from={str(tmp_path / 'start.keras')!r}",
                                                 f"out={str(tmp_path / 'run')!r}"])
    record = WeightsAtStart()
    training.fit(config, callbacks=[record], verbose=0)
    for got, want in zip(record.weights, start.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    keras.utils.set_random_seed(config["seed"])  # what fit would have started from without init_from
    fresh = models.build("autoencoder_thesis").get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(record.weights, fresh))


@pytest.mark.parametrize(
    "override, message",
    [
        ("init_from='nowhere/model.keras'", "init_from 'nowhere/model.keras': file not found"),
        ("init_from='no_such_zoo_model'", "no_such_zoo_model"),
        ("trainer='unsupervised'", "unknown trainer 'unsupervised'"),
        ("loss='mse'", "trainer 'selfsup' needs a blindspot_\\* loss"),
        ("augment.rotation_deg=10", "needs augment.rotation_deg=0"),
        ("blindspot.size=3", "unknown blindspot key 'size'"),
        ("blindspot.length=2.0", "blindspot.length must be in"),
        ("blindspot.rows=(3, 1)", "blindspot.rows must be a number or a \\(low, high\\) range"),
    ],
)
def test_bad_selfsup_recipes_are_one_line_errors(override, message):
    with pytest.raises(training.RecipeError, match=message) as info:
        training.load_recipe(SELFSUP, [override])
    assert "\n" not in str(info.value)


def test_blindspot_loss_needs_selfsup_trainer():
    with pytest.raises(training.RecipeError, match="needs trainer 'selfsup'"):
        training.load_recipe(str(REPO / "recipes" / "autoencoder.py"), ["loss='blindspot_mse'"])


def test_init_from_of_another_architecture_is_one_line_error(tmp_path):
    run = tmp_path / "run"
    core.save_model_atomic(models.build("dncnn", depth=3, filters=4), run / "model.keras")
    (run / "recipe.json").write_text(json.dumps({"model": "dncnn", "model_kwargs": {"depth": 3, "filters": 4}}))
    with pytest.raises(training.RecipeError, match="do not fit model='autoencoder_thesis'") as info:
        training.load_recipe(FINETUNE, [f"init_from={str(run / 'model.keras')!r}"])
    assert "\n" not in str(info.value) and "trained as model='dncnn'" in str(info.value)
    (tmp_path / "junk.keras").write_text("not a zip")
    with pytest.raises(training.RecipeError, match="does not load") as info:
        training.load_recipe(FINETUNE, [f"init_from={str(tmp_path / 'junk.keras')!r}"])
    assert "\n" not in str(info.value)
    config = training.load_recipe(FINETUNE, [f"init_from={str(run / 'model.keras')!r}", "model='dncnn'",
                                          "model_kwargs={'depth': 3, 'filters': 4}"])
    assert config["init_from"].endswith("model.keras")


def test_init_from_a_pretrained_zoo_name(tmp_path, monkeypatch):
    shipped = tmp_path / "weights"
    shipped.mkdir()
    (shipped / "manifest.json").write_text(json.dumps({"base_url": "", "models": []}))
    monkeypatch.setenv("STM_ZOO_WEIGHTS_DIR", str(shipped))
    run = tmp_path / "run"
    keras.utils.set_random_seed(5)
    trained = models.build("autoencoder_thesis")
    core.save_model_atomic(trained, run / "model.keras")
    (run / "recipe.json").write_text(json.dumps({"model": "autoencoder_thesis", "model_kwargs": {}}))
    models.publish(run, "ae-test")
    config = training.load_recipe(FINETUNE, ["init_from='ae-test'"])
    for got, want in zip(models.load(config["init_from"]).get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(training.RecipeError, match="init_from 'ae-test' is autoencoder_thesis {}, not model='dncnn'"):
        training.load_recipe(FINETUNE, ["init_from='ae-test'", "model='dncnn'"])
