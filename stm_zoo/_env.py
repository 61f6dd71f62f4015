"""Process set-up. `select_backend` runs at `import stm_zoo` (JAX unless the user chose a backend); `fast_cpu`
(`stm_zoo.fast_cpu()`, called by the CLI, the trainers and the benches) turns on JAX's compilation cache, CPU
memory reuse and fast XLA:CPU convolutions for the whole process, so importing stm_zoo changes none of them."""

import ctypes
import os
import sys
import warnings
from pathlib import Path


def cache_root() -> Path:
    """Root of stm-zoo's user cache (`STM_ZOO_CACHE`, else `$XDG_CACHE_HOME/stm-zoo`, else ~/.cache/stm-zoo)."""
    root = os.environ.get("STM_ZOO_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "stm-zoo"


def keep_freed_memory() -> bool:
    """Make glibc keep freed large blocks for reuse instead of unmapping them; False where not glibc.

    XLA:CPU allocates a step's activations anew each step. glibc serves blocks above its mmap threshold
    (32 MiB at most) with fresh pages and unmaps them on free, so every step page-faults its largest buffers
    in again — kernel work on one core. Measured here: `x * 2 + 1` on 64 MB 44 → 25 ms, a shifted-slice sum
    49 → 7 ms. Costs: freed memory stays with the process (its RSS stays at its peak).
    `STM_ZOO_SYSTEM_MALLOC=1` leaves malloc alone.
    """
    if os.environ.get("STM_ZOO_SYSTEM_MALLOC", "") not in ("", "0") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, ctypes.c_int(2**31 - 1)))


YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution,-eltwise"


def fast_cpu_convolutions() -> bool:
    """Turn off two of XLA:CPU's YNNPACK rewrites (jaxlib 0.10), unless XLA_FLAGS already sets the fusion types:
    single convolutions, and elementwise fusions (which pull convolutions and reductions into YNNPACK calls).
    Train step here (2 cores), none → -individual_convolution → both off: batch 16 of 64², DnCNN 12.7 → 2.07 →
    2.05 s, MAED-B0 5.6 → 2.60 → 2.46 s, PMRID 3.35 s (second) → 2.10 s; autoencoder_thesis batch 8 of 256²
    0.41 → 0.39 s (second → third). Only for jaxlib 0.10.x, whose XLA knows the flag (an unknown XLA flag aborts
    the process); re-measure with bench/train_speed.py before widening the range.
    `STM_ZOO_XLA_DEFAULTS=1` leaves XLA_FLAGS alone."""
    flags = os.environ.get("XLA_FLAGS", "")
    if os.environ.get("STM_ZOO_XLA_DEFAULTS", "") not in ("", "0") or "ynn_fusion_type" in flags:
        return False
    try:
        from importlib.metadata import version

        if not version("jaxlib").startswith("0.10."):
            return False
    except Exception:  # no jaxlib (another backend)
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {YNN_FLAG}".strip()
    return True


def select_backend() -> None:
    """Select the JAX backend unless the user chose one (warn when keras already runs on another one). Runs at
    `import stm_zoo`, before keras is imported."""
    if "KERAS_BACKEND" not in os.environ and "keras" in sys.modules:
        import keras

        if keras.backend.backend() != "jax":
            warnings.warn(f"keras was imported before stm_zoo and runs on the {keras.backend.backend()} backend; "
                          "import stm_zoo first (or set KERAS_BACKEND=jax) for the JAX backend stm-zoo is tuned for",
                          stacklevel=3)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def fast_cpu() -> None:
    """Set up this process for fast training and inference: keep freed CPU memory for reuse
    (`keep_freed_memory`), XLA:CPU's faster convolutions (`fast_cpu_convolutions`; only before XLA starts) and
    JAX's persistent compilation cache in `cache_root() / "jax"`. Idempotent.

    `STM_ZOO_NO_COMPILE_CACHE=1` disables the cache; `JAX_COMPILATION_CACHE_DIR` set by the user wins.
    """
    keep_freed_memory()
    if not _xla_started():
        fast_cpu_convolutions()
    if os.environ.get("STM_ZOO_NO_COMPILE_CACHE", "") not in ("", "0"):
        return
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_root() / "jax"))
    # Cache even the small initializer programs: they dominate cold model builds.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    if "jax" in sys.modules:  # imported before us: env vars are read only at jax import
        import jax

        if jax.config.jax_compilation_cache_dir is None:
            jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _xla_started() -> bool:
    """Whether JAX has created its backends (XLA_FLAGS are read then, and never again)."""
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except (ImportError, AttributeError):  # another jax layout: assume started, leave XLA_FLAGS alone
        return True
