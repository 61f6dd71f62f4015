import numpy as np
import pytest
import tensorflow as tf

from stm_zoo.data import augment, pipeline, simulate


def test_rotation_crop_leaves_no_empty_corners():
    patch = 48
    crop = augment.crop_size_for(patch, 10.0)
    ones = tf.ones([crop, crop, 1])
    for deg in (-10.0, -7.0, 3.0, 10.0):
        rotated = augment.rotate(ones, np.deg2rad(deg), fill_value=0.0)
        assert float(tf.reduce_min(augment.center_crop(rotated, patch))) > 0.99, deg
    # without the margin the corners would be empty
    rotated = augment.rotate(tf.ones([patch, patch, 1]), np.deg2rad(10.0), fill_value=0.0)
    assert float(tf.reduce_min(rotated)) == 0.0


def test_augment_output_in_unit_range():
    crop = augment.crop_size_for(32, 10.0)
    image = tf.random.uniform([crop, crop, 1]) * 5 - 2
    out = augment.augment(image, tf.constant([1, 2]), 32).numpy()
    assert out.shape == (32, 32, 1)
    assert out.min() == 0.0 and out.max() == 1.0


def _first_batch(ds):
    return [b.numpy() for b in next(iter(ds))]


def test_pairs_fresh_every_epoch_and_deterministic_under_seed():
    images = simulate.surfaces(3, seed=1, size_px=96)
    ds = pipeline.pairs(images, patch_size=32, seed=7).batch(4)
    a1, a2 = _first_batch(ds), _first_batch(ds)  # two iterations = two epochs
    assert not np.array_equal(a1[0], a2[0])
    b1 = _first_batch(pipeline.pairs(images, patch_size=32, seed=7).batch(4))
    np.testing.assert_array_equal(a1[0], b1[0])  # same seed → same first epoch
    noisy, clean = a1
    assert noisy.shape == clean.shape == (4, 32, 32, 1)
    assert not np.array_equal(noisy, clean)


def test_validation_is_fixed_across_epochs():
    _, val = pipeline.training_datasets("synthetic", patch_size=32, batch_size=2, validation_steps=2)
    first = [x.numpy() for x, _ in val]
    second = [x.numpy() for x, _ in val]
    assert len(first) == 2
    np.testing.assert_array_equal(first[0], second[0])


def test_default_data_is_embedded():
    images = pipeline.default_images()
    assert len(images) >= 16
    for im in images:
        assert im.ndim == 2 and im.dtype == np.float32 and 0 <= im.min() and im.max() <= 1


def test_simulate_share_mixes_real_scans_in_by_count():
    ramp = np.linspace(0, 1, 64, dtype=np.float32)
    real = [np.repeat(ramp[:, None], 64, axis=1)] * 2  # varies down the scan (survives flips and normalization)
    sim = [np.repeat(np.linspace(0, 1, 128, dtype=np.float32)[None], 128, axis=0)] * 6  # varies along the line
    weights = pipeline.mixed_weights(real + sim, len(real), share=0.25, patch_size=64)
    np.testing.assert_allclose(weights[:2], [0.375, 0.375])
    np.testing.assert_allclose(weights.sum(), 1.0)
    ds = pipeline.pairs(real + sim, patch_size=64, noise=[], augment={"rotation_deg": 0.0}, seed=3, weights=weights)
    from_real = [float(np.ptp(clean.numpy()[:, 0, 0])) > 0.5 for _, clean in ds.take(200)]
    assert 0.65 < np.mean(from_real) < 0.85  # 75 %; by crop positions the real scans would get 2 of 8,387 draws


def test_simulate_share_is_checked():
    with pytest.raises(ValueError, match="simulate.share must be a number in"):
        pipeline.check_simulate({"share": 1.5})
    with pytest.raises(ValueError, match="simulate.share applies only to data='default'"):
        pipeline.training_datasets("synthetic", patch_size=32, batch_size=2, validation_steps=1,
                                   simulate={"share": 0.5})
    train, _ = pipeline.training_datasets("default", patch_size=32, batch_size=2, validation_steps=1,
                                          simulate={"count": 4, "size_px": 48, "share": 0.5})
    noisy, clean = next(iter(train))
    assert noisy.shape == clean.shape == (2, 32, 32, 1)
