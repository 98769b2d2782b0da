"""The spatial ops of test_ops_spatial.py on the targets: cross-compiled, run
in simavr (Uno's ATmega328P) and QEMU (Cortex-M4 with its arm_dsp / arm_v7m
kernels; the Pico's M0+ code on the M3 machine), many models to one image.
The .tflite cases must give TFLM's bytes (LiteRT's for the folded
SPACE_TO_BATCH_ND pattern, which TFLM cannot run: see test_ops_spatial.py),
the Keras ones mcugen's int8 reference."""
from __future__ import annotations

import numpy as np
import pytest

import test_ops_spatial as spatial
from conftest import rand, randomize
from mcugen.boards import get_board
from mcugen.emit import render
from mcugen.keras_loader import graph_from_keras
from mcugen.oracles import run_oracle
from mcugen.passes import optimize
from mcugen.quantize import quantize_graph
from mcugen.reference import int8_output
from mcugen.targets import get_target
from mcugen.targets.bundle import groups, run_bundle
from mcugen.tflite.loader import graph_from_tflite

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BOARDS = ["uno", "qemu_m4", "pico"]
# Each model's arena and input in the simulated RAM (the Uno has 2 KiB, of
# which the harness, the stack and the largest output buffer take the rest).
RAM_FOR_ARENAS = {"uno": 1100, "qemu_m4": 1 << 20, "pico": 1 << 20}
TFLITE_KERAS = ["conv1d_causal_dil2", "conv2d_dil2x1_same_relu", "depthwise_dil2_same_dm2", "convT_same_s2",
                "convT1d_s2", "upsampling2d_bilinear"]
TFLITE_NATIVE = ["conv_dil2x3_s2_valid_nobias", "depthwise_dil2x3_dm2_same", "nearest_up_half_down_both",
                 "bilinear_up_plain_down_corners"]
KERAS = ["upsampling1d", "upsampling2d_nearest", "conv2d_transpose_valid_relu", "tcn_causal_dil2_dil4",
         "depthwise_dil2_same_dm2", "separable_dil2"]


@pytest.fixture(scope="module")
def cases(keras, tf):
    spatial.L = keras.layers
    rng = np.random.default_rng(12)
    out = []
    for case in TFLITE_KERAS + TFLITE_NATIVE:
        data = spatial.keras_tflite(keras, case) if case in TFLITE_KERAS else spatial.native_tflite(tf, case)
        tm = graph_from_tflite(data, f"t_{case}", case)
        xq = np.concatenate([rng.integers(-128, 128, (2,) + tm.graph.input.shape),
                             np.full((1,) + tm.graph.input.shape, 127)]).astype(np.int8)
        oracle = "litert" if case in spatial.SPACE_TO_BATCH else "tflm"
        out.append((tm.graph, xq, run_oracle(oracle, tm, xq).outputs))
    for case in KERAS:
        shape, build = spatial.KERAS_ROUNDTRIP[case]
        keras.utils.set_random_seed(1)
        inp = keras.Input(shape)
        model = keras.Model(inp, build(inp), name=case)
        randomize(model, seed=2)
        g = graph_from_keras(model, f"k_{case}")
        optimize(g)
        quantize_graph(g, rand(shape, 64, seed=3, lo=-0.5, hi=1.5))
        xq = g.input.q.quantize(rand(shape, 3, seed=4, lo=-0.5, hi=1.5))
        out.append((g, xq, int8_output(g, xq)))
    return out


@pytest.fixture(scope="module")
def tf(keras):
    from mcugen.oracles import import_tf

    return import_tf()


@pytest.mark.parametrize("board_name", BOARDS)
def test_spatial_ops_bit_exact_on_target(board_name, cases):
    board = get_board(board_name)
    target = get_target(board)
    items = [(g, render(g, board=board), xq, want) for g, xq, want in cases]
    wrong = []
    for grp in groups(items, lambda it: it[1].plan.arena_size + it[0].input.size, RAM_FOR_ARENAS[board_name]):
        outs, _ = run_bundle(target, [it[0] for it in grp], [it[1] for it in grp], [it[2] for it in grp])
        wrong += [g.name for (g, _, _, want), got in zip(grp, outs) if not np.array_equal(got, want.reshape(got.shape))]
    assert not wrong, f"differ on {board_name}: {wrong}"
