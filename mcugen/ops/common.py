"""Helpers shared by the ops: shapes, padding, windows, weight quantization."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..rounding import INT32_MAX, INT32_MIN, quantize_multiplier


def as_hwc(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """View a tensor shape as (H, W, C): (C,) -> (1,1,C), (T,C) -> (1,T,C)."""
    if len(shape) == 3:
        return shape
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    if len(shape) == 1:
        return (1, 1, shape[0])
    raise ValueError(f"shape {shape} has no (H, W, C) view")


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """Batched tensor (N, *shape) -> (N, H, W, C)."""
    return x.reshape((x.shape[0],) + as_hwc(x.shape[1:]))


def same_padding(size: int, k: int, stride: int) -> tuple[int, int, int]:
    """TFLite/Keras 'same': (out, pad_before, pad_after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def padding_2d(hw, k, stride, padding: str, dilation=(1, 1)):
    """(out_h, out_w, (top, bottom), (left, right)) for 'valid' or 'same'; a
    dilated kernel counts as its extent, (k - 1) * dilation + 1 (TFLite's
    ComputePaddingHeightWidth, Keras' conv_output_length)."""
    outs, pads = [], []
    for size, kk, s, d in zip(hw, k, stride, dilation):
        kk = (kk - 1) * d + 1
        if padding == "same":
            o, a, b = same_padding(size, kk, s)
        else:
            o, a, b = (size - kk) // s + 1, 0, 0
        outs.append(o)
        pads.append((a, b))
    return outs[0], outs[1], pads[0], pads[1]


def windows(x: np.ndarray, k, stride, pads, fill, dilation=(1, 1)) -> np.ndarray:
    """(N,H,W,C) -> (N,OH,OW,C,KH,KW) windows after padding with ``fill``;
    with dilation d a window spans (k - 1) * d + 1 pixels and takes every d-th."""
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=fill)
    extent = tuple((kk - 1) * d + 1 for kk, d in zip(k, dilation))
    win = sliding_window_view(xp, extent, axis=(1, 2))
    return win[:, :: stride[0], :: stride[1], :, :: dilation[0], :: dilation[1]]


# TFLiteConverter's floor under a weight range (ExpandVerySmallRange in its
# quantization_utils.cc): a channel whose weights span less than 1e-6 (a
# channel batch normalization killed: weights ~1e-30) is quantized as if it
# spanned [-5e-7, 5e-7], so its scale is 1e-6 / 254, not ~1e-32.
SMALLEST_HALF_RANGE = 0.5e-6
# And its cap on a quantized bias (SetBiasParamsWithAdjustments in its
# quantization_driver.cc): |b| / (input_scale * weight_scale) may not exceed
# INT32_MAX / 2 ("to make some room for accumulator"); where it would, the
# bias scale becomes |b| / BIAS_MAX and the weight scale bias_scale / input_scale.
BIAS_MAX = INT32_MAX // 2


def quantize_per_channel(w: np.ndarray, axis: int, scales: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 in [-127, 127], one float32 scale per index of ``axis``
    (given, or TFLiteConverter's: max |w| / 127, the range at least 1e-6)."""
    w = np.asarray(w, dtype=np.float64)
    moved = np.moveaxis(w, axis, -1)
    if scales is None:
        amax = np.abs(moved).reshape(-1, moved.shape[-1]).max(axis=0)
        scales = (np.maximum(amax, SMALLEST_HALF_RANGE) / 127.0).astype(np.float32)
    scales = np.asarray(scales, dtype=np.float32)
    q = moved / scales.astype(np.float64)
    q = np.sign(q) * np.floor(np.abs(q) + 0.5)
    q = np.clip(q, -127, 127).astype(np.int8)
    return np.moveaxis(q, -1, axis), scales


def quantize_bias(b: np.ndarray | None, in_scale: float, w_scales: np.ndarray, n: int) -> np.ndarray:
    """int32 bias with scale in_scale * w_scale[c] (zero where there is no bias),
    rounded as TFLiteConverter does (quantize_model.cc, per-channel bias): the
    scale is the float32 product, its inverse float32, the bias times the
    inverse in float32, rounded half away from zero. In float64 the bias of a
    dead channel (about 2^30 steps) came out up to 74 steps apart from it."""
    if b is None:
        return np.zeros(n, dtype=np.int32)
    scale = np.float32(in_scale) * np.asarray(w_scales, dtype=np.float32)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        inv = np.where(scale == 0, 0.0, 1.0 / scale.astype(np.float64)).astype(np.float32)
        q = (np.asarray(b, dtype=np.float32) * inv).astype(np.float64)
    q = np.sign(q) * np.floor(np.abs(q) + 0.5)
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def quantize_weights_and_bias(w: np.ndarray, b: np.ndarray | None, axis: int, in_scale: float):
    """(int8 weights, float32 scales, int32 bias) as TFLiteConverter makes
    them: per-channel weights (``quantize_per_channel``), then every channel
    whose bias would exceed BIAS_MAX steps gets the larger weight scale that
    holds it (a dead channel: weights round to 0, the bias stays exact to
    1 in 2^30 instead of being clipped)."""
    w_q, scales = quantize_per_channel(w, axis)
    n = scales.size
    if b is not None:
        b = np.asarray(b, dtype=np.float64)
        bias_scale = np.float64(in_scale) * scales.astype(np.float64)
        over = np.abs(b) / bias_scale > BIAS_MAX
        if over.any():
            scales = scales.copy()
            scales[over] = (np.abs(b[over]) / BIAS_MAX / np.float64(in_scale)).astype(np.float32)
            w_q, scales = quantize_per_channel(w, axis, scales)
    return w_q, scales, quantize_bias(b, in_scale, scales, n)


def from_file(w_q: np.ndarray, scales: np.ndarray, b_q: np.ndarray | None, in_scale: float, n: int):
    """For an op read from a quantized file: the float weights and bias its
    int8 weights (scales along the last axis) and int32 bias stand for, and
    the int32 bias to run with (zeros where the file has none).
    Returns (weights, bias or None, b_q)."""
    scales = np.asarray(scales).astype(np.float64)
    weights = w_q.astype(np.float64) * scales
    bias = None if b_q is None else b_q * (np.float64(in_scale) * scales)
    return weights, bias, np.zeros(n, np.int32) if b_q is None else b_q


def channel_multipliers(in_scale: float, w_scales: np.ndarray, out_scale: float):
    """Per-channel (multiplier int32, shift int8) of in*w/out, as TFLite."""
    mults, shifts = [], []
    for ws in np.asarray(w_scales, dtype=np.float32):
        m, s = quantize_multiplier(float(in_scale) * float(ws) / float(out_scale))
        mults.append(m)
        shifts.append(s)
    return np.array(mults, dtype=np.int32), np.array(shifts, dtype=np.int8)


def quantize_weighted(op, g, weights: np.ndarray, axis: int):
    """What every conv, depthwise, transposed conv and dense op derives
    alike: int8 weights, per-channel scales and int32 bias (TFLiteConverter's
    from the float ``weights`` and ``op.bias``, unless read from a file), then
    the per-channel multipliers. Channels lie along ``axis`` of the weights.
    Returns the input and output qparams."""
    qi, qo = g.q(op.inputs[0]), g.q(op.outputs[0])
    if op.w_q is None:
        op.w_q, op.w_scales, op.b_q = quantize_weights_and_bias(weights, op.bias, axis=axis, in_scale=qi.scale)
    if op.b_q is None:
        op.b_q = quantize_bias(op.bias, qi.scale, op.w_scales, op.w_q.shape[axis])
    op.mult, op.shift = channel_multipliers(qi.scale, op.w_scales, qo.scale)
    return qi, qo


def fold_input_offset(op_name: str, b_q: np.ndarray, w_sums: np.ndarray, zero_point: int, depth: int) -> np.ndarray:
    """The int32 bias every conv / depthwise / dense kernel runs with: the
    input zero point folded in at build time,
        b_eff[c] = b[c] - zp * sum(w[c]),
    so that acc = b_eff + sum(x * w) over every tap, a padded tap holding the
    zero point (it then adds zp * w, which b_eff took away). Equal to TFLite's
    b + sum((x - zp) * w) for every input.

    Refuses layers whose accumulator could leave int32 on the way: kernels add
    the products x * w (|x * w| <= 128 * 127 = 16256) to b_eff one by one, so
    |b_eff| + depth * 16256 must fit. That bound also covers the true sum."""
    b_eff = b_q.astype(np.int64) - int(zero_point) * np.asarray(w_sums, dtype=np.int64)
    bound = int(np.abs(b_eff).max(initial=0)) + depth * 16256
    if bound > INT32_MAX:
        raise ValueError(
            f"layer {op_name!r}: {depth} products per output could overflow the int32 accumulator"
        )
    return b_eff.astype(np.int32)


def c_array_args(*values) -> str:
    return ", ".join(str(v) for v in values)


def is_int16(g, name: str) -> bool:
    """Whether the tensor holds int16 values (a 16x8 model's activations)."""
    return getattr(g.tensors[name], "dtype", "int8") == "int16"


def bias_16x8(cx, k: int, n: int, int32_path: bool = True) -> tuple[np.ndarray, bool]:
    """(bias as int64, whether TFLM accumulates in int32) of a 16x8 CONV_2D /
    FULLY_CONNECTED / DEPTHWISE_CONV_2D / TRANSPOSE_CONV (input k). TFLM
    picks the arithmetic from the bias: an int64 bias, or none, runs an int64
    accumulator requantized by MultiplyByQuantizedMultiplier on int64; an
    int32 bias (CONV_2D, FULLY_CONNECTED: ``int32_path``) an int32
    accumulator and the int32 (double rounding) requantization. Measured on
    the ``tflite-micro`` interpreter (tests/test_16x8.py): without a bias
    the int64 arithmetic (TFLM's source reads as if the int32 one, which
    differs on 2 to 7% of values); DEPTHWISE_CONV_2D and TRANSPOSE_CONV
    take an int32 bias for an int64 one (their output is garbage): refused."""
    b = cx.const(k) if cx.tensor_index(k) >= 0 else None
    if b is None:
        return np.zeros(n, np.int64), False
    kind = cx.dtype(k)
    if kind not in (("INT64", "INT32") if int32_path else ("INT64",)):
        cx.unsupported(f"a {kind} bias on a 16x8 layer (int64{' or int32' if int32_path else ''} expected)")
    b = np.asarray(b, dtype=np.int64).reshape(-1)
    if b.size != n:
        cx.unsupported(f"a bias of {b.size} values for {n} channels")
    return b, kind == "INT32"


def check_zero_points_16(cx, *tensors: str) -> None:
    """TFLM's 16x8 kernels take int16 zero points as 0 (they apply none):
    a file with another is refused rather than run as TFLM runs it."""
    for t in tensors:
        zp = cx.g.q(t).zero_point
        if zp != 0:
            cx.unsupported(f"an int16 tensor with zero point {zp} (TFLM's 16x8 kernels require 0)")


def check_16x8_requant(op_name: str, b_q: np.ndarray, depth: int, shift: np.ndarray, acc32: bool = False) -> None:
    """What TFLite's 16x8 requantization assumes: on int64 (its DCHECKs)
    |acc| < 2**47 (acc = bias + up to ``depth`` products |x * w| <= 32768 *
    128) and a shift of at most 7; on int32 (``acc32``) the accumulator, and
    it shifted left by a positive shift, within int32 (TFLM's C would
    overflow). mcugen's kernels compute TFLM's value under these bounds."""
    bound = int(np.abs(np.asarray(b_q, dtype=np.int64)).max(initial=0)) + depth * 32768 * 128
    if acc32:
        if bound << max(int(np.max(shift, initial=0)), 0) > INT32_MAX:
            raise ValueError(f"layer {op_name!r}: {depth} products per output could overflow TFLM's int32 "
                             "accumulator (a 16x8 layer with an int32 bias, or none)")
        return
    if bound >= 1 << 47:
        raise ValueError(f"layer {op_name!r}: its int64 accumulator could reach 2**47, beyond TFLite's "
                         "16x8 requantization")
    if np.any(np.asarray(shift) > 7):
        raise ValueError(f"layer {op_name!r}: a requantization multiplier of 2**7 or more (TFLite's 16x8 "
                         "requantization takes less)")


def requantize_16x8(acc: np.ndarray, mult, shift, acc32: bool, lo: int, hi: int) -> np.ndarray:
    """A 16x8 accumulator to int16: TFLite's MultiplyByQuantizedMultiplier on
    int64, or on int32 where TFLM accumulates in int32; clamped."""
    from ..rounding import multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_64

    f = multiply_by_quantized_multiplier if acc32 else multiply_by_quantized_multiplier_64
    return np.clip(f(acc, np.asarray(mult, dtype=np.int64), np.asarray(shift, dtype=np.int64)), lo, hi).astype(np.int16)
