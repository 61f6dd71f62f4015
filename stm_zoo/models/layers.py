"""Small registered layers shared by the zoo models (autoencoders, DnCNN, RIDNet, CBDNet, PMRID, ...).

U-Nets whose depth halves the image k times need H and W divisible by 2^k; `PadToMultiple` reflect-pads the
input up to that multiple and `CropToMatch` cuts the output back to the input's H×W, so the models accept
any size. Shapes are read with `keras.ops.shape` at call time, so one saved model serves every size.
"""

import keras
from keras import layers, ops


def _split_pad(size, multiple):
    """(before, after) padding that brings `size` up to a multiple of `multiple`; the odd pixel goes after."""
    total = (-size) % multiple
    return total // 2, total - total // 2


@keras.saving.register_keras_serializable(package="stm_zoo")
class PadToMultiple(layers.Layer):
    """Reflect-pads H and W to the next multiple of `multiple`, split between both sides.

    Each side gets at most multiple/2 pixels and reflection cannot reach past the far edge, so H and W
    must exceed multiple/2 (9 px for a 16-multiple) — far below any STM scan.
    """

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, x):
        shape = ops.shape(x)
        pad_h, pad_w = _split_pad(shape[1], self.multiple), _split_pad(shape[2], self.multiple)
        return ops.pad(x, [[0, 0], list(pad_h), list(pad_w), [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        padded = lambda n: None if n is None else n + sum(_split_pad(n, self.multiple))  # noqa: E731
        return (b, padded(h), padded(w), c)

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="stm_zoo")
class CropToMatch(layers.Layer):
    """`CropToMatch(m)([padded, reference])`: undoes `PadToMultiple(m)` — crops `padded` to the H×W of
    `reference` at the offsets the padding used."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, inputs):
        x, reference = inputs
        shape = ops.shape(reference)
        h, w = shape[1], shape[2]
        top, left = _split_pad(h, self.multiple)[0], _split_pad(w, self.multiple)[0]
        return x[:, top : top + h, left : left + w, :]

    def compute_output_shape(self, input_shapes):
        x_shape, ref_shape = input_shapes
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}
