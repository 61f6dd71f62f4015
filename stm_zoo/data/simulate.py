"""Clean STM topographs from a physical picture of the surface, in physical units.

A surface is the sum of
- an atomic (or molecular) lattice — hexagonal, honeycomb, square, rectangular or quasi-1-D chains — written as
  a Fourier series over reciprocal-lattice vectors with a Gaussian atomic form factor, optionally with a
  charge-density-wave superlattice (q = G/n) and a moiré superlattice that modulates it;
- terraces separated by meandering monatomic step edges, monolayer islands (or vacancy islands);
- point defects on lattice sites (vacancies dark, adatoms bright) and adsorbed molecules (a few lobes each),
  optionally with the standing waves of a surface state scattering off them;
- all seen through a Gaussian tip of finite width (a convolution: the lattice's Fourier components are damped
  by the tip's transfer function, everything else is blurred in Fourier space) and sampled on the pixel grid
  (components beyond Nyquist are dropped, so there is no aliasing).

Every parameter is a scalar or a `(low, high)` range drawn per image (`scan_nm` and the areal densities are
drawn log-uniformly, the rest uniformly); `p_*` are probabilities that a feature is present. Heights are in nm,
so the relative contrast of atoms, steps, adatoms and molecules is physical; the image is then scaled to [0, 1].
Everything is vectorised numpy: the lattice is one complex matrix product, the rest a few FFTs.
"""

import numpy as np
import scipy.fft
import scipy.ndimage

LATTICE_KINDS = ("hexagonal", "honeycomb", "square", "rectangular", "chains")

DEFAULTS: dict = {
    "scan_nm": (3.0, 60.0),  # scan width (log-uniform)
    "lattices": LATTICE_KINDS,  # kinds drawn from, uniformly
    "lattice_nm": (0.25, 0.45),  # atomic lattice constant
    "p_molecular_lattice": 0.15,  # a self-assembled molecular lattice instead of the atomic one
    "molecular_lattice_nm": (1.0, 3.0),
    "aspect": (1.3, 2.0),  # rectangular: |a2| / |a1|
    "chain_spacing": (2.5, 5.0),  # chains: inter-chain distance / |a1|
    "corrugation_nm": (0.005, 0.04),  # peak-to-valley height of the lattice (approximate)
    "p_inverted": 0.2,  # lattice sites dark (a network of pits) instead of bright
    "p_drift": 0.5,  # lattice distorted by drift: vectors × (1 + random matrix × drift)
    "drift": (0.0, 0.08),
    "p_domains": 0.2,  # two rotational domains of the lattice
    "p_cdw": 0.15,  # charge-density wave: q = G / period
    "cdw_period": (2.0, 4.5),  # in lattice constants (integers are commensurate)
    "cdw_strength": (0.5, 2.0),  # CDW amplitude / atomic corrugation
    "p_moire": 0.2,
    "moire_nm": (1.5, 12.0),  # moiré period
    "moire_height_nm": (0.01, 0.06),  # moiré amplitude
    "p_steps": 0.35,
    "terrace_nm": (4.0, 60.0),  # mean terrace width (log-uniform): few steps in small scans, many in large
    "max_steps": 8,
    "step_nm": (0.2, 0.34),  # monatomic step height (Cu(111) 0.21 … graphite 0.335)
    "meander": (0.0, 0.08),  # step-edge meandering, as a fraction of the scan width
    "p_islands": 0.3,
    "island_coverage": (0.05, 0.4),
    "island_nm": (2.0, 20.0),  # island size (correlation length of the field that shapes them; < scan / 2)
    "p_vacancy_islands": 0.3,  # islands are pits one layer deep instead
    "p_vacancies": 0.5,
    "vacancies_per_nm2": (0.002, 0.05),
    "vacancy_depth": (1.0, 3.0),  # in units of the atomic corrugation
    "p_adatoms": 0.5,
    "adatoms_per_nm2": (0.001, 0.03),
    "adatom_nm": (0.4, 1.0),  # apparent diameter (FWHM)
    "adatom_height_nm": (0.03, 0.15),
    "p_molecules": 0.35,
    "molecules_per_nm2": (0.001, 0.03),
    "molecule_nm": (0.6, 2.0),  # distance between lobes
    "molecule_lobes": (1, 6),
    "molecule_height_nm": (0.08, 0.3),
    "p_clusters": 0.4,
    "clusters_per_nm2": (0.0005, 0.01),
    "cluster_nm": (0.8, 4.0),  # apparent diameter (FWHM), log-uniform per cluster
    "cluster_height_nm": (0.1, 0.5),  # height of the largest
    "p_standing_waves": 0.15,  # surface-state scattering around point defects (noble-metal (111) surfaces)
    "standing_wave_nm": (1.0, 2.0),  # wavelength λ_F / 2
    "p_inhomogeneity": 0.5,  # smooth electronic inhomogeneity (dopants, strain, subsurface defects)
    "inhomogeneity_nm": (0.5, 5.0),  # its correlation length
    "inhomogeneity": (0.05, 0.35),  # its amplitude (std) / atomic corrugation
    "tip_nm": (0.05, 0.6),  # tip resolution: FWHM of the Gaussian tip (log-uniform)
    # the fine texture a good real scan still has (tunnelling-current and feedback noise, smoothed along the
    # fast-scan line by the feedback loop), part of the clean image; drawn last, so 0 leaves every stream as is
    "p_texture": 0.0,
    "texture": (0.005, 0.03),  # its std / the image's 0.5-99.5 % range
    "texture_px": (0.4, 1.5),  # its correlation length along the line (Gaussian σ, px); across lines 0-0.5 px
}

_LOG_UNIFORM = {"scan_nm", "terrace_nm", "tip_nm", "vacancies_per_nm2", "adatoms_per_nm2", "molecules_per_nm2",
                "clusters_per_nm2"}
_INT_RANGES = {"max_steps", "molecule_lobes"}
_FWHM = 2 * np.sqrt(2 * np.log(2))
_MAX_POINTS = 4000  # per feature class


def resolve(params: dict | None = None) -> dict:
    """Defaults updated with `params`; unknown names or bad ranges are a one-line ValueError."""
    params = dict(params or {})
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown simulate parameter {sorted(unknown)[0]!r}; known: {', '.join(DEFAULTS)}")
    full = {**DEFAULTS, **params}
    kinds = full["lattices"]
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    bad = [k for k in kinds if k not in LATTICE_KINDS]
    if bad or not kinds:
        raise ValueError(f"unknown lattice {bad[0] if bad else None!r}; known: {', '.join(LATTICE_KINDS)}")
    full["lattices"] = kinds
    for key, value in full.items():
        if key == "lattices":
            continue
        if isinstance(value, (tuple, list)):
            if len(value) != 2 or not value[0] <= value[1]:
                raise ValueError(f"simulate parameter {key!r} must be a value or a (low, high) range, got {value!r}")
        elif not isinstance(value, (int, float)):
            raise ValueError(f"simulate parameter {key!r} must be a number or a range, got {value!r}")
        if key.startswith("p_") and not 0 <= float(value) <= 1:
            raise ValueError(f"simulate parameter {key!r} is a probability, got {value!r}")
    return full


def _draw(rng: np.random.Generator, params: dict, key: str):
    value = params[key]
    if not isinstance(value, (tuple, list)):
        return value
    low, high = value
    if key in _INT_RANGES:
        return int(rng.integers(int(low), int(high) + 1))
    if key in _LOG_UNIFORM and low > 0:
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return float(rng.uniform(low, high))


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _lattice_geometry(rng, params, kind: str, a: float):
    """Real-space primitive vectors (rows, nm, unrotated), basis sites (fractional), their weights, and the
    atom's Gaussian width along/across the first vector (nm)."""
    sigma = a * rng.uniform(0.18, 0.3)
    if kind in ("hexagonal", "honeycomb"):
        vectors = np.array([[a, 0.0], [a / 2, a * np.sqrt(3) / 2]])
        if kind == "honeycomb":  # graphene: two sublattices (HOPG shows mostly one)
            basis, weights = np.array([[1 / 3, 1 / 3], [2 / 3, 2 / 3]]), np.array([1.0, rng.uniform(0.3, 1.0)])
            return vectors, basis, weights, (sigma, sigma)
        return vectors, np.zeros((1, 2)), np.ones(1), (sigma, sigma)
    if kind == "square":
        return np.array([[a, 0.0], [0.0, a]]), np.zeros((1, 2)), np.ones(1), (sigma, sigma)
    if kind == "rectangular":
        b = a * _draw(rng, params, "aspect")
        return np.array([[a, 0.0], [0.0, b]]), np.zeros((1, 2)), np.ones(1), (sigma, sigma)
    # quasi-1-D chains: atoms smeared along the chain, narrow across it, chains far apart
    b = a * _draw(rng, params, "chain_spacing")
    return np.array([[a, 0.0], [0.0, b]]), np.zeros((1, 2)), np.ones(1), (a * rng.uniform(0.35, 0.6), sigma)


class _Grid:
    """Pixel centres of the padded image in nm (padded to a fast FFT length), and its FFT's wave numbers."""

    def __init__(self, size_px: int, px_nm: float, pad: int):
        self.size, self.pad, self.px = size_px, pad, px_nm
        self.n = scipy.fft.next_fast_len(size_px + 2 * pad, real=True)
        self.coords = ((np.arange(self.n) - pad + 0.5) * px_nm).astype(np.float32)
        ky = 2 * np.pi * np.fft.fftfreq(self.n, d=px_nm)
        kx = 2 * np.pi * np.fft.rfftfreq(self.n, d=px_nm)
        self.k2 = (ky[:, None] ** 2 + kx[None, :] ** 2).astype(np.float32)

    def crop(self, z):
        p = self.pad
        return z[p : p + self.size, p : p + self.size]

    def gaussian(self, sigma_nm: float):
        """Transfer function of a Gaussian blur of width `sigma_nm`."""
        return np.exp(-0.5 * self.k2 * np.float32(sigma_nm) ** 2)


def _fourier_series(grid: _Grid, gs: np.ndarray, coeffs: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Re Σ c_G exp(i G·(r − origin)) on the unpadded pixel grid, as one real (H, 2nG) × (2nG, W) product."""
    if len(gs) == 0:
        return np.zeros((grid.size, grid.size), np.float32)
    xs = grid.coords[grid.pad : grid.pad + grid.size].astype(np.float64)
    c = coeffs * np.exp(-1j * (gs @ origin))
    column = c[None, :] * np.exp(1j * np.outer(xs, gs[:, 1]))  # (H, nG): c_G exp(i G_y y)
    phase = np.outer(gs[:, 0], xs)  # (nG, W): G_x x
    left = np.concatenate([column.real, -column.imag], axis=1).astype(np.float32)
    right = np.concatenate([np.cos(phase), np.sin(phase)], axis=0).astype(np.float32)
    # einsum's own loop, not BLAS: multi-threaded BLAS on these thin matrices is 10-40x slower on a busy machine
    return np.einsum("hg,gw->hw", left, right, optimize=False)


def _reciprocal(vectors: np.ndarray, order: int):
    """Reciprocal vectors G = h b1 + k b2 for |h|,|k| ≤ order, one of each ±G pair, and their (h, k)."""
    b = 2 * np.pi * np.linalg.inv(vectors).T  # rows b_i with a_i · b_j = 2π δ_ij
    hk = np.array([(h, k) for h in range(-order, order + 1) for k in range(-order, order + 1) if (h, k) > (0, 0)])
    return hk @ b, hk


def _lattice_layer(rng, params, grid: _Grid, info: dict):
    """The lattice (+ CDW, + moiré) through the tip, and its sites: (vectors, fractional basis, origin)."""
    kind = info["lattice"]
    a = info["lattice_nm"]
    vectors, basis, weights, (s_along, s_across) = _lattice_geometry(rng, params, kind, a)
    rot = _rotation(info["angle"])
    vectors = vectors @ rot.T
    if rng.random() < params["p_drift"]:  # thermal drift, piezo calibration: a slightly sheared, stretched lattice
        vectors = vectors @ (np.eye(2) + rng.uniform(-1, 1, (2, 2)) * _draw(rng, params, "drift")).T
    gs, hk = _reciprocal(vectors, 3)
    # form factor of an anisotropic Gaussian atom (axes along/across the first lattice vector)
    u = rot @ np.array([1.0, 0.0])
    g_along, g_across = gs @ u, gs @ np.array([-u[1], u[0]])
    form = np.exp(-0.5 * (g_along**2 * s_along**2 + g_across**2 * s_across**2))
    structure = (weights[None, :] * np.exp(-2j * np.pi * (hk @ basis.T))).sum(axis=1)
    coeffs = form * structure
    scale = info["corrugation_nm"] / max(2 * np.abs(coeffs).sum(), 1e-12)
    coeffs = coeffs * scale * (-1.0 if info["inverted"] else 1.0)

    if rng.random() < params["p_cdw"]:  # q = b_i / n along one (stripes) or all primary directions
        period = _draw(rng, params, "cdw_period")
        b = 2 * np.pi * np.linalg.inv(vectors).T
        qs = [b[0], b[1]] + ([b[0] - b[1]] if kind in ("hexagonal", "honeycomb") else [])
        if rng.random() < 0.3:
            qs = qs[:1]
        qs = np.array(qs) / period
        amp = info["corrugation_nm"] * _draw(rng, params, "cdw_strength") / (2 * len(qs))
        gs = np.concatenate([gs, qs])
        coeffs = np.concatenate([coeffs, np.full(len(qs), amp, complex)])
        info["cdw_period"] = period

    origin = rng.uniform(0, a, 2)
    mtf = np.exp(-0.5 * (gs**2).sum(1) * info["tip_sigma_nm"] ** 2)
    visible = np.linalg.norm(gs, axis=1) < 0.9 * np.pi / grid.px  # below Nyquist
    z = _fourier_series(grid, gs[visible], (coeffs * mtf)[visible], origin)

    if rng.random() < params["p_moire"]:
        period = min(_draw(rng, params, "moire_nm"), info["scan_nm"] / 1.5)
        m_vectors = np.array([[period, 0.0], [period / 2, period * np.sqrt(3) / 2]])
        m_vectors = m_vectors @ _rotation(rng.uniform(0, np.pi)).T
        m_gs, _ = _reciprocal(m_vectors, 2)
        m_form = np.exp(-0.5 * (m_gs**2).sum(1) * (period * rng.uniform(0.15, 0.3)) ** 2)
        m_form = m_form * (np.linalg.norm(m_gs, axis=1) < 0.9 * np.pi / grid.px)
        moire = _fourier_series(grid, m_gs, m_form / max(2 * m_form.sum(), 1e-12), rng.uniform(0, period, 2))
        moire *= rng.choice([-1.0, 1.0])  # bright spots or a network of pits
        height = _draw(rng, params, "moire_height_nm")
        z = z * (1 + rng.uniform(0.0, 1.0) * moire / max(np.abs(moire).max(), 1e-12)) + height * moire
        info["moire_nm"] = period
    return z, (vectors, basis, origin)


def _smooth_field(rng, grid: _Grid, sigma_nm: float) -> np.ndarray:
    """A Gaussian random field of unit variance and correlation length `sigma_nm` on the padded grid (periodic).
    Drawn in Fourier space, where only the few wave numbers below ~4/sigma carry power."""
    dk = 2 * np.pi / (grid.n * grid.px)
    m = int(min(np.ceil(4 / sigma_nm / dk) + 1, grid.n // 2))
    rows = np.r_[0:m, grid.n - m + 1 : grid.n] if m > 1 else np.r_[0:1]
    block = grid.k2[rows, :m]
    spectrum = np.zeros((grid.n, grid.n // 2 + 1), np.complex64)
    noise = rng.standard_normal((2, len(rows), m), dtype=np.float32)
    spectrum[rows, :m] = (noise[0] + 1j * noise[1]) * np.exp(-0.5 * block * sigma_nm**2)
    spectrum[0, 0] = 0
    field = scipy.fft.irfft2(spectrum, s=(grid.n, grid.n))
    return field / max(float(field.std()), 1e-12)


def _line_texture(rng, size_px: int, params: dict) -> np.ndarray:
    """Unit-std white noise smoothed along the lines (σ `texture_px`) and slightly across them."""
    sigmas = (rng.uniform(0.0, 0.5), _draw(rng, params, "texture_px"))
    field = scipy.ndimage.gaussian_filter(rng.standard_normal((size_px, size_px)), sigmas, mode="wrap")
    return (field / max(float(field.std()), 1e-12)).astype(np.float32)


def _terraces(rng, params, grid: _Grid, info: dict, force: bool = False) -> np.ndarray:
    """Heights of terraces between meandering step edges, plus islands; sharp (the tip blurs them later).
    `force`: at least one step."""
    z = np.zeros((grid.n, grid.n), np.float32)
    scan = info["scan_nm"]
    step_nm = _draw(rng, params, "step_nm")
    if rng.random() < params["p_steps"] or force:
        # step edges every `terrace_nm` on average, normal to a random direction; at least one when forced
        n = int(min(rng.poisson(1.2 * scan / _draw(rng, params, "terrace_nm")), params["max_steps"]))
        n = max(n, int(force))
        angle = rng.uniform(0, 2 * np.pi)
        centred = grid.coords - scan / 2
        along = centred[None, :] * np.float32(np.cos(angle)) + centred[:, None] * np.float32(np.sin(angle))
        if n:  # meandering on the scale of the image plus kinks on the nm scale
            meander = np.float32(_draw(rng, params, "meander") * scan)
            length = scan * rng.uniform(0.15, 0.5)
            fields = (_smooth_field(rng, grid, length), _smooth_field(rng, grid, length))
            kinks = np.float32(rng.uniform(0.0, 0.4)) * _smooth_field(rng, grid, rng.uniform(0.3, 1.5))
        spread = 0.4 if force else 0.6  # forced steps cross the image
        for position in np.sort(rng.uniform(-spread, spread, n)) * scan:
            mix = rng.uniform(0, 2 * np.pi)
            wiggle = np.float32(np.cos(mix)) * fields[0] + np.float32(np.sin(mix)) * fields[1]
            z += np.float32(step_nm) * ((along - np.float32(position) + meander * wiggle + kinks) > 0)
        info["steps"] = n
    island_nm = _draw(rng, params, "island_nm")
    if rng.random() < params["p_islands"] and island_nm < scan / 2:
        field = _smooth_field(rng, grid, island_nm / 2)
        coverage = _draw(rng, params, "island_coverage")
        sign = -1.0 if rng.random() < params["p_vacancy_islands"] else 1.0
        z += np.float32(sign * step_nm) * (field > np.quantile(field, 1 - coverage))
        info["islands"] = "vacancy" if sign < 0 else "adatom"
    return z


def _count(rng, params, key: str, area_nm2: float) -> int:
    if rng.random() >= params[f"p_{key}"]:
        return 0
    return int(min(rng.poisson(_draw(rng, params, f"{key}_per_nm2") * area_nm2), _MAX_POINTS))


def _splat(grid: _Grid, points_nm: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Impulses at sub-pixel positions (bilinear) on the padded grid; points outside it are dropped."""
    image = np.zeros((grid.n, grid.n), np.float32)
    if len(points_nm) == 0:
        return image
    pos = points_nm / grid.px + grid.pad - 0.5  # (x, y) in padded pixel units
    i0 = np.floor(pos).astype(int)
    frac = pos - i0
    for dy in (0, 1):
        for dx in (0, 1):
            w = weights * np.where(dx, frac[:, 0], 1 - frac[:, 0]) * np.where(dy, frac[:, 1], 1 - frac[:, 1])
            xi, yi = i0[:, 0] + dx, i0[:, 1] + dy
            ok = (xi >= 0) & (xi < grid.n) & (yi >= 0) & (yi < grid.n)
            np.add.at(image, (yi[ok], xi[ok]), w[ok])
    return image


def _point_features(rng, params, grid: _Grid, info: dict, sites):
    """[(impulse map, Gaussian sigma in nm)] for vacancies, adatoms and molecule lobes, and the sum of the
    defect impulses (for standing waves)."""
    scan = info["scan_nm"]
    margin = grid.pad * grid.px
    area = (scan + 2 * margin) ** 2
    a = info["lattice_nm"]
    layers = []

    def uniform_points(n):
        return rng.uniform(-margin, scan + margin, (n, 2))

    n_vac = _count(rng, params, "vacancies", area)
    if n_vac:  # missing atoms: snapped to lattice sites, dark, about one atom wide
        vectors, basis, origin = sites
        frac = np.round((uniform_points(n_vac) - origin) @ np.linalg.inv(vectors))
        points = (frac + basis[rng.integers(0, len(basis), n_vac)]) @ vectors + origin
        depth = info["corrugation_nm"] * _draw(rng, params, "vacancy_depth")
        layers.append((_splat(grid, points, np.full(n_vac, -depth)), a * rng.uniform(0.35, 0.55)))
    n_ad = _count(rng, params, "adatoms", area)
    if n_ad:
        points = uniform_points(n_ad)
        sigma = _draw(rng, params, "adatom_nm") / _FWHM
        heights = _draw(rng, params, "adatom_height_nm") * rng.uniform(0.8, 1.2, n_ad)
        layers.append((_splat(grid, points, heights), sigma))
    defects = sum(layer for layer, _ in layers) if layers else None
    n_mol = _count(rng, params, "molecules", area)
    if n_mol:  # one species per image: k lobes on a ring, each molecule randomly oriented
        lobes = _draw(rng, params, "molecule_lobes")
        size = _draw(rng, params, "molecule_nm")
        radius = 0.0 if lobes == 1 else size / (2 * np.sin(np.pi / lobes))
        centres = uniform_points(n_mol)
        turn = rng.uniform(0, 2 * np.pi, n_mol)[:, None] + 2 * np.pi * np.arange(lobes)[None, :] / lobes
        points = centres[:, None, :] + radius * np.stack([np.cos(turn), np.sin(turn)], -1)
        height = _draw(rng, params, "molecule_height_nm")
        sigma = max(size, 0.6) * rng.uniform(0.25, 0.4)
        layers.append((_splat(grid, points.reshape(-1, 2), np.full(n_mol * lobes, height)), sigma))
        info["molecules"] = n_mol
    n_cl = _count(rng, params, "clusters", area)
    if n_cl:  # adsorbate clusters of many sizes (log-uniform), taller when larger; three size bins, one blur each
        sizes_nm = params["cluster_nm"]
        low, high = sizes_nm if isinstance(sizes_nm, (tuple, list)) else (sizes_nm, sizes_nm)
        sizes = np.exp(rng.uniform(np.log(low), np.log(high), n_cl))
        heights = _draw(rng, params, "cluster_height_nm") * np.sqrt(sizes / high) * rng.uniform(0.7, 1.3, n_cl)
        edges = np.geomspace(low, high, 4)
        which = np.clip(np.searchsorted(edges, sizes) - 1, 0, 2)
        points = uniform_points(n_cl)
        for b in range(3):
            if (which == b).any():
                sigma = np.sqrt(edges[b] * edges[b + 1]) / _FWHM
                layers.append((_splat(grid, points[which == b], heights[which == b]), sigma))
        info["clusters"] = n_cl
    info["vacancies"], info["adatoms"] = n_vac, n_ad
    return layers, defects


def _render(rng: np.random.Generator, size_px: int, params: dict) -> tuple[np.ndarray, dict]:
    scan = _draw(rng, params, "scan_nm")
    px = scan / size_px
    kinds = params["lattices"]
    molecular = rng.random() < params["p_molecular_lattice"]
    a = _draw(rng, params, "molecular_lattice_nm" if molecular else "lattice_nm")
    # the tip can't be sharper than the pixel sampling (≈ 0.5 px)
    tip_sigma = max(_draw(rng, params, "tip_nm") / _FWHM, 0.5 * px)
    info = {
        "scan_nm": scan,
        "lattice": kinds[rng.integers(len(kinds))],
        "lattice_nm": a,
        "molecular_lattice": molecular,
        "angle": rng.uniform(0, np.pi),
        "corrugation_nm": _draw(rng, params, "corrugation_nm") * (3.0 if molecular else 1.0),
        "inverted": rng.random() < params["p_inverted"],
        "tip_sigma_nm": tip_sigma,
    }
    pad = min(int(np.ceil(5.0 / px)), size_px // 4)  # 5 nm: room for the widest blur (clusters + tip)
    grid = _Grid(size_px, px, pad)

    lattice, sites = _lattice_layer(rng, params, grid, info)
    if rng.random() < params["p_domains"]:  # a second rotational domain, split by a meandering boundary
        other = {**info, "angle": info["angle"] + rng.uniform(0.2, np.pi / 3)}
        second, _ = _lattice_layer(rng, {**params, "p_cdw": 0.0, "p_moire": 0.0}, grid, other)
        field = grid.crop(_smooth_field(rng, grid, info["scan_nm"] * rng.uniform(0.1, 0.3)))
        boundary = np.float32(info["lattice_nm"] / info["scan_nm"] * size_px)  # ~one lattice constant wide
        mask = 1 / (1 + np.exp(-np.clip((field - rng.uniform(-0.8, 0.8)) * 20 / boundary, -30, 30)))
        lattice = lattice * (1 - mask) + second * mask
        info["domains"] = 2
    terraces = _terraces(rng, params, grid, info)
    layers, defects = _point_features(rng, params, grid, info, sites)

    spectrum = scipy.fft.rfft2(terraces) * grid.gaussian(tip_sigma)
    for impulses, sigma in layers:  # a bump of height h and width σ has volume 2π σ² h (in px); the tip keeps it
        volume = np.float32(2 * np.pi * (sigma / px) ** 2)
        spectrum += scipy.fft.rfft2(impulses * volume) * grid.gaussian(np.hypot(sigma, tip_sigma))
    z = scipy.fft.irfft2(spectrum, s=(grid.n, grid.n))
    if defects is not None and rng.random() < params["p_standing_waves"]:
        # scattering of a surface state: a ring |k| = 2π/λ in Fourier space is a decaying J0-like ripple around
        # each defect; its amplitude is a fraction of the tallest defect's
        wavelength = _draw(rng, params, "standing_wave_nm")
        k0, width = 2 * np.pi / wavelength, 2 * np.pi / (wavelength * rng.uniform(3, 6))
        if k0 < 0.9 * np.pi / px:
            ring = np.exp(-0.5 * (np.sqrt(grid.k2) - k0) ** 2 / width**2) * grid.gaussian(tip_sigma)
            ripple = scipy.fft.irfft2(scipy.fft.rfft2(defects) * ring, s=(grid.n, grid.n))
            ripple *= rng.uniform(0.1, 0.3) * np.abs(defects).max() / max(float(np.abs(ripple).max()), 1e-12)
            z = z + ripple
            info["standing_wave_nm"] = wavelength
    if rng.random() < params["p_inhomogeneity"]:
        # electronic inhomogeneity: a smooth apparent-height landscape on the nm scale, modulating the lattice too
        field = grid.crop(_smooth_field(rng, grid, _draw(rng, params, "inhomogeneity_nm")))
        strength = _draw(rng, params, "inhomogeneity")
        lattice = lattice * (1 + 0.3 * strength * field) + strength * info["corrugation_nm"] * field
    z = lattice + grid.crop(z)
    if np.ptp(z) < 1e-3 and params["p_steps"] > 0:  # nothing resolved (< 1 pm): show the terraces of the area
        z = z + grid.crop(scipy.fft.irfft2(scipy.fft.rfft2(_terraces(rng, params, grid, info, force=True))
                                           * grid.gaussian(tip_sigma), s=(grid.n, grid.n)))
    # shown as a scan is given to a model (stm_zoo.level.normalize): 0.5-99.5 % percentiles, clipped
    low, high = np.percentile(z, [0.5, 99.5])
    if high <= low:
        low, high = z.min(), max(z.max(), z.min() + 1e-12)
    if params["p_texture"] > 0 and rng.random() < params["p_texture"]:
        z = z + (high - low) * _draw(rng, params, "texture") * _line_texture(rng, size_px, params)
        info["texture"] = True
    return np.clip((z - low) / (high - low), 0.0, 1.0).astype(np.float32), info


def surface(rng: np.random.Generator, size_px: int = 256, params: dict | None = None) -> np.ndarray:
    """One clean surface, a (size_px, size_px) float32 array in [0, 1]; `params` override `DEFAULTS`."""
    return _render(rng, size_px, resolve(params))[0]


def surface_with_info(rng: np.random.Generator, size_px: int = 256, params: dict | None = None):
    """(image, info): info holds what was drawn (scan_nm, lattice, lattice_nm, tip, feature counts…)."""
    return _render(rng, size_px, resolve(params))


def surfaces(n: int, seed: int = 0, size_px: int = 256, params: dict | None = None) -> list[np.ndarray]:
    """`n` surfaces; image i depends only on (seed, i), so any subset can be regenerated."""
    params = resolve(params)
    return [_render(np.random.default_rng([seed, i]), size_px, params)[0] for i in range(n)]
