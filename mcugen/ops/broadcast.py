"""Broadcasting of two run-time tensors, shared by the binary ops (ADD, MUL,
SUB, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM).

NumPy's (and TFLite's) rule: shapes aligned on the right, a dimension of 1
stretched to the other's extent. Broadcasting only decides which input
element each output element reads; TFLM's broadcast kernels
(``BroadcastMul4DSlow``, ``BroadcastQuantSubSlow``, ...) compute every element
with the arithmetic of their same-shape kernels, so the numpy references
broadcast with numpy and compute per element as without broadcasting.

In C, the output is walked in order over the shape *compressed*: dimensions
of extent 1 dropped, neighbours where each input either advances or stays
merged. What is left is at most four dimensions (the rank of TFLite's 4-D
kernels): up to three outer loops in the invoke function around one call of
the op's kernel on a run of the innermost dimension, in which each input
steps by 1 or 0 (a broadcast value). Leading 1s of a shape never change the
result, so the batch dimension dropped from IR shapes does not matter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LOOPS = 3  # outer loops around a run: four compressed dimensions


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """The broadcast shape of a and b, or None when they do not broadcast."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        return None


def strip_ones(shape) -> tuple[int, ...]:
    s = list(shape)
    while s and s[0] == 1:
        s.pop(0)
    return tuple(s)


def output_shape(shapes: list[tuple[int, ...]], recorded: tuple[int, ...]) -> tuple[int, ...] | None:
    """The output shape an element-wise op computes from its input shapes,
    written with the recorded output's rank when the two differ only in
    leading 1s (which change nothing); None when the inputs do not broadcast."""
    out = shapes[0]
    for s in shapes[1:]:
        out = broadcast_shape(out, s)
        if out is None:
            return None
    return tuple(recorded) if strip_ones(out) == strip_ones(recorded) else out


def align(x: np.ndarray, rank: int) -> np.ndarray:
    """A batch (N, *shape) with 1s inserted after N up to ``rank`` dimensions
    besides the batch: numpy then broadcasts it as the IR shapes broadcast."""
    return x.reshape((x.shape[0],) + (1,) * (rank - (x.ndim - 1)) + x.shape[1:])


def pair(xs: list[np.ndarray], out_rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs of a batch, aligned for numpy's broadcasting."""
    return align(xs[0], out_rank), align(xs[1], out_rank)


@dataclass
class Walk:
    """The compressed output walk: dims[i] extents (outermost first) and the
    element strides of a, b and the output along each (0 for a broadcast
    input). The last dimension is the run the kernel is called on."""

    dims: list[int]
    a_strides: list[int]
    b_strides: list[int]
    out_strides: list[int]


def walk(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> Walk:
    rank = max(len(out), len(a), len(b))
    pa, pb, po = ((1,) * (rank - len(s)) + tuple(s) for s in (a, b, out))
    dims: list[list] = []  # [extent, a advances, b advances]
    for o, da, db in zip(po, pa, pb):
        if o == 1:
            continue
        key = (da != 1, db != 1)
        if dims and (dims[-1][1], dims[-1][2]) == key:
            dims[-1][0] *= o
        else:
            dims.append([o, *key])
    if not dims:
        dims = [[1, True, True]]
    ext = [d[0] for d in dims]

    def strides(mask):
        st, step = [], 1
        for e, m in zip(reversed(ext), reversed(mask)):
            st.append(step if m else 0)
            step *= e if m else 1
        return st[::-1]

    return Walk(ext, strides([d[1] for d in dims]), strides([d[2] for d in dims]), strides([True] * len(dims)))


def c_broadcast(a_expr: str, b_expr: str, out_expr: str, w: Walk, call) -> str:
    """The C statement running ``call(a, b, out, n, a_step, b_step)`` (which
    returns one kernel call without its ';') over the walk."""
    outer = len(w.dims) - 1
    n = w.dims[-1]
    a_step, b_step = int(w.a_strides[-1] != 0), int(w.b_strides[-1] != 0)
    if outer == 0:
        return call(a_expr, b_expr, out_expr, n, a_step, b_step) + ";"

    def offset(base, strides):
        terms = [f"i{k} * {s}" for k, s in enumerate(strides[:outer]) if s]
        return f"{base} + {' + '.join(terms)}" if terms else base

    loops = " ".join(f"for (i{k} = 0; i{k} < {w.dims[k]}; ++i{k})" for k in range(outer))
    body = call(offset(a_expr, w.a_strides), offset(b_expr, w.b_strides), offset(out_expr, w.out_strides),
                n, a_step, b_step)
    names = ", ".join(f"i{k}" for k in range(outer))
    return f"{{\n        mcg_idx_t {names};\n        {loops} {{\n            {body};\n        }}\n    }}"


def check_pair(cx, a: str, b: str, out: str | None = None) -> tuple[int, ...]:
    """The broadcast shape of tensors a and b of a converter's graph; refuses
    (``cx.unsupported``) shapes that do not broadcast, or whose walk needs
    more dimensions than the kernels' (four, as TFLite's 4-D kernels)."""
    sa, sb = cx.g.shape(a), cx.g.shape(b)
    shape = broadcast_shape(sa, sb)
    if shape is None:
        cx.unsupported(f"inputs of shapes {sa} and {sb} (they do not broadcast)")
    w = walk(sa, sb, shape if out is None else cx.g.shape(out))
    if len(w.dims) > MAX_LOOPS + 1:
        cx.unsupported(f"broadcasting {sa} with {sb} over {len(w.dims)} alternating dimensions "
                       f"(at most {MAX_LOOPS + 1})")
    return shape
