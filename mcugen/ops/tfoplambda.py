"""The arithmetic ``TFOpLambda`` layers that Keras 2 (TensorFlow 2.x's
tf.keras) saved in .h5 files for ``x + y``, ``tf.math.multiply(x, 0.5)``,
``tf.maximum(a, b)`` ...: Keras 3 has no such class.

A TFOpLambda names a TensorFlow function (``config.function``:
``__operators__.add``, ``math.multiply`` ...); its node keeps the first
argument as the input and the second (``y``) among the call's keyword
arguments, either a reference to another layer's output (``["dense_1", 0,
0]``) or a constant; ``2.0 - x`` stores the constant first
(``["_CONSTANT_VALUE", -1, 2.0, {"y": [...]}]``). ``rewrite_config`` turns
each into this module's Keras 3 layer (same class name, the constant in its
config, both tensors as its inputs) before Keras reads the file; any other
TensorFlow function is refused by name, never run.

Conversion: two tensors become the ops of add.py, binary.py, minmax.py
(broadcast); a tensor and a scalar constant is a function of one int8 value,
a 256-entry table (``Elementwise``: the float function rounded half away
from zero at the output scale)."""
from __future__ import annotations

import copy
from dataclasses import dataclass
import numpy as np

from ..errors import UnsupportedLayer
from . import keras_layer
from .add import Add, merge_chain
from .binary import Binary
from .elementwise import Elementwise
from .minmax import keras_minmax

# TensorFlow function (as TFOpLambda saves it) -> mcugen's name for it
FUNCTIONS = {
    "__operators__.add": "add",
    "math.add": "add",
    "math.subtract": "subtract",
    "math.multiply": "multiply",
    "math.truediv": "divide",
    "math.maximum": "maximum",
    "math.minimum": "minimum",
    "math.squared_difference": "squared_difference",
}
FLOAT = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "squared_difference": lambda a, b: (a - b) ** 2,
}
CONSTANT = "_CONSTANT_VALUE"


def _is_ref(v) -> bool:
    return isinstance(v, list) and len(v) in (3, 4) and isinstance(v[0], str) and v[0] != CONSTANT


def _rewrite_node(where: str, node) -> tuple[list, object, bool]:
    """(input references, constant or None, constant comes first) of one node."""
    if not isinstance(node, list) or len(node) != 1 or not isinstance(node[0], list) or len(node[0]) < 3:
        raise UnsupportedLayer(f"{where}: a call this TFOpLambda cannot express (one tensor argument expected)")
    first = node[0]
    kwargs = first[3] if len(first) > 3 and isinstance(first[3], dict) else {}
    extra = sorted(set(kwargs) - {"y", "name"})
    if extra:
        raise UnsupportedLayer(f"{where}: unsupported arguments {', '.join(extra)}")
    y = kwargs.get("y")
    if first[0] == CONSTANT:
        if not _is_ref(y):
            raise UnsupportedLayer(f"{where}: two constant operands")
        return [y[:3]], first[2], True
    if _is_ref(y):
        return [first[:3], y[:3]], None, False
    if y is None:
        raise UnsupportedLayer(f"{where}: a second operand is missing")
    return [first[:3]], y, False


def rewrite_config(config) -> bool:
    """Rewrite, in place, every TFOpLambda layer of a saved model config
    into this module's layer (constant in its config, tensors as inputs);
    refuse the ones it cannot express. True if any was rewritten."""
    body = config.get("config") if isinstance(config, dict) else None
    layers = body.get("layers") if isinstance(body, dict) else None
    found = False
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict) or layer.get("class_name") != "TFOpLambda":
            continue
        cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        where = f"layer {str(cfg.get('name', layer.get('name', '?')))[:80]!r} (TFOpLambda)"
        fn = cfg.get("function")
        if fn not in FUNCTIONS:
            raise UnsupportedLayer(f"{where}: unsupported TensorFlow function {str(fn)[:80]!r} (supported: "
                                   f"{', '.join('tf.' + f for f in sorted(FUNCTIONS))})")
        nodes = layer.get("inbound_nodes") if isinstance(layer.get("inbound_nodes"), list) else []
        rewritten, consts = [], []
        for node in nodes:
            refs, const, first = _rewrite_node(where, node)
            rewritten.append([[*r, {}] for r in refs])
            consts.append((copy.deepcopy(const), first))
        if any(c != consts[0] for c in consts):
            raise UnsupportedLayer(f"{where}: called with different constants")
        const, first = consts[0] if consts else (None, False)
        if const is not None and not np.all(np.isfinite(np.asarray(const, dtype=np.float64))):
            raise UnsupportedLayer(f"{where}: a constant that is not a finite number")
        layer["inbound_nodes"] = rewritten
        layer["config"] = {"name": cfg.get("name", layer.get("name")), "trainable": cfg.get("trainable", True),
                           "dtype": cfg.get("dtype", "float32") if isinstance(cfg.get("dtype"), str) else "float32",
                           "function": fn, "constant": const, "constant_first": first}
        found = True
    return found


_CLASS = None


def keras_class(keras):
    """This module's Keras 3 layer, named TFOpLambda, for custom_objects."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    ops = keras.ops
    impl = {
        "add": ops.add, "subtract": ops.subtract, "multiply": ops.multiply, "divide": ops.divide,
        "maximum": ops.maximum, "minimum": ops.minimum,
        "squared_difference": lambda a, b: ops.square(ops.subtract(a, b)),
    }

    class TFOpLambda(keras.layers.Layer):
        def __init__(self, function, constant=None, constant_first=False, **kwargs):
            super().__init__(**kwargs)
            self.function, self.constant, self.constant_first = function, constant, bool(constant_first)

        def call(self, inputs):
            xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            if len(xs) == 1:
                c = ops.convert_to_tensor(np.asarray(self.constant, dtype=np.float32))
                xs = [c, xs[0]] if self.constant_first else [xs[0], c]
            return impl[FUNCTIONS[self.function]](xs[0], xs[1])

        def get_config(self):
            return {**super().get_config(), "function": self.function, "constant": self.constant,
                    "constant_first": self.constant_first}

    _CLASS = TFOpLambda
    return _CLASS


@dataclass(kw_only=True)
class ScalarFunction(Elementwise):
    """f(x, c) or f(c, x) for a scalar constant c: a 256-entry table."""

    op: str
    constant: float
    constant_first: bool = False

    def float_fn(self, x):
        c = np.float64(np.float32(self.constant))
        return FLOAT[self.op](c, x) if self.constant_first else FLOAT[self.op](x, c)


@keras_layer("TFOpLambda")
def from_keras(layer, cx):
    op = FUNCTIONS.get(getattr(layer, "function", None))
    if op is None:
        cx.unsupported(f"TensorFlow function {getattr(layer, 'function', '?')!r}")
    if len(cx.inputs) == 1:
        c = np.asarray(layer.constant, dtype=np.float64)
        if c.size != 1:
            cx.unsupported(f"a constant operand of shape {c.shape} (scalars and second tensors are supported)")
        value = float(c.reshape(-1)[0])
        text = f"{value:g} {op} x" if layer.constant_first else f"x {op} {value:g}"
        cx.add(ScalarFunction(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], fn=text, op=op,
                              constant=value, constant_first=bool(layer.constant_first)))
        return
    if op == "divide":
        cx.unsupported("division of two tensors")
    make = {
        "add": lambda name, ins, last: Add(name=name, inputs=ins, outputs=[]),
        "subtract": lambda name, ins, last: Binary(name=name, inputs=ins, outputs=[], fn="sub"),
        "multiply": lambda name, ins, last: Binary(name=name, inputs=ins, outputs=[], fn="mul"),
        "squared_difference": lambda name, ins, last: Binary(name=name, inputs=ins, outputs=[],
                                                             fn="squared_difference"),
    }.get(op)
    if make is None:
        keras_minmax(cx, op)
        return
    merge_chain(cx, make)
