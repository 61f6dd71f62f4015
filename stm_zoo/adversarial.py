"""Adversarial domain-adaptation training (the PDA-Net trainer, recipe `"trainer": "adversarial"`).

Each step, on one batch of simulated (noisy, clean) pairs and one batch of unpaired real noisy scans:
- generator: supervised loss on the simulated pair + `adversarial_weight` x least-squares GAN loss that makes the
  discriminator score its denoised *real* scans as clean (target 1);
- discriminator: least-squares GAN loss, simulated clean images -> 1, denoised real scans -> 0.
The same generator weights serve both domains (weight sharing). Least squares (LSGAN) as in CycleGAN, which
PDA-Net builds on. Training runs on the JAX backend (`stateless_call` + `jax.value_and_grad`, one `jax.jit`
step); the models themselves stay backend-agnostic.
"""

from collections.abc import Callable, Iterable, Iterator

import keras
import numpy as np
from keras import ops

from stm_zoo import losses


def _batches(dataset: Iterable, name: str, paired: bool) -> Iterator:
    """Endless numpy batches from an iterable (tf.data.Dataset, list, generator); restarts when exhausted."""
    while True:
        empty = True
        for item in dataset:
            empty = False
            if paired:
                if not isinstance(item, (tuple, list)) or len(item) < 2:
                    raise ValueError(f"{name}: expected (noisy, clean) batches, got {type(item).__name__}")
                yield np.asarray(item[0], "float32"), np.asarray(item[1], "float32")
            else:
                yield np.asarray(item[0] if isinstance(item, (tuple, list)) else item, "float32")
        if empty:
            raise ValueError(f"{name}: the dataset yielded no batches")


def fit_adversarial(
    generator: keras.Model,
    discriminator: keras.Model,
    paired_ds: Iterable,
    unpaired_real_ds: Iterable,
    steps: int,
    *,
    loss: str | Callable = "l1",
    adversarial_weight: float = 0.01,
    generator_optimizer: keras.optimizers.Optimizer | None = None,
    discriminator_optimizer: keras.optimizers.Optimizer | None = None,
    on_step: Callable[[int, dict], None] | None = None,
) -> dict[str, list[float]]:
    """Train `generator` (in place) against `discriminator` for `steps` steps; return the per-step losses.

    Args:
        generator: image -> denoised image of the same shape (e.g. `stm_zoo.models.build("pda_net")`).
        discriminator: image -> real/fake scores of any shape (e.g. `pda_net_discriminator()`), raw outputs.
        paired_ds: iterable of `(noisy, clean)` float batches (B, H, W, 1), simulated; restarted when exhausted.
        unpaired_real_ds: iterable of real noisy batches (B, H', W', 1), or tuples whose first item is that.
        steps: number of optimisation steps (one generator and one discriminator update each).
        loss: supervised loss, a name in `stm_zoo.losses` or `fn(y_true, y_pred) -> per-sample loss`.
        adversarial_weight: weight of the generator's adversarial term against the supervised one.
        generator_optimizer, discriminator_optimizer: default Adam(2e-4, beta_1=0.5), the usual GAN setting.
        on_step: called as `on_step(step, logs)` after each step (step counts from 1), e.g. for logging.

    Returns:
        {"loss": generator total, "supervised": ..., "adversarial": ..., "discriminator": ...}, one float per step.
    """
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"fit_adversarial needs the JAX backend, not {keras.backend.backend()!r}")
    import jax

    supervised_loss = losses.get(loss) if isinstance(loss, str) else loss
    g_opt = generator_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = discriminator_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)

    def generator_loss(g_train, g_state, d_train, d_state, noisy, clean, real):
        denoised, g_state = generator.stateless_call(g_train, g_state, noisy, training=True)
        denoised_real, g_state = generator.stateless_call(g_train, g_state, real, training=True)
        score, _ = discriminator.stateless_call(d_train, d_state, denoised_real, training=True)
        supervised = ops.mean(supervised_loss(clean, denoised))
        adversarial = ops.mean(ops.square(score - 1.0))
        return supervised + adversarial_weight * adversarial, (g_state, supervised, adversarial, denoised_real)

    def discriminator_loss(d_train, d_state, clean, fake):
        real_score, d_state = discriminator.stateless_call(d_train, d_state, clean, training=True)
        fake_score, d_state = discriminator.stateless_call(d_train, d_state, fake, training=True)
        return 0.5 * (ops.mean(ops.square(real_score - 1.0)) + ops.mean(ops.square(fake_score))), d_state

    @jax.jit
    def train_step(state, noisy, clean, real):
        g_train, g_state, g_vars, d_train, d_state, d_vars = state
        (g_total, (g_state, supervised, adversarial, fake)), g_grads = jax.value_and_grad(
            generator_loss, has_aux=True
        )(g_train, g_state, d_train, d_state, noisy, clean, real)
        g_train, g_vars = g_opt.stateless_apply(g_vars, g_grads, g_train)
        (d_total, d_state), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
            d_train, d_state, clean, jax.lax.stop_gradient(fake)
        )
        d_train, d_vars = d_opt.stateless_apply(d_vars, d_grads, d_train)
        logs = {"loss": g_total, "supervised": supervised, "adversarial": adversarial, "discriminator": d_total}
        return (g_train, g_state, g_vars, d_train, d_state, d_vars), logs

    state = (
        [v.value for v in generator.trainable_variables],
        [v.value for v in generator.non_trainable_variables],
        [v.value for v in g_opt.variables],
        [v.value for v in discriminator.trainable_variables],
        [v.value for v in discriminator.non_trainable_variables],
        [v.value for v in d_opt.variables],
    )
    history: dict[str, list[float]] = {"loss": [], "supervised": [], "adversarial": [], "discriminator": []}
    pairs = _batches(paired_ds, "paired_ds", paired=True)
    reals = _batches(unpaired_real_ds, "unpaired_real_ds", paired=False)
    try:
        for step in range(1, steps + 1):
            noisy, clean = next(pairs)
            state, logs = train_step(state, noisy, clean, next(reals))
            logs = {k: float(v) for k, v in logs.items()}
            for key, value in logs.items():
                history[key].append(value)
            if on_step is not None:
                on_step(step, logs)
    finally:  # write the trained values back, also when interrupted
        g_train, g_state, g_vars, d_train, d_state, d_vars = state
        for variables, values in (
            (generator.trainable_variables, g_train),
            (generator.non_trainable_variables, g_state),
            (g_opt.variables, g_vars),
            (discriminator.trainable_variables, d_train),
            (discriminator.non_trainable_variables, d_state),
            (d_opt.variables, d_vars),
        ):
            for variable, value in zip(variables, values):
                variable.assign(value)
    return history
