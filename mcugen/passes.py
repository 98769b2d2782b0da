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
from .ops.transpose_conv import TransposeConv2D


def _sole_consumer(g: Graph, tensor: str, op) -> bool:
    return tensor not in g.outputs and g.consumers(tensor) == [op]


def fold_batchnorm(g: Graph) -> None:
    for bn in [op for op in g.ops if isinstance(op, BatchNorm)]:
        p = g.producer(bn.inputs[0])
        if type(p) not in (Conv2D, DepthwiseConv2D, Dense, TransposeConv2D) or p.activation or p.w_q is not None:
            continue
        if not _sole_consumer(g, bn.inputs[0], bn):
            continue
        a, b = bn.scale, bn.bias
        w = p.weights.astype(np.float64)
        if isinstance(p, DepthwiseConv2D):
            p.weights = w * a.reshape(w.shape[2], w.shape[3])
        elif isinstance(p, TransposeConv2D):
            p.weights = w * a.reshape(-1, 1, 1, 1)  # output channels first
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


def fold_space_to_batch(g: Graph) -> None:
    """SPACE_TO_BATCH_ND -> [views] -> CONV_2D / DEPTHWISE_CONV_2D (stride 1,
    no dilation) -> [views] -> BATCH_TO_SPACE_ND, which TFLiteConverter emits
    for a dilated convolution, becomes that one dilated convolution of the
    SPACE_TO_BATCH_ND input (run on a .tflite graph after loading, before
    quantization). With block b, paddings p (before) and crops c (before) and
    the inner convolution's own padding q (before), output row Y of the
    pattern is inner row (Y + c) // b of image (Y + c) % b, whose taps read
    padded row (Y + c - q * b) + k * b, i.e. input row Y - (p + q * b - c) + k * b:
    a convolution dilated by b whose padding before is p + q * b - c. Every
    tap outside the input holds the zero point in both (SPACE_TO_BATCH_ND
    pads with it, the convolution pads with it), so the integer sums are the
    same. A zero padding feeding SPACE_TO_BATCH_ND alone (a causal Conv1D's
    PAD) joins the padding before. The intermediate tensors vanish. Anything
    else with these ops is refused."""
    from .errors import UnsupportedLayer
    from .ops.common import as_hwc
    from .ops.pad import Pad
    from .ops.reshape import Reshape
    from .ops.space_batch import PATTERN, SpaceBatch

    def through_views(tensor: str, op) -> tuple[object, list]:
        """The op writing ``tensor`` behind views that keep its (H, W, C)
        layout, each the sole reader of its input; and those views."""
        views = []
        p = g.producer(tensor)
        while isinstance(p, Reshape) and _sole_consumer(g, tensor, op) \
                and as_hwc(g.shape(p.inputs[0])) == as_hwc(g.shape(tensor)):
            views.append(p)
            op, tensor = p, p.inputs[0]
            p = g.producer(tensor)
        return (p if _sole_consumer(g, tensor, op) else None), views

    for b2s in [op for op in g.ops if isinstance(op, SpaceBatch) and op.opname == "BATCH_TO_SPACE_ND"]:
        conv, views_after = through_views(b2s.inputs[0], b2s)
        s2b, views = (None, []) if conv is None else through_views(conv.inputs[0], conv)
        if not (type(conv) in (Conv2D, DepthwiseConv2D) and isinstance(s2b, SpaceBatch)
                and s2b.opname == "SPACE_TO_BATCH_ND" and s2b.block == b2s.block
                and tuple(conv.strides) == (1, 1) and not conv.dilated):
            raise UnsupportedLayer(f"layer {b2s.name!r}: BATCH_TO_SPACE_ND is supported only in the pattern {PATTERN}")
        block, k = s2b.block, conv.ksize
        # A zero padding right before (a causal Conv1D's) pads the same way.
        pad = g.producer(s2b.inputs[0])
        pad = pad if isinstance(pad, Pad) and _sole_consumer(g, s2b.inputs[0], s2b) else None
        src = pad.inputs[0] if pad else s2b.inputs[0]
        ih, iw, _ = as_hwc(g.shape(src))
        oh, ow, _ = as_hwc(g.shape(b2s.outputs[0]))
        pads = []
        for axis, (size, out) in enumerate(((ih, oh), (iw, ow))):
            before = (pad.pads[axis][0] if pad else 0) + s2b.pads[axis][0] + conv.pads[axis][0] * block[axis] \
                - b2s.pads[axis][0]
            after = (out - 1) + (k[axis] - 1) * block[axis] + 1 - size - before
            if before < 0 or after < 0:
                raise UnsupportedLayer(f"layer {conv.name!r}: the {PATTERN} with block {block}, paddings "
                                       f"{s2b.pads} and crops {b2s.pads} is not a dilated convolution mcugen runs")
            pads.append((before, after))
        conv.inputs = [src]
        conv.outputs = list(b2s.outputs)
        conv.dilation = tuple(block)
        conv.tflite_pattern = f"SPACE_TO_BATCH_ND/{'CONV_2D' if type(conv) is Conv2D else 'DEPTHWISE_CONV_2D'}" \
            "/BATCH_TO_SPACE_ND"
        conv.pads = tuple(pads)
        conv.computed_shape(g)  # the window fits: raises naming the layer if not
        for op in [s2b, b2s] + views + views_after + ([pad] if pad else []):
            g.ops.remove(op)
    left = [op for op in g.ops if isinstance(op, SpaceBatch)]
    if left:
        left[0].unfolded()
    g.prune()
