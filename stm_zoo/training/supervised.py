"""The supervised trainer (`"trainer": "supervised"`): (noisy, clean) pairs from the tf.data pipeline →
`model.fit` with TensorBoard logs, PSNR/SSIM each epoch, an atomic checkpoint each epoch and resuming
(`core.fit_keras`), then `OUT/model.keras`."""

from stm_zoo.training import core


def fit(config: dict, unfinished: list, callbacks: list, verbose):
    from stm_zoo.data import pipeline

    def datasets(start_epoch: int):
        return pipeline.training_datasets(
            config["data"],
            patch_size=config["patch_size"],
            batch_size=config["batch_size"],
            validation_steps=config["validation_steps"],
            noise=config["noise"],
            augment=config["augment"],
            seed=config["seed"],
            simulate=config["simulate"],
            skip_batches=start_epoch * config["steps_per_epoch"],  # a resumed run continues the data stream
        )

    return core.fit_keras(config, datasets, truth=True, unfinished=unfinished, callbacks=callbacks, verbose=verbose)
