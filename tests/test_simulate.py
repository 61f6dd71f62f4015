import numpy as np
import pytest
from scipy import ndimage

from stm_zoo.data import simulate

# Everything off: a bare lattice, then tests switch on what they look at.
BARE = dict(p_molecular_lattice=0.0, p_inverted=0.0, p_drift=0.0, p_domains=0.0, p_cdw=0.0, p_moire=0.0,
            p_steps=0.0, p_islands=0.0, p_vacancies=0.0, p_adatoms=0.0, p_molecules=0.0, p_clusters=0.0,
            p_standing_waves=0.0, p_inhomogeneity=0.0)


def _radial_peak(z: np.ndarray, skip: int = 2) -> float:
    """Radius (cycles per image) of the strongest Fourier component beyond the lowest `skip` frequencies."""
    power = np.abs(np.fft.fftshift(np.fft.fft2(z - z.mean()))) ** 2
    n = z.shape[0]
    ky, kx = np.indices(power.shape) - n // 2
    radius = np.hypot(ky, kx)
    power[radius < skip] = 0
    return float(radius.flat[np.argmax(power)])


def test_surfaces_shape_range_and_reproducible():
    a = simulate.surfaces(3, seed=1, size_px=64)
    b = simulate.surfaces(3, seed=1, size_px=64)
    c = simulate.surfaces(3, seed=2, size_px=64)
    for im in a:
        assert im.shape == (64, 64) and im.dtype == np.float32
        assert im.min() >= 0.0 and im.max() <= 1.0 and im.std() > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not any(np.array_equal(x, y) for x, y in zip(a, c))
    # image i depends on (seed, i) only
    np.testing.assert_array_equal(simulate.surfaces(2, seed=1, size_px=64)[1], a[1])


def test_default_draws_are_finite_and_not_flat():
    for i in range(150):
        z, info = simulate.surface_with_info(np.random.default_rng([9, i]), 32)
        assert np.isfinite(z).all(), info
        assert z.max() - z.min() > 0.5, info


@pytest.mark.parametrize("kind", simulate.LATTICE_KINDS)
def test_every_lattice_kind_renders(kind):
    z = simulate.surface(np.random.default_rng(0), 48, {**BARE, "lattices": kind, "scan_nm": 4.0})
    assert z.shape == (48, 48) and z.std() > 0.05


def test_lattice_constant_is_in_physical_units():
    # square lattice, a = 0.4 nm in a 6.4 nm scan: the first Bragg peak lies at 6.4 / 0.4 = 16 cycles per image
    params = {**BARE, "lattices": "square", "lattice_nm": 0.4, "scan_nm": 6.4, "tip_nm": 0.05}
    for seed in range(3):
        z = simulate.surface(np.random.default_rng(seed), 128, params)
        assert abs(_radial_peak(z) - 16.0) <= 1.0


def test_cdw_adds_a_superlattice_at_its_period():
    params = {**BARE, "lattices": "square", "lattice_nm": 0.4, "scan_nm": 12.8, "tip_nm": 0.05, "p_cdw": 1.0,
              "cdw_period": 4.0, "cdw_strength": 3.0}
    z = simulate.surface(np.random.default_rng(3), 128, params)
    power = np.abs(np.fft.fft2(z - z.mean())) ** 2
    ky, kx = np.meshgrid(np.fft.fftfreq(128, 1 / 128), np.fft.fftfreq(128, 1 / 128), indexing="ij")
    radius = np.hypot(ky, kx)
    cdw = power[np.abs(radius - 32 / 4) <= 1].max()  # 32 cycles / 4
    between = power[(radius > 12) & (radius < 28)].max()
    assert cdw > 20 * between


def test_vacancies_are_dark_and_sit_on_lattice_sites():
    params = {**BARE, "lattices": "square", "lattice_nm": 0.5, "scan_nm": 5.0, "tip_nm": 0.05, "p_vacancies": 1.0,
              "vacancies_per_nm2": 0.1, "corrugation_nm": 0.03}
    found = 0
    for seed in range(3):
        with_vac = simulate.surface(np.random.default_rng(seed), 96, {**params, "vacancy_depth": 3.0})
        without = simulate.surface(np.random.default_rng(seed), 96, {**params, "vacancy_depth": 0.0})
        # the darkest pixels (clipped to 0) form one pit per vacancy, centred where an atom (bright) was
        pits, n = ndimage.label(with_vac == 0.0)
        for centre in ndimage.center_of_mass(with_vac == 0.0, pits, range(1, n + 1)):
            y, x = np.round(centre).astype(int)
            if min(y, x) < 4 or max(y, x) > 91:  # a vacancy cut by the edge: its centre is outside
                continue
            assert without[y, x] > 0.8
            found += 1
    assert found >= 2


def test_adatom_is_bright_with_its_apparent_size():
    # one adatom of FWHM 1.0 nm on a flat surface, seen with a sharp tip: FWHM ≈ 1.0 nm = 32 px here
    params = {**BARE, "scan_nm": 4.0, "corrugation_nm": 0.0, "tip_nm": 0.05, "p_adatoms": 1.0,
              "adatoms_per_nm2": 0.04, "adatom_nm": 1.0}
    for seed in range(50):
        z, info = simulate.surface_with_info(np.random.default_rng(seed), 128, params)
        y, x = np.unravel_index(np.argmax(z), z.shape)
        if info["adatoms"] == 1 and 30 <= y < 98 and 30 <= x < 98:
            break
    else:
        pytest.fail("no seed gave a single adatom inside the image")
    profile = z[y] - np.median(z)
    above = profile >= profile[x] / 2
    left = x - np.argmin(above[x::-1])
    right = x + np.argmin(above[x:])
    assert abs((right - left) - 32) <= 3


def test_steps_are_monatomic_terraces():
    params = {**BARE, "scan_nm": 10.0, "corrugation_nm": 0.0, "p_steps": 1.0, "terrace_nm": 10.0, "max_steps": 6,
              "meander": 0.0, "step_nm": 0.25}
    z, info = simulate.surface_with_info(np.random.default_rng(4), 128, params)
    levels, counts = np.unique(np.round(z, 2), return_counts=True)
    plateaus = levels[counts > 0.03 * z.size]
    assert info["steps"] >= 1 and len(plateaus) >= 2
    gaps = np.diff(plateaus) / np.diff(plateaus).min()
    np.testing.assert_allclose(gaps, np.round(gaps), atol=0.1)  # whole numbers of one step height


def test_blunter_tip_removes_fine_detail():
    params = {**BARE, "lattices": "hexagonal", "lattice_nm": 0.4, "scan_nm": 8.0, "p_adatoms": 1.0,
              "adatoms_per_nm2": 0.05}

    def fine(z):
        return np.abs(np.diff(z, axis=1)).mean()

    sharp = simulate.surface(np.random.default_rng(5), 128, {**params, "tip_nm": 0.05})
    blunt = simulate.surface(np.random.default_rng(5), 128, {**params, "tip_nm": 0.6})
    assert fine(blunt) < 0.5 * fine(sharp)


@pytest.mark.parametrize(
    "params, message",
    [({"nope": 1}, "unknown simulate parameter 'nope'"), ({"lattices": ["kagome"]}, "unknown lattice 'kagome'"),
     ({"p_steps": 1.5}, "'p_steps' is a probability"), ({"scan_nm": (10, 5)}, "'scan_nm' must be a value or")],
)
def test_bad_parameters_are_clear_errors(params, message):
    with pytest.raises(ValueError, match=message):
        simulate.resolve(params)


def test_texture_is_fine_line_correlated_and_off_by_default():
    rng = lambda: np.random.default_rng([4, 2])  # noqa: E731
    plain, info = simulate.surface_with_info(rng(), 128, {**BARE, "scan_nm": 10.0})
    same = simulate.surface(rng(), 128, {**BARE, "scan_nm": 10.0, "p_texture": 0.0})
    np.testing.assert_array_equal(plain, same)
    rough, info = simulate.surface_with_info(rng(), 128, {**BARE, "scan_nm": 10.0, "p_texture": 1.0,
                                                         "texture": 0.02, "texture_px": 1.0})
    assert info["texture"]
    added = (rough - plain)[2:-2, 2:-2]  # clipping aside, the texture alone
    assert 0.01 < added.std() < 0.03
    along = np.corrcoef(added[:, :-1].ravel(), added[:, 1:].ravel())[0, 1]
    across = np.corrcoef(added[:-1].ravel(), added[1:].ravel())[0, 1]
    assert along > 0.4 and across < along
