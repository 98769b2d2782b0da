"""The generated C on the target instruction sets: cross-compiled with the
Debian toolchains, run in simavr (AVR) and QEMU (Cortex-M), byte for byte
against the int8 reference. One firmware image carries many models (a
bundle), so every op case of tests/test_ops.py runs in a few simulator runs,
each on 16 inputs: 8 calibration-like ones and the 8 raw int8 rows of
conftest.edge_rows (all -128, all 127, alternating, random bytes). Whole
networks run 16 inputs in a trace build: every layer's output is compared."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import test_models
import test_ops
from conftest import edge_rows, rand, randomize
from target_trace import first_wrong_layer, traced_bundle
from mcugen.boards import all_boards, get_board
from mcugen.emit import render
from mcugen.keras_loader import graph_from_keras
from mcugen.passes import optimize
from mcugen.quantize import quantize_graph
from mcugen.reference import int8_output, run_int8
from mcugen.targets import get_target
from mcugen.targets.bundle import groups, run_bundle

ROOT = Path(__file__).resolve().parents[1]
# One board per simulated architecture / core.
SIM_BOARDS = ["mega2560", "qemu_m3", "qemu_m4", "qemu_m7", "qemu_m33", "pico"]
RAM_FOR_ARENAS = {"avr": 4500, "arm": 1 << 20}
# Test vectors of one image live in one flash array: avr-gcc limits an array
# to 32,767 bytes; the MPS2 machines have 4 MB of flash.
VECTOR_BYTES = {"avr": 32_000, "arm": 1 << 20}
MAX_RUNS = {"avr": 40, "arm": 4}  # simulator runs for every op case: the cost, bounded


def _graph(keras, name, model, shape, n_test=8):
    g = graph_from_keras(model, name)
    optimize(g)
    quantize_graph(g, rand(shape, 64, seed=3))
    return g, np.concatenate([g.input.q.quantize(rand(shape, n_test, seed=4)), edge_rows(g.input.shape)])


@pytest.fixture(scope="module")
def op_graphs(keras):
    test_ops.L = keras.layers
    out = []
    for i, case in enumerate(sorted(test_ops.CASES)):
        shape, build = test_ops.CASES[case]
        keras.utils.set_random_seed(1)
        inp = keras.Input(shape)
        model = keras.Model(inp, build(inp), name=case)
        randomize(model, seed=2)
        out.append(_graph(keras, f"op{i}_{case}", model, shape))
    return out


@pytest.fixture(scope="module")
def model_graphs(keras):
    out = []
    for name, make in sorted(test_models.MODELS.items()):
        keras.utils.set_random_seed(0)
        model, shape = make(keras, keras.layers)
        randomize(model, seed=5)
        out.append(_graph(keras, f"net_{name}", model, shape))
    return out


def run_all(board_name, items):
    board = get_board(board_name)
    target = get_target(board)
    rendered = [(g, render(g, board=board), xq) for g, xq in items]
    budget = RAM_FOR_ARENAS[board.arch]
    wrong, runs = [], 0
    # Each model's arena and input buffer in RAM; the test vectors of one
    # image in one flash array (padded to the largest input of the image).
    ram = groups(rendered, lambda it: it[1].plan.arena_size + it[0].input.size, budget)
    for grp in [sub for r in ram for sub in groups(r, lambda it, r=r: len(it[2]) * max(x[0].input.size for x in r),
                                                      VECTOR_BYTES[board.arch])]:
        outs, _ = run_bundle(target, [g for g, _, _ in grp], [cm for _, cm, _ in grp], [xq for _, _, xq in grp])
        runs += 1
        for (g, _, xq), got in zip(grp, outs):
            if not np.array_equal(got, int8_output(g, xq)):
                wrong.append(g.name)
    return wrong, runs


@pytest.mark.parametrize("board", SIM_BOARDS)
def test_every_op_bit_exact_on_target(board, op_graphs):
    assert all(len(xq) >= 16 for _, xq in op_graphs)
    wrong, runs = run_all(board, op_graphs)
    assert not wrong, f"differ on {board}: {wrong}"
    assert runs <= MAX_RUNS[get_board(board).arch], runs


@pytest.mark.parametrize("board", SIM_BOARDS)
def test_whole_models_bit_exact_on_target(board, model_graphs):
    """Every layer of every network, 16 inputs each, from a trace build."""
    b = get_board(board)
    target = get_target(b)
    items = [(g, render(g, board=b), xq) for g, xq in model_graphs]
    wrong = []
    for grp in groups(items, lambda it: it[1].plan.arena_size + it[0].input.size, RAM_FOR_ARENAS[b.arch]):
        traces = traced_bundle(target, [g for g, _, _ in grp], [cm for _, cm, _ in grp], [xq for _, _, xq in grp])
        for (g, _, xq), tr in zip(grp, traces):
            assert len(xq) == 16
            ref = run_int8(g, xq)
            where = first_wrong_layer(g, tr, [ref[op.outputs[0]] for op in g.ops])
            if where:
                wrong.append(f"{g.name}: {where}")
    assert not wrong, f"differ on {board}: {wrong}"


def test_every_board_file_is_complete():
    for name, b in all_boards().items():
        assert b.flash_budget > 0 and b.sram_budget > 0, name
        assert b.arch in ("avr", "arm") and b.clock_hz > 0
        assert b.simulator.get("machine"), f"{name}: no simulator machine"
        assert get_board(name) is b
        for alias in b.aliases:
            assert get_board(alias) is b


def test_generated_sources_compile_for_every_board(tmp_path, keras):
    """The model library and the Unity golden test of a generated project
    compile with each board's cross compiler and flags, warning-free."""
    from mcugen.pipeline import prepare
    from mcugen.project import write_project

    p = prepare(ROOT / "examples" / "digits_cnn.h5", ROOT / "examples" / "digits_calib.npz")
    for name, board in all_boards().items():
        cm = render(p.graph, board=board)
        proj = write_project(tmp_path / name, p.graph, cm, board, p.graph.input.q.quantize(p.calib[:2]))
        lib = proj / "lib" / cm.name
        cmd = [board.toolchain["cc"], *board.toolchain["cflags"], "-std=c99", "-Wall", "-Wextra", "-Werror",
               "-I", str(lib), "-I", str(ROOT / "tests" / "unity_stub"), "-c"]
        for src in (lib / f"{cm.name}.c", proj / "test" / "test_model" / "test_main.c"):
            r = subprocess.run(cmd + [str(src), "-o", str(tmp_path / f"{name}.o")], capture_output=True, text=True)
            assert r.returncode == 0, f"{name}: {src.name}: {r.stderr}"


def test_golden_unity_test_runs_on_host(tmp_path, keras):
    """The project's test/ file (what `pio test -e native` runs) passes on the
    host against the stand-in for Unity, and fails when the model is wrong."""
    from mcugen.pipeline import prepare
    from mcugen.project import write_project

    p = prepare(ROOT / "examples" / "digits_cnn.h5", ROOT / "examples" / "digits_calib.npz")
    board = get_board("uno")
    cm = render(p.graph, board=board)
    proj = write_project(tmp_path / "uno", p.graph, cm, board, p.graph.input.q.quantize(p.calib[:4]))
    lib = proj / "lib" / cm.name
    test_c = proj / "test" / "test_model" / "test_main.c"

    def run(test_file):
        exe = tmp_path / "golden"
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                        "-I", str(lib), "-I", str(ROOT / "tests" / "unity_stub"), str(lib / f"{cm.name}.c"),
                        str(test_file), "-o", str(exe)], check=True)
        return subprocess.run([str(exe)], capture_output=True, text=True)

    ok = run(test_c)
    assert ok.returncode == 0 and "1 Tests 0 Failures" in ok.stdout, ok.stdout
    # One golden output byte changed: the test must notice.
    text = test_c.read_text()
    head, rest = text.split("golden_outputs[", 1)
    decl, body = rest.split("{", 1)
    first, tail = body.lstrip().split(",", 1)
    broken = tmp_path / "broken_test.c"
    broken.write_text(f"{head}golden_outputs[{decl}{{\n    {int(first) ^ 1},{tail}")
    assert run(broken).returncode != 0


@pytest.mark.parametrize("model, calib", [("digits_mlp.h5", "digits_mlp_calib.npz"),
                                          ("timeseries_cnn.h5", "timeseries_calib.npz")])
def test_bundled_avr_examples_bit_exact_on_uno(model, calib, keras):
    """The examples the AVR kernels are measured on (README, AVR kernels) run
    byte for byte on the Uno's ATmega328P: every layer through the AVR
    kernels, the softmax through its exp() table."""
    from mcugen.pipeline import prepare
    from mcugen.verify import run_verify

    r = run_verify(prepare(ROOT / "examples" / model, ROOT / "examples" / calib), get_board("uno"), n=4)
    assert r.bit_exact == r.inputs == 4
