"""Image-quality measures.

Training-time metrics (`psnr_ops`, `ssim_ops`, `psnr_ssim_metrics`) are keras.ops functions that run inside the
compiled train step on any backend. Evaluation functions below them work on numpy arrays.
"""

from dataclasses import asdict, dataclass

import numpy as np
from keras import metrics as keras_metrics
from keras import ops
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from stm_zoo.level import plane_fit


def psnr_ops(y_true, y_pred, max_val: float = 1.0):
    """Per-image PSNR in dB of images in [0, max_val]."""
    mse = ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))
    return 10.0 * ops.log10(max_val**2 / ops.maximum(mse, 1e-10))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    g = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    g = np.outer(g, g) / np.sum(g) ** 2
    return g[:, :, None, None].astype("float32")


def ssim_ops(y_true, y_pred, max_val: float = 1.0):
    """Per-image SSIM (Wang et al. 2004; 11×11 Gaussian window, σ = 1.5, valid region), single channel."""
    window = ops.convert_to_tensor(_gaussian_window())
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2

    def blur(x):
        return ops.conv(x, window, padding="valid")

    mu_x, mu_y = blur(y_true), blur(y_pred)
    var_x = blur(y_true * y_true) - mu_x * mu_x
    var_y = blur(y_pred * y_pred) - mu_y * mu_y
    cov = blur(y_true * y_pred) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ops.mean(ssim_map, axis=(1, 2, 3))


def psnr_ssim_metrics() -> list:
    """PSNR and SSIM as Keras metrics computed inside the train step (the trainers compute SSIM once per epoch
    instead: `stm_zoo.training.core.ValidationSSIM`)."""
    return [
        keras_metrics.MeanMetricWrapper(psnr_ops, name="psnr"),
        keras_metrics.MeanMetricWrapper(ssim_ops, name="ssim"),
    ]


# --- Evaluation on numpy arrays (2-D float images; full-reference ones in [0, 1]) ---


def _as_image(image, what: str = "image") -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D image, got shape {image.shape}")
    if not np.all(np.isfinite(image)):
        raise ValueError(f"{what}: contains NaN or infinite values")
    return image


def _as_pair(clean, estimate) -> tuple[np.ndarray, np.ndarray]:
    clean, estimate = _as_image(clean, "clean"), _as_image(estimate, "estimate")
    if clean.shape != estimate.shape:
        raise ValueError(f"clean and estimate differ in shape: {clean.shape} vs {estimate.shape}")
    return clean, estimate


def psnr(clean, estimate) -> float:
    """PSNR in dB for images in [0, 1] (scikit-image, data_range=1); inf for identical images."""
    clean, estimate = _as_pair(clean, estimate)
    if np.array_equal(clean, estimate):
        return float("inf")
    return float(peak_signal_noise_ratio(clean, estimate, data_range=1.0))


def ssim(clean, estimate) -> float:
    """SSIM for images in [0, 1] (scikit-image, data_range=1) with Wang et al. 2004's 11×11 Gaussian window,
    σ = 1.5, population statistics: the same definition as the training-time `ssim_ops`."""
    clean, estimate = _as_pair(clean, estimate)
    return float(
        structural_similarity(
            clean, estimate, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


def uqi(clean, estimate, window: int = 8) -> float:
    """Universal quality index (Wang & Bovik 2002): mean over all `window`×`window` windows inside the image of
    Q = 4·σxy·μx·μy / ((σx² + σy²)(μx² + μy²)), with the paper's rules for flat windows.

    Own code rather than a package (sewar's `uqi` mixes window sums and means and crops the map unevenly)."""
    x, y = _as_pair(clean, estimate)
    h, w = x.shape
    if not 1 <= window <= min(h, w):
        raise ValueError(f"uqi: window {window} does not fit a {h}×{w} image")
    lo = window // 2  # uniform_filter's window at output i spans input i - lo .. i - lo + window - 1
    inside = (slice(lo, lo + h - window + 1), slice(lo, lo + w - window + 1))  # windows fully in the image

    def window_mean(a):
        return ndimage.uniform_filter(a, size=window, mode="constant")[inside]

    mu_x, mu_y = window_mean(x), window_mean(y)
    var_x = window_mean(x * x) - mu_x**2
    var_y = window_mean(y * y) - mu_y**2
    cov = window_mean(x * y) - mu_x * mu_y
    var_sum, mean_sq_sum = var_x + var_y, mu_x**2 + mu_y**2
    eps = 1e-12  # rounding floor: a window whose variances sum below it is flat
    flat_var, zero_mean = var_sum < eps, mean_sq_sum < eps
    q = np.ones_like(mu_x)  # both flat and zero: identical windows
    both = ~flat_var & ~zero_mean
    q[both] = 4 * cov[both] * mu_x[both] * mu_y[both] / (var_sum[both] * mean_sq_sum[both])
    only_means = flat_var & ~zero_mean
    q[only_means] = 2 * mu_x[only_means] * mu_y[only_means] / mean_sq_sum[only_means]
    only_vars = ~flat_var & zero_mean
    q[only_vars] = 2 * cov[only_vars] / var_sum[only_vars]
    return float(q.mean())


def evaluate_pair(clean, estimate) -> dict:
    """Full-reference scores of one denoised (or noisy) image against its clean original."""
    return {"psnr": psnr(clean, estimate), "ssim": ssim(clean, estimate), "uqi": uqi(clean, estimate)}


def stripe_index(image) -> float:
    """No-reference stripe measure: std of the row-to-row differences of row medians divided by the std of the
    within-row residual (image minus its row medians), both after a least-squares plane fit. Large = row offsets
    and streaks; NaN for a flat image. Same definition as the `stripe_index` column of the shared MANIFEST.csv."""
    image = _as_image(image)
    if image.shape[0] < 3:
        raise ValueError(f"stripe_index needs at least 3 rows, got shape {image.shape}")
    residual = plane_fit(image)
    row_medians = np.median(residual, axis=1)
    within_row = np.std(residual - row_medians[:, None])
    if within_row <= 1e-10 * np.abs(image).max():  # flat up to rounding
        return float("nan")
    return float(np.std(np.diff(row_medians)) / within_row)


def line_error(clean, estimate) -> float:
    """Full-reference line offsets: std of the line-to-line differences of the row medians of estimate − clean,
    after a plane fit (the numerator of `stripe_index`, taken on the error). The stripes an estimate has that
    the clean image lacks, in image units; 0 when it has none. Unlike the stripe index it does not reward
    levelling away row-median structure the clean image has (row alignment does)."""
    clean, estimate = _as_pair(clean, estimate)
    if clean.shape[0] < 3:
        raise ValueError(f"line_error needs at least 3 rows, got shape {clean.shape}")
    return float(np.std(np.diff(np.median(plane_fit(estimate - clean), axis=1))))


@dataclass
class LatticeFidelity:
    """How a denoiser treated the periodicity of an image (see `lattice_fidelity`).

    Peaks are (ky, kx) frequency indices (cycles per image height / width), one of each ±k pair."""

    n_peaks: int  # peaks of `before` tracked (its strongest, up to n_peaks)
    kept_fraction: float  # share of them still a local maximum of `after` within ±1 px (NaN with no peaks)
    amplitude_ratio: float  # median over tracked peaks of amplitude after / before (NaN with no peaks)
    n_invented: int  # strong peaks of `after` with no peak of `before` within ±1 px
    peaks: list
    kept: list
    invented: list

    def as_dict(self) -> dict:
        return asdict(self)


def _amplitude_spectrum(image: np.ndarray) -> np.ndarray:
    """|FFT| of the plane-levelled, Hann-windowed image, DC at (h // 2, w // 2)."""
    h, w = image.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    return np.abs(np.fft.fftshift(np.fft.fft2(plane_fit(image) * window)))


def _peak_snr(amp: np.ndarray, floor_size: int = 9, line_size: int = 33) -> np.ndarray:
    """Signal-to-background of every candidate peak, 0 elsewhere. Candidates are the 3×3 local maxima of the
    spectrum in one half-plane (the other mirrors it), away from the DC and the kx = 0 line (Hann leakage spreads
    both over ±1 bin). The background is the larger of the median of the `floor_size`² neighbourhood and the
    medians of the `line_size` bins along the peak's column and row: periodic pick-up (a fixed frequency along
    the fast scan axis whose phase changes from line to line) draws a streak over every ky at its kx, whose
    local maxima are no lattice peaks. Taken at candidates only (a sliding median over a 2048² spectrum takes
    seconds)."""
    h, w = amp.shape
    ky, kx = np.mgrid[:h, :w]
    ky, kx = ky - h // 2, kx - w // 2
    allowed = (np.abs(kx) > 1) & (ky**2 + kx**2 > 4) & ((ky > 0) | ((ky == 0) & (kx > 0)))
    rows, cols = np.nonzero((amp == ndimage.maximum_filter(amp, size=3, mode="wrap")) & allowed)
    half, line_half = floor_size // 2, line_size // 2
    padded = np.pad(amp, line_half, mode="wrap")  # the spectrum is periodic
    square = np.arange(-half, half + 1) + line_half
    line = np.arange(-line_half, line_half + 1) + line_half
    snr = np.zeros_like(amp)
    tiny = 1e-12 * max(amp.max(), 1e-300)
    for chunk in range(0, len(rows), 65536):
        r, c = rows[chunk : chunk + 65536], cols[chunk : chunk + 65536]
        patches = padded[(r[:, None] + square)[:, :, None], (c[:, None] + square)[:, None, :]]
        background = np.median(patches.reshape(len(r), -1), axis=1)
        column = padded[r[:, None] + line, c[:, None] + line_half]
        row = padded[r[:, None] + line_half, c[:, None] + line]
        background = np.maximum(background, np.maximum(np.median(column, axis=1), np.median(row, axis=1)))
        snr[r, c] = amp[r, c] / np.maximum(background, tiny)
    return snr


def _strongest_peaks(amp, snr, n_peaks, min_snr) -> list[tuple[int, int]]:
    rows, cols = np.nonzero(snr >= min_snr)
    order = np.argsort(-amp[rows, cols], kind="stable")[:n_peaks]
    return [(int(rows[i]), int(cols[i])) for i in order]


def _has_peak_near(snr, row, col, min_snr) -> bool:
    return bool((snr[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2] >= min_snr).any())


def lattice_fidelity(before, after, n_peaks: int = 8, min_snr: float = 10.0, present_snr: float = 3.0):
    """Compare the Bragg / superlattice peaks of the 2-D FFT of `before` and `after` (e.g. noisy and denoised).

    A peak is a 3×3 local maximum of the Hann-windowed amplitude spectrum standing `min_snr` times above its local
    median background and above the background of its column and row of the spectrum (the streaks of periodic
    pick-up are no lattice); the DC and the kx = 0 line (where row offsets live) are left out, so removing
    stripes costs nothing here. The `n_peaks` strongest peaks of `before` are tracked: kept if `after` still has
    a local maximum at least `present_snr` above background within ±1 px, with the amplitude ratio after / before
    (maximum over ±1 px). The `n_peaks` strongest peaks of `after` that have no such peak in `before` are
    "invented". A denoiser should keep every peak (kept_fraction 1, amplitude_ratio near 1) and invent none.
    """
    before, after = _as_image(before, "before"), _as_image(after, "after")
    if before.shape != after.shape:
        raise ValueError(f"before and after differ in shape: {before.shape} vs {after.shape}")
    h, w = before.shape
    amp_b, amp_a = _amplitude_spectrum(before), _amplitude_spectrum(after)
    snr_b, snr_a = _peak_snr(amp_b), _peak_snr(amp_a)
    tracked = _strongest_peaks(amp_b, snr_b, n_peaks, min_snr)
    kept, ratios = [], []
    for row, col in tracked:
        kept.append(_has_peak_near(snr_a, row, col, present_snr))
        ratios.append(float(amp_a[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2].max() / amp_b[row, col]))
    invented = [
        (row, col)
        for row, col in _strongest_peaks(amp_a, snr_a, n_peaks, min_snr)
        if not _has_peak_near(snr_b, row, col, present_snr)
    ]

    def freq(peaks):
        return [(row - h // 2, col - w // 2) for row, col in peaks]

    return LatticeFidelity(
        n_peaks=len(tracked),
        kept_fraction=float(np.mean(kept)) if tracked else float("nan"),
        amplitude_ratio=float(np.median(ratios)) if tracked else float("nan"),
        n_invented=len(invented),
        peaks=freq(tracked),
        kept=kept,
        invented=freq(invented),
    )
