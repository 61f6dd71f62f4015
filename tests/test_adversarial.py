"""The PDA-Net adversarial trainer: its step function, and `stm-zoo fit` of an adversarial recipe (resume,
real_data, data parallel on 4 virtual devices)."""

import csv
import json

import keras
import numpy as np
import pytest

from conftest import REPO, run_python
from stm_zoo import training
from stm_zoo.training import adversarial
from stm_zoo.training.adversarial import fit_adversarial
from stm_zoo.models.pda_net import pda_net, pda_net_discriminator

RNG = np.random.default_rng(0)
RECIPE = str(REPO / "recipes" / "pda_net.py")
TINY = ["patch_size=32", "batch_size=2", "steps_per_epoch=2", "validation_steps=1",
        "model_kwargs.filters=4", "model_kwargs.levels=2"]


def test_pda_net_adversarial_steps_train_both_networks():
    generator, discriminator = pda_net(filters=4, levels=2), pda_net_discriminator(filters=4, n_layers=1)
    pairs = [(RNG.random((2, 32, 32, 1), dtype=np.float32), RNG.random((2, 32, 32, 1), dtype=np.float32))]
    real = [(RNG.random((2, 32, 32, 1), dtype=np.float32),)]
    g_before = [np.asarray(v) for v in generator.trainable_variables]
    d_before = [np.asarray(v) for v in discriminator.trainable_variables]
    seen = []
    history = fit_adversarial(generator, discriminator, pairs, real, steps=3, on_step=lambda s, logs: seen.append(s))
    assert seen == [1, 2, 3]
    assert set(history) == {"loss", "supervised", "adversarial", "discriminator"}
    for key, values in history.items():
        assert len(values) == 3 and np.isfinite(values).all(), key
    assert history["supervised"][-1] < history["supervised"][0]
    changed = lambda before, model: any(  # noqa: E731
        not np.allclose(b, np.asarray(v)) for b, v in zip(before, model.trainable_variables)
    )
    assert changed(g_before, generator) and changed(d_before, discriminator)


def test_fit_adversarial_names_an_empty_dataset():
    with pytest.raises(ValueError, match="unpaired_real_ds: the dataset yielded no batches"):
        fit_adversarial(pda_net(filters=4, levels=2), pda_net_discriminator(filters=4, n_layers=1),
                        [(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1)))], [], steps=1)


def tiny_config(tmp_path, *more):
    return training.load_recipe(RECIPE, TINY + [f"out={str(tmp_path / 'run')!r}", *more])


class Interrupt(Exception):
    pass


def test_adversarial_recipe_checkpoints_resumes_and_saves(tmp_path, monkeypatch, capsys):
    uninterrupted = training.fit(tiny_config(tmp_path / "uninterrupted", "epochs=2"), verbose=0).history
    save = adversarial._save_checkpoint

    def save_then_stop(path, epoch, groups):
        save(path, epoch, groups)
        raise Interrupt

    monkeypatch.setattr(adversarial, "_save_checkpoint", save_then_stop)
    with pytest.raises(Interrupt):
        training.fit(tiny_config(tmp_path, "epochs=2"))
    out = tmp_path / "run"
    assert (out / "checkpoint" / "adversarial.npz").exists() and not (out / "model.keras").exists()
    monkeypatch.setattr(adversarial, "_save_checkpoint", save)
    capsys.readouterr()

    history = training.fit(tiny_config(tmp_path, "epochs=2"))
    printed = capsys.readouterr().out
    assert f"resuming {out} after epoch 1" in printed
    assert "Epoch 2/2" in printed and "Epoch 1/2" not in printed
    assert np.isfinite(history.history["val_psnr"]).all() and len(history.history["loss"]) == 1
    for key in ("supervised", "adversarial", "discriminator", "val_psnr"):  # the same data and state as unbroken
        np.testing.assert_allclose(history.history[key][0], uninterrupted[key][1], rtol=1e-4, err_msg=key)
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert {"supervised", "adversarial", "discriminator", "val_psnr", "val_ssim"} <= set(rows[0])

    generator = keras.saving.load_model(out / "model.keras")
    critic = keras.saving.load_model(out / "discriminator.keras")
    x = RNG.random((1, 40, 24, 1), dtype=np.float32)
    assert np.asarray(generator.predict_on_batch(x)).shape == x.shape
    assert np.isfinite(np.asarray(critic.predict_on_batch(x))).all()
    with np.load(out / "checkpoint" / "adversarial.npz") as saved:  # the checkpoint is the final state
        assert int(saved["epoch"]) == 2
        np.testing.assert_array_equal(saved["v0"], generator.trainable_variables[0].numpy())


def test_adversarial_recipe_reads_real_scans_from_a_folder(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    for i in range(2):
        np.save(scans / f"scan{i}.npy", RNG.random((48, 64)).astype(np.float32))
    config = tiny_config(tmp_path, "epochs=1", "steps_per_epoch=1", f"real_data={str(scans)!r}")
    assert adversarial.real_images(config["real_data"])[0].shape == (48, 64)
    training.fit(config)
    assert (tmp_path / "run" / "model.keras").exists()


@pytest.mark.parametrize("override, message", [
    ("real_data=''", "trainer 'adversarial' needs real_data"),
    ("real_data='/no/such/scans'", "real_data '/no/such/scans': folder not found"),
    ("trainer='supervised'", "real_data is read only by trainer 'adversarial'"),
])
def test_real_data_errors_are_one_line(override, message):
    with pytest.raises(training.RecipeError, match=message):
        training.load_recipe(RECIPE, [override])


FOUR_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "STM_ZOO_NO_COMPILE_CACHE": "1"}

CODE = """
import json, sys
import keras, numpy as np
from stm_zoo import training
from stm_zoo.training import adversarial, devices

base = sys.argv[3:] + ["batch_size=4", "epochs=1"]
def run(tag, *more):
    config = training.load_recipe(sys.argv[1], base + [f"out='{sys.argv[2]}/{tag}'", *more])
    with devices.scope(config):
        placed = adversarial._place(np.zeros((4, 8, 8, 1), "float32"))
    history = training.fit(config)
    model = keras.saving.load_model(f"{sys.argv[2]}/{tag}/model.keras")
    return {"supervised": history.history["supervised"], "weights": model.get_weights()[0].tolist(),
            "batch_devices": len(placed.sharding.device_set) if hasattr(placed, "sharding") else 1,
            "batch_replicated": placed.sharding.is_fully_replicated if hasattr(placed, "sharding") else True}
print("@@" + json.dumps({"parallel": run("parallel"), "single": run("single", "data_parallel=False")}))
"""


def test_adversarial_data_parallel_splits_batches_and_matches_single_device(tmp_path):
    proc = run_python(f"import sys; sys.argv = ['x', {RECIPE!r}, {str(tmp_path)!r}, *{TINY!r}]\n" + CODE,
                      env=FOUR_DEVICES)
    out = json.loads(proc.stdout.split("@@")[-1])
    parallel, single = out["parallel"], out["single"]
    assert parallel["batch_devices"] == 4 and not parallel["batch_replicated"]
    assert single["batch_devices"] == 1
    np.testing.assert_allclose(parallel["supervised"], single["supervised"], rtol=1e-4)
    np.testing.assert_allclose(parallel["weights"], single["weights"], atol=1e-4)


def test_adversarial_trainer_honours_freeze_batchnorm_callbacks_and_verbose(tmp_path, capsys):
    config = tiny_config(tmp_path, "epochs=1", "model='dncnn'", "model_kwargs={'depth': 3, 'filters': 4}",
                         "freeze_batchnorm=True")

    class Record(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_train_begin(self, logs=None):
            norms = [l for l in self.model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
            self.calls.append(("begin", [l.trainable for l in norms]))

        def on_epoch_end(self, epoch, logs=None):
            self.calls.append(("epoch", epoch, sorted(logs)))

    record = Record()
    capsys.readouterr()
    training.fit(config, callbacks=[record], verbose=0)
    assert "Epoch" not in capsys.readouterr().out
    (begin, frozen), (epoch, number, keys) = record.calls
    assert frozen == [False] and (begin, epoch, number) == ("begin", "epoch", 0) and "val_psnr" in keys
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    norm = next(l for l in model.layers if isinstance(l, keras.layers.BatchNormalization))
    gamma, beta, mean, variance = (np.asarray(w) for w in norm.weights)  # frozen: still as initialized
    assert (gamma == 1).all() and (beta == 0).all() and (mean == 0).all() and (variance == 1).all()
