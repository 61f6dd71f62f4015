"""Resuming a killed run (issue 18 item 2): atomic checkpoints, a previous good checkpoint to fall back on,
leftovers of the killed run removed, and a resumed run that continues the uninterrupted run's data and RNG."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REPO
from stm_zoo import training
from stm_zoo.training import checkpoints
from stm_zoo.data import pipeline

RECIPE = str(REPO / "recipes" / "autoencoder.py")
TINY = ["model='dncnn'", "model_kwargs.depth=3", "model_kwargs.filters=4", "data='synthetic'", "patch_size=16",
        "batch_size=2", "steps_per_epoch=3", "validation_steps=1", "augment.rotation_deg=0.0"]

# Runs `fit` in its own process; `kill` names where the process SIGKILLs itself:
# "after-epoch-N" (after epoch N's checkpoint and history row) or "writing-checkpoint-N" (N-th weights write,
# half the file written).
DRIVER = """
import os, signal, sys
import stm_zoo, keras
from stm_zoo import training

out, epochs, kill = sys.argv[1], int(sys.argv[2]), sys.argv[3]
config = training.load_recipe({recipe!r}, {tiny!r} + [f"out={{out!r}}", f"epochs={{epochs}}"])


def die():
    os.kill(os.getpid(), signal.SIGKILL)


class KillAfterEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if kill == f"after-epoch-{{epoch + 1}}":
            die()


save_weights, writes = keras.Model.save_weights, []


def save_half_then_die(self, filepath, *args, **kwargs):
    save_weights(self, filepath, *args, **kwargs)
    writes.append(filepath)
    if kill == f"writing-checkpoint-{{len(writes)}}":
        os.truncate(filepath, os.path.getsize(filepath) // 2)
        die()


keras.Model.save_weights = save_half_then_die
training.fit(config, callbacks=[KillAfterEpoch()], verbose=0)
"""


def tiny_config(tmp_path, *more):
    return training.load_recipe(RECIPE, TINY + [f"out={str(tmp_path / 'run')!r}", *more])


def run_fit(tmp_path, out, epochs, kill=""):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(recipe=RECIPE, tiny=TINY))
    return subprocess.run([sys.executable, str(driver), str(out), str(epochs), kill], capture_output=True,
                          text=True, timeout=600)


def history(out) -> dict[str, np.ndarray]:
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


def assert_same_history(resumed, uninterrupted):
    assert resumed.keys() == uninterrupted.keys()
    np.testing.assert_array_equal(resumed["epoch"], [0, 1, 2])
    for key in uninterrupted:
        np.testing.assert_allclose(resumed[key], uninterrupted[key], rtol=1e-5, err_msg=key)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uninterrupted")
    done = run_fit(tmp, tmp / "run", 3)
    assert done.returncode == 0, done.stderr[-3000:]
    return history(tmp / "run")


def test_run_killed_after_an_epoch_resumes_with_the_same_data_and_losses(tmp_path, uninterrupted):
    out = tmp_path / "run"
    killed = run_fit(tmp_path, out, 3, kill="after-epoch-1")
    assert killed.returncode == -9
    resumed = run_fit(tmp_path, out, 3)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {out} after epoch 1" in resumed.stdout
    assert_same_history(history(out), uninterrupted)


def test_kill_while_writing_the_checkpoint_resumes_from_the_last_good_one(tmp_path, uninterrupted):
    out = tmp_path / "run"
    killed = run_fit(tmp_path, out, 3, kill="writing-checkpoint-2")  # dies half-way through epoch 2's
    assert killed.returncode == -9
    resumed = run_fit(tmp_path, out, 3)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr
    said = [line for line in resumed.stdout.splitlines() if "checkpoint" in line or "resuming" in line]
    assert len(said) == 1 and f"resuming {out} after epoch 1" in said[0], resumed.stdout
    assert_same_history(history(out), uninterrupted)
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == [
        "latest.weights.h5", "previous.weights.h5", "training_metadata.json"]


class RecordEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_in_one_line(tmp_path, capsys):
    training.fit(tiny_config(tmp_path, "epochs=2"), verbose=0)
    latest = tmp_path / "run" / "checkpoint" / "latest.weights.h5"
    os.truncate(latest, latest.stat().st_size // 2)
    capsys.readouterr()
    record = RecordEpochs()
    training.fit(tiny_config(tmp_path, "epochs=3"), callbacks=[record], verbose=0)
    said = capsys.readouterr().out.splitlines()
    assert len(said) == 1 and said[0].startswith(f"{latest} is corrupt (")
    assert said[0].endswith("resuming from the previous good checkpoint (epoch 1)")
    assert record.epochs == [1, 2]
    np.testing.assert_array_equal(history(tmp_path / "run")["epoch"], [0, 1, 2])  # epoch 2's row trained again


def test_unreadable_checkpoint_with_nothing_to_fall_back_on_is_a_one_line_error(tmp_path):
    checkpoint = tmp_path / "run" / "checkpoint"  # keras.callbacks.BackupAndRestore killed in its first write
    checkpoint.mkdir(parents=True)
    (checkpoint / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    (checkpoint / "training_metadata.json").write_text(json.dumps({"epoch": 1, "batch": 0}))
    (tmp_path / "run" / "history.csv").touch()
    with pytest.raises(training.CheckpointError, match="latest.weights.h5 is corrupt") as info:
        training.fit(tiny_config(tmp_path, "epochs=2"), verbose=0)
    assert "\n" not in str(info.value) and f"delete {checkpoint}" in str(info.value)
    assert not (tmp_path / "run" / "history.csv").exists()  # the 0-byte file of the killed run is cleaned


def test_leftovers_of_a_killed_run_are_removed(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    stray = [run / ".model.keras.k2j4x8q1.keras", run / ".recipe.json.a8d7fh2k.tmp",
             run / "checkpoint" / ".latest.weights.h5.z7x1c9v0.weights.h5"]
    for path in stray:
        path.write_bytes(b"half")
    (run / "history.csv").touch()
    training.fit(tiny_config(tmp_path, "epochs=1"), verbose=0)
    assert not [p for p in run.rglob(".*") if p.is_file()]
    assert len((run / "history.csv").read_text().splitlines()) == 2  # header and epoch 1


class Interrupt(Exception):
    pass


class KeepWeights(keras.callbacks.Callback):
    def __init__(self, when):
        super().__init__()
        self.when, self.weights = when, None

    def on_train_begin(self, logs=None):
        if self.when == "begin":
            self.weights = [np.array(w) for w in self.model.get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        if self.when == "end":
            self.weights = [np.array(w) for w in self.model.get_weights()]
            raise Interrupt


def test_resumes_from_a_checkpoint_of_keras_backup_and_restore(tmp_path, monkeypatch):
    # The layout of runs started before atomic checkpoints: latest.weights.h5 + training_metadata.json.
    monkeypatch.setattr(checkpoints, "EpochCheckpoint",
                        lambda folder, resume: keras.callbacks.BackupAndRestore(str(folder), delete_checkpoint=False))
    first = KeepWeights("end")
    with pytest.raises(Interrupt):
        training.fit(tiny_config(tmp_path, "epochs=3"), callbacks=[first], verbose=0)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoint").iterdir()) == [
        "latest.weights.h5", "training_metadata.json"]
    record, restored = RecordEpochs(), KeepWeights("begin")
    training.fit(tiny_config(tmp_path, "epochs=3"), callbacks=[restored, record], verbose=0)
    assert record.epochs == [1, 2]
    for a, b in zip(restored.weights, first.weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_training_stream_is_a_function_of_the_position():
    kwargs = dict(patch_size=16, batch_size=2, validation_steps=1, augment={"rotation_deg": 0.0}, seed=3)
    train_ds, _ = pipeline.training_datasets("synthetic", **kwargs)
    batches = [x.numpy() for x, _ in train_ds.take(5)]
    again = [x.numpy() for x, _ in train_ds.take(5)]
    later, _ = pipeline.training_datasets("synthetic", skip_batches=3, **kwargs)
    for a, b in zip(batches, again):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(batches[3:], [x.numpy() for x, _ in later.take(2)]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(batches[0], batches[1])


def dropout_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), keras.layers.Dropout(0.5),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


def test_resume_restores_the_dropout_rng_and_optimizer(tmp_path):
    x = np.random.default_rng(0).random((16, 6), np.float32)
    y = x.sum(axis=1, keepdims=True)
    fit = dict(x=x, y=y, batch_size=4, shuffle=False, verbose=0)
    whole = dropout_model()
    losses = whole.fit(epochs=3, callbacks=[checkpoints.EpochCheckpoint(tmp_path / "a", None)], **fit).history["loss"]

    dropout_model().fit(epochs=1, callbacks=[checkpoints.EpochCheckpoint(tmp_path / "b", None)], **fit)
    resume = checkpoints.find_resume(tmp_path / "b")
    assert resume.epoch == 1
    model = dropout_model()
    rest = model.fit(epochs=3, initial_epoch=resume.epoch, callbacks=[checkpoints.EpochCheckpoint(tmp_path / "b", resume)],
                     **fit).history["loss"]
    np.testing.assert_allclose(rest, losses[1:], rtol=1e-6)
    for a, b in zip(model.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
