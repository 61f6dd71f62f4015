"""Evaluation metrics (numpy): PSNR, SSIM, UQI, stripe index, lattice fidelity."""

import csv

import numpy as np
import pytest
from scipy import ndimage

import stm_zoo  # noqa: F401  (backend set-up before keras)
from stm_zoo import metrics


def hex_lattice(n=64, period=6.0, angle=10.0, noise=0.0, seed=0):
    """Three cosines 60° apart (a hexagonal lattice), scaled to [0.1, 0.9], optional Gaussian noise."""
    yy, xx = np.mgrid[:n, :n].astype(float)
    z = sum(
        np.cos(2 * np.pi / period * (xx * np.cos(t) + yy * np.sin(t)))
        for t in np.deg2rad([angle, angle + 60, angle + 120])
    )
    z = 0.1 + 0.8 * (z - z.min()) / (z.max() - z.min())
    return z + np.random.default_rng(seed).normal(0, noise, z.shape) if noise else z


# --- PSNR / SSIM ---


def test_psnr_hand_computed():
    clean = np.zeros((8, 8))
    assert metrics.psnr(clean, clean + 0.1) == pytest.approx(20.0)  # mse 0.01 → 10·log10(1 / 0.01)
    assert metrics.psnr(clean, clean) == float("inf")


def test_ssim_identity_and_matches_training_metric():
    rng = np.random.default_rng(0)
    clean = rng.random((32, 32))
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
    assert metrics.ssim(clean, clean) == pytest.approx(1.0)
    score = metrics.ssim(clean, noisy)
    assert 0 < score < 0.95
    training = metrics.ssim_ops(clean[None, :, :, None].astype("float32"), noisy[None, :, :, None].astype("float32"))
    assert float(np.asarray(training)[0]) == pytest.approx(score, abs=1e-4)


# --- UQI ---


def test_uqi_hand_computed():
    # one 2×2 window: μx = 2.5, μy = 2.75, σx² = 1.25, σy² = 2.1875, σxy = 1.625
    # Q = 4·1.625·2.5·2.75 / ((1.25 + 2.1875)(2.5² + 2.75²)) = 44.6875 / 47.48046875 = 16/17
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert metrics.uqi(x, y, window=2) == pytest.approx(16 / 17)


def test_uqi_equals_window_by_window_loop():
    rng = np.random.default_rng(1)
    x, y = rng.random((13, 11)), rng.random((13, 11))
    w = 8
    q = []
    for i in range(13 - w + 1):
        for j in range(11 - w + 1):
            a, b = x[i : i + w, j : j + w].ravel(), y[i : i + w, j : j + w].ravel()
            cov = np.mean((a - a.mean()) * (b - b.mean()))
            q.append(4 * cov * a.mean() * b.mean() / ((a.var() + b.var()) * (a.mean() ** 2 + b.mean() ** 2)))
    assert metrics.uqi(x, y) == pytest.approx(np.mean(q), rel=1e-9)


def test_uqi_known_properties():
    x = np.random.default_rng(2).random((24, 20)) + 0.1
    assert metrics.uqi(x, x) == pytest.approx(1.0)
    # y = b·x: correlation 1, every window gives (2b / (1 + b²))²
    assert metrics.uqi(x, 2 * x) == pytest.approx((4 / 5) ** 2)
    # y = x + a: only the luminance term is left, 2μ(μ + a) / (μ² + (μ + a)²) with μ the window mean
    mu = np.lib.stride_tricks.sliding_window_view(x, (8, 8)).mean(axis=(-2, -1))
    expected = np.mean(2 * mu * (mu + 0.5) / (mu**2 + (mu + 0.5) ** 2))
    assert metrics.uqi(x, x + 0.5) == pytest.approx(expected)
    # flat windows: the paper's rules
    assert metrics.uqi(np.full((9, 9), 0.3), np.full((9, 9), 0.3)) == pytest.approx(1.0)
    assert metrics.uqi(np.full((9, 9), 0.2), np.full((9, 9), 0.4)) == pytest.approx(2 * 0.08 / (0.04 + 0.16))
    assert metrics.uqi(np.zeros((9, 9)), np.zeros((9, 9))) == pytest.approx(1.0)


def test_evaluate_pair_and_bad_input():
    clean = hex_lattice(32, period=12)
    noisy = hex_lattice(32, period=12, noise=0.1)
    scores = metrics.evaluate_pair(clean, noisy)
    assert set(scores) == {"psnr", "ssim", "uqi"}
    assert 15 < scores["psnr"] < 25 and 0 < scores["ssim"] < 1 and 0 < scores["uqi"] < 1
    denoised = ndimage.gaussian_filter(noisy, 1.0)
    better = metrics.evaluate_pair(clean, denoised)
    assert all(better[key] > scores[key] for key in scores)
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(clean, clean[:-1])
    with pytest.raises(ValueError, match="2-D"):
        metrics.uqi(clean[None], clean[None])
    with pytest.raises(ValueError, match="NaN"):
        metrics.stripe_index(np.full((8, 8), np.nan))


# --- stripe index ---


def test_stripe_index_grows_with_row_offsets():
    clean = hex_lattice(64, noise=0.02)
    offsets = np.random.default_rng(3).normal(0, 0.1, (64, 1))
    assert metrics.stripe_index(clean + offsets) > 3 * metrics.stripe_index(clean)
    tilt = 0.3 * np.arange(64)[None, :] / 64 + 0.2 * np.arange(64)[:, None] / 64
    assert metrics.stripe_index(clean + tilt) == pytest.approx(metrics.stripe_index(clean))  # plane removed
    assert np.isnan(metrics.stripe_index(np.full((8, 8), 0.5)))


def test_stripe_index_hand_computed():
    # row levels (0, 1, 1, 0) plus (0.5, -0.5, -0.5, 0.5) along every row: neither has a linear trend, so the
    # plane fit removes only the mean. Row medians differ by (1, 0, -1): std √(2/3); the within-row residual is
    # ±0.5 everywhere: std 0.5 → index 2·√(2/3)
    image = np.array([0.0, 1.0, 1.0, 0.0])[:, None] + np.array([0.5, -0.5, -0.5, 0.5])[None, :]
    assert metrics.stripe_index(image) == pytest.approx(2 * np.sqrt(2 / 3))


def test_line_error_sees_the_offsets_an_estimate_adds_and_not_the_clean_rows():
    clean = hex_lattice(64, period=5.0, angle=0.0)  # rows of atoms: row medians vary, line_error stays 0
    assert metrics.stripe_index(clean) > 0.05
    assert metrics.line_error(clean, clean) == 0.0
    assert metrics.line_error(clean, clean + 0.1 + 0.01 * np.arange(64)[:, None]) == pytest.approx(0, abs=1e-12)
    offsets = np.zeros((64, 1))
    offsets[::2] = 0.05  # every other line 0.05 up: line-to-line differences ±0.05
    assert metrics.line_error(clean, clean + offsets) == pytest.approx(0.05, rel=0.02)
    levelled = clean - np.median(clean, axis=1, keepdims=True)  # row alignment's damage is an error too
    assert metrics.stripe_index(levelled) < 0.5 * metrics.stripe_index(clean)
    assert metrics.line_error(clean, levelled) > 0.01
    with pytest.raises(ValueError, match="shape"):
        metrics.line_error(clean, clean[:-1])


def test_stripe_index_reproduces_manifest(shared_stm):
    from PIL import Image

    wanted = {"test/1.png", "test/12.png", "STM_img_simu/7/117 [Z_fwd] image10.png",
              "test_bad_result/HOPG 085--192 mV, 102 pA-4nm.txt.png"}
    rows = [r for r in csv.DictReader(open(shared_stm / "MANIFEST.csv")) if r["path"] in wanted]
    assert len(rows) == len(wanted)
    for row in rows:
        path = shared_stm / row["repo"].replace("/", "__") / row["path"]
        pixels = np.asarray(Image.open(path)).astype(np.float64)
        if pixels.ndim == 3:
            pixels = pixels[..., :3].mean(axis=-1)
        assert metrics.stripe_index(pixels) == pytest.approx(float(row["stripe_index"]), abs=6e-4), row["path"]


def test_stripe_index_reproduces_manifest_on_scans(shared_stm):
    io = pytest.importorskip("stm_zoo.io")
    wanted = {"pySPM/data/test.sxm", "test_example/Au_mica_2023_Y_A_099.sxm", "Examples/Files/Si_7x7_028.sxm",
              "anonymised_testdata/createc_scan_molecular_30nm_pos.dat"}
    rows = [r for r in csv.DictReader(open(shared_stm / "MANIFEST.csv")) if r["path"] in wanted]
    assert len(rows) == len(wanted)
    for row in rows:
        scan = io.read(shared_stm / row["repo"].replace("/", "__") / row["path"])
        assert metrics.stripe_index(scan.data) == pytest.approx(float(row["stripe_index"]), abs=6e-4), row["path"]


# --- lattice fidelity ---


def test_lattice_fidelity_identity_and_blur():
    noisy = hex_lattice(64, noise=0.05)
    same = metrics.lattice_fidelity(noisy, noisy)
    assert same.n_peaks == 3  # the three fundamental peaks of a hexagonal lattice (one of each ±k)
    assert same.kept_fraction == 1.0 and same.amplitude_ratio == pytest.approx(1.0) and same.n_invented == 0
    assert sorted(map(tuple, same.peaks)) == [(2, 11), (8, -7), (10, 4)]  # 64 px / 6 px period, rotated 10°
    blurred = metrics.lattice_fidelity(noisy, ndimage.gaussian_filter(noisy, 1.0))
    assert blurred.kept == [True, True, True] and blurred.n_invented == 0
    assert 0.3 < blurred.amplitude_ratio < 0.9  # exp(-2π²σ²f²) ≈ 0.58 at f = 1/6 px⁻¹, σ = 1 px
    as_dict = blurred.as_dict()
    assert as_dict["n_peaks"] == 3 and as_dict["kept_fraction"] == 1.0


def test_lattice_fidelity_flags_invented_and_lost_periodicity():
    noisy = hex_lattice(64, noise=0.05)
    yy, xx = np.mgrid[:64, :64]
    fake = noisy + 0.2 * np.cos(2 * np.pi * (0.8 * xx + 0.6 * yy) / 11)  # a period the lattice does not have
    invented = metrics.lattice_fidelity(noisy, fake)
    assert invented.kept_fraction == 1.0 and invented.n_invented == 1
    ky, kx = invented.invented[0]
    assert abs(ky - 64 * 0.6 / 11) <= 1 and abs(kx - 64 * 0.8 / 11) <= 1
    smeared = ndimage.gaussian_filter(noisy, 4) + np.random.default_rng(5).normal(0, 0.05, noisy.shape)
    lost = metrics.lattice_fidelity(noisy, smeared)  # lattice blurred away, fresh noise on top
    assert lost.kept_fraction == 0.0 and lost.amplitude_ratio < 0.3 and lost.n_invented == 0


def test_lattice_fidelity_ignores_row_offsets():
    clean = hex_lattice(64, noise=0.02)
    striped = clean + np.random.default_rng(4).normal(0, 0.1, (64, 1))
    result = metrics.lattice_fidelity(striped, clean)  # a perfect destriper
    assert result.kept_fraction == 1.0 and result.n_invented == 0
    assert result.amplitude_ratio == pytest.approx(1.0, abs=0.05)


def test_lattice_fidelity_tracks_the_lattice_not_periodic_pickup():
    """Pick-up at a fixed frequency along the fast axis with a random phase per line streaks the spectrum over
    every ky at one kx; its local maxima are not lattice peaks, and removing the pick-up costs no amplitude."""
    clean = hex_lattice(128, noise=0.02)
    rng = np.random.default_rng(6)
    phase = rng.uniform(0, 2 * np.pi, (128, 1))
    pickup = 0.6 * np.sin(2 * np.pi * np.arange(128)[None, :] / 5.0 + phase)  # kx = 128 / 5 ≈ 26
    noisy = clean + pickup
    result = metrics.lattice_fidelity(noisy, clean)  # a perfect pick-up filter
    assert result.n_peaks == 3 and all(abs(kx) != 26 and abs(kx) != 25 for _, kx in result.peaks)
    assert result.kept_fraction == 1.0 and result.amplitude_ratio == pytest.approx(1.0, abs=0.1)
    assert metrics.lattice_fidelity(clean, clean).peaks == result.peaks
