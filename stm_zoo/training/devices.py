"""Training on whatever hardware is there: device layout (data / model parallel over every device), mixed
precision, and the training graph (`stm_zoo.models.fast_graph` plus float32 outputs).

The trainers use it as: `check(config)` when the recipe loads, `with scope(config):` around build, compile and
fit, `training_model(model, config)` on the built model (`core.prepare_model` does both).
"""

import contextlib

import stm_zoo  # noqa: F401  (backend selection before keras)
import keras
from keras import layers

from stm_zoo.models.fast_graph import fast_graph

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check(config: dict) -> None:
    """Raise ValueError (one line) when the recipe's precision or device layout cannot run here."""
    if config["precision"] not in PRECISIONS:
        raise ValueError(f"unknown precision {config['precision']!r}; known: {', '.join(PRECISIONS)}")
    split = config["model_parallel"]
    if split < 1:
        raise ValueError(f"model_parallel must be ≥ 1, got {split}")
    stm_zoo.fast_cpu()  # before the first device query starts XLA
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


def describe(config: dict) -> str:
    """Where the recipe trains, for the user: e.g. '4 TPU devices, data parallel, mixed_bfloat16'."""
    devices = keras.distribution.list_devices()
    kind = devices[0].split(":")[0].upper()
    layout = distribution(config)
    if layout is None:
        where = f"1 {kind} device" if len(devices) == 1 else f"1 of {len(devices)} {kind} devices"
    elif config["model_parallel"] == 1:
        where = f"{len(devices)} {kind} devices, data parallel"
    else:
        where = f"{len(devices)} {kind} devices, data × model parallel ({config['model_parallel']} per model)"
    return f"{where}, {config['precision']}"


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
