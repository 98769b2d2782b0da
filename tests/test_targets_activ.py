"""The ops of test_ops_activ.py and test_reduce_axes.py on the targets:
cross-compiled, run in simavr on the Uno's ATmega328P and in QEMU on a
Cortex-M4, byte for byte against mcugen's reference (which the other two
files hold equal to TFLM for the .tflite cases)."""
from __future__ import annotations

import numpy as np
import pytest

import test_ops_activ
import test_reduce_axes
from conftest import int8_rows
from mcugen.boards import get_board
from mcugen.emit import render
from mcugen.keras_loader import graph_from_keras
from mcugen.passes import optimize
from mcugen.quantize import quantize_graph
from mcugen.reference import int8_output
from mcugen.targets import get_target
from mcugen.targets.bundle import groups, run_bundle
from mcugen.tflite.loader import graph_from_tflite

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BOARDS = ["uno", "qemu_m4"]
# Static RAM one image may give the models' arenas and inputs, and the bytes
# of test vectors in its one flash array; the Uno has 2 KiB of SRAM.
RAM_FOR_ARENAS = {"uno": 900, "qemu_m4": 1 << 20}
MODELS_PER_IMAGE = {"uno": 12, "qemu_m4": 400}


@pytest.fixture(scope="module")
def items(keras):
    test_ops_activ.L = keras.layers
    rng = np.random.default_rng(21)
    out = []
    for i, case in enumerate(sorted(test_ops_activ.TFLITE_CASES)):
        g = graph_from_tflite(test_ops_activ.convert(keras, case), f"a{i}", case).graph
        out.append((g, int8_rows(g.input.shape, n=1)))
    # The activations all run the one table kernel: two of them stand for the rest.
    keras_cases = [c for c in sorted(test_ops_activ.KERAS_CASES) if not c.startswith(("dense_", "act_"))]
    for i, case in enumerate(keras_cases + ["dense_swish", "act_gelu"]):
        shape, _, rng_range, _ = test_ops_activ.KERAS_CASES[case]
        g = optimize(graph_from_keras(test_ops_activ.build_keras(keras, case), f"k{i}"))
        quantize_graph(g, test_ops_activ.keras_data(shape, rng_range, 64, 3))
        out.append((g, int8_rows(g.input.shape, n=1)))
    # Reductions: every rank-4 axis set of each op (keep_dims off; MEAN and
    # SUM with their own output qparams), the kernels' loops in every shape.
    bases = {op: test_reduce_axes.base_model(keras, op, 4) for op in test_reduce_axes.OPS}
    for i, (op, rank, axes, keep, qin, qout, k) in enumerate(test_reduce_axes.cases()):
        if rank != 4 or keep or (op in ("MEAN", "SUM") and k == 0):
            continue
        data = test_reduce_axes.rewrite(bases[op], axes, keep, qin, qout)
        g = graph_from_tflite(data, f"r{i}", f"{op}{axes}").graph
        xq = np.concatenate([rng.integers(-128, 128, (1,) + g.input.shape), np.full((1,) + g.input.shape, 127)])
        out.append((g, xq.astype(np.int8)))
    return out


@pytest.mark.parametrize("board_name", BOARDS)
def test_activations_and_reductions_on_target(board_name, items):
    board = get_board(board_name)
    target = get_target(board)
    rendered = [(g, render(g, board=board), xq) for g, xq in items]
    wrong, images = [], 0
    for ram in groups(rendered, lambda it: it[1].plan.arena_size + it[0].input.size, RAM_FOR_ARENAS[board_name]):
        for grp in groups(ram, lambda it: 1, MODELS_PER_IMAGE[board_name]):
            outs, _ = run_bundle(target, [g for g, _, _ in grp], [cm for _, cm, _ in grp], [xq for _, _, xq in grp])
            images += 1
            wrong += [g.name for (g, _, xq), got in zip(grp, outs) if not np.array_equal(got, int8_output(g, xq))]
    assert not wrong, f"differ from the reference on {board_name}: {wrong}"
    assert len(items) > 70 and images >= 1
