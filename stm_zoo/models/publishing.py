"""`publish`: add a trained model to the pretrained set: check that its file loads and is the architecture its
recipe names, copy it beside the manifest (or into the user cache) and write its manifest entry."""

import json
from pathlib import Path

from stm_zoo import weights
from stm_zoo._atomic import write_json
from stm_zoo.models.loading import build, load


def _describe_data(recipe: dict) -> str:
    """e.g. "data=default, noise=stm"; a recipe.json holds the resolved noise list, named here by its preset."""
    from stm_zoo import noise as noise_lib

    noise = recipe.get("noise", "thesis")
    if not isinstance(noise, str):
        same = [name for name in noise_lib.PRESETS
                if json.dumps(noise_lib.resolve(name), sort_keys=True) == json.dumps(noise, sort_keys=True)]
        noise = same[0] if same else "custom list"
    return f"data={recipe.get('data', 'default')}, noise={noise}"


def publish(source: str | Path, name: str, *, training_data: str | None = None, metrics: dict | None = None,
            license: str = "MIT", url: str | None = None, ship: bool = True,
            manifest: str | Path | None = None) -> dict:
    """Add (or replace) pretrained model `name` in the manifest from a run folder or its `model.keras`.

    Reads `recipe.json` beside the model for architecture, kwargs and recipe; checks the file loads and has the
    parameter count of that architecture; copies it to the shipped folder as `NAME.keras` (`ship=False`: to the
    user cache only, for files too big to ship, which then need a `url` or the manifest's base_url); writes the
    manifest atomically. Returns the entry.
    """
    source = Path(source)
    model_file = source / "model.keras" if source.is_dir() else source
    if model_file.suffix != ".keras" or not model_file.is_file():
        raise weights.WeightsError(f"{model_file}: no .keras model file there")
    if not isinstance(name, str) or not weights.NAME.match(name):
        raise weights.WeightsError(f"model name {name!r}: use lower-case letters, digits, '_', '-', '.'")
    recipe_file = model_file.parent / "recipe.json"
    try:
        recipe = json.loads(recipe_file.read_text())
    except FileNotFoundError:
        raise weights.WeightsError(f"{recipe_file}: not found; publish needs the recipe.json the training run "
                                   "wrote") from None
    except json.JSONDecodeError as e:
        raise weights.WeightsError(f"{recipe_file}: not valid JSON ({e})") from None
    if not isinstance(recipe, dict) or "model" not in recipe:
        raise weights.WeightsError(f"{recipe_file}: no 'model' key")
    architecture, kwargs = recipe["model"], recipe.get("model_kwargs", {})

    try:
        params = load(model_file).count_params()
    except ValueError as e:
        raise weights.WeightsError(f"{model_file}: does not load ({str(e).splitlines()[0]})") from None
    expected = build(architecture, **kwargs).count_params()
    if params != expected:
        raise weights.WeightsError(f"{model_file}: {params:,} parameters, but {architecture} {kwargs} from "
                                   f"{recipe_file} "
                           f"has {expected:,}")

    path = weights.manifest_path(manifest)
    data = weights.read_manifest(path)
    file, size = f"{name}.keras", model_file.stat().st_size
    if not ship and not (url or data["base_url"]):
        raise weights.WeightsError(f"{name}: a model that is not shipped needs a url (or a base_url in {path})")
    if ship:
        others = sum(p.stat().st_size for p in path.parent.glob("*.keras") if p.name != file)
        if size > weights.MAX_FILE_BYTES or others + size > weights.MAX_FOLDER_BYTES:
            raise weights.WeightsError(f"{model_file}: {size / 2**20:.1f} MB is too big to ship (limits: "
                                       f"{weights.MAX_FILE_BYTES // 2**20} MB a file, "
                                       f"{weights.MAX_FOLDER_BYTES // 2**20} MB the folder, "
                               f"{others / 2**20:.1f} MB used); publish with ship=False and a url")
    item = {
        "name": name,
        "architecture": architecture,
        "kwargs": kwargs,
        "file": file,
        "sha256": weights.sha256(model_file),
        "size": size,
        "params": params,
        "recipe": {k: v for k, v in recipe.items() if k != "out"},  # `out` is a local path
        "training_data": training_data or _describe_data(recipe),
        "metrics": dict(metrics or {}),
        "license": license,
        **({"url": url} if url else {}),
    }
    weights.check_entry(item, str(path))
    weights.copy_atomic(model_file, (path.parent if ship else weights.cache_dir()) / file)
    if not ship:
        (path.parent / file).unlink(missing_ok=True)  # no stale shipped copy shadowing the new one
    models = [m for m in data["models"] if m["name"] != name]
    position = next((i for i, m in enumerate(data["models"]) if m["name"] == name), len(models))
    models.insert(position, item)
    write_json(path, {"base_url": data["base_url"], "models": models})
    return item
