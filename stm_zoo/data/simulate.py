"""Clean STM surfaces from a simple physical picture: atomic lattices with point defects on terraces."""

import numpy as np

LATTICES = {
    "square": [(1.0, 0.0), (0.0, 1.0)],
    "hexagonal": [(1.0, 0.0), (0.5, np.sqrt(3) / 2)],
}


def lattice(shape, a_px: float, angle: float, kind: str = "hexagonal") -> np.ndarray:
    """Apparent height of a lattice with lattice constant `a_px` (pixels), rotated by `angle` (rad):
    a sum of cosines at the reciprocal vectors, which gives round atoms on the lattice sites."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a1, a2 = (np.asarray(v) * a_px for v in LATTICES[kind])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a1, a2 = rot @ a1, rot @ a2
    # reciprocal vectors b_i with a_i · b_j = 2π δ_ij
    basis = np.stack([a1, a2])
    b = 2 * np.pi * np.linalg.inv(basis).T
    ks = [b[0], b[1]] + ([b[0] - b[1]] if kind == "hexagonal" else [])
    z = sum(np.cos(k[0] * x + k[1] * y) for k in ks)
    return (z - z.min()) / (z.max() - z.min())


def surface(rng: np.random.Generator, size_px: int = 256) -> np.ndarray:
    """One clean surface in [0, 1]: a random lattice, vacancies and adatoms, maybe a step edge."""
    kind = rng.choice(list(LATTICES))
    a_px = rng.uniform(4.0, 16.0)
    z = lattice((size_px, size_px), a_px, rng.uniform(0, np.pi), kind)
    y, x = np.mgrid[0:size_px, 0:size_px]
    for _ in range(rng.integers(0, 8)):
        cy, cx = rng.uniform(0, size_px, 2)
        sign = rng.choice([-1.0, 1.0])  # vacancy dark, adatom bright
        r = a_px * rng.uniform(0.4, 0.8)
        z = z + sign * 0.8 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r**2))
    if rng.random() < 0.5:  # a monatomic step between two terraces
        angle = rng.uniform(0, np.pi)
        d = (x - size_px / 2) * np.cos(angle) + (y - size_px / 2) * np.sin(angle) - rng.uniform(-0.3, 0.3) * size_px
        z = z + 1.5 / (1 + np.exp(-d / 1.5))
    z = z - z.min()
    return (z / max(z.max(), 1e-12)).astype(np.float32)


def surfaces(n: int, seed: int = 0, size_px: int = 256) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [surface(rng, size_px) for _ in range(n)]
