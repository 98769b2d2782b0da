"""The rounding contract on AVR: the assembly mcg_srdhm and
mcg_rounding_divide_by_pot of firmware/mcg_requant_avr.h (and mcg_requantize
built on them) equal mcugen/rounding.py, run in simavr on the Uno's
ATmega328P at the edges (INT32 extremes, multipliers at 0, 2^30, 2^31 - 1 and
negative, every shift from -31 to 30) and on random values, small and large
accumulators (the 24-bit and 32-bit paths of the high multiply)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mcugen.boards import get_board
from mcugen.emit import FIRMWARE_FILES, c_int
from mcugen.resources import firmware_dir
from mcugen.rounding import multiply_by_quantized_multiplier, rounding_divide_by_pot, srdhm
from mcugen.targets import get_target
from mcugen.targets.bundle import _BundleGraph

I32_MIN, I32_MAX = -(2**31), 2**31 - 1

# One "model": input x (4 bytes), m (4), s (1); output requantize, srdhm(x, m)
# and rounding_divide_by_pot(x, |s| mod 32) (12 bytes, little endian).
SOURCE = r"""
#include "mcg_rq.h"
#include "mcg_runtime.h"
static int32_t get32(const int8_t *p)
{
    return (int32_t)((uint32_t)(uint8_t)p[0] | (uint32_t)(uint8_t)p[1] << 8
                     | (uint32_t)(uint8_t)p[2] << 16 | (uint32_t)(uint8_t)p[3] << 24);
}
static void put32(int8_t *p, int32_t v)
{
    uint8_t i;
    for (i = 0; i < 4; ++i) {
        p[i] = (int8_t)(uint8_t)((uint32_t)v >> (8 * i));
    }
}
void mcg_rq_invoke(const int8_t *in, int8_t *out)
{
    const int32_t x = get32(in), m = get32(in + 4);
    const int8_t s = in[8];
    put32(out, mcg_requantize(x, m, s));
    put32(out + 4, mcg_srdhm(x, m));
    put32(out + 8, mcg_rounding_divide_by_pot(x, (int8_t)((s < 0 ? -s : s) & 31)));
}
"""
HEADER = """#ifndef MCG_RQ_H
#define MCG_RQ_H
#include <stdint.h>
#define MCG_RQ_INPUT_SIZE 9
#define MCG_RQ_OUTPUT_SIZE 12
void mcg_rq_invoke(const int8_t *in, int8_t *out);
#endif
"""


class RequantProgram:
    """Looks like a CModel to the AVR target: the functions under test."""

    name = "mcg_rq"

    def write(self, folder: Path) -> None:
        (folder / "mcg_rq.h").write_text(HEADER)
        (folder / "mcg_rq.c").write_text(SOURCE)
        for f in FIRMWARE_FILES:
            (folder / f).write_text((firmware_dir() / f).read_text())


def run_on_uno(x, m, s):
    target = get_target(get_board("uno"))
    xq = np.concatenate(
        [x.astype("<i4").view(np.int8).reshape(-1, 4), m.astype("<i4").view(np.int8).reshape(-1, 4),
         s.astype(np.int8).reshape(-1, 1)], axis=1)
    run = target.run(_BundleGraph(12), RequantProgram(), xq)
    got = run.outputs.reshape(-1, 12).view("<i4").astype(np.int64)
    return got[:, 0], got[:, 1], got[:, 2]


def check(x, m, s):
    req, hi, rd = run_on_uno(x, m, s)
    np.testing.assert_array_equal(req, multiply_by_quantized_multiplier(x, m, s))
    np.testing.assert_array_equal(hi, srdhm(x, m))
    np.testing.assert_array_equal(rd, rounding_divide_by_pot(x, np.abs(s) & 31))


def test_avr_matches_numpy_at_edges():
    xs = [I32_MIN, I32_MIN + 1, -(2**30), -(2**24), -(2**24) + 1, -(2**23), -65536, -255, -3, -1, 0, 1, 2,
          255, 2**23 - 1, 2**24 - 1, 2**24, 2**30, I32_MAX]
    ms = [0, 1, 2**30, 2**30 + 1, 1518500250, I32_MAX - 1, I32_MAX, I32_MIN, -(2**30) - 7]
    shifts = [-31, -30, -24, -17, -13, -12, -11, -9, -8, -7, -6, -5, -4, -2, -1, 0, 1, 7, 30]
    grid = np.array(np.meshgrid(xs, ms, shifts)).reshape(3, -1).astype(np.int64)
    check(grid[0], grid[1], grid[2])


def test_avr_matches_numpy_random():
    rng = np.random.default_rng(11)
    n = 1200
    x = rng.integers(I32_MIN, I32_MAX, n, endpoint=True)
    x[: n // 2] //= rng.integers(1, 2**16, n // 2)  # accumulators below 2^24 too
    m = rng.integers(2**30, I32_MAX, n, endpoint=True)
    m[:100] = rng.integers(I32_MIN, I32_MAX, 100, endpoint=True)
    s = np.concatenate([np.arange(-31, 31), rng.integers(-31, 31, n - 62)])
    check(x, m, s)


# The output loop of the dense and conv kernels (mcg_avr_outputs, assembly):
# one-tap outputs whose accumulator is bias + 1 * 1, so that every rounding,
# left shift, zero point and clamp path of its tail is hit with chosen
# values: out = clamp(requantize(bias + 1, m, s) + zp, lo, hi).
LOOP_SOURCE = r"""
#include "mcg_rq.h"
#include "mcg_runtime.h"
static const int8_t MCG_FLASH one[MCG_N] = {MCG_ONES};
static const int32_t MCG_FLASH bias[MCG_N] = {MCG_BIAS};
static const int32_t MCG_FLASH mult[MCG_N] = {MCG_MULT};
static const int8_t MCG_FLASH shift[MCG_N] = {MCG_SHIFT};
void mcg_rq_invoke(const int8_t *in, int8_t *out)
{
    static const int8_t x[1] = {1};
    mcg_avr_outputs(x, 1, one, bias, mult, shift, out, MCG_N, in[0], in[1], in[2]);
}
"""


class LoopProgram(RequantProgram):
    def __init__(self, bias, mult, shift):
        n = len(bias)
        text = "\n".join(f"#define {k} {v}" for k, v in [
            ("MCG_N", n), ("MCG_ONES", ", ".join(["1"] * n)), ("MCG_BIAS", ", ".join(c_int(v) for v in bias)),
            ("MCG_MULT", ", ".join(c_int(v) for v in mult)), ("MCG_SHIFT", ", ".join(str(int(v)) for v in shift))])
        self.source = text + LOOP_SOURCE
        self.header = HEADER.replace("OUTPUT_SIZE 12", f"OUTPUT_SIZE {n}").replace("INPUT_SIZE 9", "INPUT_SIZE 3")

    def write(self, folder: Path) -> None:
        super().write(folder)
        (folder / "mcg_rq.h").write_text(self.header)
        (folder / "mcg_rq.c").write_text(self.source)


def test_avr_output_loop_tail():
    rng = np.random.default_rng(5)
    n = 160
    acc = np.concatenate([rng.integers(-(2**31), 2**31 - 1, n // 2), rng.integers(-(2**17), 2**17, n // 2)])
    acc[:6] = [I32_MIN + 1, I32_MAX, 0, -1, 2**24, -(2**24)]
    mult = rng.integers(2**30, 2**31 - 1, n, endpoint=True)
    shift = rng.integers(-12, 3, n)  # positive: a left shift of the accumulator first
    shift[:8] = [1, 2, 0, -1, -31, 0, 0, 0]
    acc[6:8], mult[6:8] = [I32_MAX, I32_MIN + 1], I32_MAX  # +- (2^31 - 2): + zp overflows int32
    zp_lo_hi = np.array([[-128, -128, 127], [127, -128, 127], [-5, -20, 90], [0, 0, 6], [100, 3, 3]])
    target = get_target(get_board("uno"))
    run = target.run(_BundleGraph(n), LoopProgram(acc - 1, mult, shift), zp_lo_hi.astype(np.int8))
    for (zp, lo, hi), got in zip(zp_lo_hi, run.outputs.reshape(len(zp_lo_hi), n)):
        want = np.clip(multiply_by_quantized_multiplier(acc, mult, shift) + zp, lo, hi)
        np.testing.assert_array_equal(got.astype(np.int64), want)
