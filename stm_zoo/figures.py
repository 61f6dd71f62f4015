"""Figures for papers and lab notebooks (matplotlib, no display needed): before/after panels and model
comparisons.

Colour limits are robust: percentiles (1–99 %) of the pixels inside fences at the quartiles ∓ 2 × IQR,
so a few dark rows or spikes — even a few percent of the image — do not wash the rest out. Heights are shown in
the largest unit that keeps the colour-bar numbers ≥ 1 (µm, nm, pm; µA … fA for current).
"""

from pathlib import Path

import numpy as np

from stm_zoo._atomic import atomic_path

# Unit prefixes for colour bars and scale bars, by the scan's SI unit.
_PREFIXES = {
    "m": [(1e-6, "µm"), (1e-9, "nm"), (1e-12, "pm")],
    "A": [(1e-6, "µA"), (1e-9, "nA"), (1e-12, "pA"), (1e-15, "fA")],
}
_LENGTHS = [(1e-3, "mm"), (1e-6, "µm"), (1e-9, "nm"), (1e-12, "pm")]

COLOUR_PERCENTILES = (1.0, 99.0)  # image panels
REMOVED_PERCENTILE = 99.0  # the 'removed' panel: ± this percentile of |noisy − denoised|
FFT_PERCENTILES = (50.0, 99.9)  # log amplitude: the median (noise floor) to just below the DC peak
_FENCE = 2.0  # × IQR beyond the quartiles (Tukey's fences, a little wider: Gaussian data lose < 0.1 % to them)


def _scale_for(values, unit: str) -> tuple[float, str]:
    """(factor, name) for a colour bar over `values` (or a (low, high) pair): the largest prefix of `unit` ("m",
    "A") not larger than their span; for other units (a.u., V) a power of 1000 when the span is outside
    0.01 … 10⁴, named like "×10⁻⁹ a.u." (never matplotlib's offset text, which would collide with the name)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    span = float(np.ptp(values)) if values.size else 0.0
    if unit in _PREFIXES:
        for factor, name in _PREFIXES[unit]:
            if span >= factor:
                return factor, name
        return _PREFIXES[unit][-1]
    if span == 0 or 1e-2 <= span < 1e4:
        return 1.0, unit
    exp = int(3 * np.floor(np.log10(span) / 3))
    return 10.0**exp, f"×$10^{{{exp}}}$ {unit}"


def robust_limits(image, percentiles=COLOUR_PERCENTILES, fence: float = _FENCE) -> tuple[float, float]:
    """Colour limits of `image`: the `percentiles` of its pixels inside Tukey's fences (quartiles ∓ `fence`
    × IQR), NaN ignored. Returns (low, high) with low < high.

    Percentiles alone are dragged when outliers exceed their share (a 1 % limit sits inside dark rows that
    cover 3 % of the image); the fences are set by the middle half of the pixels, so a minority of outliers
    cannot move them, and the percentiles are then taken without the outliers.
    """
    values = np.asarray(image, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    q1, q3 = np.percentile(values, [25, 75])
    inside = values[(values >= q1 - fence * (q3 - q1)) & (values <= q3 + fence * (q3 - q1))]
    lo, hi = np.percentile(inside if inside.size > 1 else values, percentiles)
    if hi <= lo:  # (almost) constant over the percentile range
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return float(lo), float(hi)


def symmetric_limit(image, percentile: float = REMOVED_PERCENTILE, fence: float = _FENCE) -> float:
    """Half-width of a symmetric diverging scale around 0: the `percentile` of |image| over its pixels inside
    Tukey's fences (as `robust_limits`; all pixels when most are equal), NaN ignored."""
    values = np.asarray(image, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0
    q1, q3 = np.percentile(values, [25, 75])
    inside = values[(values >= q1 - fence * (q3 - q1)) & (values <= q3 + fence * (q3 - q1))]
    v = float(np.percentile(np.abs(inside if q3 > q1 and inside.size > 1 else values), percentile))
    return v if v > 0 else (float(np.abs(values).max()) or 1.0)


def nice_length(target: float) -> float:
    """The 1, 2 or 5 × 10^k nearest to `target` (on a log scale)."""
    if not target > 0:
        raise ValueError(f"need a positive length, got {target!r}")
    exp = np.floor(np.log10(target))
    candidates = [m * 10.0**e for e in (exp - 1, exp, exp + 1) for m in (1, 2, 5)]
    best = min(candidates, key=lambda c: abs(np.log(c / target)))
    return float(f"{best:.1g}")  # exact decimal (5e-09, not 5.000000000000001e-09)


def _length_label(length_m: float) -> str:
    factor, unit = next(((f, u) for f, u in _LENGTHS if length_m >= f * 0.999), _LENGTHS[-1])
    return f"{length_m / factor:g} {unit}"


def _robust_plane(data: np.ndarray, iterations: int = 3) -> np.ndarray:
    """The least-squares plane a + b*x + c*y of `data`, refitted on the pixels inside the fences of the
    residual (quartiles ∓ 2 × IQR) so that outlier rows or spikes do not tilt it. NaN pixels are ignored."""
    rows, cols = data.shape
    y, x = np.mgrid[0:rows, 0:cols]
    x = x / max(cols - 1, 1) - 0.5
    y = y / max(rows - 1, 1) - 0.5
    use = np.isfinite(data)
    plane = np.zeros_like(data)
    for _ in range(iterations):
        if use.sum() < 3:
            break
        design = np.stack([np.ones(use.sum()), x[use], y[use]], axis=1)
        coef, *_ = np.linalg.lstsq(design, data[use], rcond=None)
        plane = coef[0] + coef[1] * x + coef[2] * y
        resid = data - plane
        q1, q3 = np.nanpercentile(resid, [25, 75])
        keep = np.isfinite(resid) & (resid >= q1 - _FENCE * (q3 - q1)) & (resid <= q3 + _FENCE * (q3 - q1))
        if keep.sum() < 3 or (keep == use).all():
            break
        use = keep
    return plane


def _scale_bar(ax, width_px: int, width_m: float | None, fontsize: float = 9.0):
    """A white bar of a round length (1, 2 or 5 × 10^k metres, nearest to 1/5 of the image width) with its
    label on a dark translucent box at the lower left; in pixels when the scan size is unknown. Returns the
    bar's (length, label) in the scan's units (metres, or pixels)."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    if width_m:
        length = nice_length(width_m / 5)
        px, label = length / width_m * width_px, _length_label(length)
    else:
        length = nice_length(width_px / 5)
        px, label = length, f"{length:g} px"
    rows = ax.get_images()[0].get_array().shape[0] if ax.get_images() else width_px
    bar = AnchoredSizeBar(ax.transData, px, label, loc="lower left", pad=0.35, borderpad=0.6, sep=3,
                          frameon=True, color="white", size_vertical=max(rows, width_px) * 0.012,
                          fontproperties={"size": fontsize, "weight": "bold"})
    bar.patch.set(facecolor="black", alpha=0.55, edgecolor="none", boxstyle="round,pad=0.2")
    ax.add_artist(bar)
    return length, label


def _fill_nan(image: np.ndarray) -> np.ndarray:
    ok = np.isfinite(image)
    return image if ok.all() else np.where(ok, image, np.mean(image[ok]) if ok.any() else 0.0)


def _fft_log(image: np.ndarray) -> np.ndarray:
    z = _fill_nan(image)
    z = z - z.mean()
    window = np.outer(np.hanning(z.shape[0]), np.hanning(z.shape[1]))
    return np.log10(np.abs(np.fft.fftshift(np.fft.fft2(z * window))) + 1e-30)


def fft_extent(shape: tuple[int, int], size: tuple[float, float] | None) -> tuple[list[float], str]:
    """imshow `extent` of a fftshift-ed spectrum and its axis unit: spatial frequency in 1/nm when the scan
    size (metres) is known, else cycles per image. Pixel centres sit on the frequencies of `np.fft.fftfreq`."""
    rows, cols = shape
    if size:
        dy, dx = size[0] / rows * 1e9, size[1] / cols * 1e9  # nm per pixel
        unit = "1/nm"
    else:
        dy, dx = 1.0 / rows, 1.0 / cols  # image lengths per pixel
        unit = "cycles/image"
    fx, fy = np.fft.fftshift(np.fft.fftfreq(cols, dx)), np.fft.fftshift(np.fft.fftfreq(rows, dy))
    hx, hy = 0.5 / (cols * dx), 0.5 / (rows * dy)  # half a frequency step
    return [fx[0] - hx, fx[-1] + hx, fy[0] - hy, fy[-1] + hy], unit


def _save(fig, path: Path):
    path = Path(path)
    with atomic_path(path, path.suffix or ".png") as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight")


def _check_suffix(path) -> None:
    """A one-line ValueError, before any drawing, for an output matplotlib cannot write."""
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(path)
    supported = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lower().lstrip(".")
    if suffix and suffix not in supported:
        raise ValueError(f"{path}: cannot write a figure as .{suffix} (use one of "
                         f"{' '.join('.' + s for s in sorted(supported))})")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory (give a file name such as {path / 'figure.png'})")


def before_after(noisy, denoised, path, title: str = "") -> Path:
    """Write `before_after_figure(noisy, denoised, title)` to `path` (format from its suffix: .png, .pdf,
    .svg, ...; written atomically) and return `path`. An unsupported suffix or a directory raises a
    one-line ValueError before anything is drawn."""
    _check_suffix(path)
    _save(before_after_figure(noisy, denoised, title), path)
    return Path(path)


def before_after_figure(noisy, denoised, title: str = ""):
    """noisy | denoised | removed (noisy − denoised) | FFT before | FFT after, as a matplotlib Figure.

    `noisy` and `denoised` are `Scan`s (or 2-D arrays). Each is levelled by a plane fitted robustly (outlier
    pixels left out): `noisy` by its own, `denoised` so that it differs from it by exactly what 'removed'
    shows (noisy − denoised without its arbitrary offset and tilt). The two share robust colour limits
    (`robust_limits`: 1–99 % percentiles without outliers) in a unit that suits their range; 'removed' has a
    symmetric diverging scale at ± the 99th percentile of its magnitude. A scale bar of a round length is drawn when
    the scan size is known (else one in pixels). The FFT panels show the log₁₀ amplitude (Hann window) on
    axes of spatial frequency in 1/nm (cycles per image when the size is unknown), with the same robust
    limits for both. NaN pixels (unscanned rows) are grey and do not enter any limit. The figure is not
    registered with pyplot (nothing to close; any backend).
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    def parts(x):
        if hasattr(x, "unit") and not isinstance(x, np.ndarray):  # a Scan (an ndarray has a .data buffer too)
            return np.asarray(x.data, dtype=np.float64), x.unit, x.size
        return np.asarray(x, dtype=np.float64), "a.u.", None

    before, unit, size = parts(noisy)
    after = parts(denoised)[0]
    if after.shape != before.shape:
        raise ValueError(f"noisy and denoised differ in shape: {before.shape} vs {after.shape}")
    before = before - _robust_plane(before)
    removed = before - after  # the offset and tilt between the two are arbitrary in topography: level them too
    removed = removed - _robust_plane(removed)
    after = before - removed
    low, high = robust_limits(before)
    factor, unit_name = _scale_for((low, high), unit)
    r = symmetric_limit(removed)
    if not r > 1e-6 * (high - low):  # nothing removed (an identity model): a white panel on the image's scale
        r = (high - low) / 2
    r_factor, r_unit = _scale_for((-r, r), unit)
    rows, cols = before.shape
    pixel_aspect = (size[0] / rows) / (size[1] / cols) if size else 1.0  # dy/dx: square pixels on screen
    aspect = float(np.clip(rows * pixel_aspect / cols, 0.25, 4.0))  # height / width of the image

    panel_w = 3.5
    fig = Figure(figsize=(5 * (panel_w + 0.9), panel_w * min(aspect, 1.6) + 1.0), layout="constrained")
    axes = fig.subplots(1, 5)
    fig.get_layout_engine().set(w_pad=0.06, wspace=0.04)
    cbar_kw = dict(fraction=0.046, pad=0.03, shrink=0.9)
    panels = [("noisy", before, "afmhot", (low, high), factor, unit_name),
              ("denoised", after, "afmhot", (low, high), factor, unit_name),
              ("removed (noisy − denoised)", removed, "RdBu_r", (-r, r), r_factor, r_unit)]
    for ax, (name, img, cmap, (vmin, vmax), f, u) in zip(axes, panels):
        im = ax.imshow(img / f, cmap=colormaps[cmap].with_extremes(bad="0.75"),  # unscanned (NaN) pixels grey
                       vmin=vmin / f, vmax=vmax / f, interpolation="antialiased", aspect=pixel_aspect)
        cbar = fig.colorbar(im, ax=ax, extend="both", **cbar_kw)
        cbar.ax.set_title(u, fontsize=9, pad=4)  # above the bar: never into the next panel
        cbar.ax.tick_params(labelsize=8)
        ax.set_title(name, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
        _scale_bar(ax, cols, size[1] if size else None)

    f_before, f_after = _fft_log(before), _fft_log(after)
    flo, fhi = np.percentile(f_before, FFT_PERCENTILES)
    extent, f_unit = fft_extent(before.shape, size)
    for ax, name, spectrum in ((axes[3], "FFT before", f_before), (axes[4], "FFT after", f_after)):
        im = ax.imshow(spectrum, cmap="magma", vmin=flo, vmax=fhi, interpolation="antialiased", extent=extent,
                       origin="lower", aspect="equal")
        cbar = fig.colorbar(im, ax=ax, extend="both", **cbar_kw)
        cbar.set_label("log₁₀ amplitude (a.u.)", fontsize=9)
        cbar.ax.tick_params(labelsize=8)
        ax.set_title(name, fontsize=11)
        ax.set_xlabel(f"$f_x$ ({f_unit})", fontsize=9)
        ax.set_ylabel(f"$f_y$ ({f_unit})", fontsize=9, labelpad=1)
        ax.tick_params(labelsize=8)
        ax.locator_params(nbins=5)

    info = f"{rows} × {cols} px"
    if size:
        info = f"{_length_label(nice_round(size[0]))} × {_length_label(nice_round(size[1]))}, " + info
    fig.suptitle(f"{title}   ({info})" if title else info, fontsize=12)
    return fig


def nice_round(x: float) -> float:
    """`x` rounded to 3 significant digits (scan ranges such as 2.4000732e-07 m → 240 nm)."""
    return float(f"{x:.3g}")


def comparison(images: dict[str, np.ndarray], path, title: str = "") -> Path:
    """One scan through several methods side by side (like the MAED-CNN paper's Fig. 5), shared colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _check_suffix(path)
    names = list(images)
    cols = min(len(names), 5)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.8 * rows), squeeze=False)
    low, high = robust_limits(images[names[0]])
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        ax.imshow(images[name], cmap="afmhot", vmin=low, vmax=high, interpolation="antialiased")
        ax.set_title(Path(name).stem if name.endswith(".keras") else name, fontsize=10)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    plt.close(fig)
    return Path(path)
