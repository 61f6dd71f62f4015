"""examples/colab_tpu.ipynb, cell by cell, on 4 virtual CPU devices instead of 8 TPU cores: the same commands
(data-parallel mixed_bfloat16 training of MAED-CNN, then denoising), only tiny (B0 backbone, 32² patches, one
step) so it fits a CI run."""

import json
import os
import subprocess
import sys

import numpy as np
from conftest import REPO

NOTEBOOK = REPO / "examples" / "colab_tpu.ipynb"
TINY = (" --set epochs=1 --set patch_size=32 --set batch_size=4 --set steps_per_epoch=1 --set validation_steps=1"
        " --set model_kwargs.backbone=B0")


def _cells():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _shell_commands(source: str) -> list[str]:
    """The cell's `!` commands, continuation lines joined."""
    commands, continued = [], False
    for line in source.splitlines():
        if continued:
            commands[-1] = commands[-1][:-1] + " " + line.strip()
        elif line.startswith("!"):
            commands.append(line[1:])
        continued = bool(commands) and commands[-1].endswith("\\")
    return commands


def test_colab_notebook_runs_on_four_virtual_devices(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "MPLBACKEND": "Agg",
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}

    def local(text: str) -> str:
        return text.replace("/content/stm-zoo", str(REPO)).replace("/content/", f"{tmp_path}/")

    outputs = []
    for source in _cells():
        shell = _shell_commands(source)
        if shell:
            command = local(" && ".join(shell))
            if "stm-zoo fit" in command:
                command += TINY
            proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=900)
        else:
            proc = subprocess.run([sys.executable, "-c", local(source)], env=env, capture_output=True, text=True,
                                  timeout=300)
        assert proc.returncode == 0, f"cell failed:\n{source}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        outputs.append(proc.stdout)

    log = "\n".join(outputs)
    assert "CpuDevice(id=3)" in log  # the device cell saw 4 devices
    assert "on 4 CPU devices, data parallel, mixed_bfloat16" in log
    assert (tmp_path / "runs" / "maed" / "model.keras").is_file()
    before = np.load(REPO / "stm_zoo" / "data" / "default" / "graphite_350nm.npy")
    after = np.load(tmp_path / "denoised" / "graphite_350nm.npy")
    assert after.shape == before.shape and np.isfinite(after).all()
