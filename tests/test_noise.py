import numpy as np
import pytest
import tensorflow as tf

from stm_zoo import noise


def _img(h=64, w=48, value=0.5):
    return tf.fill([h, w, 1], value)


def test_stripes_change_only_whole_rows_inside_bands():
    image = _img()
    out = noise.stripes(image, tf.constant([3, 4]), num_stripes=(2, 5), width=(1, 3)).numpy()[..., 0]
    changed = out != 0.5
    rows = changed.any(axis=1)
    assert rows.any()
    # a row is either entirely replaced (random values) or untouched
    for r in np.flatnonzero(rows):
        assert changed[r].mean() > 0.9
    assert (out[~rows] == 0.5).all()


def test_stripe_fraction_matches_parameters():
    h, n, width = 256, 4, 2
    fractions = []
    for i in range(200):
        out = noise.stripes(_img(h, 32), tf.constant([i, 7]), num_stripes=n, width=width).numpy()[..., 0]
        fractions.append((out != 0.5).any(axis=1).mean())
    # n bands of `width` rows at uniform starts: expected coverage ≈ 1 - (1 - width/h)^n (overlaps allowed)
    expected = 1 - (1 - width / h) ** n
    assert abs(np.mean(fractions) - expected) < 0.15 * expected
    assert max(fractions) <= n * width / h + 1e-9


def test_gaussian_sigma():
    out = noise.gaussian(_img(128, 128), tf.constant([1, 2]), sigma=0.05).numpy()
    assert abs(out.std() - 0.05) < 0.005


def test_deterministic_under_seed_and_different_between_seeds():
    spec = noise.resolve("thesis")
    a = noise.apply(_img(), tf.constant([5, 6]), spec).numpy()
    b = noise.apply(_img(), tf.constant([5, 6]), spec).numpy()
    c = noise.apply(_img(), tf.constant([5, 7]), spec).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1


def test_probability_zero_leaves_image_untouched():
    spec = [{"type": "gaussian", "p": 0.0, "sigma": 0.1}]
    out = noise.apply(_img(), tf.constant([1, 1]), spec).numpy()
    assert (out == 0.5).all()


@pytest.mark.parametrize(
    "spec, message",
    [("nope", "unknown noise preset 'nope'"), ([{"type": "blur"}], "unknown noise type 'blur'"),
     ([{"type": "gaussian", "sigmaa": 1}], "has no parameter 'sigmaa'")],
)
def test_bad_specs_are_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        noise.resolve(spec)
