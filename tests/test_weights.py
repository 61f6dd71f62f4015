"""Pretrained weights: manifest, shipped/cache/download resolution with sha256 checks, offline mode, publish,
the CLI, and the shipped weights themselves."""

import functools
import hashlib
import http.server
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from stm_zoo import models, weights
from stm_zoo.models import publishing
from stm_zoo.weights import WeightsError

REPO = Path(__file__).resolve().parents[1]
SHIPPED_MANIFEST = REPO / "weights" / "manifest.json"
# A real scan with heavy horizontal streaks (no license: used by path from ../shared, never copied).
STREAKY_SCAN = "SPMQT-Lab__nanonis-file-conversion-1.01/anonymised_testdata/createc_scan_molecular_30nm_pos.dat"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A small zoo model saved as .keras: (model, path)."""
    from stm_zoo import models

    model = models.build("autoencoder_original")
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    model.save(path)
    return model, path


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    """Own cache per test; no mirror, no offline flag, no proxy for 127.0.0.1."""
    monkeypatch.setenv("STM_ZOO_CACHE", str(tmp_path / "cache"))
    for var in ("STM_ZOO_WEIGHTS_URL", "STM_ZOO_OFFLINE", "STM_ZOO_WEIGHTS_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served: (base_url, served folder, list of request paths)."""
    served = tmp_path / "served"
    served.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/models", served, requests
    httpd.shutdown()
    httpd.server_close()


def _entry(name: str, path: Path, **changes) -> dict:
    item = {
        "name": name,
        "architecture": "autoencoder_original",
        "kwargs": {},
        "file": f"{name}.keras",
        "sha256": _sha256(path),
        "size": path.stat().st_size,
        "params": 12_193,
        "recipe": {"model": "autoencoder_original"},
        "training_data": "none (test)",
        "metrics": {"psnr": 30.0},
        "license": "MIT",
    }
    return {**item, **changes}


def _write_manifest(folder: Path, entries: list, base_url: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    path.write_text(json.dumps({"base_url": base_url, "models": entries}))
    return path


def _same_weights(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


# ---------------------------------------------------------------- resolution and download


def test_download_then_cache_hit(tmp_path, server, tiny_model):
    base_url, served, requests = server
    model, path = tiny_model
    (served / "models").mkdir()
    shutil.copy(path, served / "models" / "tiny.keras")
    manifest = _write_manifest(tmp_path / "shipped", [_entry("tiny", path)], base_url=base_url)

    first = models.load("tiny", manifest=manifest)
    assert requests == ["/models/tiny.keras"]
    assert _same_weights(first, model)
    cached = weights.cache_dir() / "tiny.keras"
    assert cached.is_file() and _sha256(cached) == _sha256(path)
    assert weights.status("tiny", manifest=manifest) == "cached"
    assert not list(cached.parent.glob(".*.part"))

    second = models.load("tiny", manifest=manifest)
    assert len(requests) == 1, "second load must come from the cache"
    assert _same_weights(second, model)


def test_mirror_env_var_overrides_base_url(tmp_path, server, tiny_model, monkeypatch):
    base_url, served, requests = server
    _, path = tiny_model
    (served / "models").mkdir()
    shutil.copy(path, served / "models" / "tiny.keras")
    manifest = _write_manifest(tmp_path / "shipped", [_entry("tiny", path)], base_url="http://127.0.0.1:9/nowhere")
    monkeypatch.setenv("STM_ZOO_WEIGHTS_URL", base_url + "/")
    assert weights.fetch("tiny", manifest=manifest) == weights.cache_dir() / "tiny.keras"
    assert requests == ["/models/tiny.keras"]


def test_hash_mismatch_is_an_error_and_deletes_the_download(tmp_path, server, tiny_model):
    base_url, served, requests = server
    _, path = tiny_model
    (served / "models").mkdir()
    shutil.copy(path, served / "models" / "tiny.keras")
    manifest = _write_manifest(tmp_path / "shipped", [_entry("tiny", path, sha256="0" * 64)], base_url=base_url)

    with pytest.raises(WeightsError, match="sha256 does not match.*deleted"):
        models.load("tiny", manifest=manifest)
    assert requests == ["/models/tiny.keras"]
    assert not weights.cache_dir().exists() or not any(weights.cache_dir().iterdir())


def test_damaged_cache_file_is_replaced(tmp_path, server, tiny_model):
    base_url, served, requests = server
    _, path = tiny_model
    (served / "models").mkdir()
    shutil.copy(path, served / "models" / "tiny.keras")
    manifest = _write_manifest(tmp_path / "shipped", [_entry("tiny", path)], base_url=base_url)
    cached = weights.cache_dir() / "tiny.keras"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")

    with pytest.warns(UserWarning, match="does not match"):
        weights.fetch("tiny", manifest=manifest)
    assert len(requests) == 1 and _sha256(cached) == _sha256(path)


def test_shipped_file_wins_and_is_checked(tmp_path, server, tiny_model):
    base_url, _, requests = server
    model, path = tiny_model
    manifest = _write_manifest(tmp_path / "shipped", [_entry("tiny", path)], base_url=base_url)
    shutil.copy(path, tmp_path / "shipped" / "tiny.keras")

    assert _same_weights(models.load("tiny", manifest=manifest), model)
    assert requests == [] and weights.status("tiny", manifest=manifest) == "shipped"

    (tmp_path / "shipped" / "tiny.keras").write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="does not match the manifest"):
        weights.fetch("tiny", manifest=manifest)
    assert (tmp_path / "shipped" / "tiny.keras").exists(), "a shipped file is never deleted"


def test_offline_mode_never_touches_the_network(tmp_path, server, tiny_model, monkeypatch):
    base_url, served, requests = server
    _, path = tiny_model
    (served / "models").mkdir()
    shutil.copy(path, served / "models" / "tiny.keras")
    manifest = _write_manifest(tmp_path / "shipped", [_entry("tiny", path)], base_url=base_url)
    monkeypatch.setenv("STM_ZOO_OFFLINE", "1")

    with pytest.raises(WeightsError) as info:
        models.load("tiny", manifest=manifest)
    message = str(info.value)
    assert "STM_ZOO_OFFLINE" in message and "tiny.keras" in message
    assert str(tmp_path / "shipped") in message and str(weights.cache_dir()) in message
    assert requests == []


def test_network_failure_is_one_line(tmp_path, server, tiny_model):
    base_url, _, requests = server  # nothing served: 404
    _, path = tiny_model
    manifest = _write_manifest(tmp_path / "shipped", [_entry("tiny", path)], base_url=base_url)
    with pytest.raises(WeightsError, match="could not download 'tiny'") as info:
        weights.fetch("tiny", manifest=manifest)
    assert "\n" not in str(info.value) and len(requests) == 1


def test_unknown_name_lists_known_names(tmp_path, tiny_model):
    _, path = tiny_model
    manifest = _write_manifest(tmp_path / "shipped", [_entry("tiny", path), _entry("tiny2", path)])
    with pytest.raises(WeightsError) as info:
        weights.fetch("dncnn", manifest=manifest)
    assert str(info.value) == "unknown pretrained model 'dncnn'; known: tiny, tiny2"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("{not json", "not valid JSON"),
        ('{"models": []}', "exactly the keys"),
        ('{"base_url": "", "models": [{"name": "x"}]}', "lacks architecture"),
    ],
)
def test_bad_manifest_is_a_one_line_error_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises(WeightsError, match=problem) as info:
        weights.read_manifest(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_manifest_rejects_file_names_with_folders(tmp_path, tiny_model):
    _, path = tiny_model
    manifest = _write_manifest(tmp_path, [_entry("tiny", path, file="../../evil.keras")])
    with pytest.raises(WeightsError, match="plain .keras file name"):
        weights.read_manifest(manifest)


# ---------------------------------------------------------------- publish


def _run_dir(tmp_path: Path, model_path: Path, model_name: str = "autoencoder_original") -> Path:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model_path, run / "model.keras")
    recipe = {"model": model_name, "model_kwargs": {}, "data": "synthetic", "noise": "thesis", "epochs": 1,
              "out": str(run)}
    (run / "recipe.json").write_text(json.dumps(recipe))
    return run


def test_publish_writes_a_correct_entry(tmp_path, tiny_model, monkeypatch):
    model, path = tiny_model
    run = _run_dir(tmp_path, path)
    manifest = _write_manifest(tmp_path / "shipped", [], base_url="https://example.invalid/w")

    item = models.publish(run, "tiny", metrics={"synthetic": {"psnr": 31.5}}, manifest=manifest)
    shipped = tmp_path / "shipped" / "tiny.keras"
    assert _sha256(shipped) == _sha256(path) == item["sha256"]
    assert item["size"] == path.stat().st_size and item["params"] == model.count_params()
    assert item["architecture"] == "autoencoder_original" and item["kwargs"] == {}
    assert item["recipe"]["epochs"] == 1 and "out" not in item["recipe"]
    assert item["training_data"] == "data=synthetic, noise=thesis" and item["license"] == "MIT"
    data = weights.read_manifest(manifest)
    assert data == {"base_url": "https://example.invalid/w", "models": [item]}
    assert not list((tmp_path / "shipped").glob(".*"))  # no temp files left

    # Publishing again under the same name replaces the entry; the model loads with no network.
    monkeypatch.setenv("STM_ZOO_OFFLINE", "1")
    models.publish(run / "model.keras", "tiny", license="CC-BY-4.0", manifest=manifest)
    assert [m["license"] for m in weights.read_manifest(manifest)["models"]] == ["CC-BY-4.0"]
    assert _same_weights(models.load("tiny", manifest=manifest), model)
    assert [row[2] for row in weights.verify(manifest)] == ["ok"]


def test_withdrawn_model_is_listed_loads_with_a_warning_and_can_be_reinstated(tmp_path, tiny_model, monkeypatch):
    model, path = tiny_model
    manifest = _write_manifest(tmp_path / "shipped", [])
    models.publish(_run_dir(tmp_path, path), "tiny", manifest=manifest)
    weights.withdraw("tiny", "makes fine lattices worse than the noisy input", manifest=manifest)
    assert weights.entry("tiny", manifest)["withdrawn"] == "makes fine lattices worse than the noisy input"
    with pytest.warns(UserWarning, match="'tiny' is withdrawn: makes fine lattices worse"):
        assert _same_weights(models.load("tiny", manifest=manifest), model)
    weights.withdraw("tiny", "", manifest=manifest)
    assert "withdrawn" not in weights.entry("tiny", manifest)
    with pytest.raises(weights.WeightsError, match="unknown pretrained model 'nope'"):
        weights.withdraw("nope", "x", manifest=manifest)


def test_publish_checks_the_recipe_matches_the_model(tmp_path, tiny_model):
    _, path = tiny_model
    run = _run_dir(tmp_path, path, model_name="autoencoder_thesis")
    manifest = _write_manifest(tmp_path / "shipped", [])
    with pytest.raises(WeightsError, match="parameters, but autoencoder_thesis"):
        models.publish(run, "tiny", manifest=manifest)
    (run / "recipe.json").unlink()
    with pytest.raises(WeightsError, match="recipe.json"):
        models.publish(run, "tiny", manifest=manifest)
    assert weights.read_manifest(manifest)["models"] == []
    assert not (tmp_path / "shipped" / "tiny.keras").exists()


def test_publish_too_big_to_ship_goes_to_the_cache_with_a_url(tmp_path, tiny_model, monkeypatch):
    model, path = tiny_model
    run = _run_dir(tmp_path, path)
    manifest = _write_manifest(tmp_path / "shipped", [])
    monkeypatch.setattr(weights, "MAX_FILE_BYTES", 1000)
    with pytest.raises(WeightsError, match="too big to ship"):
        models.publish(run, "big", manifest=manifest)

    with pytest.raises(WeightsError, match="needs a url"):
        models.publish(run, "big", ship=False, manifest=manifest)
    item = models.publish(run, "big", ship=False, url="https://example.invalid/big.keras", manifest=manifest)
    assert not (tmp_path / "shipped" / "big.keras").exists()
    assert weights.status("big", manifest=manifest) == "cached"
    assert weights.download_url("big", manifest=manifest) == item["url"]
    assert _same_weights(models.load("big", manifest=manifest), model)


# ---------------------------------------------------------------- verify and CLI


def test_verify_reports_wrong_hashes_and_unlisted_files(tmp_path, tiny_model):
    _, path = tiny_model
    folder = tmp_path / "shipped"
    manifest = _write_manifest(folder, [_entry("good", path), _entry("bad", path, sha256="f" * 64),
                                        _entry("remote", path)])
    for name in ("good", "bad", "stray"):
        shutil.copy(path, folder / f"{name}.keras")
    assert sorted((name, state) for name, _, state in weights.verify(manifest)) == [
        ("", "unlisted"), ("bad", "mismatch"), ("good", "ok"), ("remote", "missing")]


def test_cli_list_pull_verify(tmp_path, server, tiny_model, monkeypatch):
    from typer.testing import CliRunner

    from stm_zoo.cli import app

    base_url, served, requests = server
    _, path = tiny_model
    (served / "models").mkdir()
    shutil.copy(path, served / "models" / "tiny.keras")
    _write_manifest(tmp_path / "shipped", [_entry("tiny", path, metrics={"real": {"psnr": 29.123456, "ssim": 0.81234}})],
                    base_url=base_url)
    monkeypatch.setenv("STM_ZOO_WEIGHTS_DIR", str(tmp_path / "shipped"))
    runner = CliRunner()

    listed = runner.invoke(app, ["weights", "list"])
    assert listed.exit_code == 0 and "tiny" in listed.output and "remote" in listed.output
    assert "real 29.12 dB/0.812" in listed.output and "12,193" in listed.output

    pulled = runner.invoke(app, ["weights", "pull", "tiny"])
    assert pulled.exit_code == 0, pulled.output
    assert len(requests) == 1 and "cached" in runner.invoke(app, ["weights", "list"]).output
    assert runner.invoke(app, ["weights", "verify"]).exit_code == 0

    (weights.cache_dir() / "tiny.keras").write_bytes(b"damaged")
    checked = runner.invoke(app, ["weights", "verify"])
    assert checked.exit_code == 1 and "mismatch" in checked.output

    unknown = runner.invoke(app, ["weights", "pull", "nope"])
    assert unknown.exit_code == 2 and "known: tiny" in unknown.output


# ---------------------------------------------------------------- the shipped weights


def test_shipped_manifest_is_valid_and_every_file_matches():
    data = weights.read_manifest(SHIPPED_MANIFEST)
    from stm_zoo import models

    for item in data["models"]:
        assert item["architecture"] in models.names(), item["name"]
    problems = [row for row in weights.verify(SHIPPED_MANIFEST) if row[2] in ("mismatch", "unlisted")]
    assert problems == []
    shipped = sum(p.stat().st_size for p in SHIPPED_MANIFEST.parent.glob("*.keras"))
    assert shipped <= weights.MAX_FOLDER_BYTES


def test_every_published_model_beat_every_baseline_in_psnr_and_ssim():
    """The publishing rule of issue 6, on the numbers the manifest records (bench/eval_weights.py --summary)."""
    for item in weights.read_manifest(SHIPPED_MANIFEST)["models"]:
        if item.get("withdrawn"):
            continue
        for label in ("synthetic", "held_out_real"):
            numbers = item["metrics"][label]
            assert numbers["psnr"] > numbers["best_baseline_psnr"], (item["name"], label)
            assert numbers["ssim"] > numbers["best_baseline_ssim"], (item["name"], label)
        assert item["metrics"]["real_noisy"]["stripe_index_after"] < item["metrics"]["real_noisy"]["stripe_index_before"]


def _recommended() -> list:
    """Published models not withdrawn; those still short of the do-no-harm rule are expected failures (issue 17)."""
    known_short = {"linespec": "issue 17: worse than the noisy input on 1/16 held-out real images (an almost "
                              "noise-free crop whose reference is noisier than the noise added); 86.8 % of the "
                              "lattice amplitude kept (the molecular scan's pick-up peaks at 62 %)"}
    data = json.loads(SHIPPED_MANIFEST.read_text())
    return [pytest.param(m["name"], marks=pytest.mark.xfail(reason=known_short[m["name"]], strict=True))
            if m["name"] in known_short else m["name"] for m in data["models"] if not m.get("withdrawn")]


@pytest.mark.parametrize("name", _recommended())
def test_recommended_model_never_makes_a_test_image_worse_than_its_input(name):
    """The do-no-harm rule of issue 17 on the manifest's numbers: on every paired test set (sweep strengths
    included) no image comes out below its noisy input's PSNR, and on the real noisy scans at least 90 % of the
    FFT lattice amplitude is kept."""
    metrics = weights.entry(name, SHIPPED_MANIFEST)["metrics"]
    paired = {label: numbers for label, numbers in metrics.items() if isinstance(numbers, dict) and "psnr" in numbers}
    paired |= {f"sweep/{k}": v for k, v in metrics.get("sweep", {}).items()}
    assert {"synthetic", "held_out_real", "held_out_real_full", "fine_lattice", "sweep/severe"} <= paired.keys()
    assert {label: n["worse_than_input"] for label, n in paired.items() if n["worse_than_input"]} == {}
    assert metrics["real_noisy"]["lattice_amplitude_retained"] >= 0.9


def test_every_withdrawn_model_says_which_rule_it_broke():
    for item in weights.read_manifest(SHIPPED_MANIFEST)["models"]:
        if item.get("withdrawn"):
            assert "do-no-harm" in item["withdrawn"] and "worse than the noisy input" in item["withdrawn"]
            assert item["metrics"]["fine_lattice"]["worse_than_input"] > 0, item["name"]


def _shipped_names() -> list[str]:
    data = json.loads(SHIPPED_MANIFEST.read_text())
    return [m["name"] for m in data["models"] if (SHIPPED_MANIFEST.parent / m["file"]).is_file()]


@pytest.mark.slow
@pytest.mark.parametrize("name", _shipped_names())
def test_shipped_model_removes_stripes_from_a_real_scan(name, shared_stm):
    import keras

    import stm_zoo.models  # noqa: F401  (custom layers)
    from stm_zoo import io, metrics

    item = weights.entry(name, SHIPPED_MANIFEST)
    model = keras.saving.load_model(SHIPPED_MANIFEST.parent / item["file"], compile=False)
    assert model.count_params() == item["params"]
    noisy = io.read(shared_stm / STREAKY_SCAN).data
    denoised = stm_zoo.denoise(noisy, model)
    assert denoised.shape == noisy.shape
    assert metrics.stripe_index(denoised) < metrics.stripe_index(noisy)


def test_training_data_names_the_noise_preset_of_a_resolved_recipe():
    from stm_zoo import noise as noise_lib

    resolved = json.loads(json.dumps(noise_lib.resolve("stm")))  # as recipe.json stores it
    assert publishing._describe_data({"data": "default", "noise": resolved}) == "data=default, noise=stm"
    custom = [{**resolved[0], "p": 0.123}]
    assert publishing._describe_data({"data": "default", "noise": custom}) == "data=default, noise=custom list"


def _stm_zoo_layers(path: Path) -> set[str]:
    import re
    import zipfile

    config = zipfile.ZipFile(path).read("config.json").decode()
    return set(re.findall(r'"registered_name": "stm_zoo>(\w+)"', config))


def test_readme_says_what_loading_each_shipped_model_needs():
    readme = (REPO / "README.md").read_text()
    needs = readme[readme.index("What loading needs:"):].split("\n\n")[0]
    for item in weights.read_manifest(SHIPPED_MANIFEST)["models"]:
        used = _stm_zoo_layers(SHIPPED_MANIFEST.parent / item["file"])
        name = f"`{item['name']}`"
        assert name in needs, item["name"]
        if not used:
            assert name in needs.split("load with Keras alone")[0], item["name"]
        for layer in used:
            assert f"`{layer}`" in needs, (item["name"], layer)


def test_models_of_built_in_layers_load_with_keras_alone(tmp_path):
    import os
    import subprocess
    import sys

    plain = [SHIPPED_MANIFEST.parent / item["file"] for item in weights.read_manifest(SHIPPED_MANIFEST)["models"]
             if not _stm_zoo_layers(SHIPPED_MANIFEST.parent / item["file"])]
    assert plain
    code = ("import sys, keras\nfor p in sys.argv[1:]:\n    keras.saving.load_model(p, safe_mode=True)\n"
            "assert 'stm_zoo' not in sys.modules\nprint('ok')")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code, *map(str, plain)], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_build_pretrained_is_the_published_model(tiny_model, tmp_path, monkeypatch):
    model, path = tiny_model
    manifest = _write_manifest(tmp_path / "shipped", [_entry("tiny", path)])
    shutil.copy(path, tmp_path / "shipped" / "tiny.keras")
    monkeypatch.setenv("STM_ZOO_WEIGHTS_DIR", str(tmp_path / "shipped"))
    assert models.pretrained("autoencoder_original") == ["tiny"] and models.pretrained("dncnn") == []
    assert _same_weights(models.build("autoencoder_original", weights="pretrained"), model)
    with pytest.raises(WeightsError, match="no pretrained weights for dncnn"):
        models.build("dncnn", weights="pretrained")
