"""Recipes → training runs: load and check a recipe, then `model.fit` on the tf.data pipeline with
TensorBoard logs, PSNR/SSIM each epoch, an atomic checkpoint each epoch (a run killed at any moment resumes
from it, on the data and RNG streams of an uninterrupted run), and the final model written atomically as
`OUT/model.keras`."""

import ast
import copy
import csv
import importlib.util
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import stm_zoo  # noqa: F401  (backend selection before keras)
import keras

from stm_zoo import losses
from stm_zoo._atomic import atomic_path, remove_temporaries, write_json, write_text
from stm_zoo import noise as noise_lib
from stm_zoo import adversarial, scale, selfsup

DEFAULTS: dict = {
    "model": "autoencoder_thesis",
    "model_kwargs": {},
    "data": "default",
    "simulate": {},  # data "default" / "synthetic": simulated pool {"count", "size_px", simulator parameters}
    "patch_size": 128,
    "batch_size": 8,
    "epochs": 10,
    "steps_per_epoch": 100,
    "validation_steps": 4,
    "noise": "thesis",
    "augment": {"rotation_deg": 10.0, "flip": True, "invert": True},
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "lr_schedule": "constant",
    "loss": "mse",
    "seed": 0,
    "out": "runs/run",
    "precision": "float32",
    "data_parallel": True,  # split each batch over all devices when there are several (stm_zoo.scale)
    "model_parallel": 1,  # >1: also split kernels' output channels over this many devices (large models)
    "trainer": "supervised",  # "selfsup": blind-spot training on noisy images alone (stm_zoo.selfsup);
    # "adversarial": simulated pairs + unpaired real scans against a discriminator (stm_zoo.adversarial)
    "real_data": "",  # the adversarial trainer's unpaired real noisy scans: a folder, or "embedded"
    "blindspot": dict(selfsup.BLINDSPOT),  # the selfsup trainer's masks
    "init_from": "",  # a .keras path or pretrained zoo name whose weights start the run (fine-tuning)
    "freeze_batchnorm": False,  # fine-tuning: BatchNormalization layers keep their statistics (train.freeze_batchnorm)
}

# Fields whose value may be of another type than the default's.
_ALSO_ALLOWED = {"noise": (str, list, tuple), "learning_rate": (int, float)}
_DICT_FIELDS = ("model_kwargs", "augment", "blindspot", "simulate")


TRAINERS = ("supervised", "selfsup", "adversarial")


class RecipeError(ValueError):
    """A recipe that cannot be run: unknown key, wrong type, unknown model/loss/noise."""


def _check_type(key: str, value):
    allowed = _ALSO_ALLOWED.get(key, (type(DEFAULTS[key]),))
    if isinstance(value, bool) and bool not in allowed:
        raise RecipeError(f"recipe key {key!r} must be {allowed[0].__name__}, got {value!r}")
    if not isinstance(value, allowed):
        raise RecipeError(f"recipe key {key!r} must be {allowed[0].__name__}, got {type(value).__name__} {value!r}")


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(config: dict, overrides: list[str]) -> dict:
    """Apply `key=value` overrides (values are Python literals; bare words are strings; `a.b=v` sets a
    field inside a dict-valued key such as `model_kwargs.backbone=B0`)."""
    config = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key, value = key.strip(), _parse_value(text.strip())
        top, _, sub = key.partition(".")
        if top not in DEFAULTS:
            raise RecipeError(f"unknown recipe key {top!r}; known: {', '.join(DEFAULTS)}")
        if sub:
            if top not in _DICT_FIELDS:
                raise RecipeError(f"recipe key {top!r} has no fields (got {key!r})")
            config[top] = {**config.get(top, {}), sub: value}
        else:
            if isinstance(DEFAULTS[top], float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            config[top] = value
    return config


def validate(config: dict) -> dict:
    """Fill defaults and check every field; raises RecipeError with a one-line message."""
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise RecipeError(f"unknown recipe key {sorted(unknown)[0]!r}; known: {', '.join(DEFAULTS)}")
    full = {**copy.deepcopy(DEFAULTS), **copy.deepcopy(config)}
    full["augment"] = {**DEFAULTS["augment"], **full["augment"]}
    for key, value in full.items():
        _check_type(key, value)
    unknown_aug = set(full["augment"]) - set(DEFAULTS["augment"])
    if unknown_aug:
        raise RecipeError(f"unknown augment key {sorted(unknown_aug)[0]!r}; known: {', '.join(DEFAULTS['augment'])}")
    from stm_zoo import models
    from stm_zoo.data import pipeline

    if full["model"] not in models.names():
        raise RecipeError(f"unknown model {full['model']!r}; known: {', '.join(models.names())}")
    data = full["data"]
    if data not in ("default", "synthetic") and not data.startswith("tfds:") and not Path(data).expanduser().is_dir():
        raise RecipeError(f"data folder {data!r} not found (or use 'default', 'synthetic', 'tfds:NAME')")
    try:
        losses.get(full["loss"])
        full["noise"] = noise_lib.resolve(full["noise"])
        if full["simulate"]:
            if full["trainer"] != "supervised":
                raise ValueError(f"simulate applies only to the supervised trainer, not {full['trainer']!r}")
            if full["data"] not in ("default", "synthetic"):
                raise ValueError(f"simulate applies only to data 'default' or 'synthetic', not {full['data']!r}")
            pipeline.check_simulate(full["simulate"])
    except ValueError as e:
        raise RecipeError(str(e)) from None
    for key in ("patch_size", "batch_size", "epochs", "steps_per_epoch", "validation_steps"):
        if full[key] < 1:
            raise RecipeError(f"recipe key {key!r} must be ≥ 1, got {full[key]}")
    if full["optimizer"] not in ("adam", "adamw"):
        raise RecipeError(f"unknown optimizer {full['optimizer']!r}; known: adam, adamw")
    if full["lr_schedule"] not in ("constant", "cosine"):
        raise RecipeError(f"unknown lr_schedule {full['lr_schedule']!r}; known: constant, cosine")
    if full["trainer"] not in TRAINERS:
        raise RecipeError(f"unknown trainer {full['trainer']!r}; known: {', '.join(TRAINERS)}")
    try:
        full = selfsup.check_recipe(full)  # blindspot, init_from
        adversarial.check_recipe(full)  # real_data
        scale.check(full)  # precision, device layout
    except ValueError as e:
        raise RecipeError(str(e)) from None
    return full


def load_recipe(path: str | Path, overrides: list[str] = ()) -> dict:
    """Import a recipe file, call its `get_config()`, apply overrides and validate."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe not found")
    spec = importlib.util.spec_from_file_location(f"stm_zoo_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # a recipe is user code: report where it broke
        raise RecipeError(f"{path}: recipe failed to load: {type(e).__name__}: {e}") from None
    if not hasattr(module, "get_config"):
        raise RecipeError(f"{path}: recipe has no get_config()")
    config = dict(module.get_config())
    try:
        return validate(apply_overrides(config, list(overrides)))
    except RecipeError as e:
        raise RecipeError(f"{path}: {e}") from None


def _optimizer(config: dict, beta_1: float = 0.9):
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


def save_model_atomic(model: keras.Model, path: str | Path) -> Path:
    """Save `model` as .keras through a temporary file in the same folder, then rename."""
    path = Path(path)
    with atomic_path(path, ".keras") as tmp:
        model.save(tmp)
    return path


# ---------------------------------------------------------------- checkpoints and resuming

LATEST, PREVIOUS, METADATA = "latest.weights.h5", "previous.weights.h5", "training_metadata.json"
_EPOCH, _SEED_STATES = "stm_zoo_epoch", "stm_zoo_seed_states"  # attributes of our weights files


class CheckpointError(ValueError):
    """A checkpoint folder that no run can resume from (one-line message)."""


@dataclass(frozen=True)
class Resume:
    """The checkpoint a run resumes from: the file, the epochs it has trained, and why a newer one was skipped."""

    path: Path
    epoch: int
    seed_states: np.ndarray | None = None  # the model's RNG states (dropout etc.); None: not recorded
    keras_layout: bool = False  # written by keras.callbacks.BackupAndRestore (epoch in training_metadata.json)
    corrupt: str = ""  # "<latest> is corrupt (<reason>)" when this is the previous one


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _read_weights_file(path: Path) -> dict:
    """Read every array of an .h5 weights file (OSError etc. when it is damaged); return its attributes."""
    import h5py

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]  # a damaged file raises here

    with h5py.File(path, "r") as f:
        f.visititems(read)
        return dict(f.attrs)


def find_resume(folder: str | Path) -> Resume | None:
    """The newest readable checkpoint in `folder` (None: start afresh): `latest.weights.h5`, else
    `previous.weights.h5` with the reason in `corrupt`. Reads keras.callbacks.BackupAndRestore's layout too
    (`latest.weights.h5`, epoch in `training_metadata.json`). CheckpointError when none is readable."""
    folder = Path(folder)
    corrupt = ""
    for path in (folder / LATEST, folder / PREVIOUS):
        if not path.exists():
            continue
        try:
            attrs = _read_weights_file(path)
            if _EPOCH in attrs:
                return Resume(path, int(attrs[_EPOCH]), attrs.get(_SEED_STATES), corrupt=corrupt)
            if path.name == LATEST:
                metadata = folder / METADATA
                epoch = json.loads(metadata.read_text())["epoch"] if metadata.exists() else None
                if isinstance(epoch, int) and epoch >= 0:
                    return Resume(path, epoch, keras_layout=True)
                raise ValueError(f"{metadata.name} holds no epoch")
            raise ValueError("no epoch recorded")
        except (OSError, KeyError, ValueError) as e:  # h5py's errors; json.JSONDecodeError is a ValueError
            corrupt = corrupt or f"{path} is corrupt ({_first_line(e)})"
    if corrupt:
        raise CheckpointError(f"{corrupt} and there is no earlier good checkpoint; delete {folder} to start over")
    return None


def _seed_variables(model: keras.Model) -> list:
    """The model's RNG states (SeedGenerators of dropout, noise layers…): variables, but not in weights files."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, the model's weights, optimizer state, epoch and RNG states in `folder`: written to a
    temporary file and renamed to `latest.weights.h5`, the one it replaces kept as `previous.weights.h5`, then
    `training_metadata.json` ({"epoch": N}, as keras.callbacks.BackupAndRestore writes it). A kill at any moment
    leaves a readable checkpoint. Loads `resume` (from `find_resume`) when training begins: pass its epoch to
    `fit` as `initial_epoch`."""

    def __init__(self, folder: str | Path, resume: Resume | None):
        super().__init__()
        self.folder, self.resume = Path(folder), resume
        # latest becomes previous only when it is a good checkpoint of ours (not a corrupt or unlabelled one)
        self._latest_is_good = resume is not None and resume.path.name == LATEST and not resume.keras_layout

    def on_train_begin(self, logs=None):
        if self.resume is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # its state is in the file
        seeds, states = _seed_variables(self.model), self.resume.seed_states
        try:
            self.model.load_weights(self.resume.path)
            if states is not None and len(states) != len(seeds):
                raise ValueError(f"{len(states)} RNG states for {len(seeds)}")
        except ValueError as e:
            raise CheckpointError(f"{self.resume.path} does not fit this model ({_first_line(e)}); delete "
                                  f"{self.folder} to start over") from None
        for variable, state in zip(seeds, states if states is not None else ()):
            variable.assign(state)

    def on_epoch_end(self, epoch, logs=None):
        import h5py

        latest = self.folder / LATEST
        with atomic_path(latest, ".weights.h5", durable=True) as tmp:
            self.model.save_weights(tmp)
            with h5py.File(tmp, "a") as f:
                f.attrs[_EPOCH] = epoch + 1
                seeds = _seed_variables(self.model)
                if seeds:
                    f.attrs[_SEED_STATES] = np.stack([np.asarray(v) for v in seeds])
            if self._latest_is_good:
                os.replace(latest, self.folder / PREVIOUS)
        self._latest_is_good = True
        write_json(self.folder / METADATA, {"epoch": epoch + 1, "batch": 0})  # after the weights


def _remove_leftovers(out: Path) -> list[Path]:
    """Remove what a killed run leaves in `out`: temporaries of atomic writes and a 0-byte `history.csv`; return
    the checkpoint temporaries (an unfinished checkpoint write)."""
    for name in ("model.keras", "recipe.json", "history.csv"):
        remove_temporaries(out / name)
    history = out / "history.csv"
    if history.is_file() and history.stat().st_size == 0:
        history.unlink()
    return [p for name in (LATEST, METADATA) for p in remove_temporaries(out / "checkpoint" / name)]


def _trim_history(path: Path, epochs: int) -> None:
    """Keep the rows of `history.csv` for the first `epochs` epochs (the ones a resumed run does not train
    again); remove the file when none remain."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    keep = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) < epochs]
    if len(keep) <= 1:
        path.unlink()
    elif len(keep) < len(rows):
        text = io.StringIO()
        csv.writer(text).writerows(keep)  # the excel dialect, as keras.callbacks.CSVLogger writes
        write_text(path, text.getvalue())


def fit(config: dict, callbacks: list = (), verbose="auto") -> keras.callbacks.History:
    """Train the model a validated recipe describes; resume from `OUT/checkpoint` when present (the newest
    readable checkpoint, with the data stream and RNG states an uninterrupted run would have there)."""
    import sys

    from stm_zoo import models
    from stm_zoo.data import pipeline

    if verbose == "auto" and not sys.stdout.isatty():
        verbose = 2  # a log file gets one line per epoch, not progress-bar redraws
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    unfinished = _remove_leftovers(out)
    write_json(out / "recipe.json", config)
    keras.utils.set_random_seed(config["seed"])
    if config["trainer"] == "adversarial":
        return adversarial.fit_recipe(config)

    resume = find_resume(out / "checkpoint")
    start = resume.epoch if resume else 0
    if resume and resume.corrupt:
        print(f"{resume.corrupt}; resuming from the previous good checkpoint (epoch {start})")
    elif resume:
        print(f"resuming {out} after epoch {start}" + (" (an unfinished checkpoint write was discarded)"
                                                        if unfinished else ""))
    _trim_history(out / "history.csv", start)
    if config["trainer"] == "selfsup":
        train_ds, val_ds = selfsup.training_datasets(config)
    else:
        train_ds, val_ds = pipeline.training_datasets(
            config["data"],
            patch_size=config["patch_size"],
            batch_size=config["batch_size"],
            validation_steps=config["validation_steps"],
            noise=config["noise"],
            augment=config["augment"],
            seed=config["seed"],
            simulate=config["simulate"],
            skip_batches=start * config["steps_per_epoch"],  # a resumed run continues the data stream
        )
    supervised = config["trainer"] == "supervised"
    with scale.scope(config):  # device layout (data / model parallel) and precision policy
        model = models.build(config["model"], **config["model_kwargs"])
        model = scale.training_model(model, config)  # same weights; XLA-friendly pools, float32 outputs
        if config["init_from"]:
            model.set_weights(models.load(config["init_from"]).get_weights())
        if config["freeze_batchnorm"]:
            freeze_batchnorm(model)
        model.compile(
            optimizer=_optimizer(config),
            loss=losses.get(config["loss"]),
            metrics=scale.training_metrics() if supervised else [],  # selfsup: no truth
        )
        history = model.fit(
            train_ds,
            epochs=config["epochs"],
            initial_epoch=start,
            steps_per_epoch=config["steps_per_epoch"],
            validation_data=val_ds,
            callbacks=[
                *([scale.ValidationSSIM(val_ds)] if supervised else []),  # first: adds val_ssim to the logs
                EpochCheckpoint(out / "checkpoint", resume),  # before the history row: no row without it
                keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False),
                keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
                *callbacks,
            ],
            shuffle=False,  # tf.data shuffles by drawing
            verbose=verbose,
        )
    # The shipped model carries weights only (no optimizer or compile state), so it loads anywhere.
    final = models.build(config["model"], **config["model_kwargs"])
    final.set_weights(model.get_weights())
    save_model_atomic(final, out / "model.keras")
    return history
