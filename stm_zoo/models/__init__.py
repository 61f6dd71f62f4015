"""Model zoo. `build(name, **kwargs)` makes any registered model (`weights="pretrained"`: with its published
weights), `load(spec)` loads a Model, a `.keras` path or a pretrained name, `names()` and `pretrained()` list,
`publish(run, name)` adds a trained model to the pretrained set.

Each family lives in one file of this package and registers itself on import.
"""

import stm_zoo  # noqa: F401  (backend selection before keras)
from stm_zoo.models.registry import ModelInfo, info, names, register
from stm_zoo.models.loading import build, copy_weights, load, matching_layers, pretrained
from stm_zoo.models.publishing import publish
from stm_zoo.models import autoencoder  # noqa: F401,E402  (registers models)
from stm_zoo.models import hcanet  # noqa: F401,E402
from stm_zoo.models import swinir  # noqa: F401,E402
from stm_zoo.models import pda_net  # noqa: F401,E402
from stm_zoo.models import dncnn  # noqa: F401,E402
from stm_zoo.models import ridnet  # noqa: F401,E402
from stm_zoo.models import cbdnet  # noqa: F401,E402
from stm_zoo.models import pmrid  # noqa: F401,E402
from stm_zoo.models import maed  # noqa: F401,E402
from stm_zoo.models import linespec  # noqa: F401,E402
from stm_zoo.models import fast_graph  # noqa: F401,E402  (registers the training-graph layers)

__all__ = ["ModelInfo", "build", "info", "load", "names", "pretrained", "publish", "register"]
