"""TFLite Micro's int8 Softmax, Logistic and Tanh, bit-exact, in numpy.

A vectorized port of the gemmlowp fixed-point math (``fixedpoint/fixedpoint.h``)
that TFLM's reference kernels use, plus the parameter preparation those
kernels do:

* Softmax: ``tensorflow/lite/micro/kernels/softmax_common.cc`` (prepare) and
  ``tensorflow/lite/kernels/internal/reference/softmax.h`` (int8 -> int8 eval).
* Logistic: ``tensorflow/lite/micro/kernels/logistic_common.cc`` and
  ``reference/integer_ops/logistic.h``.
* Tanh: ``tensorflow/lite/micro/kernels/tanh.cc`` and
  ``reference/integer_ops/tanh.h``.

A ``FixedPoint<int32_t, K>`` value is represented by its raw int32 value held in
an int64 numpy array (K integer bits, 31 - K fractional bits); the integer-bit
count is passed explicitly where gemmlowp has it as a template parameter.
Multiplication is ``srdhm``; the rounding primitives come from
:mod:`mcugen.rounding`, the one definition of mcugen's rounding.

Logistic and Tanh of an int8 input depend on nothing but the input byte, so
they are exported as 256-entry tables (the C side only needs a lookup).
Softmax depends on the whole row and is implemented in C by
``templates/kernels/softmax.c.j2``, which mirrors :func:`softmax_int8`.

Note on LiteRT (``tf.lite.Interpreter``): for int8 Logistic/Tanh LiteRT builds
a float lookup table (``LUTPopulate`` with ``1/(1+exp(-x))`` / ``tanh``), so its
bytes may differ by one from TFLM's fixed-point results here; TFLM is the
target. ``tests/test_fixedpoint.py`` measures the difference.
"""
from __future__ import annotations

import math

import numpy as np

from mcugen.rounding import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    round_half_away,
    rounding_divide_by_pot,
    srdhm,
    wrap_int32,
)

__all__ = [
    "softmax_params",
    "softmax_int8",
    "logistic_params",
    "logistic_table",
    "tanh_table",
    "saturating_rounding_doubling_high_mul",
    "rounding_divide_by_pot",
    "saturating_rounding_multiply_by_pot",
    "rescale",
    "rounding_half_sum",
    "exp_on_interval_between_negative_one_quarter_and_0_excl",
    "exp_on_negative_values",
    "one_over_one_plus_x_for_x_in_0_1",
    "one_minus_x_over_one_plus_x_for_x_in_0_1",
    "logistic",
    "tanh",
    "count_leading_zeros",
    "get_reciprocal",
]

# gemmlowp's FixedPoint multiply is exactly SaturatingRoundingDoublingHighMul.
saturating_rounding_doubling_high_mul = srdhm

_SCALED_DIFF_INTEGER_BITS = 5  # softmax: the exp() input is Q5.26
_ACCUMULATION_INTEGER_BITS = 12  # softmax: the sum of exps is Q12.19
_ACT_INPUT_INTEGER_BITS = 4  # logistic / tanh: the input is Q4.27


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _f32(x: float) -> float:
    """A float as TFLite stores it (float32), widened to double."""
    return float(np.float32(x))


# ---------------------------------------------------------------------------
# gemmlowp primitives
# ---------------------------------------------------------------------------

def _one(integer_bits: int) -> int:
    """FixedPoint<int32_t, K>::One(): INT32_MAX for K == 0, else 1 << (31-K)."""
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT<exponent>: saturating left shift for a
    positive exponent, rounding right shift for a negative one."""
    x = _i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    shifted = x * (1 << exponent)
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))


def rescale(x, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp::Rescale<dst>(FixedPoint<int32_t, src>)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(a, b) -> np.ndarray:
    """RoundingHalfSum for int32: (a + b + sign) / 2 with C's truncation."""
    s = _i64(a) + _i64(b)
    s = s + np.where(s >= 0, 1, -1)
    q = np.abs(s) // 2
    return np.where(s < 0, -q, q)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for a Q0.31 value a in [-1/4, 0), as Q0.31."""
    a = _i64(a)
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = a + (1 << 28)  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(
        srdhm(x4_over_4 + x3, constant_1_over_3) + x2, -1)
    return constant_term + srdhm(constant_term, x + poly)


# (exponent, Q0.31 multiplier exp(-2**exponent)) of gemmlowp's barrel shifter
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """exp(a) for a FixedPoint<int32_t, integer_bits> a <= 0, as Q0.31."""
    a = _i64(a)
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = a_mod_quarter_minus_one_quarter - a
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = (remainder >> (frac_bits + exponent)) & 1
            result = np.where(bit != 0, srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_reciprocal_half(half_denominator: np.ndarray) -> np.ndarray:
    """The shared Newton-Raphson loop: ~1/half_denominator as Q2.29."""
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    one_f2 = _one(2)
    x = constant_48_over_17 + srdhm(half_denominator, constant_neg_32_over_17)
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = one_f2 - half_denominator_times_x
        x = x + rescale(srdhm(x, one_minus), 4, 2)
    return x


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """1 / (1 + a) for a Q0.31 value a in [0, 1), as Q0.31."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = _newton_reciprocal_half(half_denominator)
    return rescale(x, 1, 0)  # Rescale<0>(ExactMulByPot<-1>(x))


def one_minus_x_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """(1 - a) / (1 + a) for a Q0.31 value a in [0, 1), as Q0.31."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = _newton_reciprocal_half(half_denominator)
    return rescale(x - _one(2), 2, 0)


def logistic(a, integer_bits: int) -> np.ndarray:
    """gemmlowp::logistic of a FixedPoint<int32_t, integer_bits>, as Q0.31."""
    a = _i64(a)
    abs_input = np.where(a > 0, a, -a)
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(-abs_input, integer_bits))
    result_if_negative = INT32_MAX - result_if_positive
    return np.where(a == 0, 1 << 30,
                    np.where(a > 0, result_if_positive, result_if_negative))


def tanh(a, integer_bits: int) -> np.ndarray:
    """gemmlowp::tanh of a FixedPoint<int32_t, integer_bits>, as Q0.31."""
    a = _i64(a)
    n = np.where(a < 0, a, -a)
    # neg_tanh_on_negative_values: ExactMulByPot<1> keeps the raw value and
    # adds one integer bit.
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(a < 0, -t, t))


def count_leading_zeros(x) -> np.ndarray:
    """CountLeadingZeros of the uint32 reinterpretation of int32 values (32 for 0)."""
    u = _i64(x) & 0xFFFFFFFF
    n = np.zeros(u.shape, dtype=np.int64)
    for shift in (16, 8, 4, 2, 1):
        small = u < (1 << (32 - shift))
        n = n + np.where(small, shift, 0)
        u = np.where(small, u << shift, u)
    return n + (u == 0)


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetReciprocal: (Q0.31 raw ~ 2**num_bits_over_unit / x, num_bits_over_unit)."""
    x = _i64(x)
    headroom_plus_one = count_leading_zeros(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    # (uint32(x) << headroom_plus_one) - 2**31, in uint32 arithmetic
    shifted_sum_minus_one = wrap_int32(((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


# ---------------------------------------------------------------------------
# Softmax
# ---------------------------------------------------------------------------

def _tflite_quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier as the default (double-rounding) TFLite/TFLM build does
    it, which lets the shift reach 31 (rounding.quantize_multiplier clamps at
    30, the single-rounding rule; the two agree below 2**30)."""
    if real < float(1 << 30):
        return quantize_multiplier(real)
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    return int(q_fixed), int(shift)


def softmax_params(input_scale: float, beta: float = 1.0) -> tuple[int, int, int]:
    """(input_beta_multiplier, input_beta_left_shift, diff_min) as TFLM's
    SoftmaxPrepare computes them for int8 input.

    PreprocessSoftmaxScaling(beta, input_scale, kScaledDiffIntegerBits=5) and
    diff_min = -CalculateInputRadius(5, left_shift, 31); scale and beta are the
    float32 values of the model, widened to double.
    """
    scale = _f32(input_scale)
    beta = _f32(beta)
    max_real_multiplier = float((1 << 31) - 1)
    real = min(beta * scale * float(1 << (31 - _SCALED_DIFF_INTEGER_BITS)),
               max_real_multiplier)
    if not real > 1.0:
        raise ValueError(f"softmax input_scale*beta too small: {real} <= 1 "
                         "(TFLM's QuantizeMultiplierGreaterThanOne fails)")
    multiplier, left_shift = _tflite_quantize_multiplier(real)
    radius = math.floor(
        1.0 * ((1 << _SCALED_DIFF_INTEGER_BITS) - 1)
        * float(1 << (31 - _SCALED_DIFF_INTEGER_BITS)) / float(1 << left_shift))
    return int(multiplier), int(left_shift), -int(radius)


def softmax_int8(x: np.ndarray, input_beta_multiplier: int, input_beta_left_shift: int,
                 diff_min: int, out_bits: int = 8) -> np.ndarray:
    """TFLM's reference int8 -> int8 Softmax over the last axis (output scale
    1/256, zero point -128).

    ``out_bits=16``: TFLM's int8 -> int16 Softmax (output scale 1/65536,
    zero point -32768): the same arithmetic with the final shift 8 bits
    shorter and the int16 range (reference_ops::Softmax<int8_t, int16_t>).

    Byte-identical to TFLM wherever TFLM runs. TFLM aborts (TFLITE_CHECK on
    the final shift) when a row's Q12.19 sum of exps reaches 2**28, i.e. the
    row holds the equivalent of 512 or more entries at its maximum (only
    possible for depth > 511). There this function, like the C kernel, stays
    defined: the sum saturates at INT32_MAX and an entry whose rounding shift
    would exceed 31 bits becomes -128 (what RoundingDivideByPOT gives for any
    shift >= 32 on a non-negative int32).
    """
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError("softmax_int8 expects int8 input")
    shape = x.shape
    depth = shape[-1]
    rows = _i64(x).reshape(-1, depth)
    diff = rows - rows.max(axis=1, keepdims=True)
    active = diff >= diff_min
    # MultiplyByQuantizedMultiplierGreaterThanOne == MBQM with shift >= 0.
    rescaled = multiply_by_quantized_multiplier(
        np.where(active, diff, 0), input_beta_multiplier, input_beta_left_shift)
    exps = exp_on_negative_values(rescaled, _SCALED_DIFF_INTEGER_BITS)
    terms = rescale(exps, 0, _ACCUMULATION_INTEGER_BITS)
    sum_of_exps = np.minimum(np.where(active, terms, 0).sum(axis=1, keepdims=True),
                             INT32_MAX)
    shifted_scale, num_bits_over_unit = get_reciprocal(
        sum_of_exps, _ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - out_bits  # >= 0 since the sum is >= 1.0
    unsat = rounding_divide_by_pot(srdhm(shifted_scale, exps), np.minimum(exponent, 31))
    unsat = np.where(exponent > 31, 0, unsat)
    lo, hi = -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1
    out = np.clip(unsat + lo, lo, hi)
    out = np.where(active, out, lo)
    return out.astype(np.int16 if out_bits == 16 else np.int8).reshape(shape)


# ---------------------------------------------------------------------------
# Logistic and Tanh (int8 lookup tables)
# ---------------------------------------------------------------------------

def logistic_params(input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, input_range_radius) as TFLM's int8
    Logistic/Tanh prepare computes them (kInputIntegerBits = 4)."""
    real = _f32(input_scale) * float(1 << (31 - _ACT_INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    multiplier = round_half_away(q * (1 << 31))
    if left_shift < 0:
        raise ValueError(f"input scale {input_scale} too small for TFLM's logistic/tanh")
    radius = math.floor(
        1.0 * ((1 << _ACT_INPUT_INTEGER_BITS) - 1)
        * float(1 << (31 - _ACT_INPUT_INTEGER_BITS)) / float(1 << left_shift))
    return int(multiplier), int(left_shift), int(radius)


def _act_inputs(input_scale: float, input_zero_point: int):
    multiplier, shift, radius = logistic_params(input_scale)
    values = np.arange(-128, 128, dtype=np.int64) - int(input_zero_point)
    inside = (values > -radius) & (values < radius)
    input_in_q4 = multiply_by_quantized_multiplier(
        np.where(inside, values, 0), multiplier, shift)
    return values, radius, input_in_q4


def logistic_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """TFLM's int8 Logistic of every input byte: entry i is the output for the
    input byte (i - 128). Output scale 1/256, zero point -128."""
    values, radius, input_in_q4 = _act_inputs(input_scale, input_zero_point)
    out_q0 = logistic(input_in_q4, _ACT_INPUT_INTEGER_BITS)
    out = np.clip(rounding_divide_by_pot(out_q0, 31 - 8) - 128, -128, 127)
    out = np.where(values <= -radius, -128, np.where(values >= radius, 127, out))
    return out.astype(np.int8)


def tanh_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """TFLM's int8 Tanh of every input byte: entry i is the output for the
    input byte (i - 128). Output scale 1/128, zero point 0."""
    values, radius, input_in_q4 = _act_inputs(input_scale, input_zero_point)
    out_q0 = tanh(input_in_q4, _ACT_INPUT_INTEGER_BITS)
    out = np.clip(rounding_divide_by_pot(out_q0, 31 - 7), -128, 127)
    out = np.where(values <= -radius, -128, np.where(values >= radius, 127, out))
    return out.astype(np.int8)
