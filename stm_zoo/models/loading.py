"""One way to get a model: `build(name, weights=None | "pretrained", **kwargs)` makes a zoo architecture,
`load(spec)` takes a keras.Model, a `.keras` path or a pretrained name, `pretrained(architecture)` lists the
published weights. A pretrained name is spelled as its file in `weights/` and its recipe in `recipes/weights/`
(`maed_cnn-b0`: architecture `maed_cnn`, backbone B0); the manifest maps it to architecture and kwargs.
"""

import inspect
import re
import zipfile
from pathlib import Path

import keras

from stm_zoo.models.registry import info, names

_RECIPES = Path(__file__).resolve().parents[2] / "recipes"  # in a source checkout


def build(name: str, weights: str | None = None, **kwargs) -> keras.Model:
    """A zoo model by registry name: fresh (`weights=None`) or with the published weights of `name` built with
    `kwargs` (`weights="pretrained"`; ValueError naming what exists when there are none)."""
    if weights is None:
        return info(name).builder(**kwargs)
    if weights != "pretrained":
        raise ValueError(f"weights must be None or 'pretrained', got {weights!r}")
    from stm_zoo import weights as published

    defaults = {k: p.default for k, p in inspect.signature(info(name).builder).parameters.items()
                if p.default is not inspect.Parameter.empty}
    matching = [e["name"] for e in _entries(name) if {**defaults, **e["kwargs"]} == {**defaults, **kwargs}]
    if not matching:
        have = ", ".join(f"{e['name']} {e['kwargs']}" for e in _entries(name)) or "none"
        raise published.WeightsError(f"no pretrained weights for {name} {kwargs}; published for {name}: {have}")
    return load(matching[0])


def matching_layers(source: keras.Model, target: keras.Model) -> list[tuple]:
    """The (source layer, target layer) pairs `copy_weights` copies, by name; ValueError when a layer of `source`
    with weights is missing from `target` or differs in shape."""
    by_name = {layer.name: layer for layer in target.layers}
    pairs = []
    for layer in source.layers:
        if not layer.weights:
            continue
        mine = by_name.get(layer.name)
        if mine is None or [w.shape for w in mine.weights] != [w.shape for w in layer.weights]:
            raise ValueError(f"layer {layer.name!r} " + ("is not in the model" if mine is None else
                             f"has weights {[tuple(w.shape) for w in mine.weights]} in the model, "
                             f"{[tuple(w.shape) for w in layer.weights]} in the file"))
        pairs.append((layer, mine))
    return pairs


def copy_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Start `target` from `source`'s weights: all of them when the two have the same weights, else layer by layer
    by name (`matching_layers`), so a model grown by new layers (e.g. a branch whose last layer starts at zero)
    starts from the trained one. Returns the names of `target`'s layers with weights that `source` does not have
    (they keep their initialization)."""
    if [w.shape for w in source.weights] == [w.shape for w in target.weights]:
        target.set_weights(source.get_weights())
        return []
    for theirs, mine in matching_layers(source, target):
        mine.set_weights(theirs.get_weights())
    have = {layer.name for layer in source.layers}
    return [layer.name for layer in target.layers if layer.weights and layer.name not in have]


def _entries(architecture: str | None, manifest=None) -> list[dict]:
    from stm_zoo import weights

    return [e for e in weights.read_manifest(manifest)["models"] if architecture in (None, e["architecture"])]


def pretrained(architecture: str | None = None, manifest=None) -> list[str]:
    """Names of the published weights (of one architecture), as `stm-zoo weights list` shows them."""
    return [e["name"] for e in _entries(architecture, manifest)]


def load(spec, manifest=None) -> keras.Model:
    """A keras.Model as is, a `.keras` file, or a pretrained name (fetched and sha256-checked by
    `stm_zoo.weights.fetch`); loaded without compile state. Problems raise ValueError with a one-line message:
    a missing or damaged file, an unknown name (`weights.WeightsError`), a zoo architecture that has no
    published weights (with how to train it)."""
    if isinstance(spec, keras.Model):
        return spec
    path = Path(str(spec)).expanduser()
    if path.suffix == ".keras":
        if not path.is_file():
            raise ValueError(f"{path}: model file not found" if not path.exists() else f"{path}: is not a file")
        if not zipfile.is_zipfile(path):  # keras itself would say "File not found"
            raise ValueError(f"{path}: not a valid .keras model (not a zip archive: damaged or another kind of file)")
        try:
            return keras.saving.load_model(path, compile=False)
        except Exception as err:  # a zip without a model inside, or layers this install lacks
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"{path}: not a valid .keras model ({first})") from None
    from stm_zoo import weights

    try:
        file = weights.fetch(str(spec), manifest)
    except weights.WeightsError as err:
        if str(err).startswith("unknown pretrained model") and str(spec) in names():
            raise ValueError(_how_to_train(str(spec))) from None
        raise
    return keras.saving.load_model(file, compile=False)


def _how_to_train(architecture: str) -> str:
    """One line for a zoo architecture without published weights: the recipe that trains it."""
    recipes = sorted(_RECIPES.glob("*.py"), key=lambda p: p.stem != architecture)  # its namesake first
    for recipe in recipes:
        text = recipe.read_text(errors="replace")
        if re.search(rf"""["']model["']\s*:\s*["']{re.escape(architecture)}["']""", text):
            out = re.search(r"""["']out["']\s*:\s*["']([^"']+)["']""", text)
            writes = f" (it writes {out.group(1)}/model.keras)" if out else ""
            return (f"{architecture!r} is a zoo architecture with no published weights; train it with "
                    f"`stm-zoo fit recipes/{recipe.name}`{writes} and pass that .keras file as the model")
    return (f"{architecture!r} is a zoo architecture with no published weights; train it with `stm-zoo fit` and "
            f"a recipe whose model is {architecture!r}, then pass the model.keras it writes as the model")
