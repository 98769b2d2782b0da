"""The recurrent kernels (gru, simple_rnn over rnn_act16) on the target
instruction sets: every case of tests/test_rnn.py cross-compiled (each
board's compiler and flags, -Wall -Wextra -Werror) and run in simavr (AVR)
and QEMU (Cortex-M4, Cortex-M0+), byte for byte against the integer
reference on 16 inputs each (8 calibration-like, the 8 raw edge rows); the
streaming (stateful) cases run their 16 rows as one sequence of invocations."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import test_rnn
from conftest import edge_rows, rand
from mcugen.boards import get_board
from mcugen.emit import render
from mcugen.keras_loader import graph_from_keras
from mcugen.passes import optimize
from mcugen.quantize import quantize_graph
from mcugen.reference import int8_output
from mcugen.targets import get_target
from mcugen.targets.bundle import groups, run_bundle

ROOT = Path(__file__).resolve().parents[1]
BOARDS = ["mega2560", "qemu_m4", "pico"]
RAM = {"avr": 4500, "arm": 1 << 20}


@pytest.fixture(scope="module")
def rnn_graphs(keras):
    test_rnn.L = keras.layers
    out = []
    for i, case in enumerate(sorted(test_rnn.CASES)):
        model, shape = test_rnn.build(keras, case)
        g = graph_from_keras(model, f"rnn{i}_{case}")
        optimize(g)
        quantize_graph(g, rand(shape, 64, seed=3))
        out.append((g, np.concatenate([g.input.q.quantize(rand(shape, 8, seed=4)), edge_rows(g.input.shape)])))
    for i, case in enumerate(sorted(test_rnn.STATEFUL)):  # the 16 rows are one sequence of invocations
        model, shape = test_rnn.build_stateful(keras, case)
        g = graph_from_keras(model, f"stream{i}_{case}")
        optimize(g)
        quantize_graph(g, rand(shape, 64, seed=3))
        out.append((g, np.concatenate([g.input.q.quantize(rand(shape, 8, seed=4)), edge_rows(g.input.shape)])))
    return out


@pytest.mark.parametrize("board", BOARDS)
def test_recurrent_layers_bit_exact_on_target(board, rnn_graphs):
    b = get_board(board)
    target = get_target(b)
    items = [(g, render(g, board=b), xq) for g, xq in rnn_graphs]
    wrong = []
    for grp in groups(items, lambda it: it[1].plan.arena_size + it[0].input.size, RAM[b.arch]):
        outs, _ = run_bundle(target, [g for g, _, _ in grp], [cm for _, cm, _ in grp], [xq for _, _, xq in grp])
        for (g, _, xq), got in zip(grp, outs):
            if not np.array_equal(got, int8_output(g, xq)):
                wrong.append(g.name)
    assert not wrong, f"differ on {board}: {wrong}"


@pytest.mark.parametrize("board", ["uno", "qemu_m4", "pico"])
def test_generated_sources_compile_warning_free(tmp_path, board, rnn_graphs):
    b = get_board(board)
    cmd = [b.toolchain["cc"], *b.toolchain["cflags"], "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"]
    for g, _ in rnn_graphs:
        cm = render(g, board=b)
        cm.write(tmp_path / g.name)
        src = tmp_path / g.name / f"{cm.name}.c"
        r = subprocess.run(cmd + ["-I", str(src.parent), str(src), "-o", str(tmp_path / f"{g.name}.o")],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{board}: {g.name}: {r.stderr}"
