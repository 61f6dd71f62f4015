"""Recipes: the schema (`DEFAULTS`), `key=value` overrides, validation and loading of recipe files. Every key is
checked against the trainer that reads it: a key a trainer does not read must keep its default (RecipeError)."""

import ast
import copy
import importlib.util
from pathlib import Path

from stm_zoo import noise as noise_lib
from stm_zoo.training import devices, losses

# Blind spots per patch (recipe key `blindspot`, the selfsup trainer): `count` segments, each `rows` lines high and
# `length` × the patch width long (1.0: whole lines; 0.0: one pixel, the original Noise2Void). `rows` and `length`
# may be a (low, high) range drawn per segment.
BLINDSPOT = {"count": 4, "rows": 1, "length": 1.0}
EMBEDDED_REAL = "embedded"  # real_data: the real scans shipped with the package (no simulated ones)

DEFAULTS: dict = {
    "model": "autoencoder_thesis",
    "model_kwargs": {},
    "data": "default",
    "simulate": {},  # data "default" / "synthetic": simulated pool {"count", "size_px", "share", simulator parameters}
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
    "data_parallel": True,  # split each batch over all devices when there are several (training.devices)
    "model_parallel": 1,  # >1: also split kernels' output channels over this many devices (large models)
    "trainer": "supervised",  # "selfsup": blind-spot training on noisy images alone (training.selfsup);
    # "adversarial": simulated pairs + unpaired real scans against a discriminator (training.adversarial)
    "real_data": "",  # the adversarial trainer's unpaired real noisy scans: a folder, or "embedded"
    "blindspot": dict(BLINDSPOT),  # the selfsup trainer's masks
    "init_from": "",  # a .keras path or pretrained zoo name whose weights start the run (fine-tuning)
    "freeze_batchnorm": False,  # fine-tuning: BatchNormalization layers keep their statistics (core.freeze_batchnorm)
    "train_only": [],  # fine-tuning: names of the only layers that train (e.g. a new head); empty: all
}

# Fields whose value may be of another type than the default's.
_ALSO_ALLOWED = {"noise": (str, list, tuple), "learning_rate": (int, float), "train_only": (list, tuple)}
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
            pipeline.check_simulate(full["simulate"], full["data"])
    except ValueError as e:
        raise RecipeError(str(e)) from None
    if full["train_only"]:
        full["train_only"] = list(full["train_only"])
        with_weights = [layer.name for layer in models.build(full["model"], **full["model_kwargs"]).layers
                        if layer.weights]
        missing = [name for name in full["train_only"] if name not in with_weights]
        if missing:
            raise RecipeError(f"train_only: {full['model']!r} has no layer with weights named {missing[0]!r}; "
                              f"its layers with weights: {', '.join(with_weights)}")
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
        full = _check_trainer_keys(full)  # loss, blindspot, real_data, init_from against the trainer
        devices.check(full)  # precision, device layout
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


def _check_range(name: str, value, kind, low, high):
    values = list(value) if isinstance(value, (tuple, list)) else [value]
    if isinstance(value, (tuple, list)) and (len(values) != 2 or values[0] > values[1]):
        raise ValueError(f"blindspot.{name} must be a number or a (low, high) range, got {value!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, kind) or not low <= v <= high:
            raise ValueError(f"blindspot.{name} must be in [{low}, {high}], got {value!r}")


def check_blindspot(blindspot: dict) -> dict:
    """`blindspot` completed with the defaults and checked; ValueError with a one-line message."""
    unknown = set(blindspot) - set(BLINDSPOT)
    if unknown:
        raise ValueError(f"unknown blindspot key {sorted(unknown)[0]!r}; known: {', '.join(BLINDSPOT)}")
    full = {**BLINDSPOT, **blindspot}
    _check_range("count", full["count"], int, 1, 4096)
    if isinstance(full["count"], (tuple, list)):
        raise ValueError(f"blindspot.count must be an int, got {full['count']!r}")
    _check_range("rows", full["rows"], int, 1, 64)
    _check_range("length", full["length"], (int, float), 0.0, 1.0)
    return full


def _describe_run(path: Path) -> str:
    """What a run folder's recipe.json says the model was trained as, for error messages."""
    import json

    try:
        recipe = json.loads((path.parent / "recipe.json").read_text())
        return f" (it was trained as model={recipe['model']!r} model_kwargs={recipe.get('model_kwargs', {})!r})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def check_init_from(spec: str, model: str, model_kwargs: dict) -> None:
    """Check that `init_from` (a `.keras` path or a pretrained zoo name) exists and has the weights of the
    recipe's model, without downloading anything; ValueError with a one-line message."""
    from stm_zoo import models, weights

    where = f"init_from {spec!r}"
    if not spec.endswith(".keras"):
        try:
            entry = weights.entry(spec)  # no download: the manifest says what it is
        except weights.WeightsError as e:
            raise ValueError(f"{where}: {e}") from None
        if entry["architecture"] != model or entry["kwargs"] != model_kwargs:
            raise ValueError(f"{where} is {entry['architecture']} {entry['kwargs']}, not model={model!r} "
                             f"model_kwargs={model_kwargs!r}; set model and model_kwargs to match")
        return
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValueError(f"{where}: file not found")
    try:
        source = models.load(path)
    except ValueError as e:  # a damaged or foreign file: one line, never a traceback
        raise ValueError(f"{where}: does not load ({str(e).splitlines()[0]})") from None
    target = models.build(model, **model_kwargs)
    try:
        if [w.shape for w in source.weights] != [w.shape for w in target.weights]:
            models.matching_layers(source, target)  # a grown model: every trained layer must fit
    except ValueError as e:
        raise ValueError(f"{where}: its weights do not fit model={model!r} model_kwargs={model_kwargs!r} ({e})"
                         f"{_describe_run(path)}; set model and model_kwargs to match") from None


def _check_trainer_keys(full: dict) -> dict:
    """The keys only some trainers read (loss kind, augmentation, `blindspot`, `real_data`) against
    the trainer, and `init_from`; returns the recipe with `blindspot` completed. ValueError, one line."""
    trainer = full["trainer"]
    selfsup, adversarial, real = trainer == "selfsup", trainer == "adversarial", full["real_data"]
    if selfsup != full["loss"].startswith("blindspot_"):
        raise ValueError(f"trainer 'selfsup' needs a blindspot_* loss, got {full['loss']!r}" if selfsup else
                         f"loss {full['loss']!r} needs trainer 'selfsup' (it reads the blind-spot mask)")
    if selfsup and full["augment"]["rotation_deg"] != 0:
        raise ValueError("trainer 'selfsup' needs augment.rotation_deg=0: rotation tilts the scan lines and its "
                         "interpolation spreads the noise into the neighbours the blind spot relies on")
    full = {**full, "blindspot": check_blindspot(full["blindspot"])}
    if not selfsup and full["blindspot"] != BLINDSPOT:
        raise ValueError(f"blindspot is read only by trainer 'selfsup', not {trainer!r}")
    if adversarial and not real:
        raise ValueError("trainer 'adversarial' needs real_data: a folder of real noisy scans "
                         f"(--set real_data=DIR), or {EMBEDDED_REAL!r} for the real scans shipped with stm-zoo")
    if real and not adversarial:
        raise ValueError(f"real_data is read only by trainer 'adversarial', not {trainer!r}")
    if adversarial and real != EMBEDDED_REAL and not Path(real).expanduser().is_dir():
        raise ValueError(f"real_data {real!r}: folder not found")
    if full["init_from"]:
        check_init_from(full["init_from"], full["model"], full["model_kwargs"])
    return full
