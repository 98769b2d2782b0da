"""The foundation of recurrent and 16x8 models, on a graph built by hand:
int16 tensors beside int8 ones (sizes, alignment, the C types of the API and
of the harnesses), and a variable tensor that keeps its value from one
invocation to the next, reset as TFLM resets it.

The op here is a test double (a running sum kept in an int16 state, written
as an inline C loop): the real stateful ops (SVDF, LSTM) and int16 kernels
have their own tests against TFLM; this file checks the plumbing they share."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mcugen.emit import render
from mcugen.host import as_bytes, from_bytes, run_host
from mcugen.ir import Graph, Op, QParams
from mcugen.planner import plan_memory
from mcugen.reference import run_int


@dataclass(kw_only=True)
class RunningSum(Op):
    """state = sat16(state + x); out = sat16(state + bias)."""

    kind = "running_sum"
    bias: int = 0

    def forward_int(self, g, xs):
        raise AssertionError("a stateful op runs through forward_int_state")

    def forward_int_state(self, g, xs, state):
        x, s = xs[0].astype(np.int64), xs[1].astype(np.int64)
        new = np.clip(s + x, -32768, 32767)
        state[self.inputs[1]] = new[0].astype(np.int16)
        lo, hi = g.tensors[self.outputs[0]].limits
        return np.clip(new + self.bias, lo, hi).astype(g.tensors[self.outputs[0]].np_dtype)

    def c_call(self, g, c):
        x, s, y = c.tensor(self.inputs[0]), c.tensor(self.inputs[1]), c.tensor(self.outputs[0])
        lo, hi = g.tensors[self.outputs[0]].limits
        ct = g.tensors[self.outputs[0]].ctype
        n = g.tensors[self.outputs[0]].size
        return (f"{{ const int8_t *x = {x}; int16_t *s = {s}; {ct} *y = {y}; uint32_t i; "
                f"for (i = 0; i < {n}u; ++i) {{ int32_t v = (int32_t)s[i] + x[i]; "
                f"v = v < -32768 ? -32768 : (v > 32767 ? 32767 : v); s[i] = (int16_t)v; v += {self.bias}; "
                f"y[i] = ({ct})(v < {lo} ? {lo} : (v > {hi} ? {hi} : v)); }} }}")


def graph(out_dtype: str = "int16", reset: int = 7, n: int = 5) -> Graph:
    g = Graph("stateful")
    g.add_tensor("x", (n,)).q = QParams(0.5, 0)
    s = g.add_tensor("state", (n,), "int16")
    s.q, s.variable, s.reset_value = QParams(0.5, 0), True, reset
    g.add_tensor("mid", (3, n), "int8").q = QParams(0.5, 0)  # an int8 tensor between, odd-sized
    g.add_tensor("y", (n,), out_dtype).q = QParams(0.5, 0)
    g.inputs, g.outputs = ["x"], ["y"]
    g.ops.append(RunningSum(name="sum", inputs=["x", "state"], outputs=["y"], bias=100))
    return g


def pruned(g: Graph) -> Graph:
    g.prune()
    return g


def test_reference_runs_rows_as_a_sequence():
    g = graph()
    x = np.array([[1, 2, 3, 4, 5], [10, 10, 10, 10, 10], [-128] * 5], np.int8)
    y = run_int(g, x)["y"]
    want = 7 + np.cumsum(x.astype(np.int64), axis=0) + 100
    assert y.dtype == np.int16
    assert np.array_equal(y, want)


@pytest.mark.parametrize("out_dtype", ["int16", "int8"])
def test_host_c_keeps_state_between_invocations(out_dtype):
    g = pruned(graph(out_dtype))
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(300, 5)).astype(np.int8)  # enough rows to reach saturation
    x[20:] = 127
    ref = run_int(g, x)
    run = run_host(g, render(g), x)
    assert run.all_outputs[0].dtype == np.dtype(out_dtype)
    assert np.array_equal(run.all_outputs[0], ref["y"])
    assert np.array_equal(run.layers[0], ref["y"])
    assert ref["y"].max() == (32767 if out_dtype == "int16" else 127)  # the clamps were reached


def test_generated_api_has_types_reset_and_state():
    cm = render(pruned(graph()))
    assert "void stateful_invoke(const int8_t *in, int16_t *out);" in cm.header
    assert "#define STATEFUL_OUTPUT_BYTES 10" in cm.header and "#define STATEFUL_OUTPUT_SIZE 5" in cm.header
    assert "#define STATEFUL_STATE_TENSORS 1" in cm.header
    assert "stateful_reset();" in cm.source and "p[i] = 7;" in cm.source
    assert cm.output_sizes == [10] and cm.output_ctypes == ["int16_t"]


def test_plan_puts_state_first_and_int16_at_even_offsets():
    g = graph()
    g.ops.insert(0, RunningSum(name="pre", inputs=["x", "state"], outputs=["mid"]))  # unused odd int8 buffer
    g.tensors["mid"].shape = (5,)
    plan = plan_memory(g)
    assert plan.offsets["state"] == 0
    state_end = g.tensors["state"].nbytes
    for b in plan.buffers:
        if b.tensors[0] != "state":
            assert b.offset >= state_end  # nothing is ever placed over the state
    assert plan.offsets["y"] % 2 == 0


def test_bytes_are_little_endian_both_ways():
    g = graph()
    y = np.array([[1, -2, 300, -32768, 32767]], np.int16)
    b = as_bytes(y, g.tensors["y"])
    assert b.dtype == np.int8 and b.shape == (1, 10)
    assert list(b[0, :4].view(np.uint8)) == [1, 0, 0xFE, 0xFF]
    assert np.array_equal(from_bytes(b, g.tensors["y"]), y)


def test_project_sketch_and_golden_test_run_the_sequence(tmp_path):
    """The sketch of a model with state runs several inputs in sequence and
    checks every call; the golden test (Unity) checks the whole sequence in
    int16; both fail on a wrong byte."""
    import subprocess
    from pathlib import Path

    from mcugen.boards import get_board
    from mcugen.project import write_project
    from test_sketch_output import run_sketch

    root = Path(__file__).resolve().parents[1]
    g = pruned(graph())
    cm = render(g, board=get_board("qemu_m4"))
    x = np.random.default_rng(1).integers(-128, 128, size=(6, 5)).astype(np.int8)
    y = run_int(g, x)["y"]
    proj = write_project(tmp_path / "p", g, cm, get_board("qemu_m4"), x)
    main = (proj / "src" / "main.cpp").read_text()
    assert "sequence of 4 embedded test" in main and "static const int16_t MCG_FLASH expected_output[4 * " in main
    text = run_sketch(tmp_path, proj, cm.name)
    assert "output bytes: " + " ".join(str(int(v)) for v in y[3]) in text and "reference: match" in text
    lib = proj / "lib" / cm.name
    test_c = proj / "test" / "test_model" / "test_main.c"
    for broken in (False, True):
        src = test_c.read_text()
        if broken:  # the last sample's last value, one LSB off: only a sequence reaches it
            src = src.replace(f"{int(y[5][-1])}\n}};", f"{int(y[5][-1]) + 1}\n}};", 1)
            assert src != test_c.read_text()
        path = tmp_path / f"golden{int(broken)}.c"
        path.write_text(src)
        exe = tmp_path / f"golden{int(broken)}"
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(lib), "-I",
                        str(root / "tests" / "unity_stub"), str(lib / f"{cm.name}.c"), str(path), "-o", str(exe)],
                       check=True)
        r = subprocess.run([str(exe)], capture_output=True, text=True)
        assert (r.returncode != 0) == broken, r.stdout
