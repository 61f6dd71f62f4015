"""What every trainer shares: the run folder, the optimizer, the model to train (the recipe's model as its
training graph, started from `init_from`, BatchNormalization frozen on request), the Keras fit loop of the
supervised and selfsup trainers, and the final model written atomically as `OUT/model.keras`."""

import sys
from pathlib import Path

import numpy as np

import stm_zoo  # noqa: F401  (backend selection before keras)
import keras

from stm_zoo import metrics, models
from stm_zoo._atomic import atomic_path, write_json
from stm_zoo.training import checkpoints, devices, losses


def start_run(config: dict) -> list[Path]:
    """Make OUT, remove what a killed run left there, write `OUT/recipe.json` and seed every RNG; return the
    checkpoint temporaries it removed (an unfinished checkpoint write)."""
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    unfinished = checkpoints.remove_leftovers(out)
    write_json(out / "recipe.json", config)
    keras.utils.set_random_seed(config["seed"])
    return unfinished


def verbosity(verbose):
    """`verbose` of `fit`: "auto" is a progress bar on a terminal, one line per epoch otherwise (a log file)."""
    return (1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose


def optimizer(config: dict, beta_1: float = 0.9) -> keras.optimizers.Optimizer:
    """The recipe's optimizer (adam, adamw) and learning-rate schedule (constant, cosine over the whole run)."""
    lr = config["learning_rate"]
    if config["lr_schedule"] == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, config["epochs"] * config["steps_per_epoch"], alpha=0.01)
    if config["optimizer"] == "adamw":
        return keras.optimizers.AdamW(lr, beta_1=beta_1)
    return keras.optimizers.Adam(lr, beta_1=beta_1)


def freeze_batchnorm(model: keras.Model) -> int:
    """Set every BatchNormalization layer, nested models included, to `trainable=False`: Keras then runs it in
    inference mode with fixed scale and offset, so training sees the same normalization as prediction (no batch
    statistics, no drift of the moving averages): the usual way to fine-tune with small batches. The saved
    `model.keras` has trainable layers again. Returns how many layers were frozen."""
    frozen = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            frozen += 1
    return frozen


def prepare_model(config: dict) -> keras.Model:
    """The graph to train (call inside `devices.scope(config)`): the recipe's model as `devices.training_model`
    (the same weights), started from `init_from`'s weights, only the `train_only` layers trainable when it names
    any, BatchNormalization frozen with `freeze_batchnorm`."""
    model = models.build(config["model"], **config["model_kwargs"])
    if config["init_from"]:
        new = models.copy_weights(models.load(config["init_from"]), model)
        if new:
            print(f"init_from {config['init_from']}: new layers keep their initialization: {', '.join(new)}")
    if config["train_only"]:
        for layer in model.layers:
            layer.trainable = layer.name in config["train_only"]
    model = devices.training_model(model, config)
    if config["freeze_batchnorm"]:
        freeze_batchnorm(model)
    return model


def save_model_atomic(model: keras.Model, path: str | Path) -> Path:
    """Save `model` as .keras through a temporary file in the same folder, then rename."""
    path = Path(path)
    with atomic_path(path, ".keras") as tmp:
        model.save(tmp)
    return path


def save_final(model: keras.Model, config: dict, path: str | Path) -> Path:
    """`model`'s weights in a fresh build of the recipe's model, saved atomically: weights only (no optimizer or
    compile state, float32, one device), so it loads anywhere."""
    final = models.build(config["model"], **config["model_kwargs"])
    final.set_weights(model.get_weights())
    return save_model_atomic(final, path)


def psnr_metric() -> list:
    """The metric computed inside the train step: PSNR only (cheap). SSIM comes from `ValidationSSIM`."""
    return [keras.metrics.MeanMetricWrapper(metrics.psnr_ops, name="psnr")]


class ValidationSSIM(keras.callbacks.Callback):
    """Adds `val_ssim` (mean SSIM over the validation batches) to each epoch's logs; list it before callbacks
    that read the logs. SSIM is an 11×11 single-channel convolution that XLA:CPU runs on one core: inside the
    train step it took ~30–40 % of the thesis autoencoder's step, so it is computed here once per epoch, with
    scikit-image (`stm_zoo.metrics.ssim`, the same definition as `ssim_ops`)."""

    def __init__(self, validation_data):
        super().__init__()
        self.validation_data = validation_data

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        scores = []
        for noisy, clean in self.validation_data.as_numpy_iterator():
            denoised = np.asarray(self.model.predict_on_batch(noisy), np.float32)
            scores += [metrics.ssim(c[..., 0], d[..., 0]) for c, d in zip(clean, denoised)]
        logs["val_ssim"] = float(np.mean(scores))


def fit_keras(config: dict, datasets, *, truth: bool, unfinished: list, callbacks: list, verbose):
    """`model.fit` of a recipe, resumed from `OUT/checkpoint` when present (the newest readable checkpoint).
    `datasets(start_epoch)` gives (train, validation); `truth`: the targets are clean images (PSNR / SSIM)."""
    out = Path(config["out"])
    resume = checkpoints.find_resume(out / "checkpoint")
    start = resume.epoch if resume else 0
    if resume and resume.corrupt:
        print(f"{resume.corrupt}; resuming from the previous good checkpoint (epoch {start})")
    elif resume:
        print(f"resuming {out} after epoch {start}" + (" (an unfinished checkpoint write was discarded)"
                                                        if unfinished else ""))
    checkpoints.trim_history(out / "history.csv", start)
    train_ds, val_ds = datasets(start)
    with devices.scope(config):  # device layout (data / model parallel) and precision policy
        model = prepare_model(config)
        model.compile(optimizer=optimizer(config), loss=losses.get(config["loss"]),
                      metrics=psnr_metric() if truth else [])
        history = model.fit(
            train_ds,
            epochs=config["epochs"],
            initial_epoch=start,
            steps_per_epoch=config["steps_per_epoch"],
            validation_data=val_ds,
            callbacks=[
                *([ValidationSSIM(val_ds)] if truth else []),  # first: adds val_ssim to the logs
                checkpoints.EpochCheckpoint(out / "checkpoint", resume),  # before the history row: no row without it
                keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False),
                keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
                *callbacks,
            ],
            shuffle=False,  # tf.data shuffles by drawing
            verbose=verbose,
        )
    save_final(model, config, out / "model.keras")
    return history
