"""Flatten and Reshape: views. In NHWC order they change no byte, so they emit
no code; the memory planner gives the output the input's bytes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import Op
from . import keras_layer, tflite_op


@dataclass(kw_only=True)
class Reshape(Op):
    kind: ClassVar[str] = "reshape"
    shares_qparams: ClassVar[bool] = True
    is_view: ClassVar[bool] = True

    def forward_float(self, g, xs):
        return xs[0].reshape((xs[0].shape[0],) + g.shape(self.outputs[0]))

    def forward_int(self, g, xs):
        return xs[0].reshape((xs[0].shape[0],) + g.shape(self.outputs[0]))

    def c_call(self, g, c):
        return ""

    def describe(self):
        return "view"


@keras_layer("Flatten", "Reshape")
def from_keras(layer, cx):
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        cx.unsupported("data_format='channels_first' (only channels_last is supported)")
    cx.add(Reshape(name=cx.name, inputs=[cx.inputs[0]], outputs=[cx.output]))


@tflite_op("RESHAPE", options="ReshapeOptions")
@tflite_op("EXPAND_DIMS", options="ExpandDimsOptions")
@tflite_op("SQUEEZE", options="SqueezeOptions")
def from_tflite(cx):
    """RESHAPE / EXPAND_DIMS / SQUEEZE: views (Conv1D arrives as EXPAND_DIMS,
    CONV_2D, RESHAPE). A RESHAPE's shape may come from folded shape
    arithmetic; it sets the output shape where the file leaves it dynamic and
    must agree with the file where the file fixes it."""
    src = cx.input(0)
    full_in = cx.tshape(0)
    total = int(np.prod(full_in, dtype=np.int64))
    new = None
    if cx.opname == "RESHAPE":
        if cx.n_inputs() > 1 and cx.tensor_index(1) >= 0:
            new = [int(v) for v in np.asarray(cx.const(1)).reshape(-1)]
        elif cx.options is not None and cx.options.newShape is not None and len(cx.options.newShape):
            new = [int(v) for v in cx.options.newShape]
        if new is not None and -1 in new:
            known = int(np.prod([v for v in new if v != -1], dtype=np.int64)) or 1
            new[new.index(-1)] = total // known
    elif cx.opname == "EXPAND_DIMS":
        axes = np.asarray(cx.const(1)).reshape(-1)
        if axes.size != 1:  # TFLM and LiteRT refuse it too (expand_dims.cc: NumElements(axis) == 1)
            cx.unsupported(f"an axis tensor of {axes.size} values (one expected)")
        axis = int(axes[0])
        if not -len(full_in) - 1 <= axis <= len(full_in):
            cx.unsupported(f"axis {axis} for a rank-{len(full_in)} input")
        axis = axis + len(full_in) + 1 if axis < 0 else axis
        new = list(full_in[:axis]) + [1] + list(full_in[axis:])
    else:
        dims = [int(d) % len(full_in) for d in (cx.options.squeezeDims if cx.options is not None and
                                                 cx.options.squeezeDims is not None else [])]
        new = [d for k, d in enumerate(full_in) if not (d == 1 and (k in dims or (not dims and k > 0)))]
    if new is not None:
        if int(np.prod(new, dtype=np.int64)) != total:
            cx.unsupported(f"reshaping {tuple(full_in)} to {tuple(new)}")
        cx.set_output_shape(new)
    dst = cx.output
    if cx.g.tensors[src].size != cx.g.tensors[dst].size:
        cx.unsupported(f"reshaping {cx.g.shape(src)} to {cx.g.shape(dst)}")
    q_in, q_out = cx.g.q(src), cx.g.q(dst)
    if q_in.zero_point != q_out.zero_point or np.float32(q_in.scale) != np.float32(q_out.scale):
        cx.unsupported("different input and output quantization")
    cx.add(Reshape(name=cx.name, inputs=[src], outputs=[dst]))
