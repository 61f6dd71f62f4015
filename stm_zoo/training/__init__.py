"""Training: recipe → trained `OUT/model.keras`.

- `recipe`: the schema (`DEFAULTS`), overrides, validation and loading of recipe files;
- `core`: what every trainer shares (run folder, optimizer, model from `init_from`, frozen BatchNorm, Keras fit
  loop, atomic final save); `checkpoints`: epoch checkpoints and resuming;
- the trainers `supervised`, `selfsup` (blind-spot masks) and `adversarial` (PDA-Net), one `fit` each;
- `devices`: device layout and precision; `losses`: training losses by name.
"""

from stm_zoo.training.checkpoints import CheckpointError
from stm_zoo.training.recipe import DEFAULTS, RecipeError, apply_overrides, load_recipe, validate

__all__ = ["DEFAULTS", "CheckpointError", "RecipeError", "apply_overrides", "fit", "load_recipe", "validate"]


def fit(config: dict, callbacks: list = (), verbose="auto"):
    """Train the model a validated recipe describes with its trainer; resume from `OUT/checkpoint` when present
    (with the data stream and RNG states an uninterrupted run would have there). Returns a keras History."""
    import stm_zoo
    from stm_zoo.training import adversarial, core, selfsup, supervised

    stm_zoo.fast_cpu()

    trainer = {"supervised": supervised, "selfsup": selfsup, "adversarial": adversarial}[config["trainer"]]
    unfinished = core.start_run(config)
    return trainer.fit(config, unfinished=unfinished, callbacks=list(callbacks), verbose=core.verbosity(verbose))
