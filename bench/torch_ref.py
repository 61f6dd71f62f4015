"""PyTorch references of `autoencoder_thesis`, `dncnn` and `linespec` for `bench/train_speed.py` (bench-only:
`pip install torch`).

The same layers as the Keras models; Adam, MSE. autoencoder_thesis: Conv2d 32 3×3 same + ReLU, MaxPool 2, Conv 32 +
ReLU, MaxPool 2 | Conv 32 + ReLU, Upsample nearest 2, Conv 32 + ReLU, Upsample 2, Conv 1 3×3 + sigmoid (28,353
parameters). dncnn: Conv 64 + ReLU, 15 × [Conv 64 no bias + BN(eps 1e-4) + ReLU], Conv 1 no bias = noise, output
= clamp(input − noise, 0, 1) (556,096 parameters + 1,920 BN statistics). linespec: `LineSpec` below, the
defaults of `stm_zoo/models/linespec.py` layer for layer (416,508 parameters; `line_steps=True`, the ablation: 417,143,
and Keras counts 2 more, the frozen taps of the line difference; `noise_level=True`: 416,652); `bench/torch_parity.py`
copies the published Keras weights into it and compares the outputs.
Run as a worker process: `python bench/torch_ref.py --worker MODEL DATA_DIR` reads JSON commands on stdin and
answers each on a stdout line starting with "@@" (see `bench/train_speed.py`). It times the NCHW and the
`channels_last` memory format in turn on the same batch.
"""

import functools
import sys
from pathlib import Path

import numpy as np
import torch
from harness import published_linespec_kwargs, published_linespec_params, serve, timed
from torch import nn


def thesis_autoencoder() -> nn.Module:
    def conv(cin, cout):
        return nn.Conv2d(cin, cout, 3, padding=1)

    return nn.Sequential(
        conv(1, 32), nn.ReLU(), nn.MaxPool2d(2),
        conv(32, 32), nn.ReLU(), nn.MaxPool2d(2),
        conv(32, 32), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
        conv(32, 32), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
        conv(32, 1), nn.Sigmoid(),
    )


class DnCNN(nn.Module):
    def __init__(self, depth: int = 17, filters: int = 64):
        super().__init__()
        layers = [nn.Conv2d(1, filters, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(filters, filters, 3, padding=1, bias=False), nn.BatchNorm2d(filters, eps=1e-4),
                       nn.ReLU()]
        layers.append(nn.Conv2d(filters, 1, 3, padding=1, bias=False))
        self.noise = nn.Sequential(*layers)

    def forward(self, x):
        return torch.clamp(x - self.noise(x), 0.0, 1.0)


class SameConv2d(nn.Conv2d):
    """Keras `Conv2D(padding="same")`: for stride 1 and an odd kernel the symmetric zero padding PyTorch has; for
    stride 2 XLA/TF's split, the odd pixel after (an even 256 → 128 pads (0, 1), PyTorch's padding=1 (1, 1))."""

    def __init__(self, cin, cout, kernel, stride=1, dilation=1):
        kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        dilation = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation)
        super().__init__(cin, cout, kernel, stride=stride, dilation=dilation,
                         padding="same" if stride == 1 else 0)

    def forward(self, x):
        if self.stride != (1, 1):
            pads = []
            for n, k, s, d in zip(reversed(x.shape[2:]), reversed(self.kernel_size), reversed(self.stride),
                                  reversed(self.dilation)):
                total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
                pads += [total // 2, total - total // 2]
            x = nn.functional.pad(x, pads)
        return super().forward(x)


def _split_pad(size: int, multiple: int) -> tuple[int, int]:
    total = (-size) % multiple
    return total // 2, total - total // 2


def _circular_box_mean(a, size: int):
    """`linespec._circular_box_mean`: a `size` × `size` mean with periodic wrap, rows then columns."""
    return _window_mean(_window_mean(a, size, 2), size, 3)


def _window_mean(a, size: int, dim: int):
    """`linespec._window_mean`: a periodic running mean along `dim` from one cumulative sum."""
    r, n = size // 2, a.shape[dim]
    front = torch.arange(-r - 1, 0, device=a.device) % n
    back = torch.arange(0, r, device=a.device) % n
    total = torch.cumsum(torch.cat([a.index_select(dim, front), a, a.index_select(dim, back)], dim=dim), dim=dim)
    return (total.narrow(dim, size, n) - total.narrow(dim, 0, n)) / size


class SpectralGate(nn.Module):
    """`linespec.SpectralGate` on (B, 1, H, W): FFT of the mean-removed image times a per-frequency gain, an MLP
    4 → hidden → 1 (sigmoid) of the log-amplitude's prominence over circular box means, over its global mean, and
    of the radius; the inverse FFT's real part. `periodic_plus_smooth`: of the image minus its smooth component."""

    def __init__(self, windows=(5, 17), hidden: int = 16, periodic_plus_smooth: bool = False):
        super().__init__()
        self.windows, self.periodic_plus_smooth = tuple(windows), periodic_plus_smooth
        n_features = len(self.windows) + 2
        self.w1 = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_features, hidden)))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = nn.Parameter(nn.init.xavier_uniform_(torch.empty(hidden, 1)))
        self.b2 = nn.Parameter(torch.full((1,), -2.0))

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        image = x - x.mean(dim=(2, 3), keepdim=True)
        spectrum = torch.fft.fft2(image)
        if self.periodic_plus_smooth:
            spectrum = spectrum - _smooth_spectrum(image)
        real, imag = spectrum.real, spectrum.imag
        scale = float(h * w) ** 0.5
        log_amp = 0.5 * torch.log(real * real + imag * imag + 1e-8 * scale * scale) - np.log(scale)
        features = [log_amp - _circular_box_mean(log_amp, k) for k in self.windows]
        features.append(log_amp - log_amp.mean(dim=(2, 3), keepdim=True))
        fy = torch.arange(h, dtype=torch.float32, device=x.device) / h
        fx = torch.arange(w, dtype=torch.float32, device=x.device) / w
        fy, fx = torch.minimum(fy, 1.0 - fy), torch.minimum(fx, 1.0 - fx)
        radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) * 2.0
        features.append(radius.expand_as(log_amp))
        f = torch.stack(features, dim=-1)  # (B, 1, H, W, F)
        gain = torch.sigmoid(torch.relu(f @ self.w1 + self.b1) @ self.w2 + self.b2)[..., 0]
        return torch.fft.ifft2(torch.complex(real * gain, imag * gain)).real


class SpectralBlend(nn.Module):
    """`linespec.SpectralBlend` on (B, 1, H, W): the denoised image's FFT moved towards the reference's by a
    per-frequency gain, an MLP (hidden, sigmoid) of the reference's log-amplitude prominence (circular box means,
    global mean), log |Y| / |X|, |X| and |X − Y| over the noise level, |ky|, |kx| and the noise level (B, 1, 1, 1);
    closed at |kx| ≤ 8 and around unpartnered peaks, no bin raised above 10× the denoised local background."""

    def __init__(self, windows=(5, 17), hidden: int = 16):
        super().__init__()
        self.windows = tuple(windows)
        self.w1 = nn.Parameter(nn.init.xavier_uniform_(torch.empty(len(self.windows) + 8, hidden)))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = nn.Parameter(torch.zeros(hidden, 1))
        self.b2 = nn.Parameter(torch.full((1,), -0.4))

    def forward(self, reference, denoised, level):
        h, w = reference.shape[2], reference.shape[3]
        mean = denoised.mean(dim=(2, 3), keepdim=True)
        x, y = torch.fft.fft2(reference - mean), torch.fft.fft2(denoised - mean)
        scale = float(h * w) ** 0.5
        x_log = 0.5 * torch.log(x.real ** 2 + x.imag ** 2 + 1e-8 * scale * scale) - np.log(scale)
        y_log = 0.5 * torch.log(y.real ** 2 + y.imag ** 2 + 1e-8 * scale * scale) - np.log(scale)
        features = [x_log - _circular_box_mean(x_log, k) for k in self.windows]
        features.append(x_log - x_log.mean(dim=(2, 3), keepdim=True))
        features.append(torch.clamp(y_log - x_log, -5.0, 2.0))
        noise_log = level + float(np.log(0.02))
        d = x - y
        change_log = 0.5 * torch.log(d.real ** 2 + d.imag ** 2 + 1e-8 * scale * scale) - np.log(scale)
        features.append(torch.clamp(x_log - noise_log, -5.0, 10.0))
        features.append(torch.clamp(change_log - noise_log, -5.0, 10.0))
        fy = _frequency_index(h, reference.device) / h * 2.0
        fx = _frequency_index(w, reference.device) / w * 2.0
        features.append(fy[:, None].expand_as(x_log))
        features.append(fx[None, :].expand_as(x_log))
        features.append(level.expand_as(x_log))
        window = _hann(h, reference.device)[:, None] * _hann(w, reference.device)[None, :]
        peak_log, background, maxima = _peak_candidates(_windowed_spectrum(reference - mean, window))
        peaks = maxima & (peak_log - background >= float(np.log(5.0)))  # linespec._BLEND_PEAK_SNR
        partnered = _partnered(peaks, peak_log - background) > 0.5
        features.append(_near(partnered).float())
        logit = (torch.relu(torch.stack(features, dim=-1) @ self.w1 + self.b1) @ self.w2 + self.b2) * 10.0
        allowed = ~_within(peaks & ~partnered, 6)  # _BLEND_PEAK_RADIUS
        allowed = allowed & (_frequency_index(w, reference.device) > 8.5)  # _BLEND_LINE_KX
        gain = torch.sigmoid(logit)[..., 0] * allowed  # logit scaled by _BLEND_LOGIT_SCALE
        blended = y + gain * (x - y)
        cap_log = torch.maximum(y_log, _circular_box_mean(y_log, 9) + float(np.log(10.0)))  # _BLEND_MAX_RISE
        b_log = 0.5 * torch.log(blended.real ** 2 + blended.imag ** 2 + 1e-8 * scale * scale) - np.log(scale)
        excess = torch.where(_within(peaks, 6), torch.zeros_like(b_log), torch.relu(b_log - cap_log))
        return torch.fft.ifft2(blended * torch.exp(-excess)).real + mean


def _smooth_spectrum(image):
    """`linespec._smooth_spectrum`: the FFT of Moisan's smooth component of (B, 1, H, W) images."""
    h, w = image.shape[2], image.shape[3]
    jumps = torch.zeros_like(image)
    rows, cols = image[:, :, -1] - image[:, :, 0], image[:, :, :, -1] - image[:, :, :, 0]
    jumps[:, :, 0] += rows
    jumps[:, :, -1] -= rows
    jumps[:, :, :, 0] += cols
    jumps[:, :, :, -1] -= cols
    fy = 2 * np.pi * torch.arange(h, dtype=torch.float32, device=image.device)[:, None] / h
    fx = 2 * np.pi * torch.arange(w, dtype=torch.float32, device=image.device)[None, :] / w
    laplacian = 2 * torch.cos(fy) + 2 * torch.cos(fx) - 4
    inverse = torch.where(laplacian < 0, 1 / torch.clamp(laplacian, max=-1e-12), torch.zeros_like(laplacian))
    return torch.fft.fft2(jumps) * inverse


def _hann(n: int, device):
    return torch.from_numpy(np.hanning(n).astype(np.float32)).to(device)


def _frequency_index(n: int, device):
    k = torch.arange(n, dtype=torch.float32, device=device)
    return torch.minimum(k, n - k)


def noise_level(image):
    """`linespec.NoiseLevel` on (B, 1, H, W), as (B, 1, 1, 1): log(σ̂ / 0.02) from the geometric mean of the Hann-
    windowed power spectrum at radius ≥ 0.25 cycles/px and |kx| ≥ 0.05."""
    h, w = image.shape[2], image.shape[3]
    window = _hann(h, image.device)[:, None] * _hann(w, image.device)[None, :]
    power = torch.fft.fft2((image - image.mean(dim=(2, 3), keepdim=True)) * window).abs() ** 2
    fy, fx = _frequency_index(h, image.device) / h, _frequency_index(w, image.device) / w
    used = (fy[:, None] ** 2 + fx[None, :] ** 2 >= 0.25**2) & (fx[None, :] >= 0.05)
    mean_log = (torch.log(power + 1e-20) * used).sum(dim=(2, 3), keepdim=True) / used.sum().clamp(min=1)
    variance = torch.exp(mean_log + 0.5772156649) / (window * window).sum().clamp(min=1e-6)
    return torch.clamp(0.5 * torch.log(variance + 1e-12) - float(np.log(0.02)), -5.0, 5.0)


def _circular_max3(a):
    for dim in (2, 3):
        a = torch.maximum(a, torch.maximum(torch.roll(a, 1, dim), torch.roll(a, -1, dim)))
    return a


def _within(mask, radius: int):
    """`linespec._within`: within ±radius bins (periodic wrap) of a True bin."""
    a = mask.float()
    for _ in range(radius):
        a = _circular_max3(a)
    return a > 0.5


def _near(mask):
    """`linespec._near`: within ±1 bin (periodic wrap) of a True bin."""
    return _within(mask, 1)


_PRESENT_SNR, _INVENTED_SNR = 3.0, 5.0  # `linespec`'s invented-peak thresholds


def _signed(n: int):
    """`linespec._signed`: the signed frequency index of each bin of an unshifted FFT of length n."""
    k = torch.arange(n)
    return torch.where(k > n // 2, k - n, k).float()


def _partnered(peaks, strength, any_lattice: bool = False, strongest: int = 32, radius_tol: float = 0.06,
               angle_tol: float = np.radians(6.0), min_angle: float = np.radians(15.0)):
    """`linespec._partnered`: peaks with a same-|k| partner at 60° or 90° whose difference is a peak too; with
    `any_lattice`, any partner at least `min_angle` away whose difference is a peak."""
    b, _, h, w = peaks.shape
    top, index = torch.topk(torch.where(peaks, strength, -1.0).reshape(b, -1), strongest)
    valid = top > 0.0
    fy = _signed(h)[:, None].expand(h, w).reshape(-1)[index]
    fx = _signed(w)[None, :].expand(h, w).reshape(-1)[index]
    uy, ux = fy / h, fx / w
    radius = torch.sqrt(uy * uy + ux * ux)
    cosine = (uy[:, :, None] * uy[:, None, :] + ux[:, :, None] * ux[:, None, :]) / torch.clamp(
        radius[:, :, None] * radius[:, None, :], min=1e-12)
    angle = torch.arccos(cosine.abs().clamp(0.0, 1.0))
    lattice_angle = ((angle - np.pi / 3).abs() <= angle_tol) | (angle >= np.pi / 2 - angle_tol)
    same_radius = (radius[:, :, None] - radius[:, None, :]).abs() <= radius_tol * torch.maximum(
        radius[:, :, None], radius[:, None, :])
    dy, dx = fy[:, :, None] - fy[:, None, :], fx[:, :, None] - fx[:, None, :]
    closes = (((dy[..., None] - fy[:, None, None, :]).abs() <= 1.5)
              & ((dx[..., None] - fx[:, None, None, :]).abs() <= 1.5)
              & valid[:, None, None, :]).any(dim=3)
    pairs = (angle >= min_angle) if any_lattice else (same_radius & lattice_angle)
    has_partner = (pairs & closes & valid[:, None, :] & valid[:, :, None]).any(dim=2).float()
    mask = torch.zeros(b, h * w)
    mask.scatter_add_(1, index, has_partner)
    return mask.reshape(b, 1, h, w)


def _plane_levelled(image):
    """`linespec._plane_levelled`: zero-mean (B, 1, H, W) minus their least-squares tilt."""
    h, w = image.shape[2], image.shape[3]
    y = (torch.arange(h, dtype=torch.float32, device=image.device) / max(h - 1, 1) - 0.5)[:, None].expand(h, w)
    x = (torch.arange(w, dtype=torch.float32, device=image.device) / max(w - 1, 1) - 0.5)[None, :].expand(h, w)
    for axis in (y, x):
        slope = (image * axis).sum(dim=(2, 3), keepdim=True) / max(float((axis * axis).sum()), 1e-12)
        image = image - slope * axis
    return image


def _windowed_spectrum(image, window):
    """`linespec._windowed_spectrum`: FFT of zero-mean (B, 1, H, W), plane-levelled and windowed."""
    return torch.fft.fft2(_plane_levelled(image) * window)


def _peak_candidates(spectrum):
    """`linespec._peak_candidates` of a `_windowed_spectrum`: log amplitude, background, local maxima."""
    h, w = spectrum.shape[2], spectrum.shape[3]
    log_amp = 0.5 * torch.log(spectrum.real ** 2 + spectrum.imag ** 2 + 1e-20)
    background = torch.maximum(_circular_box_mean(log_amp, 9), torch.maximum(
        _window_mean(log_amp, 33, 2), _window_mean(log_amp, 33, 3)))
    ky, kx = _frequency_index(h, spectrum.device)[:, None], _frequency_index(w, spectrum.device)[None, :]
    allowed = (kx > 1.0) & (ky * ky + kx * kx > 4.0)
    return log_amp, background, allowed & (log_amp >= _circular_max3(log_amp))


def lattice_restore(noisy, denoised, min_snr: float = 10.0, min_kept: float = 0.6, partners: bool = False,
                    damp_invented: bool = False):
    """`linespec.LatticeRestore` on (B, 1, H, W): damped lattice peaks of `noisy` get their Wiener amplitude back;
    with `damp_invented`, peaks `noisy` lacks are damped to twice their background (their wave, taken out of its
    bin)."""
    h, w = noisy.shape[2], noisy.shape[3]
    mean = noisy.mean(dim=(2, 3), keepdim=True)
    window = _hann(h, noisy.device)[:, None] * _hann(w, noisy.device)[None, :]
    log_amp, background, maxima = _peak_candidates(_windowed_spectrum(noisy - mean, window))
    peaks = maxima & (log_amp - background >= float(np.log(min_snr)))
    near_peak = _near(peaks)
    n = torch.fft.fft2(noisy - mean)
    d = torch.fft.fft2(denoised - mean)
    n_power = n.real ** 2 + n.imag ** 2
    floor = torch.exp(2.0 * _circular_box_mean(0.5 * torch.log(n_power + 1e-20), 9))
    gain = torch.clamp(1.0 - floor / torch.clamp(n_power, min=1e-20), 0.0, 1.0)
    d_power, wiener_power = d.real ** 2 + d.imag ** 2, gain * gain * n_power
    kept_enough = d_power >= min_kept ** 2 * wiener_power
    if partners:
        kept_enough = kept_enough | _near(_partnered(peaks, log_amp - background) > 0.5)
        fine = ((_frequency_index(h, noisy.device) / h)[:, None] ** 2
                + (_frequency_index(w, noisy.device) / w)[None, :] ** 2) >= 0.1 ** 2  # _ANY_LATTICE_MIN_RADIUS
        strong = peaks & fine & (log_amp - background >= float(np.log(20.0)))  # linespec._ANY_LATTICE_SNR
        kept_enough = kept_enough | _near(_partnered(strong, log_amp - background, any_lattice=True) > 0.5)
    raise_ = near_peak & (d_power < wiener_power) & kept_enough
    spectrum = torch.where(raise_, gain * n, d)
    if damp_invented:
        wave = _windowed_spectrum(denoised - denoised.mean(dim=(2, 3), keepdim=True), window)
        out_log_amp, out_background, out_maxima = _peak_candidates(wave)
        invented = out_maxima & (out_log_amp - out_background >= float(np.log(_INVENTED_SNR)))
        in_input = maxima & (log_amp - background >= float(np.log(_PRESENT_SNR)))
        invented = invented & ~_near(in_input) & ~raise_
        excess = torch.where(invented, torch.clamp(1.0 - 2.0 * torch.exp(out_background - out_log_amp), min=0.0), 0.0)
        spectrum = spectrum - excess / window.mean() * wave  # the invented wave, out of its own bin only
    restored = torch.fft.ifft2(spectrum).real + mean
    removed_rows = (noisy - restored).mean(dim=3, keepdim=True)  # atom rows along the lines given back
    return restored + _periodic_part(_fast_part(removed_rows, 3.0), 50.0)  # linespec._ROW_LATTICE_SIGMA, _SNR


def line_jitter_filter(image, sigma: float, jump: float = 0.0):
    """`linespec.LineJitterFilter` on (B, 1, H, W): minus the fast part of median-of-differences line offsets, and
    with `jump` the whole-line jumps whole; the correction has zero mean."""
    steps = torch.quantile(image[:, :, 1:] - image[:, :, :-1], 0.5, dim=3, keepdim=True)
    jumps = torch.zeros_like(steps)
    if jump:
        deviation = (steps - torch.quantile(steps, 0.5, dim=2, keepdim=True)).abs()
        spread = 1.4826 * torch.quantile(deviation, 0.5, dim=2, keepdim=True) + 1e-12
        jumps = torch.where(deviation > torch.clamp(jump * spread, min=0.02), steps, jumps)  # linespec._MIN_JUMP

    def cumulative(s):
        return torch.cat([torch.zeros_like(s[:, :, :1]), torch.cumsum(s, dim=2)], dim=2)

    offsets, jump_offsets = cumulative(steps - jumps), cumulative(jumps)
    fast = _fast_part(offsets, sigma)
    correction = jump_offsets + fast - _periodic_part(fast, 20.0)  # linespec._JITTER_PERIODIC_SNR
    return image - (correction - correction.mean(dim=2, keepdim=True))


def _fast_part(profile, sigma: float):
    """`linespec._fast_part` on (B, 1, H, 1): minus its Gaussian smoothing over `sigma` lines (edges repeated)."""
    radius = int(np.ceil(4 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel = torch.from_numpy((kernel / kernel.sum()).astype(np.float32)).to(profile.device).view(1, 1, -1, 1)
    padded = torch.cat([profile[:, :, :1].expand(-1, -1, radius, -1), profile,
                        profile[:, :, -1:].expand(-1, -1, radius, -1)], dim=2)
    return profile - nn.functional.conv2d(padded, kernel)


def _periodic_part(profile, snr: float, bins: int = 17):
    """`linespec._periodic_part` on (B, 1, H, 1): the profile at the bins of its spectrum `snr` × above the median
    of the `bins` around them (edges repeated), and at the bins beside those."""
    h, half = profile.shape[2], bins // 2
    spectrum = torch.fft.rfft(profile[:, 0, :, 0], dim=1)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    padded = torch.cat([power[:, :1].expand(-1, half), power, power[:, -1:].expand(-1, half)], dim=1)
    background = padded.unfold(1, bins, 1).median(dim=2).values
    peak = power > snr * background
    peak[:, 0] = False
    peak = peak | nn.functional.pad(peak[:, 1:], (0, 1)) | nn.functional.pad(peak[:, :-1], (1, 0))
    peak[:, 0] = False
    return torch.fft.irfft(spectrum * peak, n=h, dim=1)[:, None, :, None]


class LineSpec(nn.Module):
    """`stm_zoo.models.linespec` with its defaults (filters 24, row_features 16, every branch), NCHW.
    Module names are the Keras layer names (`convs["e1_down"]` ↔ layer "e1_down"), so weights copy by name."""

    def __init__(self, filters: int = 24, row_features: int = 16, line_steps: bool = False, dejitter: float = 0.0,
                 line_jumps: float = 0.0, lattice_restore: float = 0.0, min_kept: float = 0.6,
                 lattice_partners: bool = False, damp_invented: bool = False, periodic_plus_smooth: bool = False,
                 noise_level: bool = False, spectral_blend: bool = False):
        super().__init__()
        f, r = filters, row_features
        self.line_steps = line_steps
        self.dejitter, self.line_jumps = dejitter, line_jumps
        self.lattice_restore, self.min_kept, self.lattice_partners = lattice_restore, min_kept, lattice_partners
        self.damp_invented = damp_invented
        convs = {"line_c1": (1, r, 3), "line_c2": (r, r, 3), "line_score": (r, 1, 1)}
        if line_steps:
            s = r // 2
            convs |= {"step_c1": (2, s, 3), "step_score": (s, 1, 1), "step_rows": (s + 1, 2 * s, (3, 1)),
                      "step_step": (3 * s + 1, 1, 1)}
        for i, d in enumerate((1, 2, 4, 8)):
            convs[f"line_rows{i + 1}"] = ((r + 1) if i == 0 else 2 * r, 2 * r, (5, 1), 1, (d, 1))
        convs["line_offset"] = (2 * r, 1, (5, 1))
        convs.update({
            "e0_c1": (3, f, 3), "e0_c2": (f, f, 3),
            "e1_down": (f, 2 * f, 3, 2), "e1_c1": (2 * f, 2 * f, 3), "e1_c2": (2 * f, 2 * f, 3),
            "e2_down": (2 * f, 4 * f, 3, 2), "e2_c1": (4 * f, 4 * f, 3), "e2_c2": (4 * f, 4 * f, 3),
            "d1_upconv": (4 * f, 2 * f, 3), "d1_c1": (4 * f, 2 * f, 3), "d1_c2": (2 * f, 2 * f, 3),
            "d0_upconv": (2 * f, f, 3), "d0_c1": (2 * f, f, 3), "d0_c2": (f, f, 3),
            "correction": (f, 1, 3),
        })
        self.convs = nn.ModuleDict({name: SameConv2d(*spec) for name, spec in convs.items()})
        for name in ("line_offset", "correction", "step_step"):  # zero-initialized as in Keras
            if name in self.convs:
                nn.init.zeros_(self.convs[name].weight)
        self.lattice = SpectralGate(periodic_plus_smooth=periodic_plus_smooth)
        # the scan's noise level is one number per image: its 1×1 convolutions are a per-channel bias
        self.level_biases = nn.ModuleDict({f"{name}_level": nn.Conv2d(1, n, 1, bias=False)
                                           for name, n in (("e0_c1", f), ("e2_c1", 4 * f), ("d0_c2", f))}
                                          if noise_level else {})
        for conv in self.level_biases.values():
            nn.init.zeros_(conv.weight)
        self.blend = SpectralBlend() if spectral_blend else None
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def conv(self, name, x, relu=True, level=None):
        x = self.convs[name](x)
        if level is not None and self.level_biases:
            x = x + self.level_biases[f"{name}_level"](level)
        return torch.relu(x) if relu else x

    def line_corrected(self, noisy):
        """The row branch: the input minus one offset per scan line."""
        c = self.conv
        feats = c("line_c2", c("line_c1", noisy))
        scores = c("line_score", feats, relu=False)
        values = torch.cat([feats, noisy], dim=1)
        r = (values * torch.softmax(scores, dim=3)).sum(dim=3, keepdim=True)  # (B, features + 1, H, 1)
        for i in range(4):
            r = c(f"line_rows{i + 1}", r)
        offsets = c("line_offset", r, relu=False)
        if self.line_steps:  # steps from each line to the next, from pixel differences, summed down the scan
            diff = nn.functional.pad(noisy[:, :, 1:] - noisy[:, :, :-1], (0, 0, 1, 0))
            feats = c("step_c1", torch.cat([diff, noisy], dim=1))
            values = torch.cat([diff, feats], dim=1)
            pooled = (values * torch.softmax(c("step_score", feats, relu=False), dim=3)).sum(dim=3, keepdim=True)
            steps = c("step_step", torch.cat([pooled, c("step_rows", pooled)], dim=1), relu=False)
            profile = torch.cumsum(steps, dim=2)
            offsets = offsets + profile - profile.mean(dim=2, keepdim=True)
        return noisy - offsets

    def forward(self, noisy):
        c = self.conv
        corrected = self.line_corrected(noisy)
        # U-Net on [corrected, periodic part, noisy], reflect-padded to a multiple of 4.
        x = torch.cat([corrected, self.lattice(corrected), noisy], dim=1)
        h, w = noisy.shape[2], noisy.shape[3]
        (top, bottom), (left, right) = _split_pad(h, 4), _split_pad(w, 4)
        if top or bottom or left or right:
            x = nn.functional.pad(x, (left, right, top, bottom), mode="reflect")
        level = noise_level(noisy) if self.level_biases or self.blend is not None else None
        e0 = c("e0_c2", c("e0_c1", x, level=level))
        e1 = c("e1_c2", c("e1_c1", c("e1_down", e0)))
        e2 = c("e2_c2", c("e2_c1", c("e2_down", e1), level=level))
        d1 = torch.cat([c("d1_upconv", self.up(e2)), e1], dim=1)
        d1 = c("d1_c2", c("d1_c1", d1))
        d0 = torch.cat([c("d0_upconv", self.up(d1)), e0], dim=1)
        d0 = c("d0_c2", c("d0_c1", d0), level=level)
        correction = c("correction", d0, relu=False)[:, :, top:top + h, left:left + w]
        denoised = corrected + correction
        if self.blend is not None:
            denoised = self.blend(corrected, denoised, level)
        if self.lattice_restore:
            denoised = lattice_restore(noisy, denoised, self.lattice_restore, self.min_kept, self.lattice_partners,
                                       self.damp_invented)
        if self.dejitter:
            denoised = line_jitter_filter(denoised, self.dejitter, self.line_jumps)
        return torch.clamp(denoised, 0.0, 1.0)


def load_keras_weights(module: LineSpec, keras_model) -> LineSpec:
    """Copies a Keras `linespec` model's weights into `module` (HWIO kernels → OIHW)."""
    with torch.no_grad():
        for name, conv in module.convs.items():
            kernel, bias = (np.asarray(v) for v in keras_model.get_layer(name).get_weights())
            conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(bias))
        for name, conv in module.level_biases.items():
            kernel = np.asarray(keras_model.get_layer(name).get_weights()[0])
            conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
        gate = keras_model.get_layer("lattice")
        for attr in ("w1", "b1", "w2", "b2"):
            getattr(module.lattice, attr).copy_(torch.from_numpy(np.asarray(getattr(gate, attr).numpy())))
            if module.blend is not None:
                blend = keras_model.get_layer("spectral_blend")
                getattr(module.blend, attr).copy_(torch.from_numpy(np.asarray(getattr(blend, attr).numpy())))
    return module


REFERENCES = {"autoencoder_thesis": (thesis_autoencoder, 28_353), "dncnn": (DnCNN, 556_096),
              "linespec": (LineSpec, 416_508),
              "linespec_published": (functools.partial(LineSpec, **published_linespec_kwargs()),
                                     published_linespec_params())}
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


class Runner:
    def __init__(self, build, data_dir: Path):
        torch.manual_seed(0)
        self.data_dir = data_dir
        self.models = {f: build().to(memory_format=m) for f, m in FORMATS.items()}
        self.optimizers = {f: torch.optim.Adam(m.parameters(), 1e-3) for f, m in self.models.items()}
        self.batches = {}

    def batch(self, name: str, fmt: str):
        key = (name, fmt)
        if key not in self.batches:
            data = np.load(self.data_dir / f"{name}.npz")
            self.batches[key] = tuple(
                torch.from_numpy(np.ascontiguousarray(data[k].transpose(0, 3, 1, 2))).contiguous(
                    memory_format=FORMATS[fmt]) for k in ("noisy", "clean"))
        return self.batches[key]

    def train(self, name: str, steps: int) -> dict:
        out = {}
        for fmt, model in self.models.items():
            noisy, clean = self.batch(name, fmt)
            opt = self.optimizers[fmt]
            model.train()
            out[fmt] = timed(lambda: _train_step(model, opt, noisy, clean), steps)
        return out

    def infer(self, name: str, reps: int) -> dict:
        out = {}
        for fmt, model in self.models.items():
            noisy, _ = self.batch(name, fmt)
            model.eval()
            with torch.no_grad():
                out[fmt] = timed(lambda: model(noisy), reps)
        return out


def _train_step(model, opt, noisy, clean):
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.mse_loss(model(noisy), clean)
    loss.backward()
    opt.step()


if __name__ == "__main__":
    if sys.argv[1:2] != ["--worker"] or len(sys.argv) != 4 or sys.argv[2] not in REFERENCES:
        sys.exit(f"usage: python bench/torch_ref.py --worker {{{','.join(REFERENCES)}}} DATA_DIR  "
                 "(started by bench/train_speed.py)")
    build, params = REFERENCES[sys.argv[2]]
    assert sum(p.numel() for p in build().parameters()) == params
    serve(Runner(build, Path(sys.argv[3])))
