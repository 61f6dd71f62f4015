"""Where JAX's training step loses time to PyTorch: each convolution of a zoo model, forward and both gradients.

For every convolution of the model's training graph, at the shape it sees on a batch of B × S² images: the
forward pass, the gradient with respect to its input (dx) and with respect to its kernel (dw), each jitted
alone in JAX (stm-zoo's XLA:CPU settings) and run alone in PyTorch `channels_last` (oneDNN), best of
`--rounds`. A training step runs all three for every convolution (dx not for the first).

    python bench/conv_directions.py linespec --size 256 --batch 4
    python bench/conv_directions.py dncnn --size 64 --batch 16 --json conv.json
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import stm_zoo
from stm_zoo._atomic import write_json

stm_zoo.fast_cpu()  # before the first computation: XLA:CPU flags, as in training


def best_ms(fn, rounds: int, seconds: float = 0.5) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            n += 1
        best = min(best, (time.perf_counter() - start) / n * 1e3)
    return best


def conv_shapes(name: str, size: int, batch: int) -> list[dict]:
    """Each convolution of the zoo model `name` as its training graph runs it (`fast_graph`: an `UpsampledConv2D`
    is one 3×3 convolution at the low resolution with 4× the filters): its input shape on a (batch, size, size, 1)
    input and its settings."""
    import keras

    from stm_zoo import models
    from stm_zoo.models.fast_graph import UpsampledConv2D, fast_graph

    graph = fast_graph(models.build(name))
    convs = [layer for layer in graph.layers if type(layer) in (keras.layers.Conv2D, UpsampledConv2D)]
    # a Conv2D is shared with the model the graph was cloned from: its last call is the graph's
    probe = keras.Model(graph.inputs, [layer._inbound_nodes[-1].input_tensors[0] for layer in convs])
    inputs = probe.predict_on_batch(np.zeros((batch, size, size, 1), np.float32))
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    specs = []
    for layer, x in zip(convs, inputs):
        upsampled = type(layer) is UpsampledConv2D
        conv, filters = (layer.conv, 4 * layer.conv.filters) if upsampled else (layer, layer.filters)
        specs.append({"layer": layer.name, "input": tuple(int(d) for d in x.shape), "filters": filters,
                      "kernel": tuple(conv.kernel_size), "strides": tuple(conv.strides),
                      "dilation": tuple(conv.dilation_rate), "padding": conv.padding})
    return specs


def jax_times(spec: dict, rounds: int) -> dict:
    import jax
    import jax.numpy as jnp

    b, h, w, c = spec["input"]
    x = jnp.asarray(np.random.default_rng(0).random(spec["input"], dtype=np.float32))
    k = jnp.asarray(np.random.default_rng(1).random((*spec["kernel"], c, spec["filters"]), dtype=np.float32))

    def conv(x, k):
        return jax.lax.conv_general_dilated(x, k, spec["strides"], spec["padding"].upper(),
                                            rhs_dilation=spec["dilation"], dimension_numbers=("NHWC", "HWIO", "NHWC"))

    ct = jnp.ones_like(conv(x, k))
    fwd = jax.jit(conv)
    dx = jax.jit(lambda x, k, ct: jax.vjp(lambda x: conv(x, k), x)[1](ct)[0])
    dw = jax.jit(lambda x, k, ct: jax.vjp(lambda k: conv(x, k), k)[1](ct)[0])
    return {"fwd": best_ms(lambda: fwd(x, k).block_until_ready(), rounds),
            "dx": best_ms(lambda: dx(x, k, ct).block_until_ready(), rounds),
            "dw": best_ms(lambda: dw(x, k, ct).block_until_ready(), rounds)}


def torch_times(spec: dict, rounds: int) -> dict:
    import torch

    b, h, w, c = spec["input"]
    x = torch.rand(b, c, h, w).contiguous(memory_format=torch.channels_last)
    k = torch.rand(spec["filters"], c, *spec["kernel"]).contiguous(memory_format=torch.channels_last)
    if spec["padding"] == "same":  # TF's "same": the bottom / right get the odd pixel; padded here, not timed
        pads = []
        for n, kk, st, d in zip((w, h), spec["kernel"][::-1], spec["strides"][::-1], spec["dilation"][::-1]):
            total = max((-(-n // st) - 1) * st + (kk - 1) * d + 1 - n, 0)
            pads += [total // 2, total - total // 2]
        x = torch.nn.functional.pad(x, pads).contiguous(memory_format=torch.channels_last)
    options = {"stride": spec["strides"], "padding": 0, "dilation": spec["dilation"]}
    ct = torch.ones_like(torch.nn.functional.conv2d(x, k, **options))
    with torch.no_grad():
        return {"fwd": best_ms(lambda: torch.nn.functional.conv2d(x, k, **options), rounds),
                "dx": best_ms(lambda: torch.nn.grad.conv2d_input(x.shape, k, ct, **options), rounds),
                "dw": best_ms(lambda: torch.nn.grad.conv2d_weight(x, k.shape, ct, **options), rounds)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a registered zoo model, built with its defaults")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: its default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("PyTorch is not installed: pip install torch==2.13.0")
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    print(f"{args.model}, batch {args.batch} of {args.size}², ms (best of {args.rounds}); ratio = PyTorch / JAX")
    print(f"{'layer':14s} {'input':>20s} {'out':>4s} {'k':>5s} {'s':>3s} | {'fwd':>13s} {'dx':>13s} {'dw':>13s}")
    for spec in conv_shapes(args.model, args.size, args.batch):
        jx, th = jax_times(spec, args.rounds), torch_times(spec, args.rounds)
        rows.append({**spec, "jax_ms": jx, "torch_ms": th})
        cells = " ".join(f"{jx[d]:6.1f}/{th[d]:6.1f}" for d in ("fwd", "dx", "dw"))
        kernel = f"{spec['kernel'][0]}x{spec['kernel'][1]}"
        shape = f"{str(spec['input']):>20s} {spec['filters']:4d} {kernel:5s}{spec['strides'][0]:3d}"
        print(f"{spec['layer']:14s} {shape} | {cells}", flush=True)
    for d in ("fwd", "dx", "dw"):
        j, t = sum(r["jax_ms"][d] for r in rows), sum(r["torch_ms"][d] for r in rows)
        print(f"total {d:3s}: JAX {j:7.1f} ms, PyTorch {t:7.1f} ms, ratio {t / j:.2f}")
    if args.json:
        write_json(args.json, {"model": args.model, "size": args.size, "batch": args.batch, "rows": rows})


if __name__ == "__main__":
    main()
