"""The graph rewrites of `stm_zoo.models.fast_graph`: same values as the plain model, weights shared."""

import jax
import keras
import numpy as np
import pytest

from conftest import run_python

from stm_zoo import models, training
from stm_zoo.training import devices
from stm_zoo.models import fast_graph


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("shape", [(2, 8, 12, 3), (1, 7, 9, 2)])
def test_slice_max_pool_equals_max_pooling2d(padding, shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    expected = keras.layers.MaxPooling2D(2, padding=padding)(x)
    got = fast_graph.SliceMaxPooling2D(padding)(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    assert fast_graph.SliceMaxPooling2D(padding).compute_output_shape(shape) == tuple(expected.shape)

    # Gradients agree too (inputs without ties): each window's maximum gets the upstream gradient.
    weights = np.random.default_rng(1).normal(size=expected.shape).astype("float32")
    grad_plain = jax.grad(lambda v: (keras.ops.max_pool(v, 2, 2, padding=padding) * weights).sum())(x)
    grad_slice = jax.grad(lambda v: (fast_graph.SliceMaxPooling2D(padding)(v) * weights).sum())(x)
    np.testing.assert_allclose(np.asarray(grad_slice), np.asarray(grad_plain), atol=1e-6)


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
@pytest.mark.parametrize("shape, filters", [((2, 8, 12, 3), 5), ((1, 7, 9, 32), 1)])
def test_upsampled_conv_equals_upsampling_then_conv(activation, shape, filters):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    conv = keras.layers.Conv2D(filters, 3, padding="same", activation=activation, bias_initializer="random_normal")
    up = keras.layers.UpSampling2D(2, interpolation="nearest")
    expected = conv(up(x))
    fused = fast_graph.UpsampledConv2D(conv)
    np.testing.assert_allclose(np.asarray(fused(x)), np.asarray(expected), atol=1e-5)
    assert fused.compute_output_shape(shape) == tuple(expected.shape)
    assert [id(v) for v in fused.trainable_weights] == [id(v) for v in conv.trainable_weights]

    # The same gradients for the kernel, the bias and the input.
    weights = np.random.default_rng(1).normal(size=expected.shape).astype("float32")

    def plain(kernel, bias, inputs):
        out, _ = conv.stateless_call([kernel, bias], [], up(inputs))
        return (out * weights).sum()

    def rewritten(kernel, bias, inputs):
        out, _ = fused.stateless_call([kernel, bias], [], inputs)
        return (out * weights).sum()

    args = (np.asarray(conv.kernel), np.asarray(conv.bias), x)
    for got, want in zip(jax.grad(rewritten, (0, 1, 2))(*args), jax.grad(plain, (0, 1, 2))(*args)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-4)


def test_upsampled_conv_config_round_trip():
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    conv.build((None, None, None, 2))
    fused = fast_graph.UpsampledConv2D(conv, name="dec")
    again = fast_graph.UpsampledConv2D.from_config(fused.get_config())
    assert again.name == "dec" and again.conv.get_config() == conv.get_config()
    assert tuple(again.conv.kernel.shape) == (3, 3, 2, 4)
    with pytest.raises(ValueError, match="3×3"):
        fast_graph.UpsampledConv2D(keras.layers.Conv2D(4, 5, padding="same"))


def test_training_model_shares_weights_and_rewrites_pools_and_upsampled_convs():
    model = models.build("autoencoder_thesis")
    config = training.validate({})
    trained = devices.training_model(model, config)
    kinds = [type(l).__name__ for l in trained.layers]
    assert kinds.count("SliceMaxPooling2D") == 2 and kinds.count("UpsampledConv2D") == 2
    assert not any(isinstance(l, (keras.layers.MaxPooling2D, keras.layers.UpSampling2D)) for l in trained.layers)
    assert len(trained.weights) == len(model.weights)
    assert all(a is b for a, b in zip(trained.weights, model.weights))
    x = np.random.default_rng(0).random((2, 36, 44, 1), dtype=np.float32)
    np.testing.assert_allclose(trained.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    dncnn = models.build("dncnn")  # no max pools or upsampling, float32: returned as is
    assert devices.training_model(dncnn, config) is dncnn


def test_upsampling_shared_or_before_other_convs_is_kept():
    inputs = keras.Input((None, None, 1))
    up = keras.layers.UpSampling2D(2)(inputs)
    a = keras.layers.Conv2D(2, 3, padding="same")(up)  # the upsampled map also feeds `b`: kept
    b = keras.layers.Conv2D(2, 1)(up)
    c = keras.layers.Conv2D(2, 5, padding="same")(keras.layers.UpSampling2D(2)(inputs))  # 5×5: kept
    d = keras.layers.Conv2D(2, 3, padding="same")(keras.layers.UpSampling2D(2, interpolation="bilinear")(inputs))
    model = keras.Model(inputs, keras.layers.Concatenate()([a, b, c, d]))
    assert devices.training_model(model, training.validate({})) is model


def test_tiled_denoising_imports_no_training_code():
    code = ("import sys, numpy as np; import stm_zoo.models as zoo; from stm_zoo import inference; "
            "inference.predict_tiled(zoo.build('autoencoder_thesis'), np.zeros((40, 40), 'float32')); "
            "print(sorted(m for m in sys.modules if m.startswith(('stm_zoo.train', "
            "'stm_zoo.scale'))))")
    assert run_python(code).stdout.strip().splitlines()[-1] == "[]"
