"""TensorFlow Datasets builders for clean STM images; everything is generated locally (no downloads).

- `stm_synthetic`: surfaces from `stm_zoo.data.simulate`; train / validation / test splits drawn from fixed
  seeds, so every build gives the same images. Configs: `small` (default: 160 px, 256 / 32 / 32 images,
  seconds to build) and `large` (256 px, 4096 / 512 / 512).
- `stm_folder`: the user's own clean scans — every file under a folder that `stm_zoo.io.read` supports,
  plane-fitted and normalized to [0, 1] (`stm_zoo.level`), cut into non-overlapping square patches. The config
  is made from the folder (`folder_config`) and named after a hash of its path, patch size and file list, so a
  changed folder builds anew. Every 5th file goes to `validation` when there are at least 5 files.

Both have one feature `image`: float32 (P, P, 1) in [0, 1]. `load_images(name)` returns them as numpy arrays;
recipes use them as `data="tfds:stm_synthetic"`, `"tfds:stm_synthetic/large"` or `"tfds:stm_folder:/path"`.
The data dir is `TFDS_DATA_DIR` when set, else TFDS's default (~/tensorflow_datasets).
"""

import dataclasses
import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from stm_zoo.data import simulate

log = logging.getLogger(__name__)

_SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}


def _image_feature(size: int | None):
    return tfds.features.FeaturesDict(
        {"image": tfds.features.Tensor(shape=(size, size, 1), dtype=np.float32)}
    )


@dataclasses.dataclass(eq=False)
class StmSyntheticConfig(tfds.core.BuilderConfig):
    size_px: int = 160
    train: int = 256
    validation: int = 32
    test: int = 32
    seed: int = 2024  # split s, image i is simulated from the seed (seed + split offset, i)


class StmSynthetic(tfds.core.GeneratorBasedBuilder):
    """Clean simulated STM topographs (stm_zoo.data.simulate, default parameters)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Lattices, CDW, moiré, defects, steps, islands, molecules, clusters, finite tip."}
    BUILDER_CONFIGS = [
        StmSyntheticConfig(name="small", description="160 px, 256/32/32 images"),
        StmSyntheticConfig(name="large", description="256 px, 4096/512/512 images", size_px=256, train=4096,
                           validation=512, test=512),
    ]
    DEFAULT_CONFIG_NAME = "small"

    def _info(self):
        return self.dataset_info_from_configs(
            description=__doc__,
            features=_image_feature(self.builder_config.size_px),
            supervised_keys=None,
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        return {split: self._generate_examples(split, getattr(config, split)) for split in _SPLIT_SEEDS}

    def _generate_examples(self, split: str, count: int):
        config = self.builder_config
        for i in range(count):
            rng = np.random.default_rng([config.seed + _SPLIT_SEEDS[split], i])
            yield i, {"image": simulate.surface(rng, config.size_px)[..., None]}


@dataclasses.dataclass(eq=False)
class StmFolderConfig(tfds.core.BuilderConfig):
    folder: str = ""
    patch_size: int = 128


def folder_config(folder, patch_size: int = 128) -> StmFolderConfig:
    """The `stm_folder` config for `folder`: its name hashes the path, the patch size and every supported
    file's name, size and modification time."""
    from stm_zoo import io

    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"{folder}: data folder not found")
    digest = hashlib.sha1(f"{folder}|{patch_size}".encode())
    for path in io.find_scans(folder):
        stat = path.stat()
        digest.update(f"|{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return StmFolderConfig(name=f"p{patch_size}_{digest.hexdigest()[:12]}", folder=str(folder),
                           patch_size=patch_size, description=f"patches of {folder}")


def scan_patches(path, patch_size: int) -> list[np.ndarray]:
    """One scan → plane fit → normalize to [0, 1] → non-overlapping (P, P) patches (a scan smaller than P is
    upsampled to P first, bilinear, as the training pipeline does)."""
    from skimage.transform import resize

    from stm_zoo import io, level

    image = level.prepare(io.read(path).data)[0]
    if min(image.shape) < patch_size:
        scale = patch_size / min(image.shape)
        shape = (int(np.ceil(image.shape[0] * scale)), int(np.ceil(image.shape[1] * scale)))
        image = resize(image, shape, order=1, anti_aliasing=False).astype(np.float32)
    rows, cols = image.shape[0] // patch_size, image.shape[1] // patch_size
    return [image[r * patch_size : (r + 1) * patch_size, c * patch_size : (c + 1) * patch_size]
            for r in range(rows) for c in range(cols)]


class StmFolder(tfds.core.GeneratorBasedBuilder):
    """Clean scans from a local folder, leveled, normalized and cut into patches (config: `folder_config`)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Plane fit, 0.5-99.5 % normalization, non-overlapping patches."}
    BUILDER_CONFIGS = []  # made per folder by folder_config()

    def _info(self):
        return self.dataset_info_from_configs(
            description=__doc__,
            features=_image_feature(self.builder_config.patch_size),
            supervised_keys=None,
        )

    def _split_generators(self, dl_manager):
        from stm_zoo import io

        folder = Path(self.builder_config.folder)
        files = io.find_scans(folder)
        if not files:
            raise ValueError(f"{folder}: no readable images ({', '.join(io.formats())})")
        if len(files) < 5:
            return {"train": self._generate_examples(files)}
        return {"train": self._generate_examples([f for i, f in enumerate(files) if i % 5]),
                "validation": self._generate_examples(files[::5])}

    def _generate_examples(self, files):
        from stm_zoo import io

        folder = Path(self.builder_config.folder)
        for path in files:
            try:
                patches = scan_patches(path, self.builder_config.patch_size)
            except (io.ReadError, ValueError) as err:  # one bad file does not sink the dataset
                log.warning("skipping %s", err)
                continue
            for j, patch in enumerate(patches):
                yield f"{path.relative_to(folder)}#{j}", {"image": patch[..., None]}


def builder(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
    """A builder for `stm_synthetic[/config]` or `stm_folder:/path` (any other TFDS name works too, if its
    examples have an `image`); `data_dir` defaults to `TFDS_DATA_DIR`, else TFDS's default."""
    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR") or None
    if name.startswith("stm_folder"):
        _, _, folder = name.partition(":")
        if not folder:
            raise ValueError("stm_folder needs a folder: use 'tfds:stm_folder:/path/to/clean/scans'")
        return StmFolder(config=folder_config(folder), data_dir=data_dir)
    return tfds.builder(name, data_dir=data_dir)


def load_images(name: str, split: str = "train", data_dir: str | None = None) -> list[np.ndarray]:
    """All images of a split as 2-D float32 arrays; the dataset is built first if it is not in the data dir."""
    ds_builder = builder(name, data_dir)
    ds_builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    if split not in ds_builder.info.splits:
        return []
    ds = ds_builder.as_dataset(split=split, shuffle_files=False)
    return [np.asarray(example["image"][..., 0], np.float32) for example in tfds.as_numpy(ds)]
