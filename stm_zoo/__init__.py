"""stm-zoo: a Keras 3 model zoo that removes scan-line stripes and other noise from STM images."""

from stm_zoo._env import fast_cpu, select_backend as _select_backend

_select_backend()

__version__ = "0.1.0"


def denoise(data, model, **kwargs):
    """Denoise a 2-D array or a `stm_zoo.io.Scan` with `model` (a keras.Model, a `.keras` path or a
    pretrained zoo name); returns the same type in the input's units. See `stm_zoo.inference.denoise`."""
    from stm_zoo.inference import denoise as _denoise

    return _denoise(data, model, **kwargs)
