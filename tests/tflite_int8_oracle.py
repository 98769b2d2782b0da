"""An exact oracle, independent of mcugen, for the int8 .tflite files TFLM
cannot run: TFLiteConverter's Dense on a rank-3 input (dynamic batch, so TFLM
fails to allocate) is RESHAPE, FULLY_CONNECTED without bias, RESHAPE, then
ADD of the bias as a constant tensor, plus int32 shape arithmetic.

Written from TFLite's reference kernels (the ones TFLM runs), not from
mcugen's code: QuantizeMultiplier (frexp, round half away from zero),
MultiplyByQuantizedMultiplier with double rounding (a saturating rounding
doubling high multiply, then a rounding right shift that rounds half away
from zero), the FULLY_CONNECTED multiplier in double
(input scale x filter scale / output scale), and ADD's scheme (inputs
shifted left by 20, each scaled by its scale / twice the larger one, the
sum by twice the larger / (2^20 x output scale)). LiteRT's optimized and
reference FULLY_CONNECTED round once instead (tests/test_tflite_ops.py
test_litert_fully_connected_rounds_once), so LiteRT is not exact here.

Only the ops such files hold are known; any other int8 op raises."""
from __future__ import annotations

import math

import numpy as np

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s

    return s


def quantize_multiplier(real: float) -> tuple[int, int]:
    """tflite::QuantizeMultiplier: (q in [2^30, 2^31), shift) with real = q 2^(shift - 31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    scaled = q * (1 << 31)
    q_fixed = int(math.floor(abs(scaled) + 0.5)) * (1 if scaled >= 0 else -1)  # TfLiteRound: half away from 0
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def _srdhm(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul, element by element (Python ints: no overflow)."""
    out = np.empty(a.shape, dtype=np.int64)
    for i, v in np.ndenumerate(a):
        v = int(v)
        if v == I32_MIN and b == I32_MIN:
            out[i] = I32_MAX
            continue
        ab = v * b
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        num = ab + nudge
        q = abs(num) // (1 << 31)  # C division truncates toward zero
        out[i] = q if num >= 0 else -q
    return out


def _rounding_divide_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """Double rounding, as TFLM's reference kernels (x int32)."""
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    x = np.asarray(x, dtype=np.int64) * (1 << left)
    assert np.all((x >= I32_MIN) & (x <= I32_MAX)), "the shifted accumulator left int32"
    return _rounding_divide_by_pot(_srdhm(x, mult), right)


class _File:
    def __init__(self, model: bytes):
        S = _schema()
        self.S = S
        self.m = S.ModelT.InitFromPackedBuf(bytearray(model), 0)
        self.sg = self.m.subgraphs[0]
        self.names = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}

    def opname(self, op) -> str:
        oc = self.m.operatorCodes[op.opcodeIndex]
        return self.names[max(oc.builtinCode, oc.deprecatedBuiltinCode)]

    def tensor(self, i):
        return self.sg.tensors[i]

    def qparams(self, i) -> tuple[np.ndarray, np.ndarray]:
        q = self.tensor(i).quantization
        return np.asarray(q.scale, dtype=np.float32), np.asarray(q.zeroPoint, dtype=np.int64)

    def const(self, i) -> np.ndarray | None:
        t = self.tensor(i)
        data = self.m.buffers[t.buffer].data
        if data is None or not len(data):
            return None
        dtype = {self.S.TensorType.INT8: np.int8, self.S.TensorType.INT32: np.int32}[t.type]
        return np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=dtype).reshape(t.shape)

    def is_int8(self, i) -> bool:
        return self.tensor(i).type == self.S.TensorType.INT8


def _act_range(fused: int, scale: float, zp: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8: NONE, RELU, RELU6, RELU_N1_TO_1."""
    lo, hi = -128, 127

    def q(v: float) -> int:  # zp + TfLiteRound(v / scale), half away from zero
        r = v / scale
        return zp + int(math.floor(abs(r) + 0.5)) * (1 if r >= 0 else -1)

    if fused == 1:
        lo = max(lo, zp)
    elif fused == 2:
        lo, hi = max(lo, zp), min(hi, q(6.0))
    elif fused == 3:
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    elif fused != 0:
        raise NotImplementedError(f"fused activation {fused}")
    return lo, hi


def _fully_connected(f: _File, op, x: np.ndarray) -> np.ndarray:
    s_in, zp_in = f.qparams(op.inputs[0])
    s_w, zp_w = f.qparams(op.inputs[1])
    s_out, zp_out = f.qparams(op.outputs[0])
    w = f.const(op.inputs[1]).astype(np.int64)  # (units, depth)
    assert np.all(zp_w == 0), "int8 weights are symmetric"
    bias = f.const(op.inputs[2]).astype(np.int64) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    depth = w.shape[1]
    rows = x.reshape(-1, depth).astype(np.int64) - int(zp_in[0])
    acc = rows @ w.T + (0 if bias is None else bias)
    out = np.empty_like(acc)
    for c in range(w.shape[0]):
        ws = s_w[c] if s_w.size > 1 else s_w[0]
        real = float(np.float64(s_in[0]) * np.float64(ws) / np.float64(s_out[0]))
        m, sh = quantize_multiplier(real)
        out[:, c] = multiply_by_quantized_multiplier(acc[:, c], m, sh)
    lo, hi = _act_range(op.builtinOptions.fusedActivationFunction, float(s_out[0]), int(zp_out[0]))
    return np.clip(out + int(zp_out[0]), lo, hi)


def _add(f: _File, op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    (s1,), (z1,) = f.qparams(op.inputs[0])
    (s2,), (z2,) = f.qparams(op.inputs[1])
    (so,), (zo,) = f.qparams(op.outputs[0])
    left_shift = 20
    twice_max = 2 * max(float(s1), float(s2))  # double, from float scales
    m1, sh1 = quantize_multiplier(float(s1) / twice_max)
    m2, sh2 = quantize_multiplier(float(s2) / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * float(so)))
    a, b = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    x1 = multiply_by_quantized_multiplier((a - int(z1)) * (1 << left_shift), m1, sh1)
    x2 = multiply_by_quantized_multiplier((b - int(z2)) * (1 << left_shift), m2, sh2)
    raw = multiply_by_quantized_multiplier(x1 + x2, mo, sho) + int(zo)
    opts = op.builtinOptions
    lo, hi = _act_range(opts.fusedActivationFunction if opts is not None else 0, float(so), int(zo))
    return np.clip(raw, lo, hi)


def run(model: bytes, xq: np.ndarray) -> np.ndarray:
    """The file's int8 output for each int8 input row of xq (N, *input shape)."""
    f = _File(model)
    outs = []
    for x in xq:
        vals: dict[int, np.ndarray] = {f.sg.inputs[0]: np.asarray(x, dtype=np.int64).reshape(-1)}

        def get(i):
            if i in vals:
                return vals[i]
            c = f.const(i)
            assert c is not None, f"tensor {i} has no value"
            return c.astype(np.int64)

        for op in f.sg.operators:
            if not any(f.is_int8(o) for o in op.outputs):
                continue  # int32 shape arithmetic: the int8 data path does not depend on it
            name = f.opname(op)
            if name == "RESHAPE":
                y = get(op.inputs[0]).reshape(-1)
            elif name == "FULLY_CONNECTED":
                y = _fully_connected(f, op, get(op.inputs[0]))
            elif name == "ADD":
                shapes = [list(f.tensor(i).shape) for i in op.inputs[:2]]
                a = get(op.inputs[0]).reshape(shapes[0])
                b = get(op.inputs[1]).reshape(shapes[1])
                y = _add(f, op, a, b)
            else:
                raise NotImplementedError(f"the oracle does not know {name}")
            vals[op.outputs[0]] = np.asarray(y).reshape(-1)
        outs.append(vals[f.sg.outputs[0]])
    return np.stack(outs).astype(np.int8)
