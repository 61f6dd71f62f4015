"""Classical baselines: Gwyddion-style scar removal and row alignment, median filter, BM3D, the registry."""

import sys

import numpy as np
import pytest

import stm_zoo  # noqa: F401
from stm_zoo import classical
from stm_zoo.metrics import psnr, stripe_index


def hex_lattice(n=64, period=6.0, angle=10.0, contrast=0.8, noise=0.0, seed=0):
    """Three cosines 60° apart (a hexagonal lattice) around 0.5; at 10° no atom row runs along the scan lines."""
    yy, xx = np.mgrid[:n, :n].astype(float)
    z = sum(
        np.cos(2 * np.pi / period * (xx * np.cos(t) + yy * np.sin(t)))
        for t in np.deg2rad([angle, angle + 60, angle + 120])
    )
    z = 0.5 + contrast * ((z - z.min()) / (z.max() - z.min()) - 0.5)
    return z + np.random.default_rng(seed).normal(0, noise, z.shape) if noise else z


def reference_positive_scars(z, high, low, min_len, max_width):
    """Gwyddion's scar marking written as its plain pixel loops, to check the vectorised version against."""
    h, w = z.shape
    max_width = min(max_width, h - 2)
    high = max(high, low)
    rms = np.sqrt(np.sum((z[:-1] - z[1:]) ** 2) / (h * w))
    m = np.zeros((h, w))
    for i in range(h - (max_width + 1)):
        for j in range(w):
            top = z[i + 1, j]
            for k in range(1, max_width + 1):
                bottom = max(z[i, j], z[i + k + 1, j])
                top = min(top, z[i + k, j])
                if top - bottom >= low * rms:
                    for r in range(1, k + 1):
                        m[i + r, j] = max(m[i + r, j], (z[i + r, j] - bottom) / rms)
                    break
    for i in range(h):  # extend seeds along the row through pixels above the low threshold, both ways
        for j in range(1, w):
            if m[i, j] >= low and m[i, j - 1] >= high:
                m[i, j] = high
        for j in range(w - 1, 0, -1):
            if m[i, j - 1] >= low and m[i, j] >= high:
                m[i, j - 1] = high
    marked = m >= high
    for i in range(h):  # drop runs shorter than min_len
        j = 0
        while j < w:
            if marked[i, j]:
                end = j
                while end < w and marked[i, end]:
                    end += 1
                if end - j < min_len:
                    marked[i, j:end] = False
                j = end
            else:
                j += 1
    return marked


@pytest.mark.parametrize("params", [(0.666, 0.25, 16, 4), (0.5, 0.1, 3, 2), (0.3, 0.3, 2, 1)])
def test_mark_scars_matches_gwyddion_loops(params):
    rng = np.random.default_rng(0)
    z = rng.normal(0, 0.05, (24, 40)) + 0.5
    z[5, 3:30] += 0.4
    z[10:12, 8:40] -= 0.3
    z[16:19, 0:12] += 0.2 * rng.random((3, 12))
    expected = reference_positive_scars(z, *params) | reference_positive_scars(-z, *params)
    got = classical.mark_scars(z, *params)
    assert expected.sum() > 30
    np.testing.assert_array_equal(got, expected)


def test_remove_scars_removes_planted_scars():
    clean = hex_lattice(64, contrast=0.3, noise=0.01)
    scarred = clean.copy()
    scarred[20, 5:45] += 0.35  # a ridge, one row
    scarred[50, 10:40] -= 0.3  # a trench, one row
    scarred[40:42, 12:60] -= 0.3  # a trench, two rows
    mask = classical.mark_scars(scarred)
    assert mask[20, 5:45].all() and mask[50, 10:40].all()
    # Gwyddion takes the narrowest band that stands out, so where the lattice tips one row of a two-row scar
    # below the other, only that row is marked: the first row fully, the second in part
    assert mask[40, 12:60].all() and mask[41, 12:60].mean() > 0.5
    planted = np.zeros_like(mask)
    planted[20, 5:45] = planted[50, 10:40] = planted[40:42, 12:60] = True
    assert (mask & ~planted).sum() <= 8  # hardly anything else
    repaired = classical.remove_scars(scarred)
    assert repaired.shape == scarred.shape and repaired.dtype == np.float32
    assert psnr(clean, repaired) > psnr(clean, scarred) + 8
    assert np.abs(repaired - clean)[[20, 50]].max() < 0.15  # scars were 0.3–0.35 high; lattice curvature stays
    np.testing.assert_allclose(repaired[~mask], scarred[~mask], atol=1e-6)  # only marked pixels change


def test_remove_scars_leaves_clean_lattice_untouched():
    for period in (4.0, 6.0, 9.0):
        clean = hex_lattice(64, period=period)
        assert not classical.mark_scars(clean).any()
        np.testing.assert_allclose(classical.remove_scars(clean), clean, atol=1e-6)


def test_laplace_fill_reproduces_a_plane():
    yy, xx = np.mgrid[:20, :30]
    plane = 0.2 + 0.01 * xx - 0.02 * yy  # harmonic, so Laplace interpolation must give it back exactly
    mask = np.zeros(plane.shape, bool)
    mask[7:10, 4:25] = True
    mask[15, 10:12] = True
    holed = np.where(mask, 5.0, plane)
    np.testing.assert_allclose(classical.laplace_fill(holed, mask), plane, atol=1e-10)
    # at the border the missing neighbours act as a zero-slope boundary (as in Gwyddion): finite, in range
    mask[0, 0:5] = True
    filled = classical.laplace_fill(np.where(mask, 5.0, plane), mask)
    assert plane.min() <= filled[0, 0:5].min() and filled[0, 0:5].max() <= plane.max()


@pytest.mark.parametrize("name", ["align_median", "align_median_diff", "align_poly", "align_scars"])
def test_row_alignment_removes_planted_row_offsets(name):
    clean = hex_lattice(64, contrast=0.3, noise=0.01)
    offsets = np.random.default_rng(3).normal(0, 0.08, (64, 1))
    striped = clean + offsets
    aligned = classical.get(name)(striped)
    assert aligned.mean() == pytest.approx(striped.mean(), abs=1e-6)  # the level stays comparable in [0, 1]
    assert stripe_index(aligned) < 0.5 * stripe_index(striped)
    assert psnr(clean, aligned) > psnr(clean, striped) + 6
    # the lattice itself has no row offsets to remove: a clean image passes (almost) unchanged
    assert psnr(clean, classical.get(name)(clean)) > 35


def test_median3_removes_salt():
    clean = hex_lattice(32, period=12)
    salted = clean.copy()
    salted[np.random.default_rng(1).random(clean.shape) < 0.03] = 1.0
    assert psnr(clean, classical.median3(salted)) > psnr(clean, salted) + 5


def test_registry_every_baseline_keeps_shape():
    assert classical.names() == list(classical.BASELINES)
    assert {"align_median", "align_median_diff", "align_poly", "remove_scars", "align_scars", "median3",
            "bm3d"} <= set(classical.names())
    with pytest.raises(ValueError, match="unknown baseline 'nope'"):
        classical.get("nope")
    image = hex_lattice(37, contrast=0.5, noise=0.05)[:, :29]  # odd, non-square
    for name in classical.names():
        if name == "bm3d" and not classical.bm3d_available():
            continue
        out = classical.get(name)(image)
        assert out.shape == image.shape and out.dtype == np.float32, name
        assert np.all(np.isfinite(out)), name


def test_bm3d_denoises():
    pytest.importorskip("bm3d")
    clean = hex_lattice(32, period=8, contrast=0.6)
    noisy = hex_lattice(32, period=8, contrast=0.6, noise=0.08, seed=2)
    assert psnr(clean, classical.bm3d(noisy)) > psnr(clean, noisy) + 3  # sigma estimated by scikit-image
    assert psnr(clean, classical.bm3d(noisy, sigma=0.08)) > psnr(clean, noisy) + 3


def test_bm3d_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` raise ImportError
    assert not classical.bm3d_available()
    with pytest.raises(ImportError, match=r"pip install stm-zoo\[baselines\]"):
        classical.bm3d(np.zeros((16, 16)))


def test_bad_input_is_one_line_error():
    with pytest.raises(ValueError, match="2-D"):
        classical.remove_scars(np.zeros((4, 4, 1)))
    with pytest.raises(ValueError, match="NaN"):
        classical.median3(np.full((4, 4), np.nan))
