"""One file per op: its IR class, its Keras converter(s), its float and int8
numpy references and the arguments of its C kernel. Importing this package
registers every converter in ``KERAS_CONVERTERS``."""
from __future__ import annotations

from typing import Callable

# Keras layer class name -> converter(layer, ctx). Filled by @keras_layer.
KERAS_CONVERTERS: dict[str, Callable] = {}


def keras_layer(*class_names: str):
    def register(fn):
        for name in class_names:
            KERAS_CONVERTERS[name] = fn
        return fn

    return register


def supported_layers() -> list[str]:
    return sorted(KERAS_CONVERTERS)


from . import (  # noqa: E402,F401  (registration side effects)
    activation,
    add,
    batchnorm,
    concat,
    conv2d,
    dense,
    depthwise_conv2d,
    elementwise,
    pad,
    pool,
    reshape,
    softmax,
)
