import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import stm_zoo  # noqa: E402

stm_zoo.fast_cpu()  # as the CLI and the trainers do: compile cache, memory reuse, XLA:CPU flags

REPO = Path(__file__).resolve().parents[1]
SHARED_STM = REPO.parent / "shared" / "data" / "stm"


@pytest.fixture
def shared_stm() -> Path:
    """The real STM files beside the repo (`../shared/data/stm`); skips when absent."""
    if not SHARED_STM.is_dir():
        pytest.skip(f"real STM files not found at {SHARED_STM}")
    return SHARED_STM


def run_python(code: str, env: dict | None = None, timeout: float = 600):
    """Run `code` in a fresh Python process; fail with its output unless it exits 0."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc
