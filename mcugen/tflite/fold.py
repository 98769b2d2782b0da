"""The int32 shape arithmetic TFLiteConverter emits for Flatten and for Dense
on a rank-3 input (SHAPE, STRIDED_SLICE, PACK, GATHER, REDUCE_PROD, int32
CONCATENATION and RESHAPE feeding RESHAPE), evaluated at build time: it becomes constants
(and fixes the shapes the file leaves dynamic), never C."""
from __future__ import annotations

import numpy as np

from ..errors import McugenError, UnsupportedLayer

# Ops evaluated at build time (int32 shape arithmetic on constants).
FOLDED_OPS = ("SHAPE", "STRIDED_SLICE", "PACK", "GATHER", "REDUCE_PROD")


def is_shape_op(f, op, name: str) -> bool:
    """Int32 arithmetic on shapes (folded), not a layer of the model: the
    same ops on int8 tensors are layers (converted, or refused as such)."""
    if name not in FOLDED_OPS + ("CONCATENATION", "RESHAPE"):
        return False
    outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
    return bool(outs) and f.type_name(f.tensors[outs[0]].type) in ("INT32", "INT64")


def fold(ld, k: int, op, name: str) -> None:
    """Operator k's output as a constant in ``ld.consts`` (``ld``: the loader,
    whose shapes include those worked out so far)."""
    ins = [int(i) for i in op.inputs]
    out = int(op.outputs[0])
    opts = op.builtinOptions
    if name == "SHAPE":
        ld.consts[out] = np.array(ld.full_shape(ins[0]), dtype=np.int32)
        return
    missing = [i for i in ins if i >= 0 and i not in ld.consts]
    if missing:
        raise UnsupportedLayer(
            f"{ld.where}: TFLite op #{k} {name}: unsupported on a run-time value "
            f"({ld.tensor_names[missing[0]]!r}); only shape arithmetic on constants is folded"
        )
    vals = [ld.consts[i] for i in ins]
    if name == "PACK":
        ld.consts[out] = np.stack([np.asarray(v) for v in vals], axis=int(opts.axis)).astype(vals[0].dtype)
    elif name == "STRIDED_SLICE":
        ld.consts[out] = strided_slice(vals[0], vals[1], vals[2], vals[3] if len(vals) > 3 else None, opts)
    elif name == "GATHER":
        axis = int(opts.axis) if opts is not None else 0
        ld.consts[out] = np.take(vals[0], np.asarray(vals[1], dtype=np.int64), axis=axis)
    elif name == "REDUCE_PROD":
        axes = tuple(int(a) for a in np.asarray(vals[1]).reshape(-1))
        keep = bool(opts.keepDims) if opts is not None else False
        ld.consts[out] = np.prod(vals[0], axis=axes, keepdims=keep).astype(vals[0].dtype)
    elif name == "CONCATENATION":
        ld.consts[out] = np.concatenate([np.atleast_1d(v) for v in vals], axis=int(opts.axis))
    elif name == "RESHAPE":  # a scalar made a vector on its way to a shape (Conv1DTranspose)
        ld.consts[out] = np.reshape(vals[0], ld.full_shape(out))
    if not ld.is_dynamic(out):  # a tensor stored without a shape field is a scalar
        want = tuple(int(d) for d in (ld.tensors[out].shape if ld.tensors[out].shape is not None else []))
        if tuple(np.shape(ld.consts[out])) != want and not (want == () and np.size(ld.consts[out]) == 1):
            raise McugenError(f"{ld.where}: op #{k} {name} folds to shape {np.shape(ld.consts[out])}, "
                              f"the file says {want}")


def strided_slice(x, begin, end, strides, opts) -> np.ndarray:
    """TFLite's STRIDED_SLICE on a small int32 constant (shape vectors)."""
    x = np.asarray(x)
    begin, end = np.asarray(begin).reshape(-1), np.asarray(end).reshape(-1)
    strides = np.ones_like(begin) if strides is None else np.asarray(strides).reshape(-1)
    if opts is not None and (opts.ellipsisMask or opts.newAxisMask):
        raise UnsupportedLayer("STRIDED_SLICE with ellipsis or new-axis masks")
    bm = int(opts.beginMask) if opts is not None else 0
    em = int(opts.endMask) if opts is not None else 0
    sm = int(opts.shrinkAxisMask) if opts is not None else 0
    index, squeeze = [], []
    for d in range(len(begin)):
        if sm >> d & 1:
            index.append(int(begin[d]))
            squeeze.append(d)
            continue
        b = None if bm >> d & 1 else int(begin[d])
        e = None if em >> d & 1 else int(end[d])
        index.append(slice(b, e, int(strides[d])))
    return np.asarray(x[tuple(index)])
