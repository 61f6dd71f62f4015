"""Checkpoints of the Keras trainers (supervised, selfsup) and resuming: an atomic checkpoint each epoch (a run
killed at any moment resumes from it, on the data and RNG streams of an uninterrupted run)."""

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import stm_zoo  # noqa: F401  (backend selection before keras)
import keras

from stm_zoo._atomic import atomic_path, remove_temporaries, write_json, write_text

LATEST, PREVIOUS, METADATA = "latest.weights.h5", "previous.weights.h5", "training_metadata.json"
_EPOCH, _SEED_STATES = "stm_zoo_epoch", "stm_zoo_seed_states"  # attributes of our weights files


class CheckpointError(ValueError):
    """A checkpoint folder that no run can resume from (one-line message)."""


@dataclass(frozen=True)
class Resume:
    """The checkpoint a run resumes from: the file, the epochs it has trained, and why a newer one was skipped."""

    path: Path
    epoch: int
    seed_states: np.ndarray | None = None  # the model's RNG states (dropout etc.); None: not recorded
    keras_layout: bool = False  # written by keras.callbacks.BackupAndRestore (epoch in training_metadata.json)
    corrupt: str = ""  # "<latest> is corrupt (<reason>)" when this is the previous one


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _read_weights_file(path: Path) -> dict:
    """Read every array of an .h5 weights file (OSError etc. when it is damaged); return its attributes."""
    import h5py

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]  # a damaged file raises here

    with h5py.File(path, "r") as f:
        f.visititems(read)
        return dict(f.attrs)


def find_resume(folder: str | Path) -> Resume | None:
    """The newest readable checkpoint in `folder` (None: start afresh): `latest.weights.h5`, else
    `previous.weights.h5` with the reason in `corrupt`. Reads keras.callbacks.BackupAndRestore's layout too
    (`latest.weights.h5`, epoch in `training_metadata.json`). CheckpointError when none is readable."""
    folder = Path(folder)
    corrupt = ""
    for path in (folder / LATEST, folder / PREVIOUS):
        if not path.exists():
            continue
        try:
            attrs = _read_weights_file(path)
            if _EPOCH in attrs:
                return Resume(path, int(attrs[_EPOCH]), attrs.get(_SEED_STATES), corrupt=corrupt)
            if path.name == LATEST:
                metadata = folder / METADATA
                epoch = json.loads(metadata.read_text())["epoch"] if metadata.exists() else None
                if isinstance(epoch, int) and epoch >= 0:
                    return Resume(path, epoch, keras_layout=True)
                raise ValueError(f"{metadata.name} holds no epoch")
            raise ValueError("no epoch recorded")
        except (OSError, KeyError, ValueError) as e:  # h5py's errors; json.JSONDecodeError is a ValueError
            corrupt = corrupt or f"{path} is corrupt ({_first_line(e)})"
    if corrupt:
        raise CheckpointError(f"{corrupt} and there is no earlier good checkpoint; delete {folder} to start over")
    return None


def _seed_variables(model: keras.Model) -> list:
    """The model's RNG states (SeedGenerators of dropout, noise layers…): variables, but not in weights files."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, the model's weights, optimizer state, epoch and RNG states in `folder`: written to a
    temporary file and renamed to `latest.weights.h5`, the one it replaces kept as `previous.weights.h5`, then
    `training_metadata.json` ({"epoch": N}, as keras.callbacks.BackupAndRestore writes it). A kill at any moment
    leaves a readable checkpoint. Loads `resume` (from `find_resume`) when training begins: pass its epoch to
    `fit` as `initial_epoch`."""

    def __init__(self, folder: str | Path, resume: Resume | None):
        super().__init__()
        self.folder, self.resume = Path(folder), resume
        # latest becomes previous only when it is a good checkpoint of ours (not a corrupt or unlabelled one)
        self._latest_is_good = resume is not None and resume.path.name == LATEST and not resume.keras_layout

    def on_train_begin(self, logs=None):
        if self.resume is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # its state is in the file
        seeds, states = _seed_variables(self.model), self.resume.seed_states
        try:
            self.model.load_weights(self.resume.path)
            if states is not None and len(states) != len(seeds):
                raise ValueError(f"{len(states)} RNG states for {len(seeds)}")
        except ValueError as e:
            raise CheckpointError(f"{self.resume.path} does not fit this model ({_first_line(e)}); delete "
                                  f"{self.folder} to start over") from None
        for variable, state in zip(seeds, states if states is not None else ()):
            variable.assign(state)

    def on_epoch_end(self, epoch, logs=None):
        import h5py

        latest = self.folder / LATEST
        with atomic_path(latest, ".weights.h5", durable=True) as tmp:
            self.model.save_weights(tmp)
            with h5py.File(tmp, "a") as f:
                f.attrs[_EPOCH] = epoch + 1
                seeds = _seed_variables(self.model)
                if seeds:
                    f.attrs[_SEED_STATES] = np.stack([np.asarray(v) for v in seeds])
            if self._latest_is_good:
                os.replace(latest, self.folder / PREVIOUS)
        self._latest_is_good = True
        write_json(self.folder / METADATA, {"epoch": epoch + 1, "batch": 0})  # after the weights


def remove_leftovers(out: Path) -> list[Path]:
    """Remove what a killed run leaves in `out`: temporaries of atomic writes and a 0-byte `history.csv`; return
    the checkpoint temporaries (an unfinished checkpoint write)."""
    for name in ("model.keras", "recipe.json", "history.csv"):
        remove_temporaries(out / name)
    history = out / "history.csv"
    if history.is_file() and history.stat().st_size == 0:
        history.unlink()
    return [p for name in (LATEST, METADATA) for p in remove_temporaries(out / "checkpoint" / name)]


def trim_history(path: Path, epochs: int) -> None:
    """Keep the rows of `history.csv` for the first `epochs` epochs (the ones a resumed run does not train
    again); remove the file when none remain."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    keep = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) < epochs]
    if len(keep) <= 1:
        path.unlink()
    elif len(keep) < len(rows):
        text = io.StringIO()
        csv.writer(text).writerows(keep)  # the excel dialect, as keras.callbacks.CSVLogger writes
        write_text(path, text.getvalue())
