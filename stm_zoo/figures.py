"""Figures for papers and lab notebooks (matplotlib, Agg): before/after panels and model comparisons."""

from pathlib import Path

import numpy as np

from stm_zoo._atomic import atomic_path

# Height units for colour bars: the largest that keeps numbers ≥ 1 over the image's range.
_UNITS = [(1e-6, "µm"), (1e-9, "nm"), (1e-12, "pm")]


def _scale_for(values: np.ndarray, unit: str) -> tuple[float, str]:
    if unit != "m":
        return 1.0, unit
    span = float(np.ptp(values)) or 1e-12
    for factor, name in _UNITS:
        if span >= factor:
            return factor, name
    return 1e-12, "pm"


def _scale_bar(ax, width_px: int, width_m: float | None):
    """A white bar of a round length (1, 2 or 5 × 10^k metres) near 1/5 of the image width."""
    if not width_m:
        return
    from matplotlib.patches import Rectangle

    target = width_m / 5
    exp = np.floor(np.log10(target))
    length = max((m * 10**exp for m in (1, 2, 5) if m * 10**exp <= target), default=10**exp)
    factor, unit = next(((f, u) for f, u in _UNITS + [(1e-10, "Å")] if length >= f), (1e-12, "pm"))
    px = length / width_m * width_px
    y = 0.94
    ax.add_patch(Rectangle((0.04, y - 0.015), px / width_px, 0.02, transform=ax.transAxes, color="white"))
    ax.text(0.04 + px / width_px / 2, y - 0.03, f"{length / factor:g} {unit}", transform=ax.transAxes,
            color="white", ha="center", va="top", fontsize=8)


def _fft_log(image: np.ndarray) -> np.ndarray:
    z = image - image.mean()
    window = np.outer(np.hanning(z.shape[0]), np.hanning(z.shape[1]))
    return np.log10(np.abs(np.fft.fftshift(np.fft.fft2(z * window))) + 1e-12)


def _save(fig, path: Path):
    path = Path(path)
    with atomic_path(path, path.suffix or ".png") as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight")


def before_after(noisy, denoised, path, title: str = "") -> Path:
    """noisy | denoised | removed (difference) | FFT before | FFT after, with colour bars in physical units
    and a scale bar from the scan size. `noisy` and `denoised` are `Scan`s (or 2-D arrays)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stm_zoo import level

    def parts(x):
        return (x.data, x.unit, x.size) if hasattr(x, "data") else (np.asarray(x), "a.u.", None)

    before, unit, size = parts(noisy)
    after = parts(denoised)[0]
    before, after = level.plane_fit(before), level.plane_fit(after)
    factor, unit_name = _scale_for(before, unit)
    low, high = np.percentile(before, [0.5, 99.5])
    fig, axes = plt.subplots(1, 5, figsize=(20, 4.2))
    panels = [("noisy", before, "afmhot", (low, high)), ("denoised", after, "afmhot", (low, high)),
              ("removed (noisy − denoised)", before - after, "RdBu_r", None)]
    for ax, (name, img, cmap, lim) in zip(axes, panels):
        vmin, vmax = lim if lim else (-np.abs(img).max(), np.abs(img).max())
        im = ax.imshow(img / factor, cmap=cmap, vmin=vmin / factor, vmax=vmax / factor, interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label=unit_name)
        ax.set_title(name)
        _scale_bar(ax, img.shape[1], size[1] if size else None)
    f_before, f_after = _fft_log(before), _fft_log(after)
    flo, fhi = np.percentile(f_before, [50, 99.9])
    for ax, name, f in ((axes[3], "FFT before", f_before), (axes[4], "FFT after", f_after)):
        ax.imshow(f, cmap="magma", vmin=flo, vmax=fhi, interpolation="nearest")
        ax.set_title(name)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    _save(fig, path)
    plt.close(fig)
    return Path(path)


def comparison(images: dict[str, np.ndarray], path, title: str = "") -> Path:
    """One scan through several methods side by side (like the MAED-CNN paper's Fig. 5), shared colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(images)
    cols = min(len(names), 5)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.8 * rows), squeeze=False)
    low, high = np.percentile(images[names[0]], [0.5, 99.5])
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        ax.imshow(images[name], cmap="afmhot", vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(Path(name).stem if name.endswith(".keras") else name, fontsize=10)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    plt.close(fig)
    return Path(path)
