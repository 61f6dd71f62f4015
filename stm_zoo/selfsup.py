"""Training on the user's own noisy scans, with no clean images: self-supervised blind-spot training for any zoo
model (`trainer="selfsup"`) and fine-tuning from a trained model (`init_from`).

What follows which published method:
- Blind-spot training — Noise2Void (Krull et al., CVPR 2019) and Noise2Self (Batson & Royer, ICML 2019): some
  pixels of a noisy patch are hidden from the network and the loss compares its prediction there with the
  noisy values themselves. Noise that is independent between the hidden pixels and what the network still
  sees cannot be predicted, so the network learns to output the signal.
- Masks shaped like the noise — structN2V (Broaddus et al., ISBI 2020): noise correlated along one axis
  leaks through a one-pixel blind spot (the network copies it from the neighbours), so the blind spot is
  stretched along that axis.
- Hidden pixels get the values of random pixels of the same patch, as Noise2Void replaces its blind spot with a
  random neighbour — but drawn from anywhere outside the blind spots, not from a 5×5 neighbourhood that would
  hold the hidden line's own offset. structN2V's uniform random values were tried first: the model learnt
  the statistics of those fake lines, met none at inference, and its output level drifted (+0.02 on average,
  2.6 dB lower PSNR on 8 synthetic 256² test images; autoencoder_thesis, 1000 steps).
- Target and mask packed as the two channels of `y`, read by the loss (`blindspot_mse`) — the CSBDeep / n2v
  implementation of Noise2Void, so the generic Keras `fit` trains any zoo model unchanged. The loss runs over
  every hidden pixel, as Noise2Self's masked loss does, not only over a segment's centre as in structN2V.

What is new here, for STM: in a scan the noise is correlated along the fast-scan axis — line offsets, scars,
stripes and flicker are constant or smooth along a row and independent from row to row. The blind spots are
therefore horizontal segments one or a few lines high and, by default, as long as the patch is wide
(`length=1.0`): a shorter segment lets the network read the line's offset from the unmasked rest of the same
line inside its receptive field and paint it back. With whole lines hidden the network must predict them
from the lines above and below, so whatever differs from line to line — offsets, scars, stripes, white
noise — is unpredictable and removed. Segments a few lines high (`rows=(1, 3)`) also hide scars that span
several lines, at the price of predicting from lines farther away. Rows stay rows: rotation is refused (it tilts the scan lines and its interpolation spreads
the noise between neighbours); flips and intensity inversion keep the rows and are allowed.
Limits: what is correlated from line to line — slow drift of the offsets, tip changes, blur, features one
line high — looks like signal to any blind-spot method and stays. The loss sees only hidden pixels, so
nothing stops a model from copying the visible input to its output at inference; a model with a global skip
(output = input − predicted noise, as DnCNN) does just that: DnCNN-8 reached 25.9 dB against 28.9 dB
supervised on the synthetic test split, stripes mostly kept, where autoencoder_thesis, whose bottleneck
cannot copy, reached 27.3 dB against 28.9 dB with the stripe index of supervised training
(`bench/selfsup_eval.py`). Prefer models without a global skip for this trainer.

Data: a folder of the user's scans (every format `stm_zoo.io.read` reads, leveled and normalized as
`stm_zoo.data.pipeline.folder_images` does) is used as it is: it is already noisy. The clean sources
("default", "synthetic", "tfds:stm_synthetic…") get the recipe's synthetic `noise` first, so the result can
be compared with supervised training where the truth is known (`bench/selfsup_eval.py`). Validation uses the
same masking with fixed seeds, the same masks every epoch.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

# Blind spots per patch (recipe key `blindspot`): `count` segments, each `rows` lines high and `length` × the
# patch width long (1.0: whole lines; 0.0: one pixel, the original Noise2Void). `rows` and `length` may be a
# (low, high) range drawn per segment.
BLINDSPOT = {"count": 4, "rows": 1, "length": 1.0}
MASK_SALT = 0x5E1F  # decorrelates the mask draws from the patch draws made with the same seed stream


# ---------------------------------------------------------------- masks (tf ops, inside tf.data)


def _uniform(value, seed, n: int, dtype=tf.float32):
    """`n` draws of a parameter given as a scalar or a (low, high) range (ints: both ends included)."""
    low, high = value if isinstance(value, (tuple, list)) else (value, value)
    if dtype.is_integer:
        return tf.random.stateless_uniform([n], seed, int(low), int(high) + 1, dtype=dtype)
    return tf.random.stateless_uniform([n], seed, float(low), float(high), dtype=dtype)


def blindspot_mask(height, width, seed, count: int = 4, rows=1, length=1.0) -> tf.Tensor:
    """An (H, W) bool mask of `count` horizontal segments: each `rows` lines high, ceil(`length` × W) pixels
    long (at least 1), at a random place inside the image. Segments may overlap."""
    s_rows, s_start, s_length, s_col = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    k = _uniform(rows, s_rows, count, tf.int32)
    start = tf.cast(tf.random.stateless_uniform([count], s_start) * tf.cast(height - k + 1, tf.float32), tf.int32)
    span = tf.clip_by_value(tf.cast(tf.math.ceil(_uniform(length, s_length, count) * tf.cast(width, tf.float32)),
                                    tf.int32), 1, width)
    col = tf.cast(tf.random.stateless_uniform([count], s_col) * tf.cast(width - span + 1, tf.float32), tf.int32)
    y, x = tf.range(height)[:, None], tf.range(width)[:, None]
    in_rows = tf.cast((y >= start) & (y < start + k), tf.float32)  # (H, count)
    in_cols = tf.cast((x >= col) & (x < col + span), tf.float32)  # (W, count)
    return tf.matmul(in_rows, in_cols, transpose_b=True) > 0


def mask_patch(noisy, seed, count: int = 4, rows=1, length=1.0):
    """(masked input, y) for one (H, W, 1) noisy patch. Each blind-spot pixel of the input gets the value of a
    random pixel of the same patch outside the blind spots; `y` packs the untouched patch (channel 0, the
    target) and the mask (channel 1, 1 = hidden) for `stm_zoo.losses.blindspot_mse`."""
    s_mask, s_values = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    shape = tf.shape(noisy)
    mask = blindspot_mask(shape[0], shape[1], s_mask, count, rows, length)
    flat = tf.reshape(noisy, [-1])
    pool = tf.boolean_mask(flat, ~tf.reshape(mask, [-1]))
    pool = tf.cond(tf.size(pool) > 0, lambda: pool, lambda: flat)  # everything hidden: draw from the patch
    picks = tf.random.stateless_uniform([tf.size(flat)], s_values, 0, tf.size(pool), dtype=tf.int32)
    values = tf.reshape(tf.gather(pool, picks), shape)
    mask = mask[:, :, None]
    masked = tf.where(mask, values, noisy)
    return masked, tf.concat([noisy, tf.cast(mask, noisy.dtype)], axis=-1)


# ---------------------------------------------------------------- datasets


def adds_noise(source: str) -> bool:
    """Whether `source` holds clean images that get synthetic noise; folders of scans are noisy already."""
    return source in ("default", "synthetic") or source.startswith("tfds:stm_synthetic")


def masked_patches(images: list[np.ndarray], *, patch_size: int, noise, augment: dict, blindspot: dict,
                   seed: int, fresh_each_iteration: bool = True) -> tf.data.Dataset:
    """An infinite dataset of (masked input, y) patches of shape (P, P, 1) and (P, P, 2) from noisy `images`
    (`noise` is applied first: pass [] for scans that are noisy already)."""
    from stm_zoo.data import pipeline

    patches = pipeline.pairs(images, patch_size=patch_size, noise=noise, augment=augment, seed=seed,
                             fresh_each_iteration=fresh_each_iteration)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=fresh_each_iteration).batch(2)

    @tf.autograph.experimental.do_not_convert  # plain tf ops
    def make(pair, element_seed):
        noisy, _ = pair  # the clean half is never used: this is self-supervised
        return mask_patch(noisy, tf.random.experimental.stateless_fold_in(element_seed, MASK_SALT), **blindspot)

    return tf.data.Dataset.zip(patches, seeds).map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def training_datasets(config: dict) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """(train, validation) for a validated recipe with `trainer="selfsup"`: train draws fresh patches and masks
    every epoch, validation is fixed (same patches, noise and masks every epoch)."""
    from stm_zoo.data import pipeline

    train_images, val_images = pipeline.train_validation_images(config["data"])
    noise = config["noise"] if adds_noise(config["data"]) else []
    common = dict(patch_size=config["patch_size"], noise=noise, augment=config["augment"],
                  blindspot=config["blindspot"])
    batch = config["batch_size"]
    train = masked_patches(train_images, seed=config["seed"], **common)
    train = train.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    val = masked_patches(val_images, seed=config["seed"] + 1, fresh_each_iteration=False, **common)
    val = val.take(config["validation_steps"] * batch).cache().batch(batch, drop_remainder=True)
    return train, val.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- recipe checks and fine-tuning


def _check_range(name: str, value, kind, low, high):
    values = list(value) if isinstance(value, (tuple, list)) else [value]
    if isinstance(value, (tuple, list)) and (len(values) != 2 or values[0] > values[1]):
        raise ValueError(f"blindspot.{name} must be a number or a (low, high) range, got {value!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, kind) or not low <= v <= high:
            raise ValueError(f"blindspot.{name} must be in [{low}, {high}], got {value!r}")


def check_blindspot(blindspot: dict) -> dict:
    """`blindspot` completed with the defaults and checked; ValueError with a one-line message."""
    unknown = set(blindspot) - set(BLINDSPOT)
    if unknown:
        raise ValueError(f"unknown blindspot key {sorted(unknown)[0]!r}; known: {', '.join(BLINDSPOT)}")
    full = {**BLINDSPOT, **blindspot}
    _check_range("count", full["count"], int, 1, 4096)
    if isinstance(full["count"], (tuple, list)):
        raise ValueError(f"blindspot.count must be an int, got {full['count']!r}")
    _check_range("rows", full["rows"], int, 1, 64)
    _check_range("length", full["length"], (int, float), 0.0, 1.0)
    return full


def _describe_run(path: Path) -> str:
    """What a run folder's recipe.json says the model was trained as, for error messages."""
    import json

    try:
        recipe = json.loads((path.parent / "recipe.json").read_text())
        return f" (it was trained as model={recipe['model']!r} model_kwargs={recipe.get('model_kwargs', {})!r})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def check_init_from(spec: str, model: str, model_kwargs: dict) -> None:
    """Check that `init_from` (a `.keras` path or a pretrained zoo name) exists and has the weights of the
    recipe's model, without downloading anything; ValueError with a one-line message."""
    from stm_zoo import models, weights

    where = f"init_from {spec!r}"
    if not spec.endswith(".keras"):
        try:
            entry = weights.entry(spec)  # no download: the manifest says what it is
        except weights.WeightsError as e:
            raise ValueError(f"{where}: {e}") from None
        if entry["architecture"] != model or entry["kwargs"] != model_kwargs:
            raise ValueError(f"{where} is {entry['architecture']} {entry['kwargs']}, not model={model!r} "
                             f"model_kwargs={model_kwargs!r}; set model and model_kwargs to match")
        return
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValueError(f"{where}: file not found")
    try:
        source = models.load(path)
    except ValueError as e:  # a damaged or foreign file: one line, never a traceback
        raise ValueError(f"{where}: does not load ({str(e).splitlines()[0]})") from None
    target = models.build(model, **model_kwargs)
    if [w.shape for w in source.weights] != [w.shape for w in target.weights]:
        raise ValueError(f"{where}: its weights do not fit model={model!r} model_kwargs={model_kwargs!r}"
                         f"{_describe_run(path)}; set model and model_kwargs to match")


def check_recipe(full: dict) -> dict:
    """The self-supervised and fine-tuning parts of a recipe (the selfsup trainer's loss and augmentation,
    `blindspot`, `init_from`), checked; returns the recipe with `blindspot` completed. ValueError, one line."""
    selfsup = full["trainer"] == "selfsup"
    if selfsup != full["loss"].startswith("blindspot_"):
        raise ValueError(f"trainer 'selfsup' needs a blindspot_* loss, got {full['loss']!r}" if selfsup else
                         f"loss {full['loss']!r} needs trainer 'selfsup' (it reads the blind-spot mask)")
    if selfsup and full["augment"]["rotation_deg"] != 0:
        raise ValueError("trainer 'selfsup' needs augment.rotation_deg=0: rotation tilts the scan lines and its "
                         "interpolation spreads the noise into the neighbours the blind spot relies on")
    full = {**full, "blindspot": check_blindspot(full["blindspot"])}
    if full["init_from"]:
        check_init_from(full["init_from"], full["model"], full["model_kwargs"])
    return full
