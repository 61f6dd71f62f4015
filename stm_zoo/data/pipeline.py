"""Training data: clean sources → random crop → augment → noise → (noisy, clean) → batch, all in tf.data.

Clean images are 2-D float32 arrays in [0, 1] of any size. They are packed into one flat tensor so that the
random crop is a slice inside the graph; the noise and augmentation draws use stateless ops seeded per element.
"""

from importlib import resources
from pathlib import Path

import numpy as np
import tensorflow as tf

from stm_zoo import noise as noise_lib
from stm_zoo.data import simulate as simulator
from stm_zoo.data.augment import augment as augment_patch
from stm_zoo.data.augment import crop_size_for

IMAGE_SUFFIXES = (".npy", ".png", ".tif", ".tiff")
DEFAULT_SIMULATED = 128  # simulated surfaces (256², ~12 ms each) beside the 7 real scans of data="default"
DEFAULT_SIMULATED_SEED = 2024


def embedded_real_images() -> list[np.ndarray]:
    """The real topographs shipped with the package (see data/default/SOURCES.md)."""
    folder = resources.files("stm_zoo.data") / "default"
    return [np.load(str(p)).astype(np.float32) for p in sorted(folder.iterdir()) if p.name.endswith(".npy")]


def default_images(simulate: dict | None = None) -> list[np.ndarray]:
    """The embedded default data: the real clean topographs shipped with the package plus simulated lattices,
    so the main job runs offline. `simulate`: see `simulated_images`."""
    return embedded_real_images() + default_simulated_images(simulate)


def default_simulated_images(simulate: dict | None = None) -> list[np.ndarray]:
    """The simulated part of data="default"."""
    return simulated_images(simulate, seed=DEFAULT_SIMULATED_SEED, count=DEFAULT_SIMULATED)


def simulated_images(simulate: dict | None, *, seed: int, count: int) -> list[np.ndarray]:
    """A pool of simulated surfaces. `simulate` holds the pool's `count` and `size_px` (256 by default), its
    `share` of the patches (data="default", see `training_datasets`) and overrides of the simulator's parameters
    (`stm_zoo.data.simulate.DEFAULTS`)."""
    params = dict(simulate or {})
    params.pop("share", None)
    count = int(params.pop("count", count))
    size = int(params.pop("size_px", 256))
    return simulator.surfaces(count, seed=seed, size_px=size, params=params)


def check_simulate(simulate: dict, source: str = "default") -> None:
    """One-line ValueError for a bad `simulate` recipe field (for data `source`)."""
    params = dict(simulate)
    share = params.pop("share", None)
    if share is not None and source != "default":
        raise ValueError(f"simulate.share applies only to data='default', not {source!r}")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1):
        raise ValueError(f"simulate.share must be a number in [0, 1], got {share!r}")
    for key in ("count", "size_px"):
        if key in params and (not isinstance(params[key], int) or params.pop(key) < (1 if key == "count" else 16)):
            raise ValueError(f"simulate.{key} must be an integer ≥ {1 if key == 'count' else 16}")
    simulator.resolve(params)


def folder_images(path: str | Path) -> list[np.ndarray]:
    """Every readable image under `path` (recursively), leveled and normalized to [0, 1]."""
    from stm_zoo import io, level

    path = Path(path).expanduser()
    if not path.is_dir():
        raise ValueError(f"{path}: data folder not found")
    files = io.find_scans(path)
    if not files:
        raise ValueError(f"{path}: no readable images ({', '.join(io.formats())})")
    images = []
    for f in files:
        data = io.read(f).data
        if data.ndim == 2 and min(data.shape) >= 8:
            images.append(level.prepare(data)[0].astype(np.float32))
    return images


SYNTHETIC_IMAGES = 64  # size of the simulated pool for data="synthetic" (256² each)


def clean_images(source: str, simulate: dict | None = None) -> list[np.ndarray]:
    """Clean 2-D float32 images in [0, 1] from a data source:
    "default" (embedded scans + simulated), "synthetic" (the simulator alone; for both, `simulate` sets the
    simulated pool, see `simulated_images`), "tfds:NAME" (the train split of a TFDS dataset, built locally on
    first use: "tfds:stm_synthetic", "tfds:stm_synthetic/large", "tfds:stm_folder:/path/to/scans"),
    or a folder of scans."""
    if simulate and source not in ("default", "synthetic"):
        raise ValueError(f"simulate parameters apply only to data='default' or 'synthetic', not {source!r}")
    if source == "default":
        return default_images(simulate)
    if source == "synthetic":
        return simulated_images(simulate, seed=0, count=SYNTHETIC_IMAGES)
    if source.startswith("tfds:"):
        from stm_zoo.data import tfds_builders

        return tfds_builders.load_images(source[len("tfds:"):], "train")
    return folder_images(source)


def train_validation_images(source: str, simulate: dict | None = None):
    """(train, validation) clean images: a TFDS source's own validation split when it has one, else `split`."""
    if source.startswith("tfds:"):
        from stm_zoo.data import tfds_builders

        train = clean_images(source)
        val = tfds_builders.load_images(source[len("tfds:"):], "validation")
        return (train, val) if val else split(train)
    return split(clean_images(source, simulate))


def mixed_weights(images: list[np.ndarray], real: int, share: float, patch_size: int) -> np.ndarray:
    """Draw probabilities for `pairs`: the first `real` images (the embedded real scans) take 1 − `share` of
    the patches, each scan equally; the simulated rest take `share`, in proportion to their crop positions."""
    areas = np.array([max(h - patch_size + 1, 1) * max(w - patch_size + 1, 1) for h, w in
                      (im.shape for im in images[real:])], np.float64)
    return np.concatenate([np.full(real, (1 - share) / real), share * areas / areas.sum()])


def split(images: list[np.ndarray], every: int = 5) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hold out every `every`-th image for validation (all images serve both when there are too few)."""
    if len(images) < every:
        return images, images
    val = images[::every]
    train = [im for i, im in enumerate(images) if i % every]
    return train, val


def _pack(images: list[np.ndarray], min_side: int):
    """Flat tensor + per-image offsets and shapes; images smaller than `min_side` are upsampled."""
    flats, shapes = [], []
    for im in images:
        im = np.asarray(im, np.float32)
        if im.ndim != 2:
            raise ValueError(f"clean images must be 2-D, got shape {im.shape}")
        if min(im.shape) < min_side:
            scale = min_side / min(im.shape)
            size = (int(np.ceil(im.shape[0] * scale)), int(np.ceil(im.shape[1] * scale)))
            im = tf.image.resize(im[..., None], size, method="bilinear").numpy()[..., 0]
        flats.append(im.ravel())
        shapes.append(im.shape)
    shapes = np.asarray(shapes, np.int64)
    offsets = np.concatenate([[0], np.cumsum(shapes[:, 0] * shapes[:, 1])[:-1]])
    return tf.constant(np.concatenate(flats)), tf.constant(offsets), tf.constant(shapes)


def pairs(
    images: list[np.ndarray],
    *,
    patch_size: int,
    noise="thesis",
    augment: dict | None = None,
    seed: int = 0,
    fresh_each_iteration: bool = True,
    skip: int = 0,
    weights: np.ndarray | None = None,
) -> tf.data.Dataset:
    """An infinite dataset of (noisy, clean) patches of shape (P, P, 1).

    `weights`: each image's relative chance to be drawn (default: its number of crop positions, so every crop
    position of every image is equally likely).

    Each element gets its own stateless seed from `tf.data.Dataset.random(seed)`; with
    `fresh_each_iteration` every new iteration (epoch) draws new crops, augmentations and noise.
    `skip`: start that many elements into the stream (cheap: only their seeds are drawn).
    """
    augment = {"rotation_deg": 10.0, "flip": True, "invert": True, **(augment or {})}
    specs = noise_lib.resolve(noise)
    crop = crop_size_for(patch_size, augment["rotation_deg"])
    flat, offsets, shapes = _pack(images, crop)
    if weights is None:
        weights = tf.cast((shapes[:, 0] - crop + 1) * (shapes[:, 1] - crop + 1), tf.float32)
    logits = tf.math.log(tf.constant(weights, tf.float32))[None]

    @tf.autograph.experimental.do_not_convert  # plain tf ops; no Python control flow to convert
    def make(element_seed):
        seeds = tf.random.experimental.stateless_split(element_seed, 5)
        idx = tf.random.stateless_categorical(logits, 1, seeds[0])[0, 0]
        h, w = shapes[idx, 0], shapes[idx, 1]
        image = tf.reshape(flat[offsets[idx] : offsets[idx] + h * w], [h, w, 1])
        y0 = tf.random.stateless_uniform([], seeds[1], 0, h - crop + 1, dtype=tf.int64)
        x0 = tf.random.stateless_uniform([], seeds[2], 0, w - crop + 1, dtype=tf.int64)
        clean = augment_patch(image[y0 : y0 + crop, x0 : x0 + crop], seeds[3], patch_size, **augment)
        noisy, clean = noise_lib.apply_pair(clean, seeds[4], specs)
        return noisy, clean

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=fresh_each_iteration).batch(2).skip(skip)
    return seeds.map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def training_datasets(
    source: str,
    *,
    patch_size: int,
    batch_size: int,
    validation_steps: int,
    noise="thesis",
    augment: dict | None = None,
    seed: int = 0,
    simulate: dict | None = None,
    skip_batches: int = 0,
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """(train, validation): train is one infinite stream of fresh draws, fixed by `seed` and the position in it
    (iterating it again starts it again; `skip_batches` starts it that many batches in, so that a run resumed
    after k batches sees what an uninterrupted run sees from batch k on); validation is fixed (same noise every
    epoch). `simulate["share"]` (data="default"): the simulated pool's share of the training patches, the rest
    drawn from the embedded real scans, each equally (without it, every crop position of every image is equally
    likely, which draws a real scan no larger than the patch almost never)."""
    weights = None
    if "share" in (simulate or {}):
        check_simulate(simulate, source)
        real_train, real_val = split(embedded_real_images())
        sim_train, sim_val = split(default_simulated_images(simulate))
        train_images, val_images = real_train + sim_train, real_val + sim_val
        weights = mixed_weights(train_images, len(real_train), simulate["share"], patch_size)
    else:
        train_images, val_images = train_validation_images(source, simulate)
    train = pairs(train_images, patch_size=patch_size, noise=noise, augment=augment, seed=seed,
                  fresh_each_iteration=False, skip=skip_batches * batch_size, weights=weights)
    val = pairs(val_images, patch_size=patch_size, noise=noise, augment=augment, seed=seed + 1,
                fresh_each_iteration=False)
    return batched(train, val, batch_size=batch_size, validation_steps=validation_steps)


def batched(train: tf.data.Dataset, val: tf.data.Dataset, *, batch_size: int, validation_steps: int):
    """Element streams → (train batches, the first `validation_steps` validation batches, cached: the same
    every epoch)."""
    train = train.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    val = val.take(validation_steps * batch_size).cache().batch(batch_size, drop_remainder=True)
    return train, val.prefetch(tf.data.AUTOTUNE)


def real_patches(images: list[np.ndarray], *, patch_size: int, batch_size: int, augment: dict | None = None,
                 seed: int = 0, skip_batches: int = 0) -> tf.data.Dataset:
    """Infinite batches of augmented (P, P, 1) patches of real scans as they are (no synthetic noise): one
    stream, a function of `seed` and the position in it; `skip_batches`: start that many batches in."""
    patches = pairs(images, patch_size=patch_size, noise=[], augment=augment, seed=seed, fresh_each_iteration=False,
                    skip=skip_batches * batch_size)
    patches = patches.map(lambda noisy, _: noisy, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return patches.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
