"""Process set-up: `import stm_zoo` selects the backend only; `stm_zoo.fast_cpu()` does the rest when called."""

import json
import os
import subprocess
import sys

KEYS = ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")
CODE = f"""
import json, os
keys = {KEYS!r}
seen = [{{k: os.environ.get(k) for k in keys}}]
import stm_zoo, stm_zoo.io, stm_zoo.models, stm_zoo.inference
seen.append({{k: os.environ.get(k) for k in keys}})
stm_zoo.fast_cpu()
seen.append({{k: os.environ.get(k) for k in keys}})
print("@@" + json.dumps(seen))
"""


def test_import_leaves_xla_flags_and_the_jax_cache_alone(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=1", STM_ZOO_CACHE=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, imported, set_up = json.loads(proc.stdout.split("@@")[-1])
    assert imported == before
    assert set_up["XLA_FLAGS"].startswith("--xla_force_host_platform_device_count=1")
    assert set_up["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "jax")
