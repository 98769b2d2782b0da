"""Slices of a run-time tensor: TFLite's SLICE, STRIDED_SLICE, SPLIT, SPLIT_V
and UNPACK, Keras' Cropping1D/2D.

Each is a strided byte copy (TFLM copies int8 bytes; the converter gives the
outputs the input's scale and zero point): output element (i0, .., ik) is
input element (b0 + i0*s0, .., bk + ik*sk). The kernel is Transpose's
strided gather (``templates/kernels/transpose.c.j2``) started at the first
element, with each axis' input stride times its step (negative for a
reversed STRIDED_SLICE); axes of one element drop out and axes contiguous
in the input merge (while the count fits the kernel's int16), so up to five
remain. SPLIT, SPLIT_V and UNPACK have one output per piece: each piece is
its own IR op. A slice whose bytes are one contiguous run of the input (a
piece along the first axis longer than one, which is every piece of a
batch-1 split or unpack: an unrolled RNN's steps and gates) copies nothing:
it is a view of the input from its first byte (``SliceView``, planned by
``mcugen/planner.py``), as Reshape is.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from ..ir import Op
from ..limits import MAX_DIM
from . import keras_layer, tflite_op
from .transpose import MAX_AXES


def ir_shape(full: tuple[int, ...]) -> tuple[int, ...]:
    """A shape with its batch axis (the leading 1, as the loader drops it)."""
    full = tuple(int(d) for d in full)
    return full[1:] if full and full[0] == 1 else full


@dataclass(kw_only=True)
class Slice(Op):
    kind: ClassVar[str] = "slice"
    kernel: ClassVar[str] = "transpose"
    shares_qparams: ClassVar[bool] = True

    full_in: tuple[int, ...]  # the input's shape as indexed (batch axis included)
    begin: tuple[int, ...]  # first index along each axis
    step: tuple[int, ...]  # step along each axis (non-zero, may be negative)
    size: tuple[int, ...]  # elements taken along each axis (>= 1)
    keep: tuple[bool, ...]  # False: the axis is dropped from the output (shrink, unpack)

    def full_out(self) -> tuple[int, ...]:
        return tuple(n for n, k in zip(self.size, self.keep) if k)

    def computed_shape(self, g):
        return ir_shape(self.full_out())

    def _take(self, g, x):
        n = x.shape[0]
        x = x.reshape((n,) + self.full_in)
        index = np.ix_(*[b + s * np.arange(k) for b, s, k in zip(self.begin, self.step, self.size)])
        return x[(slice(None),) + index].reshape((n,) + g.shape(self.outputs[0]))

    def forward_float(self, g, xs):
        return self._take(g, xs[0].astype(np.float64))

    def forward_int(self, g, xs):
        return self._take(g, xs[0])

    def loops(self) -> tuple[int, list[tuple[int, int]]]:
        """(offset of the first element, [(count, input step)] outer to inner):
        axes of one element dropped, axes contiguous in the input merged."""
        strides = [int(np.prod(self.full_in[k + 1 :], dtype=np.int64)) for k in range(len(self.full_in))]
        offset = sum(b * st for b, st in zip(self.begin, strides))
        loops: list[tuple[int, int]] = []
        for n, s, st in zip(self.size, self.step, strides):
            if n == 1:
                continue
            if loops and loops[-1][1] == n * s * st and loops[-1][0] * n <= MAX_DIM:  # counts are int16
                loops[-1] = (loops[-1][0] * n, s * st)
            else:
                loops.append((n, s * st))
        return offset, loops

    def is_contiguous(self) -> bool:
        loops = self.loops()[1]
        return len(loops) == 0 or (len(loops) == 1 and loops[0][1] == 1)

    def c_call(self, g, c):
        offset, loops = self.loops()
        loops = [(1, 0)] * (MAX_AXES - len(loops)) + loops
        src = c.tensor(self.inputs[0]) + (f" + {offset}" if offset else "")
        return (f"mcg_transpose_s8({src}, {c.tensor(self.outputs[0])}, {', '.join(str(n) for n, _ in loops)}, "
                f"{', '.join(str(s) for _, s in loops)});")

    def describe(self):
        parts = [f"{b}:{b + s * n}" + (f":{s}" if s != 1 else "") if k else f"{b}"
                 for b, s, n, k in zip(self.begin, self.step, self.size, self.keep)]
        return "[" + ", ".join(parts) + "]"


@dataclass(kw_only=True)
class SliceView(Slice):
    """A slice whose bytes are contiguous in the input: no code, the output
    is the input's bytes from ``view_offset``."""

    kernel: ClassVar[str | None] = None
    is_view: ClassVar[bool] = True

    @property
    def view_offset(self) -> int:
        return self.loops()[0]

    def c_call(self, g, c):
        return ""

    def describe(self):
        return f"view {super().describe()}"


def add_slice(cx, src: str, dst: str, name: str, full_in, begin, step, size, keep=None) -> None:
    """Add the op copying ``src[begin : begin + step*size : step]`` to ``dst``
    (a view when its bytes are contiguous), refusing what the kernel cannot loop."""
    keep = tuple(keep) if keep is not None else (True,) * len(full_in)
    op = Slice(name=name, inputs=[src], outputs=[dst], full_in=tuple(int(d) for d in full_in),
               begin=tuple(int(b) for b in begin), step=tuple(int(s) for s in step),
               size=tuple(int(n) for n in size), keep=keep)
    if any(n < 1 for n in op.size):
        cx.unsupported(f"an empty slice (sizes {list(op.size)})")
    if len(op.loops()[1]) > MAX_AXES:
        cx.unsupported(f"a slice strided along {len(op.loops()[1])} axes (at most {MAX_AXES})")
    if op.is_contiguous():
        op = SliceView(**{f.name: getattr(op, f.name) for f in fields(op)})
    cx.add(op)


def _same_q(cx, src: str, outs: list[str]) -> None:
    qi = cx.g.q(src)
    for o in outs:
        qo = cx.g.q(o)
        if qi.zero_point != qo.zero_point or np.float32(qi.scale) != np.float32(qo.scale):
            cx.unsupported("different input and output quantization")


def _axis(cx, value, rank: int) -> int:
    axis = int(np.asarray(value).reshape(-1)[0])
    if not -rank <= axis < rank:
        cx.unsupported(f"axis {axis} for a tensor of rank {rank}")
    return axis % rank


def _pieces(cx, src: str, full, axis: int, sizes: list[int], keep_axis: bool) -> None:
    """One IR op per output: the consecutive pieces ``sizes`` along ``axis``."""
    outs = cx.outputs
    if len(outs) != len(sizes) or sum(sizes) != full[axis] or min(sizes) < 1:
        cx.unsupported(f"splitting {full[axis]} along axis {axis} into {sizes} ({len(outs)} outputs)")
    _same_q(cx, src, outs)
    start = 0
    for k, (dst, n) in enumerate(zip(outs, sizes)):
        begin = [0] * len(full)
        begin[axis] = start
        size = list(full)
        size[axis] = n
        keep = [True] * len(full)
        keep[axis] = keep_axis
        add_slice(cx, src, dst, cx.name if k == 0 else f"{cx.name}:{k}", full, begin, [1] * len(full), size, keep)
        start += n


@tflite_op("SPLIT", options="SplitOptions")
def split_from_tflite(cx):
    """SPLIT(axis, input): equal pieces, one per output."""
    src, full = cx.input(1), cx.tshape(1)
    axis = _axis(cx, cx.const(0), len(full))
    n = len(cx.outputs)
    if cx.options is not None and int(cx.options.numSplits or n) != n:
        cx.unsupported(f"num_splits {cx.options.numSplits} with {n} outputs")
    if full[axis] % n:
        cx.unsupported(f"splitting {full[axis]} into {n} equal pieces")
    _pieces(cx, src, full, axis, [full[axis] // n] * n, True)


@tflite_op("SPLIT_V", options="SplitVOptions")
def split_v_from_tflite(cx):
    """SPLIT_V(input, size_splits, axis): pieces of the given sizes (one -1
    takes what the others leave)."""
    src, full = cx.input(0), cx.tshape(0)
    axis = _axis(cx, cx.const(2), len(full))
    sizes = [int(v) for v in np.asarray(cx.const(1)).reshape(-1)]
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = full[axis] - (sum(sizes) + 1)
    _pieces(cx, src, full, axis, sizes, True)


@tflite_op("UNPACK", options="UnpackOptions", options_required=True)
def unpack_from_tflite(cx):
    """UNPACK: every index along the axis, the axis dropped."""
    src, full = cx.input(0), cx.tshape(0)
    axis = _axis(cx, cx.options.axis or 0, len(full))
    if int(cx.options.num or 0) not in (0, full[axis]):
        cx.unsupported(f"num {cx.options.num} along an axis of {full[axis]}")
    _pieces(cx, src, full, axis, [1] * full[axis], False)


@tflite_op("SLICE", options="SliceOptions")
def slice_from_tflite(cx):
    """SLICE(input, begin, size): size -1 takes the rest of the axis."""
    src, full = cx.input(0), cx.tshape(0)
    begin = [int(v) for v in np.asarray(cx.const(1)).reshape(-1)]
    size = [int(v) for v in np.asarray(cx.const(2)).reshape(-1)]
    if len(begin) != len(full) or len(size) != len(full):
        cx.unsupported(f"begin {begin} and size {size} for a tensor of shape {tuple(full)}")
    size = [d - b if n == -1 else n for b, n, d in zip(begin, size, full)]
    if any(b < 0 or n < 1 or b + n > d for b, n, d in zip(begin, size, full)):
        cx.unsupported(f"begin {begin} and size {size} outside shape {tuple(full)}")
    _same_q(cx, src, [cx.output])
    cx.set_output_shape(size)
    add_slice(cx, src, cx.output, cx.name, full, begin, [1] * len(full), size)


def strided_slice_params(full, begin, end, strides, begin_mask, end_mask, shrink_mask):
    """(start, step, count, kept) per axis, as TFLM's reference StridedSlice
    computes them (strided_slice_logic.h: StridedSliceStartForAxis /
    StridedSliceEndForAxis clamp the index first, then apply the masks; its
    Prepare's count is ceil((end - start) / step), at least 0)."""
    out = []
    for d in range(len(full)):
        n, s = int(full[d]), int(strides[d])
        start = int(begin[d]) + (n if begin[d] < 0 else 0)
        start = min(max(start, 0), n) if s > 0 else min(max(start, -1), n - 1)
        if begin_mask >> d & 1:
            start = 0 if s > 0 else n - 1
        shrink = bool(shrink_mask >> d & 1)
        if shrink:
            stop = start if start >= n else start + 1
        else:
            stop = int(end[d])
            stop += n if stop < 0 else 0
            stop = min(max(stop, 0), n) if s > 0 else min(max(stop, -1), n - 1)
            if end_mask >> d & 1:
                stop = n if s > 0 else -1
        count = max(0, -(-(stop - start) // s))
        out.append((start, s, count, not shrink))
    return out


@tflite_op("STRIDED_SLICE", options="StridedSliceOptions")
def strided_slice_from_tflite(cx):
    """STRIDED_SLICE on a run-time int8 tensor (on int32 shape constants the
    loader folds it): begin / end / stride per axis with TFLite's begin, end
    and shrink-axis masks; steps may be negative."""
    src, full = cx.input(0), cx.tshape(0)
    begin = [int(v) for v in np.asarray(cx.const(1)).reshape(-1)]
    end = [int(v) for v in np.asarray(cx.const(2)).reshape(-1)]
    strides = [int(v) for v in np.asarray(cx.const(3)).reshape(-1)] if cx.n_inputs() > 3 and \
        cx.tensor_index(3) >= 0 else [1] * len(begin)
    o = cx.options
    if o is not None and (o.ellipsisMask or o.newAxisMask):
        cx.unsupported("ellipsis or new-axis masks")
    if o is not None and getattr(o, "offset", False):
        # TFLM's Prepare sizes the output without the offset, its Eval adds it.
        cx.unsupported("the offset flag")
    if not (len(begin) == len(end) == len(strides) == len(full)) or 0 in strides:
        # TFLM reads one index per input axis.
        cx.unsupported(f"begin {begin}, end {end}, strides {strides} for a tensor of shape {tuple(full)}")
    masks = [int(getattr(o, f) or 0) if o is not None else 0 for f in ("beginMask", "endMask", "shrinkAxisMask")]
    params = strided_slice_params(full, begin, end, strides, *masks)
    for (start, _, count, kept), n in zip(params, full):
        if not kept and not 0 <= start < n:
            cx.unsupported(f"index {start} on an axis of {n}")
    _same_q(cx, src, [cx.output])
    cx.set_output_shape([count for _, _, count, kept in params if kept])
    start, step, count, keep = zip(*params)
    add_slice(cx, src, cx.output, cx.name, full, start, step, count, keep)


@keras_layer("Cropping1D", "Cropping2D")
def from_keras(layer, cx):
    cfg = layer.get_config()
    if cfg.get("data_format", "channels_last") not in (None, "channels_last"):
        cx.unsupported("data_format='channels_first' (only channels_last is supported)")
    shape = cx.g.shape(cx.inputs[0])
    crop = cfg["cropping"]
    pairs = [tuple(crop)] if type(layer).__name__ == "Cropping1D" else [tuple(p) for p in crop]
    full = (1,) + tuple(shape)
    begin = [0] * len(full)
    size = list(full)
    for k, (a, b) in enumerate(pairs, start=1):
        begin[k], size[k] = int(a), full[k] - int(a) - int(b)
    add_slice(cx, cx.inputs[0], cx.output, cx.name, full, begin, [1] * len(full), size)


@keras_layer("GetItem")
def getitem_from_keras(layer, cx):
    """Indexing a Keras tensor (``x[:, 1:4, ::2]``, ``x[..., 0]``), which a
    functional model records as a GetItem operation: numpy's semantics
    (``slice.indices``), the batch axis taken whole."""
    node = next(n for n in layer._inbound_nodes if n.output_tensors and
                cx.g.shape(cx.output) == tuple(int(d) for d in n.output_tensors[0].shape[1:]))
    key = node.arguments.args[1] if len(node.arguments.args) > 1 else node.arguments.kwargs["key"]
    # A tuple key comes back from a saved model as a list (a list of ints,
    # numpy's fancy index, would not start with the batch axis' slice: refused).
    key = list(key) if isinstance(key, (tuple, list)) else [key]
    full = (1,) + tuple(cx.g.shape(cx.inputs[0]))
    if key.count(Ellipsis) > 1 or any(k is None for k in key):
        cx.unsupported(f"the index {key} (one Ellipsis at most, no new axes)")
    if Ellipsis in key:
        e = key.index(Ellipsis)
        key[e:e + 1] = [slice(None)] * (len(full) - len(key) + 1)
    key += [slice(None)] * (len(full) - len(key))
    if len(key) != len(full) or key[0] != slice(None):
        cx.unsupported(f"the index {key} for a tensor of rank {len(full)} (the batch axis must be taken whole)")
    begin, step, size, keep = [], [], [], []
    for k, n in zip(key, full):
        if isinstance(k, slice):
            start, stop, s = k.indices(n)
            begin.append(start), step.append(s), size.append(len(range(start, stop, s))), keep.append(True)
        else:
            i = int(k)
            if not -n <= i < n:
                cx.unsupported(f"index {i} on an axis of {n}")
            begin.append(i % n), step.append(1), size.append(1), keep.append(False)
    add_slice(cx, cx.inputs[0], cx.output, cx.name, full, begin, step, size, keep)
