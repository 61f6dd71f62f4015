"""SwinIR windows and masks, HCANet attention layers, odd input sizes."""

import keras
import numpy as np
import pytest

import stm_zoo.models as zoo
from conftest import REPO
from stm_zoo.models.hcanet import HCANetChannelAttention, HCANetDepthwiseConv, HCANetLocalBranch, HCANetPixelShuffle
from stm_zoo.models.swinir import SwinWindowAttention, shifted_window_mask, window_partition, window_reverse
from test_models import TINY

RNG = np.random.default_rng(0)


def test_window_partition_and_reverse_round_trip():
    x = RNG.random((2, 16, 24, 3), dtype=np.float32)
    windows = np.asarray(window_partition(x, 8))
    assert windows.shape == (2 * 2 * 3, 64, 3)
    # row-major windows per image: index = batch * 6 + row_block * 3 + col_block
    np.testing.assert_array_equal(windows[1], x[0, 0:8, 8:16].reshape(64, 3))
    np.testing.assert_array_equal(windows[3], x[0, 8:16, 0:8].reshape(64, 3))
    np.testing.assert_array_equal(windows[6 + 5], x[1, 8:16, 16:24].reshape(64, 3))
    np.testing.assert_array_equal(np.asarray(window_reverse(windows, 8, 16, 24)), x)


def _wrapped(n, shift):
    """After rolling by -shift, which positions along an axis of length n came round from the other border."""
    return np.arange(n) >= n - shift


@pytest.mark.parametrize("h, w, ws, shift", [(8, 8, 4, 2), (8, 12, 4, 2), (16, 8, 8, 4)])
def test_shifted_window_mask_matches_brute_force(h, w, ws, shift):
    mask = np.asarray(shifted_window_mask(h, w, ws, shift))
    wrap_r, wrap_c = _wrapped(h, shift), _wrapped(w, shift)
    expected = []
    for r0 in range(0, h, ws):
        for c0 in range(0, w, ws):
            tokens = [(r, c) for r in range(r0, r0 + ws) for c in range(c0, c0 + ws)]
            same = [[wrap_r[a] == wrap_r[c] and wrap_c[b] == wrap_c[d] for (c, d) in tokens] for (a, b) in tokens]
            expected.append(np.where(same, 0.0, -100.0))
    np.testing.assert_array_equal(mask, np.stack(expected))
    assert (mask == -100).any() and (mask == 0).any()


@pytest.mark.parametrize("shift", [0, 2])
def test_window_attention_only_mixes_tokens_of_its_window(shift):
    """Perturb one token: exactly the tokens of its (shifted, masked) window change."""
    h = w = 8
    ws = 4
    layer = SwinWindowAttention(num_heads=2, window_size=ws, shift_size=shift)
    x = RNG.random((1, h, w, 4), dtype=np.float32)
    base = np.asarray(layer(x))
    rolled = lambda n: (np.arange(n) - shift) % n  # noqa: E731  position after rolling by -shift
    rr, rc = rolled(h), rolled(w)
    wrap_r, wrap_c = _wrapped(h, shift), _wrapped(w, shift)
    for p in [(0, 0), (7, 7), (3, 5), (6, 1), (1, 6)]:
        x2 = x.copy()
        x2[0, p[0], p[1]] += 1.0
        changed = np.abs(np.asarray(layer(x2)) - base).max(axis=-1)[0] > 1e-6
        expected = np.zeros((h, w), bool)
        for r in range(h):
            for c in range(w):
                same_window = rr[r] // ws == rr[p[0]] // ws and rc[c] // ws == rc[p[1]] // ws
                same_region = wrap_r[rr[r]] == wrap_r[rr[p[0]]] and wrap_c[rc[c]] == wrap_c[rc[p[1]]]
                expected[r, c] = same_window and same_region
        np.testing.assert_array_equal(changed, expected, err_msg=f"token {p}, shift {shift}")


def test_pixel_unshuffle_layout_and_inverse():
    x = RNG.random((1, 4, 6, 3), dtype=np.float32)
    down = np.asarray(HCANetPixelShuffle(down=True)(x))
    assert down.shape == (1, 2, 3, 12)
    # torch PixelUnshuffle order: out channel c*4 + i*2 + j at (y, x) = input (2y+i, 2x+j, c)
    assert down[0, 1, 2, 2 * 4 + 1 * 2 + 0] == x[0, 3, 4, 2]
    np.testing.assert_array_equal(np.asarray(HCANetPixelShuffle(down=False)(down)), x)


def test_hcanet_channel_attention_matches_numpy_reference():
    heads, c = 2, 6
    qkv = RNG.random((1, 3, 5, 3 * c), dtype=np.float32)
    got = np.asarray(HCANetChannelAttention(heads)(qkv))
    flat = qkv.reshape(15, 3 * c)
    q, k, v = flat[:, :c], flat[:, c:2 * c], flat[:, 2 * c:]
    out = np.zeros((15, c), np.float32)
    for hd in range(heads):
        sl = slice(hd * c // heads, (hd + 1) * c // heads)
        qh, kh, vh = q[:, sl].T, k[:, sl].T, v[:, sl].T  # (c/heads, HW)
        qh = qh / np.linalg.norm(qh, axis=1, keepdims=True)
        kh = kh / np.linalg.norm(kh, axis=1, keepdims=True)
        a = np.exp(qh @ kh.T)
        out[:, sl] = ((a / a.sum(1, keepdims=True)) @ vh).T  # temperature starts at 1
    np.testing.assert_allclose(got, out.reshape(1, 3, 5, c), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_hcanet_depthwise_conv_equals_keras_depthwise(dilation):
    x = RNG.random((1, 11, 13, 5), dtype=np.float32)
    ours = HCANetDepthwiseConv(dilation)
    ours.build(x.shape)
    ref = keras.layers.DepthwiseConv2D(3, padding="same", dilation_rate=dilation, use_bias=False)
    ref.build(x.shape)
    ref.set_weights(ours.get_weights())
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(ref(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("heads, c", [(1, 4), (2, 8)])
def test_hcanet_local_branch_equals_fc_then_grouped_conv(heads, c):
    """The folded fast path equals the paper's fc over q/k/v head groups followed by a keras grouped conv."""
    qkv = RNG.random((1, 6, 7, 3 * c), dtype=np.float32)
    layer = HCANetLocalBranch(heads)
    layer.build(qkv.shape)
    layer.set_weights([RNG.standard_normal(np.shape(w)).astype("float32") for w in layer.get_weights()])
    fc_kernel, fc_bias, conv_kernel, conv_bias = layer.get_weights()
    groups = c // heads
    mixed = np.einsum("bhwid,ij->bhwdj", qkv.reshape(1, 6, 7, 3 * heads, groups), fc_kernel) + fc_bias
    grouped = keras.layers.Conv2D(c, 3, padding="same", groups=groups)
    grouped.build((1, 6, 7, 9 * groups))
    grouped.set_weights([conv_kernel, conv_bias])
    expected = np.asarray(grouped(mixed.reshape(1, 6, 7, 9 * groups)))
    np.testing.assert_allclose(np.asarray(layer(qkv)), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, last_conv", [("hcanet", "output"), ("swinir", "conv_last"), ("pda_net", "correction")])
def test_odd_sizes_round_trip_through_padding(name, last_conv):
    """37x53 comes back 37x53; with the last conv zeroed the model is the identity, so pad/crop are aligned."""
    kwargs = dict(TINY[name][0], num_blocks=(1, 0, 0)) if name == "hcanet" else TINY[name][0]  # pad/crop only
    model = zoo.build(name, **kwargs)
    x = RNG.random((1, 37, 53, 1), dtype=np.float32)
    y = np.asarray(model.predict_on_batch(x))
    assert y.shape == x.shape and np.isfinite(y).all()
    assert np.abs(y - x).max() > 1e-4  # random init does change the image
    conv = model.get_layer(last_conv)
    conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    np.testing.assert_allclose(np.asarray(model.predict_on_batch(x)), x, atol=1e-6)


TINY_RECIPE_KWARGS = {
    "hcanet": ["model_kwargs.dim=8", "model_kwargs.num_blocks=(1, 0, 0)", "model_kwargs.num_refinement_blocks=0"],
    "swinir": ["model_kwargs.embed_dim=12", "model_kwargs.depths=(2,)", "model_kwargs.num_heads=(2,)"],
}


@pytest.mark.parametrize("name", sorted(TINY_RECIPE_KWARGS))
def test_recipe_trains_a_few_steps(tmp_path, name):
    from stm_zoo import training

    tiny = ["patch_size=32", "batch_size=2", "epochs=1", "steps_per_epoch=2", "validation_steps=1"]
    recipe = REPO / "recipes" / f"{name}.py"
    config = training.load_recipe(recipe, tiny + TINY_RECIPE_KWARGS[name] + [f"out={str(tmp_path)!r}"])
    history = training.fit(config, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    saved = keras.saving.load_model(tmp_path / "model.keras")
    assert saved.count_params() == zoo.build(name, **config["model_kwargs"]).count_params()
