"""Training losses by name (`loss` in a recipe). Each is `fn(y_true, y_pred) -> per-sample loss`, keras.ops only."""

from typing import Callable

import keras
from keras import ops

_LOSSES: dict[str, Callable] = {}


def register(name: str):
    def wrap(fn):
        _LOSSES[name] = fn
        return fn

    return wrap


def names() -> list[str]:
    return sorted(_LOSSES)


def get(name: str) -> Callable:
    try:
        return _LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(names())}") from None


@register("mse")
def mse(y_true, y_pred):
    return ops.mean(ops.square(y_pred - y_true), axis=(1, 2, 3))


@register("l1")
def l1(y_true, y_pred):
    return ops.mean(ops.abs(y_pred - y_true), axis=(1, 2, 3))


@register("bce")
def bce(y_true, y_pred):
    return ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))


@register("charbonnier")
def charbonnier(y_true, y_pred, eps: float = 1e-3):
    return ops.mean(ops.sqrt(ops.square(y_pred - y_true) + eps**2), axis=(1, 2, 3))
