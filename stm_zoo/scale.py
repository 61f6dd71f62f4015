"""Training on whatever hardware is there: device layout (data / model parallel over every device), mixed
precision, and a training graph that XLA also runs fast on CPUs.

`train.fit` uses it as: `check(config)` when the recipe loads, `with scope(config):` around build, compile and
fit, `training_model(model, config)` on the built model, and `training_metrics()` + `ValidationSSIM` for metrics.
"""

import contextlib

import numpy as np

import stm_zoo  # noqa: F401  (backend selection before keras)
import keras
from keras import layers, ops

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check(config: dict) -> None:
    """Raise ValueError (one line) when the recipe's precision or device layout cannot run here."""
    if config["precision"] not in PRECISIONS:
        raise ValueError(f"unknown precision {config['precision']!r}; known: {', '.join(PRECISIONS)}")
    split = config["model_parallel"]
    if split < 1:
        raise ValueError(f"model_parallel must be ≥ 1, got {split}")
    n = len(keras.distribution.list_devices())
    if split > 1:
        if not config["data_parallel"]:
            raise ValueError("model_parallel needs data_parallel=True (the device mesh splits batch × model)")
        if n % split:
            raise ValueError(f"model_parallel={split} must divide the device count {n}")
    if config["data_parallel"] and n > 1:
        replicas = n // split
        if config["batch_size"] % replicas:
            raise ValueError(
                f"batch_size {config['batch_size']} must be divisible by the {replicas} data-parallel replicas "
                f"({n} devices, model_parallel={split}); change batch_size or set data_parallel=False"
            )


class _ShardLastAxis(keras.distribution.ModelParallel):
    """Model parallel without a hand-written LayoutMap: every kernel whose last axis (output channels) divides
    by the 'model' mesh axis is split along it; everything else is replicated. Fits any conv net, e.g. MAED's
    EfficientNet-B7 encoder on large inputs (GSPMD then splits the activations by channel too)."""

    def get_variable_layout(self, variable):
        if getattr(variable, "_layout", None) is not None:
            return variable._layout
        split = self.device_mesh.shape[1]
        spec = [None] * len(variable.shape)
        if len(variable.shape) >= 2 and variable.shape[-1] % split == 0:
            spec[-1] = "model"
        return keras.distribution.TensorLayout(spec, self.device_mesh)


def distribution(config: dict):
    """The keras.distribution for this recipe on the visible devices, or None for a single device."""
    devices = keras.distribution.list_devices()
    if not config["data_parallel"] or len(devices) == 1:
        return None
    split = config["model_parallel"]
    if split == 1:
        return keras.distribution.DataParallel(devices=devices)
    mesh = keras.distribution.DeviceMesh((len(devices) // split, split), ["batch", "model"], devices)
    return _ShardLastAxis(layout_map=keras.distribution.LayoutMap(mesh), batch_dim_name="batch")


@contextlib.contextmanager
def scope(config: dict):
    """Device layout and dtype policy of the recipe for what runs inside (build, compile, fit); both restored
    on exit, so a later plain `models.build` gives a float32, single-device model."""
    previous_policy = keras.config.dtype_policy()
    previous_distribution = keras.distribution.distribution()
    keras.config.set_dtype_policy(config["precision"])
    keras.distribution.set_distribution(distribution(config))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous_policy)
        keras.distribution.set_distribution(previous_distribution)


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


def training_model(model: keras.Model, config: dict) -> keras.Model:
    """The graph to train: `fast_graph(model)` and, under a mixed policy, the outputs cast to float32 so the
    loss and metrics see float32. A model that needs neither comes back unchanged."""
    model = fast_graph(model)
    if config["precision"] != "float32" and any(o.dtype != "float32" for o in getattr(model, "outputs", None) or ()):
        outputs = [
            layers.Activation("linear", dtype="float32", name=f"output_float32_{i}")(o)
            for i, o in enumerate(model.outputs)
        ]
        model = keras.Model(model.inputs, outputs[0] if len(outputs) == 1 else outputs, name=model.name)
    return model


def training_metrics() -> list:
    """Metrics computed inside the train step: PSNR only (cheap). SSIM comes from `ValidationSSIM`."""
    from stm_zoo import metrics as metrics_lib

    return [keras.metrics.MeanMetricWrapper(metrics_lib.psnr_ops, name="psnr")]


class ValidationSSIM(keras.callbacks.Callback):
    """Adds `val_ssim` (mean SSIM over the validation batches) to each epoch's logs; list it before callbacks
    that read the logs. SSIM is an 11×11 single-channel convolution that XLA:CPU runs on one core: inside the
    train step it took ~30–40 % of the thesis autoencoder's step, so it is computed here once per epoch, with
    scikit-image (`stm_zoo.metrics.ssim`, the same definition as `ssim_ops`)."""

    def __init__(self, validation_data):
        super().__init__()
        self.validation_data = validation_data

    def on_epoch_end(self, epoch, logs=None):
        from stm_zoo import metrics as metrics_lib

        if logs is None:
            return
        scores = []
        for noisy, clean in self.validation_data.as_numpy_iterator():
            denoised = np.asarray(self.model.predict_on_batch(noisy), np.float32)
            scores += [metrics_lib.ssim(c[..., 0], d[..., 0]) for c, d in zip(clean, denoised)]
        logs["val_ssim"] = float(np.mean(scores))
