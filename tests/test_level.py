"""stm_zoo.level: plane fit, row alignment and the invertible normalization."""

import numpy as np
import pytest

from stm_zoo.level import Normalization, align_rows, fill_nonfinite, fit_plane, normalize, plane_fit, prepare

RNG = np.random.default_rng(0)
Y, X = np.mgrid[0:48, 0:64]
TEXTURE = np.sin(X / 2.5) * np.cos(Y / 3.0)  # zero-mean atomic-like corrugation


def test_plane_fit_removes_a_tilt():
    tilted = TEXTURE + 0.3 * X - 0.2 * Y + 5.0
    leveled = plane_fit(tilted)
    np.testing.assert_allclose(leveled, TEXTURE - TEXTURE.mean(), atol=0.02)
    assert abs(leveled.mean()) < 1e-10


def test_plane_fit_ignores_nan_pixels():
    tilted = 0.1 * X + 0.05 * Y
    tilted[3, 4] = np.nan
    leveled = plane_fit(tilted)
    assert np.isnan(leveled[3, 4]) and np.nanmax(np.abs(leveled)) < 1e-9


def test_fit_plane_is_defined_on_every_pixel():
    tilted = TEXTURE + 0.3 * X - 0.2 * Y + 5.0
    tilted[3:5] = np.nan  # unscanned rows: the plane still covers them
    plane = fit_plane(tilted)
    assert np.isfinite(plane).all()
    np.testing.assert_allclose(plane, 0.3 * X - 0.2 * Y + 5.0, atol=0.02)
    np.testing.assert_allclose(plane_fit(tilted), tilted - plane, equal_nan=True)


def test_fill_nonfinite_takes_the_nearest_finite_pixel():
    data = np.arange(30, dtype=float).reshape(5, 6)
    data[2, 3] = np.nan
    data[4, :] = np.inf  # a whole row: copied from the row above
    filled = fill_nonfinite(data)
    assert np.isfinite(filled).all() and np.isnan(data[2, 3])  # a copy, the input untouched
    assert filled[2, 3] in (data[1, 3], data[3, 3], data[2, 2], data[2, 4])
    np.testing.assert_array_equal(filled[4], data[3])
    np.testing.assert_array_equal(filled[:2], data[:2])
    with pytest.raises(ValueError, match="no finite pixel"):
        fill_nonfinite(np.full((3, 3), np.nan))


def test_align_rows_median_removes_line_offsets():
    offsets = RNG.normal(scale=3.0, size=(48, 1))
    aligned = align_rows(TEXTURE + offsets, "median")
    np.testing.assert_allclose(np.median(aligned, axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(aligned, TEXTURE - np.median(TEXTURE, axis=1, keepdims=True), atol=1e-12)


def test_align_rows_median_diff_keeps_a_diagonal_terrace():
    terrace = (X > Y + 8).astype(float)  # a step edge crossing the rows: the upper terrace grows row by row
    offsets = RNG.normal(scale=3.0, size=(48, 1))
    aligned = align_rows(terrace + offsets, "median_diff")
    np.testing.assert_allclose(aligned - aligned.mean(), terrace - terrace.mean(), atol=1e-12)
    by_median = align_rows(terrace + offsets, "median")  # the row median jumps once the terrace passes half
    assert np.abs(by_median - by_median.mean() - (terrace - terrace.mean())).max() > 0.4


def test_align_rows_poly_removes_row_polynomials():
    rows = RNG.normal(size=(48, 3))
    x = np.linspace(-1, 1, 64)
    bowed = TEXTURE + rows[:, :1] + rows[:, 1:2] * x + rows[:, 2:3] * x**2
    aligned = align_rows(bowed, "poly", degree=2)
    reference = align_rows(TEXTURE, "poly", degree=2)
    np.testing.assert_allclose(aligned, reference, atol=1e-10)
    assert np.abs(aligned - TEXTURE).max() < np.abs(TEXTURE).max()  # the texture survives


def test_align_rows_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown align_rows method"):
        align_rows(TEXTURE, "mean")
    with pytest.raises(ValueError, match="degree"):
        align_rows(TEXTURE, "poly", degree=-1)
    with pytest.raises(ValueError, match="finite"):
        align_rows(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="2-D"):
        plane_fit(np.zeros(5))


def test_normalize_is_invertible_inside_the_percentiles():
    data = 1e-10 * (TEXTURE + RNG.normal(scale=0.1, size=TEXTURE.shape))
    array01, norm = normalize(data)
    assert array01.dtype == np.float32 and array01.min() == 0 and array01.max() == 1
    inside = (array01 > 0) & (array01 < 1)
    assert inside.mean() > 0.98
    np.testing.assert_allclose(norm.inverse(array01)[inside], data[inside], rtol=0, atol=1e-16)


def test_normalize_full_range_round_trip_is_lossless():
    data = 1e-9 * TEXTURE
    array01, norm = normalize(data, low=0, high=100)
    np.testing.assert_allclose(norm.inverse(array01), data, atol=1e-9 * 2e-7)
    assert isinstance(norm, Normalization) and norm.scale > 0


def test_normalize_outliers_are_clipped_not_stretched():
    data = TEXTURE.copy()
    data[0, 0] = 1e6  # a glitch
    array01, norm = normalize(data)
    assert array01[0, 0] == 1 and norm.scale < 10
    assert np.ptp(array01[1:]) > 0.9  # the image keeps its contrast


def test_normalize_edge_cases():
    mostly_flat = np.zeros((20, 20))
    mostly_flat[0, 0] = 1.0
    array01, norm = normalize(mostly_flat)  # percentiles coincide: falls back to min-max
    assert array01[0, 0] == 1 and norm.scale == 1
    with pytest.raises(ValueError, match="constant image"):
        normalize(np.ones((8, 8)))
    with pytest.raises(ValueError, match="low < high"):
        normalize(TEXTURE, low=50, high=50)


def test_prepare_is_plane_fit_then_normalize():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :40]
    raw = 3e-9 * xx + 1e-9 * yy + 1e-10 * rng.standard_normal((32, 40))
    image, norm = prepare(raw)
    expected, expected_norm = normalize(plane_fit(raw))
    np.testing.assert_array_equal(image, expected)
    assert norm == expected_norm and image.min() >= 0 and image.max() <= 1
