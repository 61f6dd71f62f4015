"""stm-zoo: a Keras 3 model zoo that removes scan-line stripes and other noise from STM images."""

from stm_zoo._env import configure as _configure

_configure()

__version__ = "0.1.0"
