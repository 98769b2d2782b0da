"""Every converted op's output shape against the one it computes from its
inputs, kernel, strides and padding (both front ends: the shape a .tflite
file or a Keras model records must be the one the kernels loop over)."""
from __future__ import annotations

import numpy as np

from .errors import McugenError
from .ir import Graph
from .limits import shown


def check_op_shapes(g: Graph, op) -> None:
    """The output shape the file records for a converted op must be the one
    the op computes from its input, kernel, strides and padding (the kernels
    loop over the output shape and index the input from it)."""
    from .ops.common import as_hwc
    from .ops.concat import Concat
    from .ops.conv2d import Conv2D
    from .ops.depthwise_conv2d import DepthwiseConv2D
    from .ops.pad import Pad
    from .ops.pool import Pool2D
    from .ops.reshape import Reshape

    out = g.shape(op.outputs[0])
    ins = [g.shape(t) for t in op.inputs]
    want = op.computed_shape(g)
    if want is not None:
        got = out
    elif isinstance(op, (Conv2D, DepthwiseConv2D, Pool2D)):
        ih, iw, ic = as_hwc(ins[0])
        w = None if isinstance(op, Pool2D) else (op.w_q if op.w_q is not None else op.weights)
        kh, kw = op.ksize if w is None else w.shape[:2]
        (pt, pb), (pl, pr) = op.pads
        oh = (ih + pt + pb - kh) // op.strides[0] + 1
        ow = (iw + pl + pr - kw) // op.strides[1] + 1
        if oh < 1 or ow < 1:
            raise McugenError(f"layer {shown(op.name)!r} ({op.kind}): a {kh}x{kw} window does not fit its "
                              f"{ih}x{iw} input")
        oc = ic if w is None else (w.shape[2] * w.shape[3] if w.ndim == 4 and isinstance(op, DepthwiseConv2D)
                                   else w.shape[-1])
        want, got = (oh, ow, oc), as_hwc(out) if len(out) in (1, 2, 3) else out
        if isinstance(op, DepthwiseConv2D) and oc % ic:
            raise McugenError(f"layer {shown(op.name)!r}: {oc} output channels for {ic} input channels")
    elif isinstance(op, Pad):
        ih, iw, ic = as_hwc(ins[0])
        (pt, pb), (pl, pr) = op.pads
        if min(pt, pb, pl, pr) < 0:
            raise McugenError(f"layer {shown(op.name)!r} (pad): negative padding {op.pads}")
        want, got = (ih + pt + pb, iw + pl + pr, ic), as_hwc(out) if len(out) in (1, 2, 3) else out
    elif isinstance(op, Concat):
        if not 0 <= op.axis < len(out) or any(len(s) != len(out) for s in ins):
            raise McugenError(f"layer {shown(op.name)!r} (concat): axis {op.axis} for inputs {ins}, output {out}")
        want = list(out)
        want[op.axis] = sum(s[op.axis] for s in ins)
        want, got = tuple(want), out
        if any(tuple(s[: op.axis]) + tuple(s[op.axis + 1:]) != tuple(out[: op.axis]) + tuple(out[op.axis + 1:])
               for s in ins):
            raise McugenError(f"layer {shown(op.name)!r} (concat): inputs {ins} do not concatenate to {out}")
    elif isinstance(op, Reshape):
        want, got = g.tensors[op.inputs[0]].size, g.tensors[op.outputs[0]].size
    elif op.kind in ("lut", "elementwise", "softmax", "add", "const_binary"):
        want, got = ins[0], out
        if any(s != ins[0] for s in ins):
            raise McugenError(f"layer {shown(op.name)!r} ({op.kind}): inputs of shapes {ins}")
    elif op.kind == "reduce":
        outer, _, inner = op._split(g)
        want, got = outer * inner, g.tensors[op.outputs[0]].size
    if want is not None and tuple(np.atleast_1d(want)) != tuple(np.atleast_1d(got)):
        raise McugenError(f"layer {shown(op.name)!r} ({op.kind}): the file records output shape {out}, "
                          f"the op computes {want} from input {ins[0] if ins else '?'}")
