"""Graph passes on the float IR, before quantization:
fold BatchNormalization into the preceding Conv/Depthwise/Dense, then fuse
ReLU/ReLU6 into the preceding op's output clamp. (Dropout and other inference
no-ops never reach the IR, and SeparableConv2D arrives already split: see the
converters in mcugen/ops.)"""
from __future__ import annotations

import numpy as np

from .ir import Graph
from .ops.batchnorm import BatchNorm
from .ops.conv2d import Conv2D
from .ops.dense import Dense
from .ops.depthwise_conv2d import DepthwiseConv2D
from .ops.elementwise import Elementwise


def _sole_consumer(g: Graph, tensor: str, op) -> bool:
    return tensor not in g.outputs and g.consumers(tensor) == [op]


def fold_batchnorm(g: Graph) -> None:
    for bn in [op for op in g.ops if isinstance(op, BatchNorm)]:
        p = g.producer(bn.inputs[0])
        if type(p) not in (Conv2D, DepthwiseConv2D, Dense) or p.activation or p.w_q is not None:
            continue
        if not _sole_consumer(g, bn.inputs[0], bn):
            continue
        a, b = bn.scale, bn.bias
        w = p.weights.astype(np.float64)
        if isinstance(p, DepthwiseConv2D):
            p.weights = w * a.reshape(w.shape[2], w.shape[3])
        else:
            p.weights = w * a  # output channels are the last axis
        p.bias = (np.zeros_like(a) if p.bias is None else p.bias.astype(np.float64)) * a + b
        p.outputs = list(bn.outputs)
        g.ops.remove(bn)
    g.prune()


def fuse_activations(g: Graph) -> None:
    for act in [op for op in g.ops if isinstance(op, Elementwise)]:
        kind = act.fused_activation()
        p = g.producer(act.inputs[0])
        if kind is None or p is None or not p.fusable or p.activation is not None:
            continue
        if not _sole_consumer(g, act.inputs[0], act):
            continue
        p.activation = kind
        p.outputs = list(act.outputs)
        g.ops.remove(act)
    g.prune()


def optimize(g: Graph) -> Graph:
    fold_batchnorm(g)
    fuse_activations(g)
    return g
