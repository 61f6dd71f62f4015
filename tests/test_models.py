"""Rules every zoo model keeps: shapes, parameter counts, .keras round trip in a fresh process, other backends."""

import json

import numpy as np
import pytest

import stm_zoo.models as zoo
from conftest import run_python

# Smallest sensible configuration of each model for tests: (kwargs, input size H=W).
TINY = {
    "autoencoder_thesis": ({}, 32),
    "autoencoder_original": ({}, 32),
    "hcanet": (dict(dim=8, num_blocks=(1, 1, 1), num_refinement_blocks=0), 32),
    "swinir": (dict(embed_dim=12, depths=(2,), num_heads=(2,)), 32),
    "pda_net": (dict(filters=4, levels=3), 32),
    "dncnn": ({}, 32),
    "ridnet": ({}, 32),
    "cbdnet": ({}, 32),
    "pmrid": ({}, 32),
    "maed_cnn": (dict(backbone="B0", decoder_filters=[32, 16, 16, 8, 8]), 64),
    "linespec": (dict(filters=4, row_features=4), 32),
}

# Exact parameter counts at default kwargs, where the published design fixes them.
PARAMS = {
    "autoencoder_thesis": 28_353,
    "autoencoder_original": 12_193,
    "hcanet": 4_083_311,  # official HCANet.py at 1 band: 4,491,101 incl. inert depth taps of its 3-D kernels
    "swinir": 903_121,  # light config, denoising head, incl. 32,400 relative-position-bias entries
    "dncnn": 558_016,  # 556,096 trainable + 1,920 BN moving statistics
    "ridnet": 1_497_041,
    "cbdnet": 4_361_794,
    "pmrid": 1_031_041,
    "linespec": 416_508,  # 417,145 with line_steps=True
}


def tiny(name):
    return TINY.get(name, ({}, 32))


def test_every_model_has_a_tiny_config():
    assert set(zoo.names()) <= set(TINY), f"add to TINY: {set(zoo.names()) - set(TINY)}"


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_count(name):
    assert zoo.build(name).count_params() == PARAMS[name]


@pytest.mark.parametrize("name", zoo.names())
def test_output_shape_matches_input(name):
    kwargs, size = tiny(name)
    model = zoo.build(name, **kwargs)
    for h, w in [(size, size), (size, 2 * size), (size + 3, size + 5)]:  # any H×W, not only multiples
        x = np.random.default_rng(0).random((2, h, w, 1), dtype=np.float32)
        y = np.asarray(model.predict(x, verbose=0))
        assert y.shape == x.shape
        assert np.isfinite(y).all()


def test_registry_entries_are_described():
    for name in zoo.names():
        info = zoo.info(name)
        assert info.description and info.source, name


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        zoo.build("nope")


def test_keras_roundtrip_in_fresh_process(tmp_path):
    """Every model saved as .keras loads in a new process with plain keras.saving.load_model (safe mode)
    and predicts identically; models of built-in layers only load without importing stm_zoo."""
    cases = []
    for name in zoo.names():
        kwargs, size = tiny(name)
        model = zoo.build(name, **kwargs)
        x = np.random.default_rng(1).random((1, size, size, 1), dtype=np.float32)
        np.save(tmp_path / f"{name}.x.npy", x)
        np.save(tmp_path / f"{name}.y.npy", np.asarray(model.predict(x, verbose=0)))
        model.save(tmp_path / f"{name}.keras")
        custom = any(type(l).__module__.startswith("stm_zoo") for l in model._flatten_layers())
        cases.append((name, custom))
    cases.sort(key=lambda c: c[1])  # built-in-only models first, before anything imports stm_zoo
    code = f"""
import json, sys, numpy as np
cases = {cases!r}
import keras
for name, custom in cases:
    if custom:
        import stm_zoo.models
    m = keras.saving.load_model({str(tmp_path)!r} + f"/{{name}}.keras", safe_mode=True)
    x = np.load({str(tmp_path)!r} + f"/{{name}}.x.npy")
    y = np.load({str(tmp_path)!r} + f"/{{name}}.y.npy")
    np.testing.assert_allclose(np.asarray(m.predict(x, verbose=0)), y, rtol=1e-5, atol=1e-5, err_msg=name)
    print("ok", name, "stm_zoo imported" if "stm_zoo" in sys.modules else "plain keras")
"""
    out = run_python(code, env={"KERAS_BACKEND": "jax"}).stdout
    for name, custom in cases:
        assert f"ok {name} " + ("stm_zoo imported" if custom else "plain keras") in out, out


def test_models_run_on_tensorflow_backend():
    pytest.importorskip("tensorflow")
    code = f"""
import numpy as np, keras
assert keras.backend.backend() == "tensorflow"
import stm_zoo.models as zoo
tiny = {json.dumps({k: list(v) for k, v in TINY.items()})}
for name in zoo.names():
    kwargs, size = tiny.get(name, [{{}}, 32])
    m = zoo.build(name, **kwargs)
    y = m(np.zeros((1, size, size, 1), "float32"))
    assert tuple(y.shape) == (1, size, size, 1), (name, y.shape)
    print("ok", name)
"""
    out = run_python(code, env={"KERAS_BACKEND": "tensorflow"}).stdout
    assert out.count("ok ") == len(zoo.names()), out


def test_cli_models_lists_every_architecture_and_its_weights_without_building(monkeypatch):
    from typer.testing import CliRunner

    from stm_zoo import cli

    def no_build(*args, **kwargs):
        raise AssertionError("`stm-zoo models` built a model")

    monkeypatch.setattr(zoo, "build", no_build)
    result = CliRunner().invoke(cli.app, ["models"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line and not line.startswith(" ")}
    assert set(lines) == set(zoo.names())
    assert "dncnn" in lines["dncnn"].split()[1] and "no weights" in lines["swinir"]
