"""What is checked in a ``.tflite`` file, in the order the loader asks:
the structure any reading needs (``check_structure``); that the model is
int8 (``check_int8``; unsupported ops are the loader's to name); then, for
the operators mcugen converts or folds only, their options, tensors and
quantization parameters, and the file's operator order (``check_ops``).

A check refuses only what would make the generated C wrong. What TFLite
ignores is ignored, and "corrupt" is said only of what no interpreter runs
(indices out of range, a cycle); a valid file mcugen cannot take is refused
as unsupported, naming the op or feature."""
from __future__ import annotations

import numpy as np

from ..errors import McugenError, UnsupportedLayer
from ..limits import MAX_DIM, MAX_TENSOR_BYTES
from ..ops import TFLITE_OPTIONS
from .reader import DTYPES, TFLiteFile, enum_names

# The options of ops that have no converter file (folded at build time, or
# dropped at the model's edge), as the registry's TFLITE_OPTIONS holds them
# for the others: (the BuiltinOptions table they carry, or None for any;
# whether it is read, so a file without it is refused).
OPTIONS = {
    "SHAPE": ("ShapeOptions", False), "STRIDED_SLICE": ("StridedSliceOptions", False),
    "PACK": ("PackOptions", True), "GATHER": ("GatherOptions", False), "REDUCE_PROD": ("ReducerOptions", False),
    "DEQUANTIZE": ("DequantizeOptions", False),
}


def check_structure(f: TFLiteFile) -> None:
    """What any reading of the file needs: indices of tensors, buffers and
    operator codes in range; shapes and sizes within what mcugen plans for.
    An empty dimension is allowed here (LSTM's optional intermediates are
    shaped (0,)); ``check_ops`` refuses one where an op would compute on it."""
    where = f.where
    buffers = f.model.buffers or []
    n_t = len(f.tensors)
    codes = f.model.operatorCodes or []
    for i, t in enumerate(f.tensors):
        what = f"tensor {f.tname(i)!r}"
        if t.buffer is None or not 0 <= int(t.buffer) < max(len(buffers), 1):
            f.corrupt(f"{what} refers to buffer {t.buffer} of {len(buffers)}")
        shape = [int(d) for d in (t.shape if t.shape is not None else [])]
        if len(shape) > 6:
            raise UnsupportedLayer(f"{where}: {what} has rank {len(shape)} (at most 6)")
        for d in shape:
            if d < 0:
                f.corrupt(f"{what} has dimension {d} in shape {tuple(shape)}")
            if d > MAX_DIM:
                raise UnsupportedLayer(f"{where}: {what}: dimension {d:,} in shape {tuple(shape)} is over "
                                       f"{MAX_DIM:,}, the largest the kernels represent (int16)")
        n = 1
        for d in shape:
            n *= d
        if n * np.dtype(DTYPES.get(f.type_name(t.type), np.int8)).itemsize > 4 * MAX_TENSOR_BYTES:
            raise UnsupportedLayer(f"{where}: {what} of shape {tuple(shape)} holds {n:,} values, "
                                   f"more than mcugen plans for")
    for k, op in enumerate(f.ops):
        if op.opcodeIndex is None or not 0 <= int(op.opcodeIndex) < len(codes):
            f.corrupt(f"operator #{k} uses operator code {op.opcodeIndex} of {len(codes)}")
        for kind, lst, lo in (("input", op.inputs, -1), ("output", op.outputs, 0)):
            for j in (list(lst) if lst is not None else []):
                if not lo <= int(j) < n_t:
                    f.corrupt(f"operator #{k} has {kind} tensor index {int(j)} ({n_t} tensors)")
        if op.outputs is None or not len(op.outputs):
            f.corrupt(f"operator #{k} has no output")
    for kind, lst in (("input", f.sg.inputs), ("output", f.sg.outputs)):
        for j in (list(lst) if lst is not None else []):
            if not 0 <= int(j) < n_t:
                f.corrupt(f"the model's {kind} is tensor index {int(j)} ({n_t} tensors)")


def check_ops(f: TFLiteFile, names: list[str], converted: list[int]) -> None:
    """For the operators mcugen converts or folds: options of their own type
    with sane values; the tensors they read and write not empty, with
    quantization parameters a kernel can use. Then the file's operator order
    (no cycle). What TFLite ignores is ignored: a bias's own scale and zero
    point (TFLM uses input scale x weight scale), options of another type on
    an op that can do without (TFLite reads them as absent)."""
    option_names = enum_names(f.S.BuiltinOptions)
    checked: set[int] = set()
    for k in converted:
        op, name = f.ops[k], names[k]
        want, required = TFLITE_OPTIONS.get(name, OPTIONS.get(name, (None, False)))
        have = option_names.get(int(op.builtinOptionsType or 0), "?")
        if want is not None and have not in ("NONE", want):
            if required:
                f.corrupt(f"operator #{k} {name} carries {have}, not {want}")
            op.builtinOptions, op.builtinOptionsType = None, 0
            have = "NONE"
        if required and (have == "NONE" or op.builtinOptions is None):
            f.corrupt(f"operator #{k} {name} has no {want}")
        _options(f, k, name, op)
        for i in [int(j) for j in (op.inputs if op.inputs is not None else [])] + [int(j) for j in op.outputs]:
            if i < 0 or i in checked:
                continue
            checked.add(i)
            t = f.tensors[i]
            shape = [int(d) for d in (t.shape if t.shape is not None else [])]
            if 0 in shape:
                raise UnsupportedLayer(f"{f.where}: TFLite op #{k} {name}: unsupported empty tensor "
                                       f"{f.tname(i)!r} (shape {tuple(shape)})")
            if f.type_name(t.type) == "INT8":  # int32 biases, shapes, axes: their scales are never read
                _quantization(f, i, t, shape)
    _order(f)


def _quantization(f: TFLiteFile, i: int, t, shape: list[int]) -> None:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return
    what = f"tensor {f.tname(i)!r}"
    tname = f.type_name(t.type)
    scales = np.asarray(q.scale, dtype=np.float64).reshape(-1)
    zps = np.asarray(q.zeroPoint if q.zeroPoint is not None else [], dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0) or np.any(np.float32(scales) <= 0) \
            or not np.all(np.isfinite(scales.astype(np.float32))):
        bad = scales[~(np.isfinite(scales) & (scales > 0))]
        raise McugenError(f"{f.where}: {what} has scale {float(bad[0]) if bad.size else float(scales[0])!r} "
                          "(scales must be finite, positive float32 values)")
    if np.any(scales < 1e-30) or np.any(scales > 1e30):
        raise McugenError(f"{f.where}: {what} has scale {float(scales[(scales < 1e-30) | (scales > 1e30)][0])!r}"
                          " (outside [1e-30, 1e30])")
    if zps.size not in (0, 1, scales.size):
        f.corrupt(f"{what} has {scales.size} scales and {zps.size} zero points")
    if scales.size > 1:  # TFLM's kernels check this too (an int32 bias's is never read: not checked)
        qdim = int(q.quantizedDimension or 0)
        if not 0 <= qdim < len(shape) or shape[qdim] != scales.size:
            f.corrupt(f"{what} of shape {tuple(shape)} has {scales.size} scales along axis {qdim}")
    if tname == "INT8" and zps.size and (zps.min() < -128 or zps.max() > 127):
        raise McugenError(f"{f.where}: {what} has zero point {int(zps[(zps < -128) | (zps > 127)][0])} "
                          "(an int8 tensor's must be in [-128, 127])")


def _options(f: TFLiteFile, k: int, name: str, op) -> None:
    o = op.builtinOptions
    if o is None:
        return
    where = f"operator #{k} {name}"

    def positive(field: str) -> None:
        v = getattr(o, field, 1)
        if v is None or not 1 <= int(v) <= MAX_DIM:
            raise McugenError(f"{f.where}: {where}: {field} {v} (must be in [1, {MAX_DIM:,}])")

    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        for fld in ("strideH", "strideW", "dilationHFactor", "dilationWFactor"):
            positive(fld)
        if name == "DEPTHWISE_CONV_2D":
            dm = int(getattr(o, "depthMultiplier", 1) or 0)
            if not 0 <= dm <= MAX_DIM:
                raise McugenError(f"{f.where}: {where}: depth multiplier {dm}")
    if name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        for fld in ("strideH", "strideW", "filterHeight", "filterWidth"):
            positive(fld)
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D"):
        if f.padding_names.get(int(o.padding or 0)) not in ("SAME", "VALID"):
            raise McugenError(f"{f.where}: {where}: unknown padding {o.padding}")
    if hasattr(o, "fusedActivationFunction"):
        code = int(o.fusedActivationFunction or 0)
        if code not in f.activation_names:
            raise McugenError(f"{f.where}: {where}: unknown fused activation {code}")
    if name in ("CONCATENATION", "PACK", "GATHER"):
        rank = max((len(f.tensors[int(j)].shape) if f.tensors[int(j)].shape is not None else 0)
                   for j in list(op.inputs if op.inputs is not None else []) + [int(op.outputs[0])]
                   if int(j) >= 0)
        axis = int(getattr(o, "axis", 0) or 0)
        if not -rank - 1 <= axis <= rank:
            raise McugenError(f"{f.where}: {where}: axis {axis} for tensors of rank {rank}")
    if name == "SOFTMAX":
        beta = float(o.beta)
        if not (np.isfinite(beta) and 0 < beta <= 1e6):
            raise McugenError(f"{f.where}: {where}: beta {beta!r} (must be finite and positive)")
    if name == "LEAKY_RELU":
        alpha = float(o.alpha)
        if not (np.isfinite(alpha) and abs(alpha) <= 1e6):
            raise McugenError(f"{f.where}: {where}: alpha {alpha!r} (must be finite)")


def _order(f: TFLiteFile) -> None:
    """Each operator reads only tensors written before it (the model input,
    constants, outputs of earlier operators) and writes tensors nothing
    wrote before: the file's order is a topological order, so it has no
    cycle."""
    buffers = f.model.buffers or []

    def has_data(i: int) -> bool:
        b = int(f.tensors[i].buffer or 0)
        if not 0 < b < len(buffers):
            return False
        buf = buffers[b]
        return (buf.data is not None and len(buf.data) > 0) or int(getattr(buf, "size", 0) or 0) > 0

    for i, t in enumerate(f.tensors):
        if t.isVariable and has_data(i):
            raise UnsupportedLayer(
                f"{f.where}: unsupported tensor {f.tname(i)!r} marked variable (state kept between invocations) "
                "that also holds constant data: TFLM ignores the data and starts it from zeros, LiteRT refuses it")
    written = {int(j) for j in (f.sg.inputs if f.sg.inputs is not None else [])}
    written |= {i for i in range(len(f.tensors)) if has_data(i)}
    # Variable tensors (the state of SVDF and LSTM ops) hold their values
    # between invocations: read before anything writes them by design.
    written |= {i for i, t in enumerate(f.tensors) if t.isVariable}
    for k, op in enumerate(f.ops):
        for j in (int(j) for j in (op.inputs if op.inputs is not None else [])):
            if j >= 0 and j not in written:
                f.corrupt(f"operator #{k} {f.opname(op)} reads tensor {f.tname(j)!r} before any "
                          "operator writes it (operators out of order, or a cycle)")
        for j in (int(j) for j in op.outputs):
            if j in written and not f.tensors[j].isVariable:
                f.corrupt(f"operator #{k} {f.opname(op)} writes tensor {f.tname(j)!r}, which is "
                          "already written (the model input, a constant, or an earlier output)")
            written.add(j)
    for j in (int(j) for j in (f.sg.outputs if f.sg.outputs is not None else [])):
        if has_data(j):
            raise UnsupportedLayer(f"{f.where}: the model's output {f.tname(j)!r} is a constant (nothing is computed)")
        if j not in written:
            f.corrupt(f"the model's output {f.tname(j)!r} is written by no operator")


def check_int8(f: TFLiteFile, consts: dict, names: list[str], converted: list[int],
               ins: list[int], outs: list[int]) -> None:
    """Refuse float, dynamic-range and uint8 models with one line: the
    tensors the converted operators read and write (int32 too: biases, axes,
    shapes, checked by each converter) and the model's int8 or int16 input and
    output (after any float QUANTIZE / DEQUANTIZE at the edges). An op with
    int16 tensors (16x8, and int64 biases) is converted where its converter
    declares int16 (``@tflite_op(..., int16=True)``), refused by name otherwise."""
    from ..ops import TFLITE_INT16

    int8_weights = any(f.type_name(f.tensors[i].type) == "INT8" for i in consts)
    seen = [(k, int(i)) for k in converted
            for i in list(f.ops[k].inputs if f.ops[k].inputs is not None else []) + list(f.ops[k].outputs)]
    seen += [(None, int(i)) for i in ins + outs]
    for k, i in seen:
        tname = f.type_name(f.tensors[i].type) if i >= 0 else "INT8"
        if tname == "INT8" or (tname == "INT32" and k is not None):
            continue
        if tname == "INT16" and k is None:
            continue  # an int16 model input or output: its readers and writers are checked
        if tname in ("INT16", "INT64") and k is not None and names[k] in TFLITE_INT16:
            continue  # the converter checks its own int16 tensors and int64 biases
        if k is None:  # every layer is int8, the edge is not
            which = "input" if i in ins else "output"
            raise UnsupportedLayer(
                f"{f.where}: unsupported {tname.lower()} model {which} {f.tensor_names[i]!r}: mcugen's models take "
                "and return int8 or int16 (or float, through a QUANTIZE / DEQUANTIZE at the edge)")
        if tname in ("INT16", "INT64") and any(f.type_name(f.tensors[int(j)].type) == "INT16"
                                                for j in list(f.ops[k].inputs) + list(f.ops[k].outputs) if int(j) >= 0):
            took = ", ".join(sorted(TFLITE_INT16)) or "none yet"
            raise UnsupportedLayer(
                f"{f.where}: TFLite op #{k} {names[k]} with int16 activations (16x8) is not supported "
                f"(tensor {f.tensor_names[i]!r}); the ops mcugen runs in 16x8: {took}")
        if tname in ("FLOAT32", "FLOAT16"):
            kind = ("a dynamic-range quantized model (int8 weights, float activations)" if int8_weights
                    else "a float model")
        elif tname == "INT16":
            kind = "a 16x8 quantized model (int16 activations)"
        elif tname == "UINT8":
            kind = "a uint8 quantized model"
        else:
            kind = f"a model with {tname} tensors"
        raise UnsupportedLayer(
            f"{f.where}: not a fully int8-quantized model: {kind}; tensor {f.tensor_names[i]!r} of op #{k} {names[k]} "
            f"is {tname.lower()}. Convert with TFLiteConverter, optimizations=[tf.lite.Optimize.DEFAULT], "
            "a representative_dataset and int8 input and output types (or use --quantizer tflite)"
        )
