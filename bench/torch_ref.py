"""PyTorch references of `autoencoder_thesis` and `dncnn` for `bench/train_speed.py` (bench-only: `pip install torch`).

The same layers as the Keras models; Adam, MSE. autoencoder_thesis: Conv2d 32 3×3 same + ReLU, MaxPool 2, Conv 32 +
ReLU, MaxPool 2 | Conv 32 + ReLU, Upsample nearest 2, Conv 32 + ReLU, Upsample 2, Conv 1 3×3 + sigmoid (28,353
parameters). dncnn: Conv 64 + ReLU, 15 × [Conv 64 no bias + BN(eps 1e-4) + ReLU], Conv 1 no bias = noise, output
= clamp(input − noise, 0, 1) (556,096 parameters + 1,920 BN statistics).
Run as a worker process: `python bench/torch_ref.py --worker MODEL DATA_DIR` reads JSON commands on stdin and
answers each on a stdout line starting with "@@" (see `bench/train_speed.py`). It times the NCHW and the
`channels_last` memory format in turn on the same batch.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from harness import serve, timed
from torch import nn


def thesis_autoencoder() -> nn.Module:
    def conv(cin, cout):
        return nn.Conv2d(cin, cout, 3, padding=1)

    return nn.Sequential(
        conv(1, 32), nn.ReLU(), nn.MaxPool2d(2),
        conv(32, 32), nn.ReLU(), nn.MaxPool2d(2),
        conv(32, 32), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
        conv(32, 32), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
        conv(32, 1), nn.Sigmoid(),
    )


class DnCNN(nn.Module):
    def __init__(self, depth: int = 17, filters: int = 64):
        super().__init__()
        layers = [nn.Conv2d(1, filters, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(filters, filters, 3, padding=1, bias=False), nn.BatchNorm2d(filters, eps=1e-4),
                       nn.ReLU()]
        layers.append(nn.Conv2d(filters, 1, 3, padding=1, bias=False))
        self.noise = nn.Sequential(*layers)

    def forward(self, x):
        return torch.clamp(x - self.noise(x), 0.0, 1.0)


REFERENCES = {"autoencoder_thesis": (thesis_autoencoder, 28_353), "dncnn": (DnCNN, 556_096)}
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


class Runner:
    def __init__(self, build, data_dir: Path):
        torch.manual_seed(0)
        self.data_dir = data_dir
        self.models = {f: build().to(memory_format=m) for f, m in FORMATS.items()}
        self.optimizers = {f: torch.optim.Adam(m.parameters(), 1e-3) for f, m in self.models.items()}
        self.batches = {}

    def batch(self, name: str, fmt: str):
        key = (name, fmt)
        if key not in self.batches:
            data = np.load(self.data_dir / f"{name}.npz")
            self.batches[key] = tuple(
                torch.from_numpy(np.ascontiguousarray(data[k].transpose(0, 3, 1, 2))).contiguous(
                    memory_format=FORMATS[fmt]) for k in ("noisy", "clean"))
        return self.batches[key]

    def train(self, name: str, steps: int) -> dict:
        out = {}
        for fmt, model in self.models.items():
            noisy, clean = self.batch(name, fmt)
            opt = self.optimizers[fmt]
            model.train()
            out[fmt] = timed(lambda: _train_step(model, opt, noisy, clean), steps)
        return out

    def infer(self, name: str, reps: int) -> dict:
        out = {}
        for fmt, model in self.models.items():
            noisy, _ = self.batch(name, fmt)
            model.eval()
            with torch.no_grad():
                out[fmt] = timed(lambda: model(noisy), reps)
        return out


def _train_step(model, opt, noisy, clean):
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.mse_loss(model(noisy), clean)
    loss.backward()
    opt.step()


if __name__ == "__main__":
    if sys.argv[1:2] != ["--worker"] or len(sys.argv) != 4 or sys.argv[2] not in REFERENCES:
        sys.exit(f"usage: python bench/torch_ref.py --worker {{{','.join(REFERENCES)}}} DATA_DIR  "
                 "(started by bench/train_speed.py)")
    build, params = REFERENCES[sys.argv[2]]
    assert sum(p.numel() for p in build().parameters()) == params
    serve(Runner(build, Path(sys.argv[3])))
