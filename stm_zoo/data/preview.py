"""A PNG grid of clean vs noisy training samples for a recipe: what the model will be trained on."""

from pathlib import Path

import numpy as np

from stm_zoo._atomic import atomic_path
from stm_zoo.data import pipeline


def samples(config: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean), each (n, P, P): the first `n` training pairs of a validated recipe."""
    images = pipeline.clean_images(config["data"], config.get("simulate"))
    ds = pipeline.pairs(images, patch_size=config["patch_size"], noise=config["noise"], augment=config["augment"],
                        seed=config["seed"], fresh_each_iteration=False)
    noisy, clean = next(iter(ds.batch(n).take(1)))
    return noisy.numpy()[..., 0], clean.numpy()[..., 0]


def write_noise_preview(config: dict, path, n: int = 8, columns: int = 8) -> Path:
    """Draw `n` pairs as rows of clean patches over their noisy versions; write the PNG atomically."""
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: the preview is a PNG, name it *.png")
    noisy, clean = samples(config, n)
    columns = min(columns, n)
    blocks = -(-n // columns)
    fig = Figure(figsize=(1.6 * columns + 0.6, 3.3 * blocks + 0.5))
    axes = fig.subplots(2 * blocks, columns, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for i in range(n):
        block, col = divmod(i, columns)
        for row, (image, label) in enumerate(((clean[i], "clean"), (noisy[i], "noisy"))):
            ax = axes[2 * block + row, col]
            ax.imshow(image, cmap="afmhot", vmin=0.0, vmax=1.0, interpolation="nearest")
            if col == 0:
                ax.set_axis_on()
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_ylabel(label)
    noise = config["noise"]
    kinds = ", ".join(f"{s['type']} ({s['p']:g})" for s in noise)
    fig.suptitle(f"data={config['data']}  patch={config['patch_size']}  noise (p): {kinds}", fontsize=8, wrap=True)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, dpi=100)
    return path
