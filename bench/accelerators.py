"""MAED-CNN-B7 training on one GPU or a TPU v5e, on paper (issue 20): the measured FLOPs and bytes of one
training step (XLA's cost analysis of the jitted forward + backward, batch × 256²), the measured rate of the
input pipeline on this CPU, and the published peak rates of the accelerators. Prints a table; several minutes
(B7's graph is large).

    python bench/accelerators.py [--batch 8] [--backbone B7] [--seconds 10]

A step cannot be faster than FLOPs / peak compute or bytes / memory bandwidth; the bytes are those of the
graph as XLA:CPU fuses it (an upper bound: GPU and TPU fusion keeps more intermediates on chip), so the
memory-bound column is a floor. The expected rate is the smaller of `--utilization` × peak compute and the
memory bound: EfficientNet training is memory-bound on accelerators (depthwise convolutions and the
squeeze-excitation elementwise work move many bytes per FLOP).
"""

import argparse

import stm_zoo

stm_zoo.fast_cpu()  # compile cache, memory reuse, XLA:CPU flags

import jax
import jax.numpy as jnp
from pipeline import patches_per_second

from stm_zoo import models
from stm_zoo._atomic import write_json
from stm_zoo.data import pipeline as data_pipeline

# Published dense peak rates (bfloat16 / fp16 tensor units) and HBM bandwidth of one chip / card.
DEVICES = {
    "NVIDIA T4 (Colab GPU)": {"tflops": 65.0, "gbps": 320.0, "memory_gb": 16},
    "NVIDIA A100 40 GB": {"tflops": 312.0, "gbps": 1555.0, "memory_gb": 40},
    "NVIDIA H100 SXM": {"tflops": 989.0, "gbps": 3350.0, "memory_gb": 80},
    "TPU v5e (1 chip)": {"tflops": 197.0, "gbps": 819.0, "memory_gb": 16},
    "TPU v5e-8 (8 chips)": {"tflops": 8 * 197.0, "gbps": 8 * 819.0, "memory_gb": 8 * 16},
}


def step_cost(backbone: str, batch: int, size: int = 256) -> dict:
    """FLOPs and bytes accessed of one training step (MSE loss, gradients of every trainable weight)."""
    model = models.build("maed_cnn", backbone=backbone, encoder_weights=None)
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def loss(trainable, frozen, x, y):
        out, _ = model.stateless_call(trainable, frozen, x, training=True)
        return jnp.mean((out - y) ** 2)

    x = jax.ShapeDtypeStruct((batch, size, size, 1), jnp.float32)
    lowered = jax.jit(jax.value_and_grad(loss)).lower(trainable, frozen, x, x)
    flops = _first(lowered.cost_analysis())["flops"]  # of the graph as written
    compiled = lowered.compile()
    fused = _first(compiled.cost_analysis())  # after XLA:CPU's fusion
    memory = compiled.memory_analysis()
    return {"params": model.count_params(), "flops": float(flops), "bytes": float(fused["bytes accessed"]),
            "step_memory_gb": (memory.temp_size_in_bytes + memory.argument_size_in_bytes
                               + memory.output_size_in_bytes) / 1e9}


def _first(cost):
    return cost[0] if isinstance(cost, list) else cost


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="B7")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="pipeline measuring time")
    parser.add_argument("--utilization", type=float, default=0.3, help="share of peak compute expected")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()

    cost = step_cost(args.backbone, args.batch)
    per_image = cost["flops"] / args.batch
    print(f"MAED-CNN-{args.backbone}: {cost['params'] / 1e6:.1f} M parameters; one training step of "
          f"{args.batch} × 256²: {cost['flops'] / 1e12:.2f} TFLOP ({per_image / 1e9:.0f} GFLOP per image), "
          f"{cost['bytes'] / 1e9:.1f} GB accessed (XLA:CPU fusion), {cost['step_memory_gb']:.1f} GB of buffers")
    images = data_pipeline.clean_images("synthetic")
    rate = patches_per_second(images, 256, "stm", 16, args.seconds, single_thread=True)
    print(f"input pipeline: {rate:.0f} noisy 256² patches/s per CPU core (1 tf.data thread)")

    print(f"\n| device | peak TFLOP/s | compute-bound images/s | memory-bound images/s | "
          f"expected images/s | host cores the input pipeline needs |")
    print("|---|---|---|---|---|---|")
    rows = []
    for name, spec in DEVICES.items():
        compute = spec["tflops"] * 1e12 / per_image
        memory = spec["gbps"] * 1e9 / (cost["bytes"] / args.batch)
        expected = min(compute * args.utilization, memory)
        cores = expected / rate
        rows.append({"device": name, **spec, "compute_bound": compute, "memory_bound": memory,
                     "expected": expected, "host_cores": cores})
        print(f"| {name} | {spec['tflops']:.0f} | {compute:.0f} | {memory:.0f} | {expected:.0f} | {cores:.1f} |")
    if args.json:
        write_json(args.json, {"backbone": args.backbone, "batch": args.batch, **cost,
                               "pipeline_patches_per_s_per_core": rate, "devices": rows})


if __name__ == "__main__":
    main()
