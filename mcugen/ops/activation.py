"""Keras activations: layers (Activation, ReLU, LeakyReLU, Softmax) and the
``activation=`` argument of other layers, mapped onto Elementwise or Softmax
ops. ReLU/ReLU6 right after a conv/dense/add later fuse into its clamp
(``mcugen/passes.py``). Inference no-ops (Dropout, ...) are aliases."""
from __future__ import annotations

from . import keras_layer
from .elementwise import ALIASES, SUPPORTED, Elementwise

NO_OPS = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianDropout",
    "GaussianNoise",
    "AlphaDropout",
    "ActivityRegularization",
)


def keras_activation(cx, cfg) -> str:
    """The name of a layer's ``activation=`` argument ("linear" when absent)."""
    act = cfg.get("activation", "linear")
    if isinstance(act, dict):  # a serialized function
        act = act.get("config", act.get("class_name", "?"))
        act = act if isinstance(act, str) else "?"
    return act or "linear"


def make_activation_op(cx, act: str, src: str, dst: str, name: str):
    """An op computing ``act`` from tensor src into tensor dst."""
    from .softmax import Softmax

    act = ALIASES.get(act, act)
    if act == "softmax":
        return Softmax(name=name, inputs=[src], outputs=[dst])
    if act == "relu6":
        return Elementwise(name=name, inputs=[src], outputs=[dst], fn="relu", max_value=6.0)
    if act == "leaky_relu":
        return Elementwise(name=name, inputs=[src], outputs=[dst], fn="leaky_relu", alpha=0.2)
    if act in SUPPORTED:
        return Elementwise(name=name, inputs=[src], outputs=[dst], fn=act, alpha=1.0 if act == "elu" else 0.0)
    cx.unsupported(f"activation {act!r} (supported: linear, softmax, {', '.join(SUPPORTED)})")


def add_with_activation(cx, op, act: str) -> None:
    """Add ``op`` writing the layer's output, through ``act`` if not linear."""
    if act == "linear":
        op.outputs = [cx.output]
        cx.add(op)
        return
    mid = cx.tmp(cx.g.shape(cx.output), "pre_act")
    op.outputs = [mid]
    cx.add(op)
    cx.add(make_activation_op(cx, act, mid, cx.output, f"{cx.name}_{act}"))


@keras_layer("Activation")
def activation_from_keras(layer, cx):
    act = keras_activation(cx, layer.get_config())
    if act == "linear":
        cx.alias()
        return
    cx.add(make_activation_op(cx, act, cx.inputs[0], cx.output, cx.name))


@keras_layer("ReLU")
def relu_from_keras(layer, cx):
    cfg = layer.get_config()
    max_value = cfg.get("max_value")
    op = Elementwise(
        name=cx.name,
        inputs=[cx.inputs[0]],
        outputs=[cx.output],
        fn="relu",
        alpha=float(cfg.get("negative_slope", 0.0) or 0.0),
        max_value=None if max_value is None else float(max_value),
        threshold=float(cfg.get("threshold", 0.0) or 0.0),
    )
    cx.add(op)


@keras_layer("LeakyReLU")
def leaky_relu_from_keras(layer, cx):
    cfg = layer.get_config()
    alpha = cfg.get("negative_slope", cfg.get("alpha", 0.3))
    cx.add(Elementwise(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], fn="leaky_relu", alpha=float(alpha)))


@keras_layer("ELU")
def elu_from_keras(layer, cx):
    alpha = float(layer.get_config().get("alpha", 1.0))
    cx.add(Elementwise(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output], fn="elu", alpha=alpha))


@keras_layer("Softmax")
def softmax_from_keras(layer, cx):
    from .softmax import Softmax

    axis = layer.get_config().get("axis", -1)
    rank = len(cx.g.shape(cx.output)) + 1
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis not in (-1, rank - 1):
        cx.unsupported(f"axis={axis} (only the last axis is supported)")
    cx.add(Softmax(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output]))


@keras_layer(*NO_OPS)
def no_op_from_keras(layer, cx):
    cx.alias()
