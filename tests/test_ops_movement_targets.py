"""The data-movement cases of test_ops_movement.py on the targets: every
converted and edited .tflite cross-compiled, run in simavr (Uno) and QEMU
(Cortex-M4, and the Pico's M0+ code on the M3 machine), byte-identical with
TFLM's interpreter; the Keras cases (Cropping, indexing) byte-identical with
mcugen's int8 reference."""
from __future__ import annotations

import numpy as np
import pytest

from mcugen.boards import get_board
from mcugen.emit import render
from mcugen.oracles import run_oracle
from mcugen.targets import get_target
from mcugen.targets.bundle import groups, run_bundle
from mcugen.tflite.loader import graph_from_tflite
from conftest import rand
from mcugen.keras_loader import graph_from_keras
from mcugen.passes import optimize
from mcugen.quantize import quantize_graph
from mcugen.reference import int8_output
from test_ops_movement import CONVERTED, EDITS, KERAS_CASES, converted, edited, tf  # noqa: F401 - fixtures

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

RAM_FOR_ARENAS = {"uno": 1200, "qemu_m4": 1 << 20, "pico": 1 << 20}


@pytest.fixture(scope="module")
def cases(converted):  # noqa: F811
    rng = np.random.default_rng(12)
    out = []
    models = [(n, converted[n][0]) for n in CONVERTED] + [(n, edited(converted, n)) for n in sorted(EDITS)]
    for i, (name, model) in enumerate(models):
        tm = graph_from_tflite(model, f"m{i}_{name}", name)
        shape = tm.graph.input.shape
        xq = np.concatenate([rng.integers(-128, 128, (2,) + shape), np.full((1,) + shape, -128),
                             np.full((1,) + shape, 127)]).astype(np.int8)
        out.append((tm.graph, xq, run_oracle("tflm", tm, xq).outputs))
    return out


@pytest.fixture(scope="module")
def keras_cases(keras):
    out = []
    for i, (name, (shape, build)) in enumerate(sorted(KERAS_CASES.items())):
        keras.utils.set_random_seed(1)
        inp = keras.Input(shape)
        g = graph_from_keras(keras.Model(inp, build(keras.layers, inp)), f"k{i}_{name}")
        optimize(g)
        quantize_graph(g, rand(shape, 64, seed=3))
        xq = g.input.q.quantize(rand(shape, 3, seed=4))
        out.append((g, xq, int8_output(g, xq)))
    return out


@pytest.mark.parametrize("board_name", sorted(RAM_FOR_ARENAS))
def test_movement_bytes_on_target(board_name, cases, keras_cases):
    board = get_board(board_name)
    target = get_target(board)
    items = [(g, render(g, board=board), xq, want) for g, xq, want in cases + keras_cases]
    wrong, ran = [], 0
    for grp in groups(items, lambda it: it[1].plan.arena_size + it[0].input.size, RAM_FOR_ARENAS[board_name]):
        outs, _ = run_bundle(target, [it[0] for it in grp], [it[1] for it in grp], [it[2] for it in grp])
        ran += len(grp)
        wrong += [g.name for (g, _, _, want), got in zip(grp, outs) if not np.array_equal(got, want.reshape(got.shape))]
    assert ran == len(items) and not wrong, f"differ from TFLM / the reference on {board_name}: {wrong}"
