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
# ``mcugen.tflite.context.OpContext``. Filled by @tflite_op. (The list of
# supported .tflite ops, folded and edge ops included, is the loader's:
# ``mcugen.tflite.loader.supported_tflite_ops``.)
TFLITE_CONVERTERS: dict[str, Callable] = {}
# TFLite builtin operator name -> (the BuiltinOptions table it carries, or
# None for any; whether the converter reads it, so a file without it is
# refused). Declared beside the converter: @tflite_op("MUL", options="MulOptions").
TFLITE_OPTIONS: dict[str, tuple[str | None, bool]] = {}
# The ops whose converter takes int16 activations (TFLite's 16x8: int16
# activations, int8 weights, int64 biases), declared with int16=True; the
# loader refuses a 16x8 instance of any other op by name.
TFLITE_INT16: set[str] = set()


def tflite_op(*op_names: str, options: str | None = None, options_required: bool = False, int16: bool = False):
    def register(fn):
        for name in op_names:
            TFLITE_CONVERTERS[name] = fn
            if options is not None:
                TFLITE_OPTIONS[name] = (options, options_required)
            if int16:
                TFLITE_INT16.add(name)
        return fn

    return register


def _register_all() -> None:
    """Import every module of this package: each op file registers its
    converters, so adding an op is adding a file."""
    import importlib
    import pkgutil

    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not m.name.startswith("_"):
            importlib.import_module(f"{__name__}.{m.name}")


_register_all()
