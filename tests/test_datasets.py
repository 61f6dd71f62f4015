"""TFDS builders (stm_synthetic, stm_folder) and the "tfds:" data sources of the pipeline, built offline into
temporary data dirs."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from stm_zoo.data import pipeline, simulate, tfds_builders  # noqa: E402


def _prepare(builder):
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return builder


def _split(builder, split):
    return [ex["image"] for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))]


def test_stm_synthetic_builds_fixed_splits(tmp_path):
    config = tfds_builders.StmSyntheticConfig(name="test", size_px=32, train=6, validation=3, test=3, seed=11)
    builder = _prepare(tfds_builders.StmSynthetic(config=config, data_dir=str(tmp_path)))
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 6, "validation": 3, "test": 3}
    train = _split(builder, "train")
    assert all(im.shape == (32, 32, 1) and im.dtype == np.float32 and 0 <= im.min() and im.max() <= 1
               for im in train)
    # every split is the simulator at fixed seeds: (seed + split offset, index)
    for split, offset, images in (("train", 0, train), ("test", 2, _split(builder, "test"))):
        expected = simulate.surfaces(len(images), seed=11 + offset, size_px=32)
        got = sorted(im[..., 0].tobytes() for im in images)  # TFDS stores examples in hashed-key order
        assert got == sorted(im.tobytes() for im in expected), split
    assert tfds_builders.StmSynthetic.BUILDER_CONFIGS[0].name == "small"  # the default


def _write_scans(folder, shapes, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i, shape in enumerate(shapes):
        y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
        tilt = 1e-9 * (0.3 * x + 0.1 * y)  # metres, like a real scan
        np.save(folder / f"scan{i}.npy", tilt + 1e-10 * rng.standard_normal(shape))


def test_stm_folder_levels_and_cuts_patches(tmp_path):
    folder = tmp_path / "scans"
    _write_scans(folder, [(70, 100), (64, 64), (20, 30)])
    (folder / "broken.npy").write_bytes(b"not a numpy file")
    config = tfds_builders.folder_config(folder, patch_size=32)
    builder = _prepare(tfds_builders.StmFolder(config=config, data_dir=str(tmp_path / "tfds")))
    patches = _split(builder, "train")
    # 2x3 + 2x2 patches, the 20x30 scan upsampled to 32x48 → 1; the broken file skipped
    assert len(patches) == 6 + 4 + 1
    assert list(builder.info.splits) == ["train"]  # < 5 files: no validation split
    for patch in patches:
        assert patch.shape == (32, 32, 1) and 0 <= patch.min() and patch.max() <= 1
        assert patch.std() > 0.1  # the plane was removed: noise fills the range, not the tilt
        assert abs(np.polyfit(np.arange(32), patch[..., 0].mean(axis=0), 1)[0]) < 0.01
    # a changed folder is another config (and another build)
    _write_scans(folder / "more", [(40, 40)], seed=1)
    assert tfds_builders.folder_config(folder, patch_size=32).name != config.name


def test_pipeline_reads_tfds_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    folder = tmp_path / "scans"
    _write_scans(folder, [(128, 160)] * 6)  # 6 files: every 5th (file 0 and 5) goes to validation
    source = f"tfds:stm_folder:{folder}"
    train, val = pipeline.train_validation_images(source)
    assert len(train) == 4 and len(val) == 2
    assert all(im.shape == (128, 128) and im.dtype == np.float32 for im in train + val)
    assert len(pipeline.clean_images(source)) == 4
    with pytest.raises(ValueError, match="stm_folder needs a folder"):
        pipeline.clean_images("tfds:stm_folder")
    with pytest.raises(ValueError, match="simulate parameters apply only to data='default' or 'synthetic'"):
        pipeline.clean_images(source, simulate={"scan_nm": 5.0})


def test_synthetic_source_takes_simulate_parameters():
    images = pipeline.clean_images("synthetic", simulate={"lattices": ["square"], "scan_nm": 4.0, "p_steps": 0.0})
    assert len(images) == pipeline.SYNTHETIC_IMAGES and images[0].shape == (256, 256)
    with pytest.raises(ValueError, match="unknown simulate parameter"):
        pipeline.clean_images("synthetic", simulate={"lattice": "square"})


def test_recipe_simulate_sets_the_default_pool_and_is_checked(tmp_path):
    from stm_zoo import training

    images = pipeline.clean_images("default", simulate={"count": 3, "size_px": 40, "lattices": ["square"]})
    assert len(images) == len(pipeline.embedded_real_images()) + 3 and images[-1].shape == (40, 40)
    config = training.validate({"simulate": {"count": 2, "size_px": 48}})
    assert config["simulate"] == {"count": 2, "size_px": 48}
    for bad, message in [({"count": 0}, "simulate.count"), ({"lattice": "square"}, "unknown simulate parameter")]:
        with pytest.raises(training.RecipeError, match=message):
            training.validate({"simulate": bad})
    with pytest.raises(training.RecipeError, match="only to data 'default' or 'synthetic'"):
        training.validate({"simulate": {"count": 2}, "data": str(tmp_path)})
