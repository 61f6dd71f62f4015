"""The zoo models' graphs as XLA:CPU runs them fastest, with the same values and the same weights: 2×2 max pools as
`SliceMaxPooling2D`, each nearest ×2 upsampling + 3×3 convolution as one `UpsampledConv2D`. Tiled denoising
(`stm_zoo.inference`) and training (`stm_zoo.training.devices.training_model`) run `fast_graph(model)`; saved
models keep the plain layers. The layers are registered (`stm_zoo>…`) so a graph that holds them still loads.
"""

import numpy as np

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="stm_zoo")
class SliceMaxPooling2D(layers.Layer):
    """2×2, stride-2 max pooling written as a reshape to (B, H/2, 2, W/2, 2, C) and a max over the two window
    axes: the same values as `MaxPooling2D(2)`, but its gradient is an elementwise mask (ties share it) instead
    of XLA's select-and-scatter, which XLA:CPU runs on one core ~15× slower (430 ms vs 27 ms for 8×256²×32).
    The reshape also beats a max of the four strided phases: their gradient is four strided scatters (fwd+bwd
    at 8×256²×32: 89 vs 151 ms). Used only in training graphs; saved models keep `MaxPooling2D`."""

    def __init__(self, padding: str = "valid", **kwargs):
        super().__init__(**kwargs)
        self.padding = padding

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:  # symbolic size (TF graph): no static phases, use the plain op
            return ops.max_pool(x, 2, 2, padding=self.padding)
        if self.padding == "same" and (h % 2 or w % 2):  # ceil(h / 2) windows: repeat the last row / column
            x = ops.pad(x, [[0, 0], [0, h % 2], [0, w % 2], [0, 0]], mode="symmetric")  # (1 px: = "edge")
        else:
            x = x[:, : h - h % 2, : w - w % 2]
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        return ops.max(ops.reshape(x, (-1, h // 2, 2, w // 2, 2, c)), axis=(2, 4))

    def compute_output_shape(self, input_shape):
        def out(n):
            if n is None:
                return None
            return -(-n // 2) if self.padding == "same" else n // 2

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


# _PHASE_TAPS[a, r, d] = 1 where tap d (offset d - 1) of a 3×3 kernel, at output phase a of a nearest ×2
# upsampling, reads input offset r - 1: output row 2i + a + (d - 1) is input row i + floor((a + d - 1) / 2).
_PHASE_TAPS = np.zeros((2, 3, 3), "float32")
for _a in range(2):
    for _d in range(3):
        _PHASE_TAPS[_a, (_a + _d - 1) // 2 + 1, _d] = 1.0


@keras.saving.register_keras_serializable(package="stm_zoo")
class UpsampledConv2D(layers.Layer):
    """`conv(UpSampling2D(2, nearest)(x))` for a 3×3, stride-1, "same" `Conv2D`, computed at the input's
    resolution: one 3×3 convolution with 4× the output channels (one set per output phase; its kernel sums the
    taps that land on the same input pixel) and a depth-to-space. The same values and the same kernel and bias
    variables (it wraps `conv`); the upsampled tensor is never built. XLA:CPU, fwd + bwd, batch 8: 128² → 256²,
    32 → 1 channels 149 → 29 ms; 64² → 128², 32 → 32 channels 49 → 33 ms. Used only in training graphs."""

    def __init__(self, conv: layers.Conv2D, **kwargs):
        kwargs.setdefault("dtype", conv.dtype_policy)
        super().__init__(**kwargs)
        if not self.fits(conv):
            raise ValueError(f"{conv.name}: UpsampledConv2D needs a built 3×3, stride-1, 'same' Conv2D")
        self.conv = conv

    @staticmethod
    def fits(layer) -> bool:
        return (
            type(layer) is layers.Conv2D
            and layer.built
            and tuple(layer.kernel_size) == (3, 3)
            and tuple(layer.strides) == (1, 1)
            and tuple(layer.dilation_rate) == (1, 1)
            and layer.padding == "same"
            and layer.groups == 1
            and layer.data_format == "channels_last"
        )

    def call(self, x):
        conv = self.conv
        kernel = ops.cast(conv.kernel, self.compute_dtype)
        taps = ops.cast(_PHASE_TAPS, self.compute_dtype)
        c_in, c_out = kernel.shape[2], kernel.shape[3]
        phased = ops.reshape(ops.einsum("ary,bsx,yxio->rsiabo", taps, taps, kernel), (3, 3, c_in, 4 * c_out))
        y = ops.conv(x, phased, strides=1, padding="same")
        if conv.use_bias:
            y = y + ops.tile(ops.cast(conv.bias, self.compute_dtype), 4)
        shape = ops.shape(y)
        y = ops.reshape(y, (-1, shape[1], shape[2], 2, 2, c_out))
        y = ops.reshape(ops.transpose(y, (0, 1, 3, 2, 4, 5)), (-1, 2 * shape[1], 2 * shape[2], c_out))
        return conv.activation(y) if conv.activation is not None else y

    def compute_output_shape(self, input_shape):
        def up(n):
            return None if n is None else 2 * n

        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), self.conv.filters)

    def get_config(self):
        return {**super().get_config(), "conv": keras.saving.serialize_keras_object(self.conv)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config.pop("conv")), **config)  # built: build_config


def _is_2x2_pool(layer) -> bool:
    return (
        type(layer) is layers.MaxPooling2D
        and tuple(layer.pool_size) == (2, 2)
        and tuple(layer.strides) == (2, 2)
        and layer.data_format == "channels_last"
    )


def _is_nearest_2x_upsampling(layer) -> bool:
    return (
        type(layer) is layers.UpSampling2D
        and tuple(layer.size) == (2, 2)
        and layer.interpolation == "nearest"
        and layer.data_format == "channels_last"
    )


def _upsampled_conv_pairs(model: keras.Model) -> dict:
    """{id of an UpSampling2D layer: the Conv2D it alone feeds} for each pair `UpsampledConv2D` can replace."""
    pairs = {}
    for layer in model.layers:
        if not (UpsampledConv2D.fits(layer) and len(layer._inbound_nodes) == 1):
            continue
        source = layer._inbound_nodes[0].input_tensors[0]._keras_history.operation
        if _is_nearest_2x_upsampling(source) and len(source._inbound_nodes) == 1 and len(source._outbound_nodes) == 1:
            pairs[id(source)] = layer
    model_outputs = {id(o._keras_history.operation) for o in model.outputs}
    return {up: conv for up, conv in pairs.items() if up not in model_outputs}


def fast_graph(model: keras.Model) -> keras.Model:
    """`model`'s graph as XLA:CPU runs it fastest, with `model`'s own layers and weights (shared: training the
    result updates `model`): 2×2 max pools as `SliceMaxPooling2D`, each nearest ×2 upsampling + 3×3
    convolution as one `UpsampledConv2D`. The same values; `model` itself when there is nothing to rewrite."""
    if not getattr(model, "outputs", None):  # a subclassed model: no graph to rewrite
        return model
    pairs = _upsampled_conv_pairs(model)
    fused_convs = {id(conv) for conv in pairs.values()}
    if not (pairs or any(_is_2x2_pool(layer) for layer in model.layers)):
        return model

    def clone(layer):
        if _is_2x2_pool(layer):
            return SliceMaxPooling2D(layer.padding, name=layer.name, dtype=layer.dtype_policy)
        if id(layer) in pairs:  # the convolution upsamples instead
            return layers.Identity(name=layer.name, dtype=layer.dtype_policy)
        if id(layer) in fused_convs:
            return UpsampledConv2D(layer, name=layer.name)
        return layer  # shared: same weights

    return keras.models.clone_model(model, clone_function=clone)
