"""stm_zoo.figures: robust colour limits, scale bar, FFT axes, layout and output formats (tiny synthetic scans).

The end-to-end `stm-zoo show` run is tested in test_evaluate.py::test_figures_are_written.
"""

import math

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from stm_zoo import figures
from stm_zoo.io import Scan


def _surface(rows=64, cols=64, amplitude=1e-9, seed=0):
    """A smooth ±`amplitude` corrugation plus a little noise, in metres."""
    y, x = np.mgrid[0:rows, 0:cols]
    rng = np.random.default_rng(seed)
    return amplitude * (np.sin(x / 3.0) * np.cos(y / 4.0) + 0.05 * rng.standard_normal((rows, cols)))


def _scan(data, size=(20e-9, 20e-9)):
    return Scan(data=data, unit="m", size=size)


def _image_axes(fig):
    """The five panels (noisy, denoised, removed, FFT before, FFT after), without the colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _colourbar_unit(fig, panel):
    """The unit written above the colour bar of image panel `panel` (the colour bar's title)."""
    image = _image_axes(fig)[panel].get_images()[0]
    return image.colorbar.ax.get_title()


def _scale_bar_of(ax):
    bars = [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]
    assert len(bars) == 1
    bar = bars[0]
    return bar.size_bar.get_children()[0].get_width(), bar.txt_label.get_text()


def _is_nice(value):
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    return any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 5))


def test_colour_limits_are_not_dragged_by_a_few_outlier_rows():
    clean = _surface()
    clean[:4] -= 50e-9  # four dark rows (6 % of the image): a tip change at the start of the scan
    noise = 0.05e-9 * np.random.default_rng(5).standard_normal(clean.shape)
    noisy = clean + noise
    noisy[30, 10:14] += 80e-9  # and a spike, which the model removes
    fig = figures.before_after_figure(_scan(noisy), _scan(clean))
    before, after, removed = (ax.get_images()[0] for ax in _image_axes(fig)[:3])
    low, high = before.get_clim()
    assert _colourbar_unit(fig, 0) == "nm"
    # the other rows span about ±1 nm: the limits stay there, not at -50 nm (min/max or a 1 % percentile would)
    assert -1.5 < low < -0.5 and 0.5 < high < 1.5, (low, high)
    assert after.get_clim() == (low, high)
    # 'removed': symmetric about zero, set by the removed noise (±2.6 σ = ±130 pm), not by the 80 nm spike
    r_low, r_high = removed.get_clim()
    assert _colourbar_unit(fig, 2) == "pm"
    assert r_low == pytest.approx(-r_high) and 80 < r_high < 200, (r_low, r_high)
    assert removed.cmap.name.startswith("RdBu")


def test_robust_limits_on_gaussian_data_are_the_percentiles_and_ignore_nan():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((200, 200))
    p1, p99 = np.percentile(data, [1, 99])
    data[:5] = np.nan  # unscanned rows
    low, high = figures.robust_limits(data)
    assert low == pytest.approx(p1, abs=0.1) and high == pytest.approx(p99, abs=0.1)
    assert figures.robust_limits(np.full((8, 8), 3.0)) == (2.5, 3.5)  # constant: a usable range, not a crash


def test_identity_model_gives_a_white_removed_panel_not_a_crash():
    data = _surface()
    fig = figures.before_after_figure(_scan(data), _scan(data))
    removed = _image_axes(fig)[2].get_images()[0]
    r_low, r_high = removed.get_clim()
    assert r_high > 0 and np.allclose(removed.get_array(), 0, atol=r_high * 1e-6)


@pytest.mark.parametrize("width, expected", [(240e-9, "50 nm"), (11.25e-9, "2 nm"), (50e-9, "10 nm"),
                                             (3e-6, "500 nm"), (1.2e-9, "200 pm"),
                                             (80e-9, "20 nm")])
def test_scale_bar_is_a_nice_length_in_the_scans_units(width, expected):
    cols = 96
    fig = figures.before_after_figure(_scan(_surface(64, cols), size=(width * 64 / cols, width)),
                                      _scan(_surface(64, cols)))
    for ax in _image_axes(fig)[:3]:
        bar_px, label = _scale_bar_of(ax)
        length_m = bar_px / cols * width
        assert _is_nice(length_m), length_m
        assert 0.1 < bar_px / cols < 0.35  # readable against the image: about a fifth of its width
        assert label == expected


def test_scale_bar_in_pixels_when_the_size_is_unknown():
    fig = figures.before_after_figure(_surface(64, 100), _surface(64, 100))
    bar_px, label = _scale_bar_of(_image_axes(fig)[0])
    assert bar_px == 20 and label == "20 px"


def test_nice_length():
    assert figures.nice_length(48e-9) == 5e-8
    assert figures.nice_length(2.25e-9) == 2e-9
    assert figures.nice_length(0.7) == 0.5
    assert figures.nice_length(3.3) == 5  # nearest on a log scale: 3.3 / 2 > 5 / 3.3
    for target in np.geomspace(1e-12, 1e-3, 40):
        assert _is_nice(figures.nice_length(target))


def test_fft_axes_are_spatial_frequency_in_inverse_nm():
    rows, cols = 64, 96
    fig = figures.before_after_figure(_scan(_surface(rows, cols), size=(8e-9, 12e-9)), _scan(_surface(rows, cols)))
    for ax in _image_axes(fig)[3:]:
        assert "1/nm" in ax.get_xlabel() and "1/nm" in ax.get_ylabel()
        x0, x1, y0, y1 = ax.get_images()[0].get_extent()
        # Nyquist = 1 / (2 × pixel size): 96 px over 12 nm → 4 /nm; 64 px over 8 nm → 4 /nm
        assert -x0 == pytest.approx(4.0, rel=0.03) and x1 == pytest.approx(4.0, rel=0.03)
        assert -y0 == pytest.approx(4.0, rel=0.03) and y1 == pytest.approx(4.0, rel=0.03)
        assert len(ax.get_xticks()) > 1  # a labelled axis, not a bare picture
        assert "log" in ax.get_images()[0].colorbar.ax.get_ylabel()


def test_fft_axes_in_cycles_per_image_when_the_size_is_unknown():
    fig = figures.before_after_figure(np.asarray(_surface(32, 48)), np.asarray(_surface(32, 48)))
    ax = _image_axes(fig)[3]
    assert "cycles/image" in ax.get_xlabel() and "cycles/image" in ax.get_ylabel()
    x0, x1, y0, y1 = ax.get_images()[0].get_extent()
    assert (x0, x1, y0, y1) == pytest.approx((-24.5, 23.5, -16.5, 15.5))


def test_labels_do_not_overlap_the_next_panel():
    fig = figures.before_after_figure(_scan(_surface()), _scan(_surface(seed=2)), title="a long title for x.sxm")
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.canvas.draw()
    boxes = [(f"{ax.get_label()} {ax.get_title()}", ax.get_tightbbox(renderer)) for ax in fig.axes]
    assert len(boxes) == 10
    for i, (name_a, a) in enumerate(boxes):
        for name_b, b in boxes[i + 1:]:
            width = min(a.x1, b.x1) - max(a.x0, b.x0)
            height = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert width <= 1 or height <= 1, f"{name_a} overlaps {name_b}"


def test_partial_scan_with_nan_rows_is_drawn():
    data = _surface()
    data[40:] = np.nan  # an aborted scan
    fig = figures.before_after_figure(_scan(data), _scan(data * 0.9))
    low, high = _image_axes(fig)[0].get_images()[0].get_clim()
    assert np.isfinite([low, high]).all() and low < high
    assert np.isfinite(_image_axes(fig)[3].get_images()[0].get_array()).all()


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<svg")])
def test_figure_is_written_in_the_suffixs_format(tmp_path, suffix, magic):
    out = figures.before_after(_scan(_surface(32, 32)), _scan(_surface(32, 32, seed=3)), tmp_path / f"fig{suffix}",
                               title="x")
    assert out == tmp_path / f"fig{suffix}"
    head = out.read_bytes()[:400]
    assert magic in head
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left beside it


def test_unsupported_suffix_is_a_one_line_error_before_drawing(tmp_path):
    with pytest.raises(ValueError, match=r"cannot write a figure as \.xyz") as err:
        figures.before_after(_surface(), _surface(), tmp_path / "fig.xyz")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="is a directory"):
        figures.before_after(_surface(), _surface(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_tiny_arbitrary_units_get_a_power_of_ten_in_the_colour_bar_title():
    fig = figures.before_after_figure(_surface(amplitude=1e-10), _surface(amplitude=1e-10, seed=4))
    title = _colourbar_unit(fig, 0)
    assert "10^{-12}" in title and "a.u." in title  # numbers on the bar stay readable, no offset text
    low, high = _image_axes(fig)[0].get_images()[0].get_clim()
    assert 10 < high < 1000
