"""Data / model parallel training on 4 virtual CPU devices (XLA_FLAGS in a fresh process)."""

import json

import numpy as np
from conftest import REPO, run_python

FOUR_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "STM_ZOO_NO_COMPILE_CACHE": "1"}

CODE = """
import json, sys
import keras, numpy as np
from stm_zoo import training

assert len(keras.distribution.list_devices()) == 4
base = ["patch_size=32", "batch_size=8", "epochs=1", "steps_per_epoch=4", "validation_steps=1",
        "learning_rate=0.003"]

class Probe(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        dist = keras.distribution.distribution()
        kernel = self.model.get_layer("enc_conv1").kernel.value
        self.seen = {"distribution": type(dist).__name__, "devices": len(kernel.sharding.device_set),
                     "replicated": kernel.sharding.is_fully_replicated, "spec": str(getattr(kernel.sharding, "spec", ""))}

def run(tag, *more):
    probe = Probe()
    config = training.load_recipe(sys.argv[1], base + [f"out='{sys.argv[2]}/{tag}'", *more])
    history = training.fit(config, callbacks=[probe], verbose=0)
    model = keras.saving.load_model(f"{sys.argv[2]}/{tag}/model.keras")
    return {**probe.seen, "loss": history.history["loss"], "val_loss": history.history["val_loss"],
            "weights": [w.tolist() for w in model.get_weights()[:2]]}

out = {"parallel": run("parallel"), "single": run("single", "data_parallel=False"),
       "model_parallel": run("mp", "model_parallel=2")}
try:
    training.load_recipe(sys.argv[1], base + ["batch_size=6"])
except training.RecipeError as e:
    out["bad_batch"] = str(e)
out["after"] = type(keras.distribution.distribution()).__name__
print("@@" + json.dumps(out))
"""


def test_data_parallel_matches_single_device_and_model_parallel_shards(tmp_path):
    recipe = str(REPO / "recipes" / "autoencoder.py")
    proc = run_python(f"import sys; sys.argv = ['x', {recipe!r}, {str(tmp_path)!r}]\n" + CODE, env=FOUR_DEVICES)
    out = json.loads(proc.stdout.split("@@")[-1])
    parallel, single, mp = out["parallel"], out["single"], out["model_parallel"]

    assert parallel["distribution"] == "DataParallel"
    assert parallel["devices"] == 4 and parallel["replicated"]
    assert single["distribution"] == "NoneType" and single["devices"] == 1
    # Same global batches, same initial weights: the split batch gives the same training up to rounding.
    assert abs(parallel["loss"][0] - single["loss"][0]) <= 1e-4 * single["loss"][0]
    assert abs(parallel["val_loss"][0] - single["val_loss"][0]) <= 1e-4 * single["val_loss"][0]
    for a, b in zip(parallel["weights"], single["weights"]):
        np.testing.assert_allclose(a, b, atol=1e-4)

    assert mp["distribution"] == "_ShardLastAxis" and mp["devices"] == 4 and not mp["replicated"]
    assert "model" in mp["spec"]  # enc_conv1's 32 output channels split over the 'model' axis
    assert abs(mp["loss"][0] - single["loss"][0]) <= 1e-4 * single["loss"][0]

    assert "batch_size 6 must be divisible by the 4 data-parallel replicas" in out["bad_batch"]
    assert out["after"] == "NoneType"  # fit restores the previous (no) distribution
