"""Recipes → training runs: load and check a recipe, then `model.fit` on the tf.data pipeline with
TensorBoard logs, PSNR/SSIM each epoch, a checkpoint each epoch (an interrupted run resumes from it), and the
final model written atomically as `OUT/model.keras`."""

import ast
import copy
import importlib.util
import json
from pathlib import Path

import stm_zoo  # noqa: F401  (backend selection before keras)
import keras

from stm_zoo import losses
from stm_zoo._atomic import atomic_path, write_json
from stm_zoo import noise as noise_lib
from stm_zoo import adversarial, scale, selfsup

DEFAULTS: dict = {
    "model": "autoencoder_thesis",
    "model_kwargs": {},
    "data": "default",
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
_DICT_FIELDS = ("model_kwargs", "augment", "blindspot")


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

    if full["model"] not in models.names():
        raise RecipeError(f"unknown model {full['model']!r}; known: {', '.join(models.names())}")
    try:
        losses.get(full["loss"])
        full["noise"] = noise_lib.resolve(full["noise"])
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


def fit(config: dict, callbacks: list = (), verbose="auto") -> keras.callbacks.History:
    """Train the model a validated recipe describes; resume from `OUT/checkpoint` when present."""
    from stm_zoo import models
    from stm_zoo.data import pipeline

    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "recipe.json", config)
    keras.utils.set_random_seed(config["seed"])
    if config["trainer"] == "adversarial":
        return adversarial.fit_recipe(config)

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
        )
    state = out / "checkpoint" / "training_metadata.json"
    if state.exists():
        print(f"resuming {out} after epoch {json.loads(state.read_text())['epoch']}")
    supervised = config["trainer"] == "supervised"
    with scale.scope(config):  # device layout (data / model parallel) and precision policy
        model = models.build(config["model"], **config["model_kwargs"])
        model = scale.training_model(model, config)  # same weights; XLA-friendly pools, float32 outputs
        if config["init_from"]:
            model.set_weights(selfsup.load_init(config["init_from"]).get_weights())
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
            steps_per_epoch=config["steps_per_epoch"],
            validation_data=val_ds,
            callbacks=[
                *([scale.ValidationSSIM(val_ds)] if supervised else []),  # first: adds val_ssim to the logs
                keras.callbacks.BackupAndRestore(str(out / "checkpoint"), delete_checkpoint=False),
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
