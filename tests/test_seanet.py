"""TFLM's SEANet integration tests (``../shared/models/tflm/seanet``, data
only, never committed; ``MCUGEN_TFLM_DIR`` points elsewhere): 127
single-operator int16x8 models cut from a streaming speech model, each with
its inputs and the golden output TFLM's integration test requires exactly.

Every model loads; its generated C on the host (ASan/UBSan) equals mcugen's
numpy reference on every layer, and the golden bytes. The ``tflite-micro``
interpreter gives the golden bytes too, except on LEAKY_RELU where the
package evaluates the multipliers' float expression in double (the goldens,
like TFLM's source, in float32: ``mcugen/ops/tflite_lut.py``); there its
bytes are checked to be exactly that double arithmetic, so the difference is
explained, not tolerated. Skipped only when the folder is absent."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from skip_policy import skip_unless_data

ROOT = Path(__file__).resolve().parents[1]
TFLM_DIR = Path(os.environ.get("MCUGEN_TFLM_DIR", ROOT.parent / "shared" / "models" / "tflm"))
SEANET = TFLM_DIR / "seanet"
MODELS = sorted(SEANET.glob("*/*.tflite")) if SEANET.is_dir() else []

pytestmark = [skip_unless_data(SEANET), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def read_csv(path: Path) -> np.ndarray:
    """One line of comma-separated integers; the type is in the file name."""
    dtype = re.search(r"_(int\d+)\.csv$", path.name).group(1)
    return np.array([int(v) for v in path.read_text().split(",")], dtype=dtype)


def given_inputs(model: Path) -> dict[int, np.ndarray]:
    """The subgraph's input k -> its values (flattened)."""
    out = {}
    for p in model.parent.glob(f"{model.stem}_input*_*.csv"):
        out[int(re.search(r"_input(\d+)_", p.name).group(1))] = read_csv(p)
    return out


def golden(model: Path) -> np.ndarray:
    (p,) = model.parent.glob(f"{model.stem}_golden_*.csv")
    return read_csv(p)


def tflm_output(model: Path, given: dict[int, np.ndarray]) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model.read_bytes(), arena_size=1 << 22)
    for k, x in given.items():
        it.set_input(x.reshape(it.get_input_details(k)["shape"]), k)
    it.invoke()
    return it.get_output(0).reshape(-1)


def leaky_relu_in_double(tm, x: np.ndarray) -> np.ndarray:
    """TFLM's int16 LEAKY_RELU with its multipliers computed as the
    ``tflite-micro`` package does: in_scale * alpha / out_scale and
    in_scale / out_scale evaluated in double (alpha a float32). Written from
    TFLite's reference kernel, not from mcugen's op."""
    from mcugen.rounding import multiply_by_quantized_multiplier, quantize_multiplier

    (op,) = tm.graph.ops
    qi, qo = tm.graph.q(op.inputs[0]), tm.graph.q(op.outputs[0])
    alpha = float(np.float32(op.alpha))
    m_a = quantize_multiplier(float(qi.scale) * alpha / float(qo.scale))
    m_id = quantize_multiplier(float(qi.scale) / float(qo.scale))
    v = x.astype(np.int64) - qi.zero_point
    y = np.where(v >= 0, multiply_by_quantized_multiplier(v, *m_id), multiply_by_quantized_multiplier(v, *m_a))
    return np.clip(y + qo.zero_point, -32768, 32767)


def test_the_folder_holds_every_op():
    ops = {p.parent.name for p in MODELS}
    assert ops == {"add", "conv", "leaky_relu", "pad", "quantize", "strided_slice", "sub", "transpose_conv"}, ops
    assert len(MODELS) == 127


@pytest.mark.parametrize("model", MODELS or [None], ids=lambda p: p.stem if p else "none")
def test_seanet_model(model):
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.reference import run_int
    from mcugen.tflite.loader import graph_from_tflite

    tm = graph_from_tflite(model.read_bytes(), model.stem)
    g = tm.graph
    given = given_inputs(model)
    order = list(tm.input_indices or [tm.input_index])
    xs = [given[order.index(tm.tensor_index[t])].reshape((1,) + g.tensors[t].shape) for t in g.inputs]
    ref = run_int(g, xs)
    host = run_host(g, render(g, model.stem), xs, sanitize=True)
    for op, got in zip(g.ops, host.layers):
        assert np.array_equal(got.reshape(-1), ref[op.outputs[0]].reshape(-1)), \
            f"C differs from the reference at {op.name!r}"
    want = golden(model)
    out = np.asarray(host.outputs).reshape(-1)
    assert out.dtype == want.dtype and np.array_equal(out, want), \
        f"{np.mean(out != want):.2%} of values differ from the golden"

    theirs = tflm_output(model, given)
    if np.array_equal(theirs, want):
        return
    assert tm.op_names == ["LEAKY_RELU"], f"TFLM differs from the golden on {tm.op_names}"
    assert np.array_equal(theirs, leaky_relu_in_double(tm, given[0])), "TFLM's bytes are not its double arithmetic"


@pytest.mark.parametrize("model", ["transpose_conv/transpose_conv0", "quantize/quantize1", "sub/sub0"])
def test_compare_meets_its_target(model):
    """``mcugen compare``'s path (prepare, TFLM and LiteRT on random inputs,
    layer by layer) on the files with the unusual edges: an int32 input only
    TRANSPOSE_CONV reads (fed its output shape to the interpreters), an int32
    output, a broadcast operand."""
    from mcugen.compare import run_compare
    from mcugen.pipeline import prepare

    p = prepare(SEANET / f"{model}.tflite", None, warn=lambda m: None)
    c = run_compare(p, n=3, sanitize=True)
    assert c.ok and not c.unchecked, c.notes
    assert c.oracles["tflm"].identical_bytes_ratio == 1.0


@pytest.mark.parametrize("model", ["quantize/quantize0", "quantize/quantize1", "transpose_conv/transpose_conv4",
                                   "sub/sub0", "leaky_relu/leaky_relu0", "strided_slice/strided_slice0"])
def test_cross_compiles(model, tmp_path):
    """The int32 edges, the gathered int64 TRANSPOSE_CONV, a broadcast SUB,
    LEAKY_RELU and a strided copy build warning-free for AVR and Cortex-M4
    (the other 16x8 kernels: tests/test_16x8.py)."""
    from mcugen.emit import render
    from mcugen.tflite.loader import graph_from_tflite
    from test_16x8 import cross_compiles

    path = SEANET / f"{model}.tflite"
    cross_compiles(render(graph_from_tflite(path.read_bytes(), path.stem).graph, path.stem), tmp_path)
