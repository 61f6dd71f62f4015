"""The autoencoder lineage: the TF/Keras denoising autoencoder and its STM adaptation (the thesis)."""

import keras
from keras import layers

from stm_zoo.models.layers import CropToMatch, PadToMultiple
from stm_zoo.models.registry import register


def _conv_autoencoder(filters: tuple[int, int, int, int], name: str, input_shape=(None, None, 1)):
    """Conv-pool-Conv-pool encoder, Conv-up-Conv-up decoder (nearest upsampling), sigmoid output.

    Any H×W ≥ 3: the two poolings need multiples of 4, so the input is reflect-padded up to one and the
    output cropped back (no-ops on sizes that already are, where the values are the original model's).
    """
    inputs = keras.Input(shape=input_shape, name="noisy")
    x = PadToMultiple(4, name="pad")(inputs)
    for i, f in enumerate(filters[:2]):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"enc_conv{i + 1}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"enc_pool{i + 1}")(x)
    for i, f in enumerate(filters[2:]):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"dec_conv{i + 1}")(x)
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"dec_up{i + 1}")(x)
    x = layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="clean")(x)
    outputs = CropToMatch(4, name="crop")([x, inputs])
    return keras.Model(inputs, outputs, name=name)


@register(
    "autoencoder_thesis",
    description="STM denoising autoencoder: Conv32-pool-Conv32-pool | Conv32-up-Conv32-up-Conv1 sigmoid",
    source="STM stripe-noise thesis, adapting the Keras denoising-autoencoder example",
)
def autoencoder_thesis(input_shape=(None, None, 1)) -> keras.Model:
    return _conv_autoencoder((32, 32, 32, 32), "autoencoder_thesis", input_shape)


@register(
    "autoencoder_original",
    description="Keras/TF denoising autoencoder: Conv32-pool-Conv16-pool | Conv16-up-Conv32-up-Conv1 sigmoid",
    source="TensorFlow 'Intro to Autoencoders' denoising example (tensorflow.org/tutorials/generative/autoencoder)",
)
def autoencoder_original(input_shape=(None, None, 1)) -> keras.Model:
    return _conv_autoencoder((32, 16, 16, 32), "autoencoder_original", input_shape)
