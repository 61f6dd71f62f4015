from pathlib import Path

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


def _texture(h=64, w=64, seed=0):
    """A smooth, non-constant test image in [0.2, 0.8]."""
    y, x = np.mgrid[0:h, 0:w]
    z = 0.5 + 0.15 * np.sin(x / 3.0 + seed) * np.cos(y / 5.0) + 0.1 * np.sin((x + y) / 7.0)
    return tf.constant(z[..., None], tf.float32)


def test_line_offsets_are_constant_along_each_row():
    image = _texture()
    out = noise.line_offsets(image, tf.constant([1, 2]), sigma=0.05).numpy()
    shift = (out - image.numpy())[..., 0]
    assert np.abs(shift - shift[:, :1]).max() < 1e-6  # one level per row
    assert abs(shift[:, 0].std() - 0.05) < 0.01  # standard deviation `sigma` across rows


def test_line_offsets_drift_like_1_over_f():
    def lag1(exponent):
        rows = [noise.line_offsets(_img(512, 4), tf.constant([i, 3]), sigma=0.05, exponent=exponent).numpy()[:, 0, 0]
                for i in range(8)]
        return np.mean([np.corrcoef(r[:-1], r[1:])[0, 1] for r in rows])

    assert abs(lag1(0.0)) < 0.15  # independent lines
    assert lag1(2.0) > 0.8  # random-walk drift: neighbouring lines alike


def test_scars_are_short_runs_of_a_few_lines():
    w = 64
    for i in range(20):
        out = noise.scars(_img(64, w), tf.constant([i, 5]), count=1, rows=(1, 3), length=(0.25, 0.5),
                          strength=(0.1, 0.3)).numpy()[..., 0]
        changed = out != 0.5
        rows = np.flatnonzero(changed.any(axis=1))
        assert 1 <= len(rows) <= 3 and np.all(np.diff(rows) == 1)  # ≤ 3 consecutive lines
        for r in rows:
            cols = np.flatnonzero(changed[r])
            assert np.all(np.diff(cols) == 1)  # one contiguous segment …
            assert 0.25 * w <= len(cols) <= 0.5 * w + 1  # … at least `length` long
        shift = out[changed] - 0.5
        assert np.all(np.abs(shift) >= 0.1 - 1e-6) and (np.all(shift > 0) or np.all(shift < 0))


def test_tip_change_only_below_its_row():
    image = _texture()
    for i in range(5):
        out = noise.tip_change(image, tf.constant([i, 1]), row=0.5, offset=(0.05, 0.1), blur=(1.0, 2.0)).numpy()
        np.testing.assert_array_equal(out[:32], image.numpy()[:32])  # rows above the change untouched
        assert np.abs(out[32:] - image.numpy()[32:]).mean() > 0.03


def test_creep_shifts_the_first_lines_and_decays():
    image = _texture()
    starts = set()
    for i in range(8):
        out = noise.creep(image, tf.constant([i, 4]), offset=(0.1, 0.3), lines=(2.0, 4.0), outliers=0).numpy()
        shift = (out - image.numpy())[..., 0]
        assert np.abs(shift - shift[:, :1]).max() < 1e-6  # one level per line
        levels = np.abs(shift[:, 0])
        start = "top" if levels[0] > levels[-1] else "bottom"
        levels = levels if start == "top" else levels[::-1]
        assert 0.1 - 1e-6 <= levels[0] <= 0.3 and np.all(np.diff(levels) <= 1e-7) and levels[-1] < 1e-6
        starts.add(start)
        lines = np.abs(noise.creep(image, tf.constant([i, 4]), offset=0.0, outliers=2, outlier_offset=(0.2, 0.4))
                       .numpy() - image.numpy())[..., 0].max(axis=1)
        lines = lines if start == "top" else lines[::-1]  # same seed, same end
        assert np.all((lines[:2] >= 0.2 - 1e-6) & (lines[:2] <= 0.4)) and lines[2:].max() < 1e-6
    assert starts == {"top", "bottom"}  # up and down scans


def test_transient_jumps_at_a_line_and_relaxes_in_the_scan_direction():
    directions = set()
    for i in range(8):
        shift = noise.transient(tf.zeros([128, 32, 1]), tf.constant([i, 6]), count=1, offset=(0.2, 0.4),
                                lines=10.0).numpy()[..., 0]
        assert np.abs(shift - shift[:, :1]).max() < 1e-7  # one level per line
        rows = shift[:, 0]
        jump = int(np.argmax(np.abs(np.diff(rows))))
        down = abs(rows[jump + 1]) > abs(rows[jump])
        directions.add("down" if down else "up")
        before, levels = (rows[:jump + 1], rows[jump + 1:]) if down else (rows[jump + 1:], rows[:jump + 1][::-1])
        assert np.all(before == 0) and 0.2 - 1e-6 <= abs(levels[0]) <= 0.4
        after = levels[:30] / levels[0]
        np.testing.assert_allclose(after, np.exp(-np.arange(after.size) / 10.0), rtol=1e-4)
    assert directions == {"down", "up"}


def test_transient_count_sets_the_number_of_jumps():
    rows = noise.transient(tf.zeros([256, 8, 1]), tf.constant([1, 1]), count=3, offset=0.5,
                           lines=2.0).numpy()[:, 0, 0]
    jumps = np.abs(np.diff(rows)) > 0.3
    assert 1 <= jumps.sum() <= 3  # three jumps, unless two fall on one line
    assert np.all(noise.transient(tf.zeros([64, 8, 1]), tf.constant([1, 1]), count=0).numpy() == 0)


def test_periodic_noise_is_a_peak_in_the_spectrum():
    out = noise.periodic(_img(64, 64), tf.constant([4, 4]), amplitude=0.05, cycles=8.0, harmonic=0.0).numpy()[..., 0]
    spectrum = np.abs(np.fft.rfft(out - out.mean(), axis=1)).mean(axis=0)
    assert np.argmax(spectrum) == 8 and spectrum[8] > 10 * np.delete(spectrum, 8).max()
    assert abs(out.std() - 0.05 / np.sqrt(2)) < 0.005


def test_salt_and_pepper_fraction():
    out = noise.salt_pepper(_img(256, 256), tf.constant([8, 9]), fraction=0.1, salt=0.25).numpy()
    hit = (out == 0.0) | (out == 1.0)
    assert abs(hit.mean() - 0.1) < 0.01
    assert abs((out == 1.0).sum() / hit.sum() - 0.25) < 0.05
    assert (out[~hit] == 0.5).all()


def test_gaussian_blur_smooths():
    white = tf.random.stateless_uniform([64, 64, 1], [1, 1])
    out = noise.gaussian_blur(white, tf.constant([0, 0]), sigma=1.5).numpy()
    assert out.shape == (64, 64, 1)
    assert out.std() < 0.4 * white.numpy().std()
    assert abs(out.mean() - white.numpy().mean()) < 0.01


def test_flicker_is_1_over_f_along_the_fast_axis():
    out = noise.flicker(_img(128, 256), tf.constant([2, 2]), sigma=0.03, exponent=1.0).numpy()[..., 0] - 0.5
    assert abs(out.std() - 0.03) < 0.003
    power = (np.abs(np.fft.rfft(out, axis=1)) ** 2).mean(axis=0)
    # 1/f: the power at f=4 is ~ 16x the power at f=64 (white noise would give 1x)
    assert 6 < power[3:6].mean() / power[60:69].mean() < 40


@pytest.mark.parametrize("name", ["stripes", "line_offsets", "scars", "tip_change", "transient", "creep", "periodic", "flicker", "gaussian",
                                  "salt_pepper", "gaussian_blur", "shot", "speckle", "pink"])
def test_each_noise_is_deterministic_under_its_seed(name):
    fn = getattr(noise, name)
    a = fn(_texture(), tf.constant([3, 1])).numpy()
    b = fn(_texture(), tf.constant([3, 1])).numpy()
    c = fn(_texture(), tf.constant([3, 2])).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_shot_noise_variance_grows_with_the_signal():
    """Poisson counts: std sqrt(level / counts), mean unchanged."""
    for level in (0.2, 0.8):
        out = noise.shot(_img(128, 128, level), tf.constant([1, 5]), counts=100.0).numpy()
        assert abs(out.mean() - level) < 0.005
        assert abs(out.std() - np.sqrt(level / 100.0)) < 0.004


def test_speckle_is_multiplicative():
    stds = [(noise.speckle(_img(128, 128, level), tf.constant([2, 5]), sigma=0.2).numpy() - level).std()
            for level in (0.25, 0.75)]
    assert stds[0] == pytest.approx(0.05, rel=0.05) and stds[1] == pytest.approx(0.15, rel=0.05)


def test_pink_noise_is_isotropic_1_over_f():
    out = noise.pink(_img(256, 256), tf.constant([4, 4]), sigma=0.04, exponent=1.0).numpy()[..., 0] - 0.5
    assert abs(out.std() - 0.04) < 0.002
    power = np.abs(np.fft.fft2(out)) ** 2
    # 1/f in 2-D: rows and columns alike, the power at |f| = 4 bins ~ 16x that at |f| = 64
    assert 6 < power[0, 3:6].mean() / power[0, 60:69].mean() < 40
    assert 6 < power[3:6, 0].mean() / power[60:69, 0].mean() < 40


def test_quantize_leaves_2_to_the_bits_levels():
    ramp = tf.reshape(tf.linspace(0.0, 1.0, 64 * 64), [64, 64, 1])
    out = noise.quantize(ramp, tf.constant([1, 1]), bits=3).numpy()
    np.testing.assert_allclose(np.unique(out), np.arange(8) / 7, atol=1e-6)
    assert np.abs(out - ramp.numpy()).max() <= 0.5 / 7 + 1e-6


def test_maed_preset_is_exactly_its_three_noises():
    assert [s["type"] for s in noise.resolve("maed")] == ["line_offsets", "gaussian", "periodic"]
    test_only = {"shot", "speckle", "pink", "quantize", "transient"}  # bench/other_noise.py's noise
    assert set(s["type"] for s in noise.resolve("wide_norm")) == set(noise.names()) - test_only
    assert set(s["type"] for s in noise.resolve("stm")) == (set(noise.names()) - test_only
                                                            - {"creep", "attenuate", "renormalize"})


def test_wide_more_adds_every_noise_but_speckle_before_the_pair_ops_and_draws_each_now_and_then():
    wide, more = noise.resolve("wide"), noise.resolve("wide_more")
    assert more[:len(wide)] == wide and more[-2:] == noise.resolve("wide_norm")[-2:]
    assert set(s["type"] for s in more) == set(noise.names()) - {"speckle", "transient"}
    assert all(0 < s["p"] <= 0.1 for s in more[len(wide):-2])
    image = tf.fill([64, 64, 1], 0.5)
    changed = [not np.allclose(*noise.apply_pair(image, tf.constant([i, 9]), more[len(wide):-2])) for i in range(40)]
    assert 0 < sum(changed) < 30


def test_wide_creep_is_wide_norm_plus_a_heavy_creep_before_the_pair_ops():
    wide_norm, heavy = noise.resolve("wide_norm"), noise.resolve("wide_creep")
    extra = heavy[len(noise.resolve("wide"))]
    assert heavy[:-3] + heavy[-2:] == wide_norm and extra["type"] == "creep" and extra["offset"][1] > 1
    params = {k: v for k, v in extra.items() if k not in ("type", "p")}
    shifted = noise.creep(tf.zeros([96, 64, 1]), tf.constant([0, 1]), **{**params, "outliers": 0, "lines": 20.0})
    rows = shifted.numpy()[:, :, 0].mean(axis=1)  # unclipped: the creep alone
    start = rows if abs(rows[0]) > abs(rows[-1]) else rows[::-1]  # an up or a down scan
    assert 0.5 <= abs(start[0]) <= 4 and abs(start[60]) < 0.1 * abs(start[0])


@pytest.mark.parametrize("preset", ["stm", "maed", "thesis"])
def test_presets_compose_inside_tf_data(preset):
    spec = noise.resolve(preset)
    ds = tf.data.Dataset.random(seed=3).batch(2).take(6)
    ds = ds.map(lambda s: noise.apply(_texture(48, 40), s, spec))
    first = np.stack([x.numpy() for x in ds])
    second = np.stack([x.numpy() for x in ds])
    np.testing.assert_array_equal(first, second)  # deterministic under the dataset's seed
    assert first.shape == (6, 48, 40, 1) and first.min() >= 0 and first.max() <= 1
    assert not np.array_equal(first[0], first[1])  # each element its own draw
    assert np.abs(first - _texture(48, 40).numpy()).mean() > 1e-3


def test_composition_applies_noises_in_order():
    # line offsets then scars: the result differs from the clean image by row offsets plus partial-row shifts
    spec = [{"type": "line_offsets", "sigma": 0.05}, {"type": "scars", "count": 2, "strength": 0.2}]
    out = noise.apply(_img(64, 64), tf.constant([7, 7]), spec).numpy()[..., 0] - 0.5
    row_levels = np.median(out, axis=1)
    residual = out - row_levels[:, None]
    assert row_levels.std() > 0.02
    rows_with_scars = np.flatnonzero(np.abs(residual).max(axis=1) > 0.1)
    assert 1 <= len(rows_with_scars) <= 2 * 3


def test_noise_preview_cli_writes_png(tmp_path):
    from typer.testing import CliRunner

    from stm_zoo.cli import app

    recipe = str(Path(__file__).resolve().parents[1] / "recipes" / "autoencoder.py")
    out = tmp_path / "preview.png"
    args = ["noise-preview", recipe, "-o", str(out), "--n", "3", "--set", "patch_size=32",
            "--set", "noise='stm'"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    from PIL import Image

    with Image.open(out) as png:
        assert png.format == "PNG" and png.size[0] > 100
    assert [p.name for p in tmp_path.iterdir()] == ["preview.png"]  # no temporary file left

    result = CliRunner().invoke(app, ["noise-preview", recipe, "-o", str(tmp_path / "x.jpg")])
    assert result.exit_code == 2 and "name it *.png" in result.output


def test_attenuate_scales_the_noise_drawn_so_far():
    spec = [{"type": "gaussian", "p": 1.0, "sigma": 0.05}, {"type": "attenuate", "p": 1.0, "keep": 0.2}]
    full = noise.apply(_img(128, 128), tf.constant([3, 3]), spec[:1]).numpy() - 0.5
    light = noise.apply(_img(128, 128), tf.constant([3, 3]), spec).numpy() - 0.5
    assert abs(light.std() - 0.2 * 0.05) < 0.002
    assert full.std() > 0.045


def test_renormalize_maps_noisy_and_clean_by_the_noisy_range_like_level_prepare():
    from stm_zoo import level

    clean = tf.constant(np.tile(np.linspace(0.2, 0.8, 64, dtype=np.float32), (64, 1))[..., None])
    spec = [{"type": "creep", "p": 1.0, "offset": 0.5, "lines": 10.0, "outliers": 1, "outlier_offset": 1.0},
            {"type": "renormalize", "p": 1.0}]
    noisy, target = noise.apply_pair(clean, tf.constant([1, 2]), spec)
    raw = noise.creep(clean, noise._seeds(noise._seeds(tf.constant([1, 2]), 2)[0], 2)[1], offset=0.5, lines=10.0,
                      outliers=1, outlier_offset=1.0).numpy()[..., 0]
    expected, norm = level.normalize(raw)
    np.testing.assert_allclose(noisy.numpy()[..., 0], expected, atol=0.02)
    np.testing.assert_allclose(target.numpy()[..., 0], np.clip(norm.apply(clean.numpy()[..., 0]), 0, 1), atol=0.02)
    assert np.ptp(target.numpy()) < 0.9  # the outlier line and the creep stretched the range: contrast shrinks
