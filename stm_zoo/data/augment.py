"""The thesis' augmentations in tf ops: rotation within ±max_deg with a crop that removes the empty corners,
horizontal/vertical flips, intensity inversion, then min-max normalization to [0, 1]."""

import math

import tensorflow as tf


def crop_size_for(patch_size: int, rotation_deg: float) -> int:
    """Side of the square to cut from a source image so that, after rotating it by up to `rotation_deg`,
    a centred `patch_size` square contains no empty corner (inscribed square: side / (cos θ + sin θ))."""
    if rotation_deg <= 0:
        return patch_size
    t = math.radians(rotation_deg)
    return int(math.ceil(patch_size * (math.cos(t) + math.sin(t)))) + 2  # +2: bilinear margin


def rotate(image, angle_rad, fill_value=0.0):
    """Rotate an (H, W, C) image about its centre, bilinear; outside pixels get `fill_value`."""
    h = tf.cast(tf.shape(image)[0], tf.float32)
    w = tf.cast(tf.shape(image)[1], tf.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    angle_rad = tf.cast(angle_rad, tf.float32)
    c, s = tf.cos(angle_rad), tf.sin(angle_rad)
    transform = tf.stack([c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, 0.0, 0.0])[None]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=transform,
        output_shape=tf.shape(image)[:2],
        fill_value=tf.cast(fill_value, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return out[0]


def center_crop(image, size: int):
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return image[y0 : y0 + size, x0 : x0 + size]


def normalize01(image):
    low, high = tf.reduce_min(image), tf.reduce_max(image)
    return (image - low) / tf.maximum(high - low, 1e-12)


def augment(crop, seed, patch_size: int, rotation_deg: float = 10.0, flip: bool = True, invert: bool = True):
    """Augment a (C, C, 1) crop (C = crop_size_for(patch_size, rotation_deg)) into a (P, P, 1) patch in [0, 1]."""
    s_rot, s_lr, s_ud, s_inv = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    image = crop
    if rotation_deg > 0:
        limit = math.radians(rotation_deg)
        image = rotate(image, tf.random.stateless_uniform([], s_rot, -limit, limit))
    image = center_crop(image, patch_size)
    if flip:
        image = tf.where(tf.random.stateless_uniform([], s_lr) < 0.5, tf.reverse(image, [1]), image)
        image = tf.where(tf.random.stateless_uniform([], s_ud) < 0.5, tf.reverse(image, [0]), image)
    image = normalize01(image)
    if invert:
        image = tf.where(tf.random.stateless_uniform([], s_inv) < 0.5, 1.0 - image, image)
    return tf.ensure_shape(image, [patch_size, patch_size, 1])
