"""Mixed precision: trains under a mixed policy with float32 outputs and loss; the saved model is float32."""

import keras
import numpy as np
import pytest

from conftest import REPO
from stm_zoo import training
from stm_zoo.training import devices

RECIPE = str(REPO / "recipes" / "autoencoder.py")
TINY = ["patch_size=32", "batch_size=4", "epochs=2", "steps_per_epoch=6", "validation_steps=1", "learning_rate=0.003"]


class Probe(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.output_dtype = self.model.outputs[0].dtype
        self.compute_dtype = self.model.get_layer("enc_conv1").compute_dtype
        self.variable_dtype = self.model.get_layer("enc_conv1").kernel.dtype


def test_mixed_bfloat16_trains_with_float32_output_and_saves_float32(tmp_path):
    config = training.load_recipe(RECIPE, TINY + ["precision='mixed_bfloat16'", f"out={str(tmp_path / 'run')!r}"])
    probe = Probe()
    history = training.fit(config, callbacks=[probe], verbose=0)
    assert (probe.compute_dtype, probe.variable_dtype, probe.output_dtype) == ("bfloat16", "float32", "float32")
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert np.isfinite(history.history["val_ssim"]).all()
    assert keras.config.dtype_policy().name == "float32"  # policy restored after fit

    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.dtype_policy.name == "float32"
    assert all(w.dtype == "float32" for w in model.weights)
    out = model.predict(np.random.default_rng(0).random((1, 32, 32, 1), dtype=np.float32), verbose=0)
    assert out.dtype == np.float32


def test_training_model_casts_mixed_outputs_to_float32():
    config = training.validate({"precision": "mixed_float16"})
    with devices.scope(config):
        model = devices.training_model(keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3)]), config)
        model.compile(optimizer="adam", loss="mse")
    assert model.outputs[0].dtype == "float32"
    assert model.layers[1].compute_dtype == "float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)  # float16 needs loss scaling


def test_unknown_precision_is_a_recipe_error():
    with pytest.raises(training.RecipeError, match="unknown precision 'bfloat8'"):
        training.load_recipe(RECIPE, ["precision='bfloat8'"])
