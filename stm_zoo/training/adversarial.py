"""Adversarial domain-adaptation training (the PDA-Net trainer, recipe `"trainer": "adversarial"`).

Each step, on one batch of simulated (noisy, clean) pairs and one batch of unpaired real noisy scans:
- generator: supervised loss on the simulated pair + `adversarial_weight` x least-squares GAN loss that makes the
  discriminator score its denoised *real* scans as clean (target 1);
- discriminator: least-squares GAN loss, simulated clean images -> 1, denoised real scans -> 0.
The same generator weights serve both domains (weight sharing). Least squares (LSGAN) as in CycleGAN, which
PDA-Net builds on. Training runs on the JAX backend (`stateless_call` + `jax.value_and_grad`, one `jax.jit`
step); the models themselves stay backend-agnostic.

`fit` runs it from a recipe (`stm-zoo fit recipes/pda_net.py`): simulated pairs from `data`, unpaired
real scans from `real_data`, PSNR/SSIM on the validation pairs and a checkpoint of both networks and both
optimizers after every epoch (an interrupted run resumes from the last one), then `OUT/model.keras` (the
generator) and `OUT/discriminator.keras`.
"""

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import keras
import numpy as np
from keras import ops

from stm_zoo._atomic import atomic_path
from stm_zoo.training import core, devices, losses
from stm_zoo.training.recipe import EMBEDDED_REAL


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


def _variable_groups(generator, discriminator, g_opt, d_opt) -> tuple:
    """Every variable the trainer updates, in the order of its state tuple (and of a checkpoint)."""
    return (generator.trainable_variables, generator.non_trainable_variables, g_opt.variables,
            discriminator.trainable_variables, discriminator.non_trainable_variables, d_opt.variables)


def _place(batch: np.ndarray):
    """A batch laid out for the active keras.distribution (split over the batch axis when data parallel)."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return batch
    return keras.distribution.distribute_tensor(batch, distribution.get_data_layout(batch.shape))


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
    steps_per_epoch: int | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> dict[str, list[float]]:
    """Train `generator` (in place) against `discriminator` for `steps` steps; return the per-step losses.

    Args:
        generator: image -> denoised image of the same shape (e.g. `stm_zoo.models.build("pda_net")`).
        discriminator: image -> real/fake scores of any shape (e.g. `pda_net_discriminator()`), raw outputs.
        paired_ds: iterable of `(noisy, clean)` float batches (B, H, W, 1), simulated; restarted when exhausted.
        unpaired_real_ds: iterable of real noisy batches (B, H', W', 1), or tuples whose first item is that.
        steps: number of optimisation steps (one generator and one discriminator update each).
        loss: supervised loss, a name in `stm_zoo.training.losses` or `fn(y_true, y_pred) -> per-sample loss`.
        adversarial_weight: weight of the generator's adversarial term against the supervised one.
        generator_optimizer, discriminator_optimizer: default Adam(2e-4, beta_1=0.5), the usual GAN setting.
        on_step: called as `on_step(step, logs)` after each step (step counts from 1), e.g. for logging.
        steps_per_epoch, on_epoch: every `steps_per_epoch` steps the trained values are written back into the
            models' and optimizers' variables and `on_epoch(epoch, mean_logs)` is called (epoch counts from 1),
            e.g. to validate and checkpoint.

    Returns:
        {"loss": generator total, "supervised": ..., "adversarial": ..., "discriminator": ...}, one float per step.
    """
    if keras.backend.backend() != "jax":
        raise RuntimeError(f"fit_adversarial needs the JAX backend, not {keras.backend.backend()!r}")
    import jax

    supervised_loss = losses.get(loss) if isinstance(loss, str) else loss
    g_opt = generator_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = discriminator_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
    for optimizer, model in ((g_opt, generator), (d_opt, discriminator)):
        if not optimizer.built:
            optimizer.build(model.trainable_variables)

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

    groups = _variable_groups(generator, discriminator, g_opt, d_opt)
    state = tuple([v.value for v in group] for group in groups)
    history: dict[str, list[float]] = {"loss": [], "supervised": [], "adversarial": [], "discriminator": []}
    pairs = _batches(paired_ds, "paired_ds", paired=True)
    reals = _batches(unpaired_real_ds, "unpaired_real_ds", paired=False)

    def write_back(state):
        for variables, values in zip(groups, state):
            for variable, value in zip(variables, values):
                variable.assign(value)

    try:
        for step in range(1, steps + 1):
            noisy, clean = next(pairs)
            state, logs = train_step(state, _place(noisy), _place(clean), _place(next(reals)))
            logs = {k: float(v) for k, v in logs.items()}
            for key, value in logs.items():
                history[key].append(value)
            if on_step is not None:
                on_step(step, logs)
            if steps_per_epoch and on_epoch is not None and step % steps_per_epoch == 0:
                write_back(state)
                on_epoch(step // steps_per_epoch,
                         {k: float(np.mean(v[-steps_per_epoch:])) for k, v in history.items()})
                state = tuple([v.value for v in group] for group in groups)  # Keras' predict donates buffers
    finally:  # write the trained values back, also when interrupted
        write_back(state)
    return history


# ---------------------------------------------------------------- from a recipe


def real_images(real_data: str) -> list[np.ndarray]:
    """The unpaired real scans of `real_data`: a folder of scans, or "embedded"."""
    from stm_zoo.data import pipeline

    if real_data == EMBEDDED_REAL:
        return pipeline.embedded_real_images()
    return pipeline.folder_images(Path(real_data).expanduser())


def _save_checkpoint(path: Path, epoch: int, groups) -> None:
    """Epoch and every trainer variable in one .npz, written to a temporary file and renamed."""
    arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(v for group in groups for v in group)}
    with atomic_path(path, ".npz") as tmp:
        np.savez(tmp, epoch=epoch, **arrays)


def _load_checkpoint(path: Path, groups) -> int:
    """Assign a checkpoint's values to `groups`; return the epoch it was written after."""
    variables = [v for group in groups for v in group]
    with np.load(path) as saved:
        if len(saved.files) - 1 != len(variables):
            raise ValueError(f"{path}: checkpoint of {len(saved.files) - 1} variables, this run has "
                             f"{len(variables)}; delete it or use another out folder")
        for i, variable in enumerate(variables):
            variable.assign(saved[f"v{i}"])
        return int(saved["epoch"])


def _validate(generator: keras.Model, val_ds) -> dict:
    from stm_zoo import metrics as metrics_lib

    psnrs, ssims = [], []
    for noisy, clean in val_ds.as_numpy_iterator():
        denoised = np.clip(np.asarray(generator.predict_on_batch(noisy), np.float32), 0.0, 1.0)
        for c, d in zip(clean, denoised):
            psnrs.append(metrics_lib.psnr(c[..., 0], d[..., 0]))
            ssims.append(metrics_lib.ssim(c[..., 0], d[..., 0]))
    return {"val_psnr": float(np.mean(psnrs)), "val_ssim": float(np.mean(ssims))}


def fit(config: dict, unfinished: list, callbacks: list, verbose) -> keras.callbacks.History:
    """Run a validated recipe with `trainer="adversarial"` (see the module docstring); resume from
    `OUT/checkpoint/adversarial.npz` when present. `callbacks` get `on_train_begin`, `on_epoch_end` with the
    epoch's logs and `on_train_end`; `verbose`: 0 silent, 1 a progress bar and a line per epoch, 2 a line per epoch."""
    from stm_zoo.data import pipeline
    from stm_zoo.models.pda_net import pda_net_discriminator

    out = Path(config["out"])
    epochs, steps_per_epoch = config["epochs"], config["steps_per_epoch"]
    checkpoint = out / "checkpoint" / "adversarial.npz"
    with devices.scope(config):
        generator = core.prepare_model(config)
        discriminator = pda_net_discriminator()
        g_opt = core.optimizer(config, beta_1=0.5)
        d_opt = core.optimizer(config, beta_1=0.5)
        g_opt.build(generator.trainable_variables)
        d_opt.build(discriminator.trainable_variables)
        groups = _variable_groups(generator, discriminator, g_opt, d_opt)
        done = 0
        if checkpoint.exists():
            done = _load_checkpoint(checkpoint, groups)
            print(f"resuming {out} after epoch {done}")
        paired, val_ds = pipeline.training_datasets(  # a resumed run continues both streams where it stopped
            config["data"], patch_size=config["patch_size"], batch_size=config["batch_size"],
            validation_steps=config["validation_steps"], noise=config["noise"], augment=config["augment"],
            seed=config["seed"], skip_batches=done * steps_per_epoch)
        real = pipeline.real_patches(real_images(config["real_data"]), patch_size=config["patch_size"],
                                     batch_size=config["batch_size"], augment=config["augment"],
                                     seed=config["seed"] + 2, skip_batches=done * steps_per_epoch)
        generator.compile(optimizer=g_opt)  # for TensorBoard's learning-rate scalar; fit_adversarial steps
        history = keras.callbacks.History()
        logs_to = keras.callbacks.CallbackList(
            [keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False),
             keras.callbacks.CSVLogger(str(out / "history.csv"), append=True), history, *callbacks],
            model=generator)
        logs_to.on_train_begin()

        bar = [keras.utils.Progbar(steps_per_epoch)]

        def on_step(step: int, logs: dict):
            if verbose == 1:
                bar[0].update((step - 1) % steps_per_epoch + 1, list(logs.items()))

        def on_epoch(epoch: int, logs: dict):
            bar[0] = keras.utils.Progbar(steps_per_epoch)
            epoch += done
            logs = {**logs, **_validate(generator, val_ds)}
            if verbose:
                print(f"Epoch {epoch}/{epochs} - " + " - ".join(f"{k}: {v:.4g}" for k, v in logs.items()), flush=True)
            logs_to.on_epoch_end(epoch - 1, logs)
            _save_checkpoint(checkpoint, epoch, groups)

        if done < epochs:
            fit_adversarial(generator, discriminator, paired, real, (epochs - done) * steps_per_epoch,
                            loss=config["loss"], generator_optimizer=g_opt, discriminator_optimizer=d_opt,
                            on_step=on_step, steps_per_epoch=steps_per_epoch, on_epoch=on_epoch)
        logs_to.on_train_end()
    critic = pda_net_discriminator()
    critic.set_weights(discriminator.get_weights())
    core.save_model_atomic(critic, out / "discriminator.keras")
    core.save_final(generator, config, out / "model.keras")
    return history
