"""LineSpec's own layers and loss (issue 17): what each branch computes, independent of training."""

import keras
import numpy as np
import pytest
import scipy.ndimage

import stm_zoo.models as zoo
import stm_zoo.models.linespec as linespec_module
from stm_zoo import metrics
from stm_zoo.training import losses
from stm_zoo.models.linespec import (_BLEND_LINE_KX, _JITTER_BACKGROUND_BINS, _JITTER_PERIODIC_SNR, _MIN_JUMP,
                                     LatticeRestore, LineJitterFilter, NoiseLevel,
                                     RowAttentionPool, RowProfile, SpectralBlend, SpectralGate, SubtractRows,
                                     _smooth_spectrum)


def test_row_pool_with_equal_scores_is_the_row_mean():
    x = np.random.default_rng(0).random((2, 5, 7, 3)).astype("float32")
    pooled = np.asarray(RowAttentionPool()([x, np.zeros((2, 5, 7, 1), "float32")]))
    np.testing.assert_allclose(pooled, x.mean(axis=2, keepdims=True), rtol=1e-5, atol=1e-6)


def test_row_pool_ignores_pixels_with_very_low_scores():
    x = np.ones((1, 2, 4, 1), "float32")
    x[0, :, 0] = 100.0  # a scar on the first pixel of each row
    scores = np.zeros((1, 2, 4, 1), "float32")
    scores[0, :, 0] = -50.0
    pooled = np.asarray(RowAttentionPool()([x, scores]))
    np.testing.assert_allclose(pooled, 1.0, atol=1e-5)


def test_subtract_rows_removes_one_offset_per_line():
    image = np.zeros((1, 3, 4, 1), "float32")
    offsets = np.array([0.1, -0.2, 0.3], "float32").reshape(1, 3, 1, 1)
    out = np.asarray(SubtractRows()([image + offsets, offsets]))
    np.testing.assert_allclose(out, 0.0, atol=1e-7)


def test_row_profile_adds_up_the_steps_with_zero_mean():
    steps = np.array([0.0, 0.2, -0.1, 0.0, 0.5], "float32").reshape(1, 5, 1, 1)
    profile = np.asarray(RowProfile()(steps))[0, :, 0, 0]
    np.testing.assert_allclose(profile, np.cumsum(steps.ravel()) - np.cumsum(steps.ravel()).mean(), atol=1e-6)


def test_line_steps_follow_a_terrace_that_row_means_misjudge():
    """With equal attention the step branch is the mean difference to the line above, summed down the scan: an
    offset step under a terrace edge that crosses the lines is found up to the edge's few pixels."""
    model = zoo.build("linespec", filters=4, row_features=4, spectral_branch=False, line_steps=True)
    for layer in model.layers:
        if layer.name in ("step_rows", "step_step"):
            kernel, bias = layer.get_weights()
            kernel[:] = 0.0
            if layer.name == "step_step":
                kernel[0, 0, 0, 0] = 1.0  # step = the pooled difference (first pooled channel)
            layer.set_weights([kernel, bias])
        if layer.name == "step_c1":
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])  # equal scores
    h, w = 48, 64
    terrace = (np.arange(w)[None, :] > 10 + np.arange(h)[:, None]).astype("float32") * 0.3  # diagonal step edge
    offsets = np.where(np.arange(h) >= 24, 0.2, 0.0).astype("float32")[:, None]
    pooled = model.get_layer("step_profile").output
    import keras

    profile = np.asarray(keras.Model(model.inputs, pooled)((terrace + offsets)[None, :, :, None]))[0, :, 0, 0]
    jump = profile[24] - profile[23]
    assert jump == pytest.approx(0.2, abs=0.3 / w + 1e-5)  # one pixel of the edge moves per line
    assert np.abs(np.diff(profile)[np.arange(h - 1) != 23]).max() <= 0.3 / w + 1e-5


def _gate(bias: float) -> SpectralGate:
    gate = SpectralGate()
    gate.build((None, None, None, 1))
    gate.w2.assign(np.zeros_like(gate.w2.numpy()))
    gate.b2.assign(np.array([bias], "float32"))
    return gate


def _jitter_reference(image, sigma, jump=0.0):
    steps = np.median(np.diff(image, axis=0), axis=1)
    deviation = np.abs(steps - np.median(steps))
    threshold = max(jump * (1.4826 * np.median(deviation) + 1e-12), _MIN_JUMP)
    jumps = np.where(deviation > threshold, steps, 0.0) if jump else 0 * steps
    offsets, jump_offsets = (np.concatenate([[0.0], np.cumsum(s)]) for s in (steps - jumps, jumps))
    fast = offsets - scipy.ndimage.gaussian_filter1d(offsets, sigma, mode="nearest", truncate=4.0)
    spectrum = np.fft.rfft(fast)
    power = np.abs(spectrum) ** 2
    peak = power > _JITTER_PERIODIC_SNR * scipy.ndimage.median_filter(power, _JITTER_BACKGROUND_BINS, mode="nearest")
    peak[0] = False
    peak = peak | np.append(peak[1:], False) | np.insert(peak[:-1], 0, False)
    peak[0] = False
    correction = jump_offsets + fast - np.fft.irfft(np.where(peak, spectrum, 0), len(fast))
    return image - (correction - correction.mean())[:, None]


@pytest.mark.parametrize("height, jump", [(5, 0.0), (64, 0.0), (64, 3.0)])  # shorter and longer than the radius
def test_line_jitter_filter_subtracts_the_fast_part_of_median_difference_offsets(height, jump):
    image = np.random.default_rng(1).random((height, 48))
    out = np.asarray(LineJitterFilter(3.0, jump)(image[None, :, :, None].astype("float32")))[0, :, :, 0]
    np.testing.assert_allclose(out, _jitter_reference(image, 3.0, jump), atol=1e-5)


@pytest.mark.parametrize("width", [1, 2, 7, 48])
def test_row_median_is_each_rows_median_with_ties_and_quantized_values(width):
    rng = np.random.default_rng(width)
    rows = [rng.normal(0, 1, width), np.round(rng.random(width) * 4) / 4, np.full(width, 0.25),
            np.where(np.arange(width) < width // 2 + 1, -3e-7, rng.random(width))]
    x = np.stack(rows)[None, :, :, None].astype("float32")
    np.testing.assert_array_equal(np.asarray(linespec_module._row_median(x))[0, :, 0, 0],
                                  np.median(x[0, :, :, 0], axis=1).astype("float32"))


def test_line_jitter_filter_removes_a_tip_change_jump_whole_and_keeps_the_level():
    rows, cols = 80, 64
    texture = np.random.default_rng(3).normal(0, 0.01, (rows, cols))
    jitter = np.random.default_rng(4).normal(0, 0.002, (rows, 1))
    shifted = np.where(np.arange(rows)[:, None] >= 30, 0.2, 0.0)  # from line 30 on, a different tip
    image = (texture + jitter + shifted)[None, :, :, None].astype("float32")
    out = np.asarray(LineJitterFilter(3.0, jump=10.0)(image))[0, :, :, 0]
    line_levels = np.median(out - texture, axis=1)
    assert np.ptp(line_levels) < 0.02  # the 0.2 jump is gone, not spread over ±3 σ of lines
    assert abs(out.mean() - image.mean()) < 1e-4
    smoothed_only = np.asarray(LineJitterFilter(3.0)(image))[0, :, :, 0]
    assert np.ptp(np.median(smoothed_only - texture, axis=1)) > 0.1



def test_line_jitter_filter_keeps_the_small_steps_of_a_quantized_slope():
    rows, cols = 80, 64
    staircase = 0.01 * (np.arange(rows)[:, None] // 8)  # a slope digitized in steps of 0.01: the steps' spread is 0
    image = (staircase + np.zeros((1, cols)))[None, :, :, None].astype("float32")
    out = np.asarray(LineJitterFilter(3.0, jump=10.0)(image))[0, :, :, 0]
    assert np.ptp(np.median(out, axis=1)) > 0.08  # the slope stays (each step a "jump" would flatten it)
    assert np.abs(out - image[0, :, :, 0]).max() < 0.01


def test_line_jitter_filter_keeps_the_rows_of_a_lattice(monkeypatch):
    """Atom rows along the scan lines give the median line steps a period; without the periodic part kept, the
    filter takes it for jitter and stripes the lattice."""
    lattice = (0.5 + _hexagonal(period=4.3, degrees=30.0))[None, :, :, None].astype("float32")
    jitter = np.random.default_rng(4).normal(0, 0.01, (1, lattice.shape[1], 1, 1)).astype("float32")

    def line_errors():
        out = np.asarray(LineJitterFilter(3.0, 10.0)(np.concatenate([lattice, lattice + jitter])))
        return [np.std(np.median(out[i] - lattice[0], axis=1)) for i in (0, 1)]

    kept = line_errors()
    monkeypatch.setattr(linespec_module, "_JITTER_PERIODIC_SNR", float("inf"))
    taken = line_errors()
    assert kept[0] < 0.4 * taken[0] and kept[1] < 0.4 * taken[1]


def test_line_jitter_filter_removes_a_jumped_line_and_keeps_a_slow_drift():
    rows, cols = 80, 64
    texture = np.random.default_rng(2).normal(0, 0.01, (rows, cols))
    drift = 0.002 * np.arange(rows)[:, None]
    jumped = np.zeros((rows, 1))
    jumped[40] = 0.1
    out = np.asarray(LineJitterFilter(3.0)((texture + drift + jumped)[None, :, :, None].astype("float32")))[0, :, :, 0]
    line_steps = np.abs(np.diff(np.median(out - texture - drift, axis=1)))
    assert line_steps.max() < 0.2 * 0.1  # the jump of 0.1 is spread over ~3 σ of lines
    np.testing.assert_allclose((out - texture)[20:30], drift[20:30] + np.zeros((10, cols)), atol=0.005)


def _lattice_and_noise(rows=96, cols=112, period=4.3, sigma=0.05, seed=6):
    yy, xx = np.mgrid[:rows, :cols]
    lattice = 0.1 * (np.cos(2 * np.pi * xx / period) + np.cos(2 * np.pi * (0.5 * xx + 0.87 * yy) / period))
    return lattice, np.random.default_rng(seed).normal(0, sigma, (rows, cols))


def _restore(noisy, denoised, **kwargs):
    batch = [a[None, :, :, None].astype("float32") for a in (noisy, denoised)]
    return np.asarray(LatticeRestore(**kwargs)(batch))[0, :, :, 0].astype(np.float64)


def test_lattice_restore_brings_a_damped_lattice_back_to_the_noisy_images_amplitude():
    lattice, noise = _lattice_and_noise()
    noisy = 0.5 + lattice + noise
    damped = 0.5 + 0.7 * lattice
    assert metrics.lattice_fidelity(noisy, damped).amplitude_ratio < 0.75
    restored = _restore(noisy, damped, min_snr=8.0)
    assert metrics.lattice_fidelity(noisy, restored).amplitude_ratio > 0.9
    assert np.std(restored - 0.5 - lattice) < 0.2 * np.std(noise)  # the noise floor stays out


def test_lattice_restore_leaves_what_the_model_removed_and_pick_up_streaks_alone():
    lattice, noise = _lattice_and_noise()
    mostly_removed = 0.5 + 0.3 * lattice
    np.testing.assert_allclose(_restore(0.5 + lattice + noise, mostly_removed, min_kept=0.6), mostly_removed,
                               atol=1e-5)
    rows, cols = noise.shape  # pick-up: a fixed frequency along each line, its phase random from line to line
    phases = np.random.default_rng(7).uniform(0, 2 * np.pi, (rows, 1))
    pick_up = 0.1 * np.sin(2 * np.pi * 9 * np.arange(cols)[None, :] / cols + phases)
    np.testing.assert_allclose(_restore(0.5 + pick_up + noise, 0.5 + 0.7 * pick_up), 0.5 + 0.7 * pick_up, atol=1e-5)


def _hexagonal(rows=96, cols=112, period=4.3, amplitude=0.07, degrees=10.0):
    yy, xx = np.mgrid[:rows, :cols]
    angles = np.radians(degrees + np.array([0.0, 60.0, 120.0]))
    return amplitude * sum(np.cos(2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / period) for a in angles)


def _fringes(rows=96, cols=112, period=4.3, degrees=100.0, amplitude=0.1):
    """Pick-up: one tilted plane wave (a fixed frequency along each line, a fixed phase step between lines)."""
    yy, xx = np.mgrid[:rows, :cols]
    a = np.radians(degrees)
    return amplitude * np.sin(2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / period + 0.3)


@pytest.mark.parametrize("rule", [True, False])
def test_lattice_restore_gives_back_atom_rows_along_the_lines_but_not_line_offsets(rule, monkeypatch):
    """A square lattice with rows along the scan lines has its (0, ±k) peaks on the kx = 0 line: a row alignment
    takes them for line offsets. Their periodic row profile comes back; random line offsets do not."""
    if not rule:
        monkeypatch.setattr(linespec_module, "_ROW_LATTICE_SNR", float("inf"))
    rows, cols = 128, 160
    yy, xx = np.mgrid[:rows, :cols]
    atom_rows = 0.1 * np.cos(2 * np.pi * yy / 3.2)
    clean = 0.5 + 0.1 * np.cos(2 * np.pi * xx / 3.2) + atom_rows
    offsets = np.random.default_rng(5).normal(0, 0.02, (rows, 1))
    noisy = clean + offsets
    aligned = noisy - np.mean(noisy, axis=1, keepdims=True) + 0.5  # every row's mean taken away
    out = np.asarray(LatticeRestore(10.0)([noisy[None, :, :, None].astype("float32"),
                                           aligned[None, :, :, None].astype("float32")]))[0, :, :, 0]
    rows_back = np.mean(out, axis=1) - np.mean(out)
    assert (np.std(rows_back - atom_rows[:, 0]) < 0.2 * np.std(atom_rows)) == rule
    assert np.std(rows_back - atom_rows[:, 0] * rule) < 0.3 * np.std(offsets)  # the offsets stay out


def test_lattice_partners_restore_a_lattice_the_network_mostly_removed_but_not_pick_up():
    """With `partners`, a peak below `min_kept` comes back when a same-|k| peak 60° or 90° away and their
    difference are peaks too (a lattice); a lone plane wave, even one at a lattice's |k| and 90° from one of its
    peaks, closes no triangle and stays as the network left it."""
    lattice, noise = _hexagonal(), _lattice_and_noise()[1]
    noisy, removed = 0.5 + lattice + noise, 0.5 + 0.3 * lattice
    np.testing.assert_allclose(_restore(noisy, removed), removed, atol=1e-5)
    restored = _restore(noisy, removed, partners=True)
    assert metrics.lattice_fidelity(noisy, removed).amplitude_ratio < 0.4
    assert metrics.lattice_fidelity(noisy, restored).amplitude_ratio > 0.9
    pick_up = _fringes(degrees=100.0)  # 90° from the lattice's 10° peak, at its period
    kept = 0.5 + lattice + 0.3 * pick_up
    left = _restore(noisy + pick_up, kept, partners=True) - 0.5 - lattice
    assert np.sum(left * pick_up) / np.sum(pick_up * pick_up) == pytest.approx(0.3, abs=0.02)
    alone = 0.5 + 0.3 * pick_up
    np.testing.assert_allclose(_restore(0.5 + pick_up + noise, alone, partners=True), alone, atol=1e-5)


def _oblique(rows=128, cols=160, amplitude=0.05):
    """Waves at k1 (3.3 px, 8°), k2 (4.2 px, 83°) and k1 ± k2: an oblique lattice, no peaks 60° or 90° apart."""
    yy, xx = np.mgrid[:rows, :cols]
    k1 = np.array([np.cos(np.radians(8.0)), np.sin(np.radians(8.0))]) / 3.3
    k2 = np.array([np.cos(np.radians(83.0)), np.sin(np.radians(83.0))]) / 4.2
    waves = [(k1, 1.0), (k2, 1.0), (k1 + k2, 0.5), (k1 - k2, 0.5)]
    return amplitude * sum(a * np.cos(2 * np.pi * (k[0] * xx + k[1] * yy)) for k, a in waves)


@pytest.mark.parametrize("rule", [True, False])
def test_lattice_partners_restore_a_strong_oblique_lattice_but_not_pick_up_and_its_harmonic(rule, monkeypatch):
    if not rule:
        monkeypatch.setattr(linespec_module, "_ANY_LATTICE_SNR", float("inf"))
    lattice = _oblique()
    noise = np.random.default_rng(8).normal(0, 0.005, lattice.shape)
    noisy, removed = 0.5 + lattice + noise, 0.5 + 0.3 * lattice
    restored = _restore(noisy, removed, partners=True)
    assert (metrics.lattice_fidelity(noisy, restored).amplitude_ratio > 0.9) == rule
    yy, xx = np.mgrid[:128, :160]
    phase = 2 * np.pi * (20 * xx / 160 + 0.15 * yy)  # whole cycles along each line: no row profile
    pick_up = 0.1 * np.sin(phase) + 0.05 * np.sin(2 * phase)  # a wave and its harmonic, on one line through DC
    alone = 0.5 + 0.3 * pick_up
    np.testing.assert_allclose(_restore(0.5 + pick_up + noise, alone, partners=True), alone, atol=1e-5)


def test_damp_invented_takes_out_a_lattice_the_noisy_image_lacks_and_keeps_one_it_has():
    """A faint lattice texture the network made up (tens of times its output's noise floor, as on the 9 K dI/dV
    map) is damped; one the noisy image has stays."""
    lattice, noise = _hexagonal(amplitude=0.004), _lattice_and_noise(sigma=0.1)[1]
    invented = 0.5 + lattice + 0.1 * noise  # the "denoised" image shows a lattice the noise-only input lacks
    assert metrics.lattice_fidelity(0.5 + noise, invented).n_invented > 0
    damped = _restore(0.5 + noise, invented, damp_invented=True)
    assert metrics.lattice_fidelity(0.5 + noise, damped).n_invented == 0
    assert np.sum((damped - 0.5) * lattice) / np.sum(lattice * lattice) < 0.3
    noisy = 0.5 + lattice + 0.1 * noise  # the same lattice, present in the input: left alone
    assert metrics.lattice_fidelity(noisy, invented).n_invented == 0
    np.testing.assert_allclose(_restore(noisy, invented, damp_invented=True, min_kept=1.0), invented, atol=1e-5)


def test_damp_invented_takes_out_vertical_fringes_without_exposing_the_edges_leakage():
    """Fringes identical in every line (ky = 0) sit where the plain spectrum is mostly the leakage of the image's
    left and right edges; scaling those bins would show peaks beside them. The wave alone is taken out."""
    rows, cols = 96, 112
    xx = np.arange(cols)[None, :]
    noise = _lattice_and_noise(sigma=0.02)[1]
    surface = 0.3 + 0.4 * (xx / cols) ** 2 + np.zeros((rows, 1))  # curved: the left and right edges differ
    fringes = 0.03 * np.cos(2 * np.pi * 27 * xx / cols + 0.4) + np.zeros((rows, 1))  # 4.1 px, ky = 0
    noisy, invented = surface + noise, surface + fringes + 0.1 * noise
    before = metrics.lattice_fidelity(noisy, invented)
    assert (0, 27) in before.invented or (0, -27) in before.invented
    damped = _restore(noisy, invented, damp_invented=True)
    assert metrics.lattice_fidelity(noisy, damped).n_invented == 0
    assert np.sum((damped - surface) * fringes) / np.sum(fringes * fringes) < 0.3


def test_a_linespec_ending_in_the_restore_and_the_jitter_filter_loads_safely(tmp_path):
    model = zoo.build("linespec", filters=4, row_features=4, dejitter=2.0, line_jumps=10.0, lattice_restore=8.0,
                      min_kept=0.5, lattice_partners=True, damp_invented=True)
    assert model.get_layer("dejitter").get_config()["jump"] == 10.0
    assert model.get_layer("lattice_restore").get_config()["min_kept"] == 0.5
    assert model.get_layer("lattice_restore").get_config()["partners"] is True
    assert model.get_layer("lattice_restore").get_config()["damp_invented"] is True
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(3).random((1, 24, 36, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        LineJitterFilter(0.0)
    with pytest.raises(ValueError, match="min_kept must be in"):
        LatticeRestore(10.0, 1.5)


def test_spectral_gate_fully_open_returns_the_image_minus_its_mean():
    x = np.random.default_rng(1).random((1, 24, 30, 1)).astype("float32")
    out = np.asarray(_gate(30.0)(x))
    np.testing.assert_allclose(out, x - x.mean(), atol=1e-5)


def test_spectral_gate_closed_returns_nothing():
    x = np.random.default_rng(2).random((1, 24, 30, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(_gate(-30.0)(x)), 0.0, atol=1e-5)


def test_spectral_gate_features_single_out_a_lattice_peak():
    """The prominence feature of a lattice's Bragg peak is far above that of white noise's frequencies."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:64, :64]
    lattice = 0.1 * np.cos(2 * np.pi * xx / 4.0)  # period 4 px: frequency bin 16
    x = (lattice + 0.1 * rng.standard_normal((64, 64))).astype("float32")[None, :, :, None]
    gate = SpectralGate(hidden=1)
    gate.build((None, None, None, 1))
    w1 = np.zeros((4, 1), "float32")
    w1[0, 0] = 1.0  # hidden unit = prominence over the 5×5 local mean of the log-amplitude
    gate.w1.assign(w1)
    gate.w2.assign(np.array([[4.0]], "float32"))
    gate.b2.assign(np.array([-8.0], "float32"))  # open only where prominence > 2 (e² ≈ 7× the local level)
    out = np.asarray(gate(x))[0, :, :, 0]
    spectrum = np.abs(np.fft.fft2(out))
    assert spectrum[0, 16] > 0.8 * np.abs(np.fft.fft2(x[0, :, :, 0]))[0, 16]
    noise_bins = np.ones_like(spectrum, bool)
    noise_bins[:, [0, 16, 48]] = False
    assert spectrum[noise_bins].mean() < 0.1 * np.abs(np.fft.fft2(x[0, :, :, 0]))[noise_bins].mean()


def test_smooth_component_takes_a_plane_whole():
    yy, xx = np.mgrid[:40, :56]
    plane = (0.004 * xx - 0.003 * yy + 0.2).astype("float32")
    real, imag = _smooth_spectrum(keras.ops.convert_to_tensor(plane[None, None]))
    smooth = np.fft.ifft2(np.asarray(real) + 1j * np.asarray(imag)).real[0, 0]
    assert np.std(plane - smooth) < 0.02 * np.std(plane)


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_spectral_gate_on_the_periodic_component_keeps_a_tilted_lattice(noise):
    """A tilt wraps around as a jump whose leakage crosses the whole spectrum; the periodic component has none,
    so the periodic part found is the lattice, not the lattice plus leaked tilt."""
    yy, xx = np.mgrid[:64, :72]
    lattice = 0.1 * np.cos(2 * np.pi * xx / 4.4) + 0.1 * np.cos(2 * np.pi * (xx + yy) / 6.3)
    tilted = lattice + 0.004 * xx + 0.003 * yy + noise * np.random.default_rng(0).standard_normal(lattice.shape)
    error = {}
    for periodic_plus_smooth in (False, True):
        gate = SpectralGate(hidden=1, periodic_plus_smooth=periodic_plus_smooth)
        gate.build((None, None, None, 1))
        w1 = np.zeros((4, 1), "float32")
        w1[1, 0] = 1.0  # open where the log-amplitude stands 2 above its mean over 17 × 17 bins
        gate.w1.assign(w1)
        gate.w2.assign(np.array([[8.0]], "float32"))
        gate.b2.assign(np.array([-16.0], "float32"))
        out = np.asarray(gate(tilted.astype("float32")[None, :, :, None]))[0, :, :, 0]
        error[periodic_plus_smooth] = np.sqrt(np.mean((out - (lattice - lattice.mean())) ** 2))
    assert error[True] < 0.5 * error[False]
    assert SpectralGate.from_config(SpectralGate(periodic_plus_smooth=True).get_config()).periodic_plus_smooth


@pytest.mark.parametrize("sigma", [0.005, 0.03])
def test_noise_level_reads_white_noise_under_a_3px_lattice_line_offsets_and_a_tilt(sigma):
    rng = np.random.default_rng(6)
    yy, xx = np.mgrid[:96, :128]
    lattice = 0.2 * np.cos(2 * np.pi * xx / 3.1) * np.cos(2 * np.pi * yy / 3.3)
    offsets = 0.05 * rng.standard_normal((96, 1))
    image = 0.5 + lattice + 0.002 * xx + offsets + sigma * rng.standard_normal((96, 128))
    level = np.asarray(NoiseLevel()(image.astype("float32")[None, :, :, None]))[0, :, :, 0]
    assert np.ptp(level) == 0
    assert abs(0.02 * np.exp(level[0, 0]) / sigma - 1) < 0.1


def test_a_model_grown_by_the_noise_level_starts_from_the_trained_one_and_loads_safely(tmp_path):
    old = zoo.build("linespec", filters=4, row_features=4)
    old.set_weights([np.random.default_rng(i).normal(0, 0.1, w.shape) for i, w in enumerate(old.get_weights())])
    grown = zoo.build("linespec", filters=4, row_features=4, noise_level=True)
    assert zoo.copy_weights(old, grown) == ["e0_c1_level", "e2_c1_level", "d0_c2_level"]
    x = np.random.default_rng(7).random((2, 30, 42, 1)).astype("float32")
    np.testing.assert_allclose(grown.predict(x, verbose=0), old.predict(x, verbose=0), atol=1e-6)
    grown.get_layer("e2_c1_level").set_weights([np.full((1, 1, 1, 16), 0.5, "float32")])
    grown.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), grown.predict(x, verbose=0), atol=1e-6)
    assert np.abs(loaded.predict(x, verbose=0) - old.predict(x, verbose=0)).max() > 1e-4


def _blend(reference, denoised, w1=None, w2=None, b2=None):
    blend = SpectralBlend()
    args = [a.astype("float32")[None, :, :, None] for a in (reference, denoised, np.zeros_like(reference))]
    blend.build(None)
    if w1 is not None:
        blend.w1.assign(w1)
    if w2 is not None:
        blend.w2.assign(w2)
    if b2 is not None:
        blend.b2.assign(np.array([b2], "float32"))
    return np.asarray(blend(args))[0, :, :, 0]


def test_spectral_blend_is_the_denoised_image_when_closed_and_the_reference_when_open():
    rng = np.random.default_rng(8)

    def flat_spectrum():  # no peaks, no bin above its neighbours: the blend's rules leave it alone
        phase = np.angle(np.fft.fft2(rng.random((40, 52))))
        return 0.5 + 0.2 * np.real(np.fft.ifft2(np.exp(1j * phase)))

    reference, denoised = flat_spectrum(), flat_spectrum()
    np.testing.assert_allclose(_blend(reference, denoised, b2=-40.0), denoised, atol=1e-5)
    kx = np.abs(np.fft.fftfreq(52) * 52)
    lines = (kx < _BLEND_LINE_KX).astype(float)  # each line's offset, tilt and slow streaks stay the denoised image's
    assert lines.sum() == 17

    def mixed(gain):
        x, y = np.fft.fft2(reference), np.fft.fft2(denoised)
        return np.real(np.fft.ifft2(y + gain * (1 - lines)[None, :] * (x - y)))

    np.testing.assert_allclose(_blend(reference, denoised, b2=40.0), mixed(1.0), atol=1e-5)
    assert np.abs(mixed(1.0) - reference).max() > 0.01
    starting = _blend(reference, denoised)  # as a grown model starts: G = sigmoid(-4) at every frequency
    np.testing.assert_allclose(starting, mixed(1 / (1 + np.exp(4.0))), atol=1e-5)


def test_spectral_blend_can_give_a_damped_lattice_back_and_leave_the_noise_out():
    rng = np.random.default_rng(9)
    lattice = _hexagonal(96, 128, period=3.2, amplitude=0.05, degrees=0.0)
    noise = 0.05 * rng.standard_normal(lattice.shape)
    w1 = np.zeros((10, 16), "float32")
    w1[1, 0] = 1.0  # open where the reference stands above its 17 × 17 background …
    w1[3, 0] = 1.0  # … and where the network kept less of it
    w2 = np.zeros((16, 1), "float32")
    w2[0, 0] = 0.8  # logits are 10 × the last layer's output
    out = _blend(0.5 + lattice + noise, 0.5 + 0.3 * lattice, w1=w1, w2=w2, b2=-0.8)
    error = np.sqrt(np.mean((out - 0.5 - lattice) ** 2))
    assert error < 0.3 * np.sqrt(np.mean((0.7 * lattice) ** 2))  # the lattice is back
    assert error < 0.25 * 0.05  # and the noise stayed out



def test_spectral_blend_never_gives_back_a_peak_without_lattice_partners():
    lattice = _hexagonal(96, 128, period=4.0, amplitude=0.05)
    pickup = _fringes(96, 128, period=7.3, degrees=30.0)  # one wavevector, between bins
    noise = 0.01 * np.random.default_rng(3).standard_normal(lattice.shape)
    open_gate = _blend(0.5 + lattice + pickup + noise, 0.5 + 0.3 * lattice, b2=40.0)

    def amplitude(image, at):
        return np.abs(np.fft.fft2(image - image.mean()))[at]

    at_pickup, at_lattice = (np.unravel_index(np.argmax(np.abs(np.fft.fft2(a))), a.shape) for a in (pickup, lattice))
    assert amplitude(open_gate, at_pickup) < 0.1 * amplitude(pickup, at_pickup)  # the pick-up stays out
    assert amplitude(open_gate, at_lattice) > 0.9 * amplitude(lattice, at_lattice)  # the lattice comes back



def test_spectral_blend_gives_no_noise_spike_back_as_a_periodicity():
    rng = np.random.default_rng(4)
    reference = 0.5 + 0.05 * rng.standard_normal((96, 128))
    denoised = 0.5 + 0.002 * rng.standard_normal((96, 128))
    w1 = np.zeros((10, 16), "float32")
    w1[0, 0] = 1.0  # open where the reference stands above its 5 × 5 background: at its noise spikes
    w2 = np.zeros((16, 1), "float32")
    w2[0, 0] = 0.8
    out = _blend(reference, denoised, w1=w1, w2=w2, b2=-0.8)
    assert metrics.lattice_fidelity(reference, out).n_invented == 0
    assert np.std(out - denoised) > 0.001  # the gate did open


def test_a_model_grown_by_the_spectral_blend_starts_close_to_the_trained_one_and_loads_safely(tmp_path):
    old = zoo.build("linespec", filters=4, row_features=4, noise_level=True)
    old.set_weights([np.random.default_rng(i).normal(0, 0.1, w.shape) for i, w in enumerate(old.get_weights())])
    grown = zoo.build("linespec", filters=4, row_features=4, noise_level=True, spectral_blend=True)
    assert zoo.copy_weights(old, grown) == ["spectral_blend"]
    x = np.random.default_rng(10).random((2, 30, 42, 1)).astype("float32")
    assert np.abs(grown.predict(x, verbose=0) - old.predict(x, verbose=0)).max() < 0.05
    grown.get_layer("spectral_blend").b2.assign(np.array([-40.0], "float32"))
    np.testing.assert_allclose(grown.predict(x, verbose=0), old.predict(x, verbose=0), atol=1e-5)
    grown.get_layer("spectral_blend").b2.assign(np.array([1.0], "float32"))  # open: G = sigmoid(10)
    grown.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), grown.predict(x, verbose=0), atol=1e-6)
    assert np.abs(loaded.predict(x, verbose=0) - old.predict(x, verbose=0)).max() > 1e-4


def test_ablations_drop_their_branch():
    full = zoo.build("linespec", filters=4, row_features=4)
    names = {layer.name for layer in full.layers}
    assert {"line_corrected", "lattice"} <= names
    no_row = {layer.name for layer in zoo.build("linespec", filters=4, row_features=4, row_branch=False).layers}
    no_fft = {layer.name for layer in zoo.build("linespec", filters=4, row_features=4, spectral_branch=False).layers}
    assert "line_corrected" not in no_row and "lattice" in no_row
    assert "lattice" not in no_fft and "line_corrected" in no_fft
    steps = {layer.name for layer in zoo.build("linespec", filters=4, row_features=4, line_steps=True).layers}
    assert "step_profile" in steps and "step_profile" not in names and "line_corrected" in steps


def test_a_model_grown_by_the_step_branch_starts_from_the_trained_one():
    old = zoo.build("linespec", filters=4, row_features=4)
    old.set_weights([np.random.default_rng(i).normal(0, 0.1, w.shape) for i, w in enumerate(old.get_weights())])
    grown = zoo.build("linespec", filters=4, row_features=4, line_steps=True)
    assert zoo.copy_weights(old, grown) == ["step_diff", "step_c1", "step_score", "step_rows", "step_step"]
    x = np.random.default_rng(5).random((1, 32, 40, 1)).astype("float32")
    np.testing.assert_allclose(grown.predict(x, verbose=0), old.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match="layer 'step_diff' is not in the model"):
        zoo.copy_weights(grown, old)


def test_untrained_model_is_the_identity():
    """The offset head and the U-Net's last layer start at zero: training starts from output = input."""
    x = np.random.default_rng(4).random((1, 40, 52, 1)).astype("float32")
    y = np.asarray(zoo.build("linespec", filters=4, row_features=4).predict(x, verbose=0))
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_mse_fft_loss_adds_the_fft_amplitude_difference():
    yy, xx = np.mgrid[:32, :32]
    lattice = (0.5 + 0.05 * np.cos(2 * np.pi * xx / 3.0)).astype("float32")[None, :, :, None]
    flat = np.full_like(lattice, 0.5)
    assert float(np.asarray(losses.mse_fft(lattice, lattice))[0]) == pytest.approx(0.0, abs=1e-5)
    amplitude = lambda a: np.abs(np.fft.fft2(a[0, :, :, 0])) / 32.0  # noqa: E731  (orthonormal)
    expected = np.mean((lattice - flat) ** 2) + 0.05 * np.mean(np.abs(amplitude(lattice) - amplitude(flat)))
    assert float(np.asarray(losses.mse_fft(lattice, flat))[0]) == pytest.approx(expected, rel=1e-4)
    assert expected > np.mean((lattice - flat) ** 2)


def test_log_mse_fft_weighs_each_image_by_its_relative_error():
    """10 log10(mse_fft + 1e-5) per image: halving one image's error lowers its loss by 3-6 dB (6 for the squared
    term, 3 for the amplitude term) whether the error is small or large, where MSE would weigh the large one
    100x more."""
    rng = np.random.default_rng(0)
    clean = rng.random((2, 32, 32, 1)).astype("float32")
    noise = rng.normal(size=clean.shape).astype("float32") * np.array([0.01, 0.1], "float32")[:, None, None, None]
    full, half = (np.asarray(losses.log_mse_fft(clean, clean + k * noise)) for k in (1.0, 0.5))
    np.testing.assert_allclose(full, 10 * np.log10(np.asarray(losses.mse_fft(clean, clean + noise)) + 1e-5), rtol=1e-5)
    assert 3.0 < full[0] - half[0] < 6.1 and 3.0 < full[1] - half[1] < 6.1
    assert float(np.asarray(losses.log_mse_fft(clean, clean))[0]) == pytest.approx(-50.0, abs=1e-3)


def test_mse_fft_peaks_charges_the_share_of_lattice_amplitude_lost():
    """Halving a lattice's contrast loses half the amplitude of its peaks: `weight` × 0.5 on top of mse_fft;
    a prediction with the peaks whole costs nothing extra, and neither is a level shift (DC)."""
    yy, xx = np.mgrid[:64, :64]
    lattice = (0.5 + 0.2 * np.cos(2 * np.pi * xx / 4.0) + 0.1 * np.cos(2 * np.pi * yy / 5.0)).astype("float32")
    lattice = lattice[None, :, :, None]
    damped = 0.5 + 0.5 * (lattice - 0.5)
    extra = lambda p: float(np.asarray(losses.mse_fft_peaks(lattice, p) - losses.mse_fft(lattice, p))[0])  # noqa: E731
    assert extra(damped) == pytest.approx(0.01 * 0.5, rel=1e-3)
    assert extra(lattice) == pytest.approx(0.0, abs=1e-6)
    assert extra(2.0 * lattice - 0.5) == pytest.approx(0.0, abs=1e-6)  # stronger peaks: left to the L1 term
    assert extra(lattice - 0.1) == pytest.approx(0.0, abs=1e-6)  # a level shift is not a lost peak
