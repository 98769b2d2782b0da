"""TFLite's bytes on the targets: the one-op .tflite cases of
test_tflite_ops.py and the whole networks of test_tflite_models.py (untrained
here: exactness needs no training), read from TFLiteConverter's flatbuffers,
cross-compiled, run in simavr (AVR) and QEMU (Cortex-M4, and M0+ code on the
M3 machine), byte-identical with TFLM's interpreter (with LiteRT where TFLM
is the odd one out, and tests/tflite_int8_oracle.py where TFLM cannot run
the model; see test_tflite_ops.py). Each case runs 16 inputs: 8 random ones
(calibration-like for the networks) and the 8 raw int8 rows of
conftest.edge_rows; the networks run in a trace build, every layer compared
with the int8 reference and the output with the oracle."""
from __future__ import annotations

import numpy as np
import pytest

import test_tflite_models
import tflite_int8_oracle
import test_tflite_ops
from conftest import edge_rows, randomize
from target_trace import first_wrong_layer, traced_bundle
from mcugen.boards import get_board
from mcugen.emit import render
from mcugen.errors import McugenError
from mcugen.oracles import run_oracle
from mcugen.reference import run_int8
from mcugen.targets import get_target
from mcugen.targets.bundle import groups, run_bundle
from mcugen.tflite.loader import graph_from_tflite
from mcugen.tflite_quantizer import convert_keras

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BOARDS = ["mega2560", "qemu_m4", "pico"]
RAM_FOR_ARENAS = {"avr": 4500, "arm": 1 << 20}


def _expected(tm, xq):
    """TFLM's output bytes, or LiteRT's where TFLM is the odd one out (a
    standalone RELU6 with its own output range). Where TFLM cannot run the
    model (Dense on a rank-3 input) and LiteRT's FULLY_CONNECTED rounds
    differently, tests/tflite_int8_oracle.py (TFLite's reference kernels
    written out, checked against TFLM in test_tflite_ops.py) is exact."""
    g = tm.graph
    relu6_apart = any(tm.op_info[op.name][1] == "RELU6" and g.q(op.inputs[0]) != g.q(op.outputs[0]) for op in g.ops)
    if not relu6_apart:
        try:
            return run_oracle("tflm", tm, xq).outputs
        except McugenError:
            if "FULLY_CONNECTED" in tm.op_names:
                return tflite_int8_oracle.run(tm.model_bytes, xq).reshape((len(xq),) + g.output.shape)
    return run_oracle("litert", tm, xq).outputs


@pytest.fixture(scope="module")
def cases(keras):
    test_tflite_ops.L = keras.layers
    rng = np.random.default_rng(11)
    out = []
    for i, case in enumerate(sorted(test_tflite_ops.CASES)):
        tm = graph_from_tflite(test_tflite_ops.convert_case(keras, case, True), f"t{i}_{case}", case)
        xq = np.concatenate([rng.integers(-128, 128, (8,) + tm.graph.input.shape).astype(np.int8),
                             edge_rows(tm.graph.input.shape)])
        out.append((tm, xq, _expected(tm, xq)))
    for name, make in sorted(test_tflite_models.MODELS.items()):
        keras.utils.set_random_seed(0)
        model, shape = make(keras, keras.layers)
        randomize(model, seed=5)
        calib = rng.uniform(0, 1, (32,) + shape).astype(np.float32)
        tm = graph_from_tflite(convert_keras(model, calib), f"net_{name}", name)
        xq = np.concatenate([tm.graph.input.q.quantize(rng.uniform(0, 1, (8,) + shape)), edge_rows(tm.graph.input.shape)])
        out.append((tm, xq, _expected(tm, xq)))
    return out


def image_groups(items, board):
    """Items (graph, C model, inputs, ...) split so that each image's arenas fit
    the machine's RAM and its test vectors one flash array (avr-gcc: < 32 KB)."""
    ram = groups(items, lambda it: it[1].plan.arena_size + it[0].input.size, RAM_FOR_ARENAS[board.arch])
    cap = 32_000 if board.arch == "avr" else 1 << 20
    return [sub for r in ram for sub in groups(r, lambda it, r=r: len(it[2]) * max(x[0].input.size for x in r), cap)]


def _is_net(tm) -> bool:
    return tm.graph.name.startswith("net_")


@pytest.mark.parametrize("board_name", BOARDS)
def test_tflite_bytes_on_target(board_name, cases):
    board = get_board(board_name)
    target = get_target(board)
    items = [(tm.graph, render(tm.graph, board=board), xq, want) for tm, xq, want in cases if not _is_net(tm)]
    assert all(len(it[2]) >= 16 for it in items)
    wrong = []
    for grp in image_groups(items, board):
        outs, _ = run_bundle(target, [it[0] for it in grp], [it[1] for it in grp], [it[2] for it in grp])
        wrong += [g.name for (g, _, _, want), got in zip(grp, outs) if not np.array_equal(got, want.reshape(got.shape))]
    assert not wrong, f"differ from TFLite on {board_name}: {wrong}"


@pytest.mark.parametrize("board_name", BOARDS)
def test_tflite_networks_every_layer_on_target(board_name, cases):
    """The networks in a trace build: every layer equals the int8 reference
    (which equals TFLM's tensors on the host), the output equals the oracle."""
    board = get_board(board_name)
    target = get_target(board)
    items = [(tm.graph, render(tm.graph, board=board), xq, want) for tm, xq, want in cases if _is_net(tm)]
    assert items and all(len(it[2]) == 16 for it in items)
    wrong = []
    for grp in image_groups(items, board):
        traces = traced_bundle(target, [it[0] for it in grp], [it[1] for it in grp], [it[2] for it in grp])
        for (g, _, xq, want), tr in zip(grp, traces):
            ref = run_int8(g, xq)
            where = first_wrong_layer(g, tr, [ref[op.outputs[0]] for op in g.ops])
            if where is None and not all(np.array_equal(t[len(g.ops) - 1], w.reshape(-1)) for t, w in zip(tr, want)):
                where = "the output differs from TFLite's"
            if where:
                wrong.append(f"{g.name}: {where}")
    assert not wrong, f"differ on {board_name}: {wrong}"
