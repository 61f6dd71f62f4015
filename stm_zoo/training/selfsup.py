"""Training on the user's own noisy scans, with no clean images: self-supervised blind-spot training for any zoo
model (`trainer="selfsup"`; recipe key `blindspot`, `recipe.BLINDSPOT`), e.g. fine-tuning a trained model
(`init_from`, `recipes/finetune.py`).

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


import numpy as np
import tensorflow as tf

from stm_zoo.training import core

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
    target) and the mask (channel 1, 1 = hidden) for `stm_zoo.training.losses.blindspot_mse`."""
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
                   seed: int, skip: int = 0) -> tf.data.Dataset:
    """An infinite stream of (masked input, y) patches of shape (P, P, 1) and (P, P, 2) from noisy `images`
    (`noise` is applied first: pass [] for scans that are noisy already), a function of `seed` and the position
    in it (iterating it again starts it again); `skip`: start that many elements in."""
    from stm_zoo.data import pipeline

    patches = pipeline.pairs(images, patch_size=patch_size, noise=noise, augment=augment, seed=seed,
                             fresh_each_iteration=False, skip=skip)
    seeds = tf.data.Dataset.random(seed=seed).batch(2).skip(skip)

    @tf.autograph.experimental.do_not_convert  # plain tf ops
    def make(pair, element_seed):
        noisy, _ = pair  # the clean half is never used: this is self-supervised
        return mask_patch(noisy, tf.random.experimental.stateless_fold_in(element_seed, MASK_SALT), **blindspot)

    return tf.data.Dataset.zip(patches, seeds).map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def training_datasets(config: dict, start_epoch: int = 0) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """(train, validation) for a validated recipe with `trainer="selfsup"`: train is one stream of fresh patches
    and masks, fixed by the seed and the position in it (a run resumed after `start_epoch` epochs continues it),
    validation is fixed (same patches, noise and masks every epoch)."""
    from stm_zoo.data import pipeline

    train_images, val_images = pipeline.train_validation_images(config["data"])
    noise = config["noise"] if adds_noise(config["data"]) else []
    common = dict(patch_size=config["patch_size"], noise=noise, augment=config["augment"],
                  blindspot=config["blindspot"])
    batch = config["batch_size"]
    train = masked_patches(train_images, seed=config["seed"], skip=start_epoch * config["steps_per_epoch"] * batch,
                           **common)
    val = masked_patches(val_images, seed=config["seed"] + 1, **common)
    return pipeline.batched(train, val, batch_size=batch, validation_steps=config["validation_steps"])


def fit(config: dict, unfinished: list, callbacks: list, verbose):
    """Run a validated recipe with `trainer="selfsup"`: `core.fit_keras` on the masked patches (no truth: no
    PSNR / SSIM)."""
    return core.fit_keras(config, lambda start_epoch: training_datasets(config, start_epoch), truth=False,
                          unfinished=unfinished, callbacks=callbacks, verbose=verbose)
