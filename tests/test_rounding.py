"""The rounding contract: firmware/mcg_requant.h and mcugen/rounding.py agree
at the edges (INT32 extremes, shifts at both ends of their range) and on
random values; a few hand-checked values pin down the semantics themselves, so
a bug shared by C and numpy still fails."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from mcugen.host import CFLAGS, SANITIZE, find_compiler
from mcugen.resources import firmware_dir
from mcugen.rounding import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    srdhm,
)

I32_MIN, I32_MAX = -(2**31), 2**31 - 1

HARNESS = r"""
#include <stdio.h>
#include <inttypes.h>
#include "mcg_requant.h"
int main(void)
{
    long long x, m, s;
    while (scanf("%lld %lld %lld", &x, &m, &s) == 3) {
        if (m >= 0 && mcg_srdhm_by_halves((int32_t)x, (int32_t)m) != mcg_srdhm((int32_t)x, (int32_t)m)) {
            return 2; /* the ARMv6-M form of SRDHM differs */
        }
        printf("%" PRId32 " %" PRId32 " %" PRId32 " %" PRId32 " %" PRId32 "\n",
               mcg_requantize((int32_t)x, (int32_t)m, (int8_t)s),
               m == INT32_MIN ? mcg_requantize((int32_t)x, (int32_t)m, (int8_t)s)
                              : mcg_requantize_fast((int32_t)x, (int32_t)m, (int32_t)s),
               mcg_srdhm((int32_t)x, (int32_t)m),
               s >= 0 ? mcg_rounding_divide_by_pot((int32_t)x, (int8_t)s) : 0,
               s <= -1 && m >= 0 ? mcg_requant_apply_r((int32_t)x, mcg_requant_prepare((int32_t)m, (int32_t)s))
                                 : mcg_requantize((int32_t)x, (int32_t)m, (int8_t)s));
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_requant(tmp_path_factory):
    d = tmp_path_factory.mktemp("requant")
    (d / "t.c").write_text(HARNESS)
    exe = d / "t"
    subprocess.run([find_compiler(), *CFLAGS, *SANITIZE, "-I", str(firmware_dir()), str(d / "t.c"), "-o", str(exe)], check=True)

    def run(x, m, s):
        text = "\n".join(f"{a} {b} {c}" for a, b, c in zip(x, m, s)) + "\n"
        r = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True)
        out = np.array([line.split() for line in r.stdout.splitlines()], dtype=np.int64)
        run.one_sum = out[:, 4]  # mcg_requant_apply_r where it applies (shift <= -1), else the reference
        return out[:, 0], out[:, 2], out[:, 3], out[:, 1]

    return run


def edge_cases():
    xs = [I32_MIN, I32_MIN + 1, -(2**30), -65536, -255, -3, -2, -1, 0, 1, 2, 3, 255, 65535, 2**30, I32_MAX - 1, I32_MAX]
    ms = [0, 1, 2**30, 2**30 + 1, 1518500250, I32_MAX - 1, I32_MAX, I32_MIN]
    shifts = [-31, -30, -17, -8, -1, 0, 1, 7, 15, 30]
    grid = np.array(np.meshgrid(xs, ms, shifts)).reshape(3, -1)
    return grid[0], grid[1], grid[2]


def test_c_matches_numpy_at_edges(c_requant):
    x, m, s = edge_cases()
    req, hi, rd, fast = c_requant(x, m, s)
    np.testing.assert_array_equal(req, multiply_by_quantized_multiplier(x, m, s))
    np.testing.assert_array_equal(fast, req)  # mcg_requantize_fast (multipliers other than INT32_MIN)
    np.testing.assert_array_equal(c_requant.one_sum, req)  # mcg_requant_apply_r (shift <= -1, m >= 0)
    np.testing.assert_array_equal(hi, srdhm(x, m))
    ok = s >= 0
    np.testing.assert_array_equal(rd[ok], rounding_divide_by_pot(x[ok], s[ok]))


def test_c_matches_numpy_random(c_requant):
    rng = np.random.default_rng(7)
    n = 20000
    x = rng.integers(I32_MIN, I32_MAX, n, endpoint=True)
    x[: n // 2] //= rng.integers(1, 2**24, n // 2)  # plenty of small accumulators too
    m = rng.integers(2**30, I32_MAX, n, endpoint=True)
    s = rng.integers(-31, 31, n)
    req, hi, rd, fast = c_requant(x, m, s)
    np.testing.assert_array_equal(req, multiply_by_quantized_multiplier(x, m, s))
    np.testing.assert_array_equal(fast, req)  # mcg_requantize_fast (multipliers other than INT32_MIN)
    np.testing.assert_array_equal(c_requant.one_sum, req)  # mcg_requant_apply_r (shift <= -1, m >= 0)
    np.testing.assert_array_equal(hi, srdhm(x, m))
    ok = s >= 0
    np.testing.assert_array_equal(rd[ok], rounding_divide_by_pot(x[ok], s[ok]))


@pytest.mark.parametrize(
    "x, m, s, want",
    [
        (1, 2**30, 0, 1),  # +0.5 rounds up (SRDHM nudge)
        (-1, 2**30, 0, 0),  # -0.5 rounds toward zero in SRDHM, as gemmlowp/TFLite
        (3, 2**30, -1, 1),  # 0.75 -> 1
        (-3, 2**30, -1, -1),  # -0.75 -> -1
        (5, 2**30, -2, 1),  # 0.625 -> 1
        (-6, 2**30, -2, -1),  # 3/4 * -1 ... -0.75 -> -1
        (-2, 2**30, -2, 0),  # -0.25 -> 0
        (100, 1610612736, 0, 75),  # * 0.75
        (I32_MIN, I32_MIN, 0, I32_MAX),  # the one saturating case
        (1000, 2**30, 1, 1000),  # * 1.0 via a left shift
        (7, 2**30, -31, 0),
    ],
)
def test_hand_checked_values(x, m, s, want):
    assert int(multiply_by_quantized_multiplier(x, m, s)) == want


@pytest.mark.parametrize(
    "real, want",
    [
        (0.0, (0, 0)),
        (0.5, (2**30, 0)),
        (1.0, (2**30, 1)),
        (0.75, (1610612736, 0)),
        (0.25, (2**30, -1)),
        (2.0**-40, (0, 0)),  # below 2^-31: TFLite flushes to zero
        (1.0 - 2.0**-40, (2**30, 1)),  # rounds up to 2^31, renormalized
    ],
)
def test_quantize_multiplier(real, want):
    assert quantize_multiplier(real) == want


def test_quantize_multiplier_is_accurate():
    rng = np.random.default_rng(3)
    for real in rng.uniform(1e-6, 4.0, 2000):
        m, s = quantize_multiplier(float(real))
        assert 2**30 <= m < 2**31
        assert abs(m * 2.0 ** (s - 31) - real) <= real * 2.0**-30


def test_fast_requantize_on_ties(c_requant):
    """mcg_requantize_fast on every small accumulator around the rounding ties
    of both roundings (multipliers 2^30 and 2^30 + 1 put SRDHM's result on a
    half; shifts -1..-12 put RoundingDivideByPOT's on one)."""
    x = np.tile(np.arange(-4100, 4101), 4 * 12)
    m = np.repeat([2**30, 2**30 + 1, 1518500250, I32_MAX], 8201 * 12)
    s = np.tile(np.repeat(-np.arange(1, 13), 8201), 4)
    req, _, _, fast = c_requant(x, m, s)
    np.testing.assert_array_equal(req, multiply_by_quantized_multiplier(x, m, s))
    np.testing.assert_array_equal(fast, req)
    np.testing.assert_array_equal(c_requant.one_sum, req)  # mcg_requant_apply_r
