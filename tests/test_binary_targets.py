"""The element-wise ops on two run-time tensors on the targets: the .tflite
cases of test_ops_binary.py (byte-identical with TFLM) and its Keras cases
(byte-identical with mcugen's reference), cross-compiled, in one firmware
image per board where memory allows, run on the Uno (simavr), the
Cortex-M4 (arm_dsp), M3 (arm_v7m) and M0+ code (arm_v6m) in QEMU."""
from __future__ import annotations

import numpy as np
import pytest

import test_ops_binary as cases_mod
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

BOARDS = ["uno", "qemu_m4", "qemu_m3", "pico"]
# The Uno's 2 KiB: each model's arena and input beside the harness.
RAM_FOR_ARENAS = {"avr": 1100, "arm": 1 << 20}


@pytest.fixture(scope="module")
def items(keras, layers):
    rng = np.random.default_rng(5)
    out = []
    for i, (case, (shape, build, _)) in enumerate(sorted(cases_mod.TFLITE_CASES.items())):
        tm = graph_from_tflite(cases_mod.convert(keras, shape, build, case), f"t{i}_{case}", case)
        xq = np.concatenate([rng.integers(-128, 128, (2,) + tm.graph.input.shape),
                             np.full((1,) + tm.graph.input.shape, 127)]).astype(np.int8)
        out.append((tm.graph, xq, run_oracle("tflm", tm, xq).outputs))
    for i, (case, (shape, build)) in enumerate(sorted(cases_mod.KERAS_CASES.items())):
        keras.utils.set_random_seed(1)
        inp = keras.Input(shape)
        model = keras.Model(inp, build(inp), name=case)
        randomize(model, seed=2)
        g = graph_from_keras(model, f"k{i}_{case}")
        optimize(g)
        quantize_graph(g, rand(shape, 64, seed=3))
        xq = g.input.q.quantize(rand(shape, 3, seed=4))
        out.append((g, xq, int8_output(g, xq)))
    return out


layers = cases_mod.layers


@pytest.mark.parametrize("board_name", BOARDS)
def test_binary_ops_bit_exact_on_target(board_name, items):
    board = get_board(board_name)
    target = get_target(board)
    rendered = [(g, render(g, board=board), xq, want) for g, xq, want in items]
    wrong = []
    for grp in groups(rendered, lambda it: it[1].plan.arena_size + it[0].input.size, RAM_FOR_ARENAS[board.arch]):
        outs, _ = run_bundle(target, [it[0] for it in grp], [it[1] for it in grp], [it[2] for it in grp])
        wrong += [g.name for (g, _, _, want), got in zip(grp, outs) if not np.array_equal(got, want.reshape(got.shape))]
    assert not wrong, f"differ on {board_name}: {wrong}"
