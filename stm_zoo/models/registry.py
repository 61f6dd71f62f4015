"""The model registry: every zoo model registers its builder here under one name (`loading.build` builds)."""

from dataclasses import dataclass
from typing import Callable

import keras


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., keras.Model]
    description: str
    source: str


_REGISTRY: dict[str, ModelInfo] = {}


def register(name: str, *, description: str, source: str):
    """Decorator: `@register("dncnn", description=..., source=...)` on a builder returning a keras.Model."""

    def wrap(builder):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelInfo(name, builder, description, source)
        return builder

    return wrap


def names() -> list[str]:
    return sorted(_REGISTRY)


def info(name: str) -> ModelInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(names())}") from None
