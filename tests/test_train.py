import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REPO
from stm_zoo import training
from stm_zoo.training import core

RECIPE = str(REPO / "recipes" / "autoencoder.py")
TINY = ["patch_size=32", "batch_size=4", "steps_per_epoch=8", "validation_steps=1", "learning_rate=0.003"]


def tiny_config(tmp_path, *more):
    return training.load_recipe(RECIPE, TINY + [f"out={str(tmp_path / 'run')!r}", *more])


class Interrupt(Exception):
    pass


class InterruptAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise Interrupt


class RecordEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_fit_trains_writes_model_and_resumes(tmp_path):
    config = tiny_config(tmp_path, "epochs=3")
    with pytest.raises(Interrupt):
        training.fit(config, callbacks=[InterruptAfterEpoch(1)], verbose=0)
    run = tmp_path / "run"
    assert not (run / "model.keras").exists()
    assert json.loads((run / "checkpoint" / "training_metadata.json").read_text())["epoch"] == 1

    record = RecordEpochs()
    history = training.fit(config, callbacks=[record], verbose=0)
    assert record.epochs == [1, 2]  # resumed at epoch 2 (0-based 1)
    assert history.history["loss"][-1] < history.history["loss"][0] or history.history["loss"][-1] < 0.03
    model = keras.saving.load_model(run / "model.keras")
    assert model.count_params() == 28_353
    assert json.loads((run / "recipe.json").read_text())["model"] == "autoencoder_thesis"
    assert (run / "logs").is_dir() and (run / "history.csv").exists()


def test_loss_goes_down(tmp_path):
    config = tiny_config(tmp_path, "epochs=3", "steps_per_epoch=15")
    history = training.fit(config, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert np.isfinite(history.history["val_psnr"]).all()


@pytest.mark.parametrize(
    "override, message",
    [
        ("epoch=3", "unknown recipe key 'epoch'"),
        ("batch_size='eight'", "'batch_size' must be int"),
        ("model='nonet'", "unknown model 'nonet'"),
        ("loss='l3'", "unknown loss 'l3'"),
        ("augment.rotate=5", "unknown augment key 'rotate'"),
        ("epochs", "--set expects key=value"),
    ],
)
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(training.RecipeError, match=message) as info:
        training.load_recipe(RECIPE, [override])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("recipe, override, message", [
    ("autoencoder.py", "blindspot.count=2", "blindspot is read only by trainer 'selfsup', not 'supervised'"),
    ("autoencoder.py", "real_data='embedded'", "real_data is read only by trainer 'adversarial', not 'supervised'"),
    ("selfsup.py", "simulate={'count': 2}", "simulate applies only to the supervised trainer, not 'selfsup'"),
    ("selfsup.py", "real_data='embedded'", "real_data is read only by trainer 'adversarial', not 'selfsup'"),
    ("pda_net.py", "simulate={'count': 2}", "simulate applies only to the supervised trainer, not 'adversarial'"),
    ("pda_net.py", "blindspot.rows=2", "blindspot is read only by trainer 'selfsup', not 'adversarial'"),
])
def test_every_trainer_rejects_the_keys_it_does_not_read(recipe, override, message):
    with pytest.raises(training.RecipeError, match=message):
        training.load_recipe(REPO / "recipes" / recipe, [override])


def test_recipe_typo_inside_file(tmp_path):
    recipe = tmp_path / "bad.py"
    recipe.write_text("def get_config():\n    return {'modle': 'dncnn'}\n")
    with pytest.raises(training.RecipeError, match="unknown recipe key 'modle'"):
        training.load_recipe(recipe)


def test_overrides_parse_types():
    config = training.load_recipe(RECIPE, ["learning_rate=1", "augment.flip=False", "noise=[{'type': 'gaussian'}]"])
    assert config["learning_rate"] == 1.0 and isinstance(config["learning_rate"], float)
    assert config["augment"]["flip"] is False and config["augment"]["rotation_deg"] == 10.0
    assert config["noise"] == [{"type": "gaussian", "p": 1.0}]


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "stm_zoo.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_cli_fit_then_resume_then_load_in_fresh_process(tmp_path):
    out = tmp_path / "cli_run"
    args = ["fit", RECIPE, *sum((["--set", t] for t in TINY), []), "--out", str(out)]
    first = cli(*args, "--set", "epochs=1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (out / "model.keras").exists()
    second = cli(*args, "--set", "epochs=2", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming" in second.stdout and "Epoch 2/2" in second.stdout and "Epoch 1/2" not in second.stdout
    load = subprocess.run(
        [sys.executable, "-c", f"import stm_zoo.models, keras; m = keras.saving.load_model({str(out / 'model.keras')!r}); "
                               "print(m.count_params())"], capture_output=True, text=True, timeout=300)
    assert load.stdout.strip().endswith("28353"), load.stderr[-2000:]


def test_cli_bad_key_exits_nonzero_naming_it(tmp_path, request):
    result = cli("fit", RECIPE, "--set", "bacth_size=4", cwd=tmp_path)
    assert result.returncode != 0
    assert "bacth_size" in result.stderr and "Traceback" not in result.stderr


def test_cli_missing_recipe(tmp_path):
    result = cli("fit", "no_such_recipe.py", cwd=tmp_path)
    assert result.returncode != 0 and "recipe not found" in result.stderr


RECIPES = sorted(str(p.relative_to(REPO / "recipes")) for p in (REPO / "recipes").rglob("*.py"))


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_loads_and_names_a_zoo_model(recipe):
    from stm_zoo import models

    config = training.load_recipe(str(REPO / "recipes" / recipe))  # validates every field
    assert config["model"] in models.names()
    assert config["out"].startswith("runs/")


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_docstring_gives_the_command_that_runs_it(recipe):
    import ast

    doc = ast.get_docstring(ast.parse((REPO / "recipes" / recipe).read_text()))
    assert f"stm-zoo fit recipes/{recipe}" in doc


class KeepFirstWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.first = [np.array(w) for w in self.model.get_weights()]


def test_freeze_batchnorm_trains_convolutions_only(tmp_path):
    config = training.load_recipe(
        RECIPE,
        TINY + ["model='dncnn'", "model_kwargs.depth=3", "epochs=1", "steps_per_epoch=2", "freeze_batchnorm=True",
                f"out={str(tmp_path / 'run')!r}"],
    )
    first = KeepFirstWeights()
    training.fit(config, callbacks=[first], verbose=0)
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert norms and all(l.trainable for l in norms)  # the saved model fine-tunes as usual
    for layer in norms:  # moving statistics, scale and offset as they started
        np.testing.assert_array_equal(np.asarray(layer.moving_mean), 0.0)
        np.testing.assert_array_equal(np.asarray(layer.moving_variance), 1.0)
        np.testing.assert_array_equal(np.asarray(layer.gamma), 1.0)
    kernel = model.get_layer("conv2").kernel
    assert first.first[2].shape == kernel.shape  # conv1 kernel, conv1 bias, conv2 kernel
    assert np.abs(np.asarray(kernel) - first.first[2]).max() > 0


def test_train_only_trains_the_named_layers_and_nothing_else(tmp_path):
    config = training.load_recipe(
        RECIPE,
        TINY + ["model='dncnn'", "model_kwargs.depth=3", "epochs=1", "steps_per_epoch=2", "train_only=['noise']",
                f"out={str(tmp_path / 'run')!r}"],
    )
    first = KeepFirstWeights()
    training.fit(config, callbacks=[first], verbose=0)
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert all(layer.trainable for layer in model.layers)  # the saved model fine-tunes as usual
    start = iter(first.first)
    for layer in model.layers:
        for weight in layer.weights:
            before, after = next(start), np.asarray(weight)
            if layer.name == "noise":  # the last convolution
                assert np.abs(after - before).max() > 0
            else:
                np.testing.assert_array_equal(after, before)


def test_train_only_names_a_layer_the_model_has():
    with pytest.raises(training.RecipeError, match="no layer with weights named 'head'"):
        training.load_recipe(RECIPE, TINY + ["model='dncnn'", "model_kwargs.depth=3", "train_only=['head']"])


def test_freeze_batchnorm_reaches_nested_models():
    inner = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.BatchNormalization()])
    inputs = keras.Input((4, 4, 2))
    outer = keras.Model(inputs, keras.layers.BatchNormalization()(inner(inputs)))
    assert core.freeze_batchnorm(outer) == 2
    assert not outer.trainable_weights


def test_missing_data_folder_stops_before_the_run_folder_is_made(tmp_path):
    from typer.testing import CliRunner

    from stm_zoo import cli

    out = tmp_path / "run"
    result = CliRunner().invoke(cli.app, ["fit", str(REPO / "recipes" / "autoencoder.py"), "--set", f"data={str(tmp_path / 'nope')!r}",
                                          "--out", str(out)])
    assert result.exit_code == 2
    assert "data folder" in result.output and "not found" in result.output and "Traceback" not in result.output
    assert not out.exists()
