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


# TFLite builtin operator name (``CONV_2D``) -> converter(cx), where cx is a
# ``mcugen.tflite_loader.OpContext``. Filled by @tflite_op.
TFLITE_CONVERTERS: dict[str, Callable] = {}


def tflite_op(*op_names: str):
    def register(fn):
        for name in op_names:
            TFLITE_CONVERTERS[name] = fn
        return fn

    return register


def supported_tflite_ops() -> list[str]:
    from ..tflite_loader import FOLDED_OPS, EDGE_OPS

    return sorted(set(TFLITE_CONVERTERS) | set(FOLDED_OPS) | set(EDGE_OPS))


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
    transpose,
)
from . import const_binary, reduce, tflite_lut  # noqa: E402,F401  (TFLite-only ops)
