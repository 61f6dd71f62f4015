"""Pretrained weights: a manifest of published models, lookup in the shipped folder and the user cache,
download with sha256 checks (`stm_zoo.models.publish` adds a trained model to the manifest).

Where a model's file is looked for, in order:
1. the shipped folder: the folder holding the manifest (`weights/` at the repository root, or
   `$STM_ZOO_WEIGHTS_DIR`, e.g. for an installed wheel);
2. the user cache: `stm_zoo._env.cache_root() / "weights"` (`$STM_ZOO_CACHE` moves its root);
3. a download with `keras.utils.get_file` from `$STM_ZOO_WEIGHTS_URL`, else the entry's `url`, else the
   manifest's `base_url` + file name, into the user cache. `STM_ZOO_OFFLINE=1` forbids this step.
Every file is checked against the manifest's sha256 before it is loaded.
"""

import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path

from stm_zoo import _env
from stm_zoo._atomic import atomic_path, write_json

MAX_FILE_BYTES = 25 * 2**20  # a shipped .keras file
MAX_FOLDER_BYTES = 80 * 2**20  # all shipped .keras files together

_REQUIRED = ("name", "architecture", "kwargs", "file", "sha256", "size", "params", "recipe", "training_data",
             "metrics", "license")
_OPTIONAL = ("url", "withdrawn")  # withdrawn: why the model is no longer recommended
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class WeightsError(ValueError):
    """A pretrained model that cannot be found, downloaded, verified or published; one-line message."""


# ---------------------------------------------------------------- locations


def shipped_dir() -> Path:
    """The folder of shipped weights and their manifest: `$STM_ZOO_WEIGHTS_DIR`, else the repo's `weights/`."""
    env = os.environ.get("STM_ZOO_WEIGHTS_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parent.parent / "weights"


def cache_dir() -> Path:
    """Where downloaded weights go: `stm_zoo._env.cache_root() / "weights"`."""
    return _env.cache_root() / "weights"


def manifest_path(manifest: str | Path | None = None) -> Path:
    """`manifest` if given, else `shipped_dir() / "manifest.json"`. Files it lists are shipped beside it."""
    return Path(manifest) if manifest is not None else shipped_dir() / "manifest.json"


def offline() -> bool:
    return os.environ.get("STM_ZOO_OFFLINE", "") not in ("", "0")


# ---------------------------------------------------------------- manifest


def check_entry(entry, where: str) -> None:
    if not isinstance(entry, dict):
        raise WeightsError(f"{where}: each model entry must be an object, got {type(entry).__name__}")
    label = f"{where}: model {entry.get('name', '?')!r}"
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise WeightsError(f"{label} lacks {', '.join(missing)}")
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise WeightsError(f"{label} has unknown fields {', '.join(unknown)}")
    if not isinstance(entry["name"], str) or not NAME.match(entry["name"]):
        raise WeightsError(f"{label}: name must be lower-case letters, digits, '_', '-', '.'")
    file = entry["file"]
    if not isinstance(file, str) or Path(file).name != file or not file.endswith(".keras"):
        raise WeightsError(f"{label}: file must be a plain .keras file name, got {file!r}")
    if not isinstance(entry["sha256"], str) or not _SHA256.match(entry["sha256"]):
        raise WeightsError(f"{label}: sha256 must be 64 lower-case hex digits")
    for key, kind in (("size", int), ("params", int), ("kwargs", dict), ("recipe", dict), ("metrics", dict),
                      ("architecture", str), ("training_data", str), ("license", str), ("url", str), ("withdrawn", str)):
        if key in entry and not isinstance(entry[key], kind):
            raise WeightsError(f"{label}: {key} must be {kind.__name__}, got {type(entry[key]).__name__}")


def read_manifest(manifest: str | Path | None = None) -> dict:
    """The manifest as `{"base_url": str, "models": [entry, ...]}`, checked; bad files give a one-line error."""
    path = manifest_path(manifest)
    if not path.is_file():
        raise WeightsError(f"{path}: weights manifest not found (set STM_ZOO_WEIGHTS_DIR to the folder holding "
                           "manifest.json)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightsError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or set(data) != {"base_url", "models"}:
        raise WeightsError(f"{path}: the manifest must be an object with exactly the keys base_url and models")
    if not isinstance(data["base_url"], str) or not isinstance(data["models"], list):
        raise WeightsError(f"{path}: base_url must be a string and models a list")
    for item in data["models"]:
        check_entry(item, str(path))
    for key in ("name", "file"):
        values = [item[key] for item in data["models"]]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise WeightsError(f"{path}: {key} {twice[0]!r} listed twice")
    return data


def names(manifest: str | Path | None = None) -> list[str]:
    return [entry["name"] for entry in read_manifest(manifest)["models"]]


def entry(name: str, manifest: str | Path | None = None) -> dict:
    """The manifest entry of pretrained model `name`; an unknown name lists the known ones."""
    for item in read_manifest(manifest)["models"]:
        if item["name"] == name:
            return item
    known = ", ".join(names(manifest)) or f"none yet ({manifest_path(manifest)} lists no models)"
    raise WeightsError(f"unknown pretrained model {name!r}; known: {known}")


def copy_atomic(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


# ---------------------------------------------------------------- files and hashes


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locations(name: str, manifest: str | Path | None = None) -> dict[str, Path]:
    """Where model `name`'s file would be: {"shipped": path, "cache": path} (whether or not they exist)."""
    return _locations(entry(name, manifest), manifest)


def _locations(item: dict, manifest) -> dict[str, Path]:
    return {"shipped": manifest_path(manifest).parent / item["file"], "cache": cache_dir() / item["file"]}


def status(name: str, manifest: str | Path | None = None) -> str:
    """"shipped", "cached" or "remote": where the file is present now (hashes not checked)."""
    where = locations(name, manifest)
    return "shipped" if where["shipped"].is_file() else "cached" if where["cache"].is_file() else "remote"


def download_url(name: str, manifest: str | Path | None = None) -> str:
    """`$STM_ZOO_WEIGHTS_URL/FILE` (a mirror), else the entry's `url`, else the manifest's `base_url/FILE`."""
    data, item = read_manifest(manifest), entry(name, manifest)
    mirror = os.environ.get("STM_ZOO_WEIGHTS_URL")
    if mirror:
        return f"{mirror.rstrip('/')}/{item['file']}"
    if item.get("url"):
        return item["url"]
    if data["base_url"]:
        return f"{data['base_url'].rstrip('/')}/{item['file']}"
    raise WeightsError(f"no download location for {name!r}: {manifest_path(manifest)} sets no base_url and the "
                       "entry no url; set STM_ZOO_WEIGHTS_URL")


def _download(url: str, item: dict, target: Path) -> None:
    """Download into a temporary file beside `target`, check its sha256 (get_file does), then rename."""
    import stm_zoo  # noqa: F401  (backend selection before keras)
    import keras

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        keras.utils.get_file(fname=part.name, origin=url, file_hash=item["sha256"], hash_algorithm="sha256",
                             cache_dir=str(target.parent), cache_subdir=str(target.parent.resolve()),
                             force_download=True)
        os.replace(part, target)
    except ValueError:  # get_file's hash check
        raise WeightsError(f"{url}: downloaded file's sha256 does not match the manifest "
                           f"({item['sha256'][:12]}…); the bad file was deleted") from None
    except Exception as e:  # get_file reports network failures as plain Exception
        raise WeightsError(f"could not download {item['name']!r} from {url}: {e}") from None
    finally:
        part.unlink(missing_ok=True)


def fetch(name: str, manifest: str | Path | None = None) -> Path:
    """The verified local file of pretrained model `name`: shipped, else cached, else downloaded to the cache.
    A withdrawn model still loads (old scripts keep working), with a warning saying why it was withdrawn."""
    item = entry(name, manifest)
    if item.get("withdrawn"):
        warnings.warn(f"pretrained model {name!r} is withdrawn: {item['withdrawn']}", stacklevel=2)
    where = _locations(item, manifest)
    if where["shipped"].is_file():
        actual = sha256(where["shipped"])
        if actual != item["sha256"]:
            raise WeightsError(f"{where['shipped']}: sha256 {actual[:12]}… does not match the manifest's "
                               f"{item['sha256'][:12]}…; restore the file or publish it again")
        return where["shipped"]
    cached = where["cache"]
    if cached.is_file():
        if sha256(cached) == item["sha256"]:
            return cached
        cached.unlink()
        warnings.warn(f"{cached}: sha256 does not match the manifest (damaged or outdated); deleted it", stacklevel=2)
    if offline():
        raise WeightsError(f"pretrained model {name!r} is missing and STM_ZOO_OFFLINE is set: {item['file']} is "
                           f"neither in {where['shipped'].parent} nor in {cached.parent}")
    _download(download_url(name, manifest), item, cached)
    return cached


def verify(manifest: str | Path | None = None) -> list[tuple[str, Path, str]]:
    """Check every present file: rows of (model name, path, "ok" | "mismatch" | "missing"); a shipped
    `.keras` file that no entry lists gives ("", path, "unlisted")."""
    path = manifest_path(manifest)
    rows, listed = [], set()
    for item in read_manifest(manifest)["models"]:
        listed.add(item["file"])
        present = [p for p in _locations(item, manifest).values() if p.is_file()]
        for file in present:
            rows.append((item["name"], file, "ok" if sha256(file) == item["sha256"] else "mismatch"))
        if not present:
            rows.append((item["name"], path.parent / item["file"], "missing"))
    rows += [("", p, "unlisted") for p in sorted(path.parent.glob("*.keras")) if p.name not in listed]
    return rows


def withdraw(name: str, reason: str, manifest: str | Path | None = None) -> dict:
    """Mark pretrained model `name` as withdrawn (it stays listed and loadable, with `reason` shown and warned
    about); an empty `reason` reinstates it. Writes the manifest atomically; returns the entry."""
    path = manifest_path(manifest)
    data = read_manifest(path)
    item = entry(name, path)
    item = {k: v for k, v in item.items() if k != "withdrawn"} | ({"withdrawn": reason} if reason else {})
    write_json(path, {"base_url": data["base_url"],
                      "models": [item if m["name"] == name else m for m in data["models"]]})
    return item
