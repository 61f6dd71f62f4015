"""The training-graph rewrites of `stm_zoo.scale`: same values as the plain model, weights shared."""

import jax
import keras
import numpy as np
import pytest

from stm_zoo import models, scale, train


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("shape", [(2, 8, 12, 3), (1, 7, 9, 2)])
def test_slice_max_pool_equals_max_pooling2d(padding, shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    expected = keras.layers.MaxPooling2D(2, padding=padding)(x)
    got = scale.SliceMaxPooling2D(padding)(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    assert scale.SliceMaxPooling2D(padding).compute_output_shape(shape) == tuple(expected.shape)

    # Gradients agree too (inputs without ties): each window's maximum gets the upstream gradient.
    weights = np.random.default_rng(1).normal(size=expected.shape).astype("float32")
    grad_plain = jax.grad(lambda v: (keras.ops.max_pool(v, 2, 2, padding=padding) * weights).sum())(x)
    grad_slice = jax.grad(lambda v: (scale.SliceMaxPooling2D(padding)(v) * weights).sum())(x)
    np.testing.assert_allclose(np.asarray(grad_slice), np.asarray(grad_plain), atol=1e-6)


def test_training_model_shares_weights_and_swaps_only_pools():
    model = models.build("autoencoder_thesis")
    config = train.validate({})
    trained = scale.training_model(model, config)
    assert [type(l).__name__ for l in trained.layers].count("SliceMaxPooling2D") == 2
    assert not any(isinstance(l, keras.layers.MaxPooling2D) for l in trained.layers)
    assert all(a is b for a, b in zip(trained.weights, model.weights))
    x = np.random.default_rng(0).random((2, 36, 44, 1), dtype=np.float32)
    np.testing.assert_allclose(trained.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    dncnn = models.build("dncnn")  # no max pools, float32: returned as is
    assert scale.training_model(dncnn, config) is dncnn
