"""SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND, as TFLiteConverter emits them
around a convolution to express its dilation:

    SPACE_TO_BATCH_ND -> [EXPAND_DIMS] -> CONV_2D / DEPTHWISE_CONV_2D -> [RESHAPE] -> BATCH_TO_SPACE_ND

(Keras Conv2D / DepthwiseConv2D / Conv1D with dilation_rate > 1, causal or
not). The two ops exist in the IR only between loading and
``mcugen.passes.fold_space_to_batch``, which turns the pattern back into one
dilated convolution; on their own they are refused. Their IR tensors hold
one of the block x block images of the "batch" (the file records them with a
batch of 1 and leaves the batch to run time), so the convolution between them
converts as it is. Both are "same scale" ops in TFLite (TFLM copies bytes and
pads with the output zero point), which the fold requires."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import UnsupportedLayer
from ..ir import Op
from . import tflite_op
from .common import as_hwc

PATTERN = ("SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND, the form TFLiteConverter gives "
           "a dilated convolution")


@dataclass(kw_only=True)
class SpaceBatch(Op):
    """One of the pair; ``pads`` are SPACE_TO_BATCH_ND's paddings or
    BATCH_TO_SPACE_ND's crops, as ((top, bottom), (left, right))."""

    kind: ClassVar[str] = "space_batch"
    shares_qparams: ClassVar[bool] = True

    opname: str  # "SPACE_TO_BATCH_ND" or "BATCH_TO_SPACE_ND"
    block: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]

    def computed_shape(self, g):
        h, w, c = as_hwc(g.shape(self.inputs[0]))
        (a, b), (l, r) = self.pads
        if self.opname == "SPACE_TO_BATCH_ND":
            if (h + a + b) % self.block[0] or (w + l + r) % self.block[1]:
                raise UnsupportedLayer(f"layer {self.name!r} ({self.opname}): padded {h + a + b}x{w + l + r} "
                                       f"is not a multiple of the block {self.block[0]}x{self.block[1]}")
            oh, ow = (h + a + b) // self.block[0], (w + l + r) // self.block[1]
        else:
            oh, ow = h * self.block[0] - a - b, w * self.block[1] - l - r
        out = g.shape(self.outputs[0])
        return (ow, c) if len(out) == 2 and oh == 1 else (oh, ow, c)

    def unfolded(self):
        raise UnsupportedLayer(f"layer {self.name!r}: {self.opname} is supported only in the pattern {PATTERN}")

    def forward_float(self, g, xs):
        self.unfolded()

    def forward_int(self, g, xs):
        self.unfolded()

    def c_call(self, g, c):
        self.unfolded()


@tflite_op("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND")
def from_tflite(cx):
    src, dst = cx.input(0), cx.output
    rank = len(cx.tshape(0))
    block = np.asarray(cx.const(1), dtype=np.int64).reshape(-1)
    pads = np.asarray(cx.const(2), dtype=np.int64).reshape(-1, 2)
    if rank not in (3, 4) or len(block) != rank - 2 or pads.shape != (rank - 2, 2):
        cx.unsupported(f"block {block.tolist()} and paddings {pads.tolist()} on an input of rank {rank}")
    if block.min() < 1 or pads.min() < 0:
        cx.unsupported(f"block {block.tolist()} and paddings {pads.tolist()}")
    batched = cx.loader.full_shape(int(cx.op.outputs[0]))[0] if cx.opname == "SPACE_TO_BATCH_ND" else cx.tshape(0)[0]
    if cx.tshape(0)[0] != 1 or batched != 1:
        cx.unsupported(f"a batch of {max(batched, cx.tshape(0)[0])} images: supported only in the pattern {PATTERN}, "
                       "its batch left to run time")
    qi, qo = cx.g.q(src), cx.g.q(dst)
    if qi.zero_point != qo.zero_point or np.float32(qi.scale) != np.float32(qo.scale):
        cx.unsupported("different input and output quantization")
    if rank == 3:  # (N, T, C): the time axis is the width of the (H, W, C) view
        hw_block, hw_pads = (1, int(block[0])), ((0, 0), tuple(int(v) for v in pads[0]))
    else:
        hw_block = (int(block[0]), int(block[1]))
        hw_pads = (tuple(int(v) for v in pads[0]), tuple(int(v) for v in pads[1]))
    cx.add(SpaceBatch(name=cx.name, inputs=[src], outputs=[dst], opname=cx.opname, block=hw_block, pads=hw_pads))
