"""Make docs/simulator_vs_real.png: real STM topographs (top row) beside simulated clean surfaces.

    python docs/simulator_vs_real.py [--shared ../shared/data/stm]

Real scans come from MIT / Apache-2.0 repositories only (named under each image), read with `stm_zoo.io`,
plane-fitted and row-aligned (median of differences) and shown between their 0.5 and 99.5 % percentiles.
The simulated ones are the first surfaces of `simulate.surfaces(seed=0)` at 256 px, not hand-picked.
"""

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from stm_zoo import io, level
from stm_zoo.data import simulate

REAL = [  # (repository folder, path, what it shows)
    ("Chitran1987__sn-1X1-fft-mapping", "m1_Z TraceUp Thu Oct 26 16.54.59 2023 [25-1]  STM_Spectroscopy STM.stp",
     "Sn honeycomb"),
    ("rescipy-project__spym", "test/dI-dV_9K_ABC6_2020_07_02_08_50_47_967.sm4", "ABC graphite"),
    ("FAIRmat-NFDI__pynxtools-stm", "tests/data/stm_nanonis_4_5/STM_nanonis_generic_4_5.sxm", "molecular network"),
    ("FAIRmat-NFDI__pynxtools-stm", "test_example/Au_mica_2023_Y_A_099.sxm", "molecule on Au(111)"),
    ("Chitran1987__sn-1X1-fft-mapping", "m1_Z RetraceUp Fri Aug 18 10.44.29 2023 [9-29]  STM_Spectroscopy STM.stp",
     "Sn islands"),
    ("gggg0034__Nanonis_AutoSTM_C-Br_bond_selectivity", "STM_img_simu/30/185 [Z_fwd] image30.png", "molecules"),
]
LICENSES = {"Chitran1987__sn-1X1-fft-mapping": "MIT", "rescipy-project__spym": "MIT",
            "FAIRmat-NFDI__pynxtools-stm": "Apache-2.0", "gggg0034__Nanonis_AutoSTM_C-Br_bond_selectivity": "MIT"}


def real_image(shared: Path, repo: str, path: str):
    scan = io.read(shared / repo / path)
    z = level.normalize(level.align_rows(level.plane_fit(scan.data), "median_diff"))[0]
    width = f"{scan.size[1] * 1e9:.3g} nm" if scan.size else "size n/a"
    return z, width


def main():
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=here.parent.parent / "shared" / "data" / "stm")
    parser.add_argument("--out", type=Path, default=here / "simulator_vs_real.png")
    args = parser.parse_args()

    columns = len(REAL)
    fig = Figure(figsize=(2.2 * columns, 2.5 * 3 + 0.4))
    axes = fig.subplots(3, columns)
    for ax, (repo, path, what) in zip(axes[0], REAL):
        z, width = real_image(args.shared, repo, path)
        ax.imshow(z, cmap="afmhot", interpolation="nearest")
        owner = repo.split("__")[0]
        ax.set_title(f"real: {what}, {width}\n{owner} ({LICENSES[repo]})", fontsize=7)
    rng_images = [simulate.surface_with_info(np.random.default_rng([0, i]), 256) for i in range(2 * columns)]
    for ax, (z, info) in zip(axes[1:].ravel(), rng_images):
        ax.imshow(z, cmap="afmhot", interpolation="nearest")
        lattice = ("molecular " if info["molecular_lattice"] else "") + info["lattice"]
        ax.set_title(f"simulated: {lattice}, {info['scan_nm']:.3g} nm", fontsize=7)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle("Real STM topographs (top) and stm_zoo.data.simulate surfaces (below)", fontsize=9)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=".simulator_vs_real-", suffix=".png", dir=args.out.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=80)
        os.replace(tmp, args.out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
