"""Activations: TFLite's HARD_SWISH and PRELU byte for byte with TFLM (and
LiteRT) and the generated C; Keras' PReLU, ELU, the swish / gelu /
hard_sigmoid / softplus / softsign activations (as ``activation=`` and as
Activation layers), Rescaling and Normalization bit-exact between the C and
mcugen's reference and close to float."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import rand, randomize, roundtrip
from mcugen.compare import DIVERGENT
from mcugen.emit import render
from mcugen.host import run_host
from mcugen.reference import run_int8
from mcugen.tflite_loader import graph_from_tflite
from mcugen.tflite_quantizer import convert_keras
from test_tflite_ops import oracle_bytes, rewrite_qparams

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

L = None  # keras.layers, bound in the fixture


@pytest.fixture(scope="module")
def layers(keras):
    global L
    L = keras.layers
    return L


def prelu(**kw):
    import keras

    return L.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.6, 0.9, seed=3), **kw)


# name -> (input shape, builder, TFLite ops expected)
TFLITE_CASES = {
    "prelu_full": ((4, 3), lambda x: prelu()(x), ["PRELU"]),
    "prelu_per_channel": ((3, 4, 2), lambda x: prelu(shared_axes=[1, 2])(x), ["PRELU"]),
    "prelu_shared_channels": ((3, 4, 2), lambda x: prelu(shared_axes=[3])(x), ["PRELU"]),
    "prelu_after_conv": ((5, 5, 2), lambda x: prelu(shared_axes=[1, 2])(L.Conv2D(4, 3)(x)), ["CONV_2D", "PRELU"]),
    "hard_swish": ((16,), lambda x: L.Activation("hard_swish")(x), ["HARD_SWISH"]),
    "hard_swish_after_dense": ((8,), lambda x: L.Activation("hard_swish")(L.Dense(12)(x)),
                               ["FULLY_CONNECTED", "HARD_SWISH"]),
}


def convert(keras, case: str, lo=-3.0, hi=3.0) -> bytes:
    shape, build, _ = TFLITE_CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=case)
    calib = np.random.default_rng(3).uniform(lo, hi, (48,) + shape).astype(np.float32)
    return convert_keras(model, calib)


def edge_inputs(shape, n=64, seed=4):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.integers(-128, 128, (n,) + shape), np.full((1,) + shape, -128),
                           np.full((1,) + shape, 127)]).astype(np.int8)


@pytest.mark.parametrize("case", sorted(TFLITE_CASES))
def test_tflite_op_matches_tflm(case, keras, layers):
    tm = graph_from_tflite(convert(keras, case), case, case)
    assert tm.op_names == TFLITE_CASES[case][2]
    g = tm.graph
    xq = edge_inputs(g.input.shape)
    ref = run_int8(g, xq)
    host = run_host(g, render(g, case), xq, sanitize=True)
    for op, got in zip(g.ops, host.layers):
        assert np.array_equal(got, ref[op.outputs[0]]), f"C differs from the int8 reference at {op.name!r}"
    theirs = oracle_bytes(tm, xq)
    assert np.array_equal(host.outputs, theirs["tflm"]), (
        f"differs from TFLM on {np.mean(host.outputs != theirs['tflm']):.1%} of bytes")
    if set(tm.op_names) & set(DIVERGENT["litert"]):  # LiteRT's FULLY_CONNECTED rounds once
        assert np.abs(host.outputs.astype(int) - theirs["litert"]).max() <= 4
    else:
        assert np.array_equal(host.outputs, theirs["litert"]), "differs from LiteRT"


@pytest.mark.parametrize("op", ["HARD_SWISH", "PRELU"])
def test_tflite_quantization_sweep(op, keras, layers):
    """Every input byte at 30 random input / output quantizations."""
    case = {"HARD_SWISH": "hard_swish", "PRELU": "prelu_full"}[op]
    base = convert(keras, case)
    rng = np.random.default_rng(12)
    tm = graph_from_tflite(base, case, case)
    xq = np.resize(np.arange(-128, 128, dtype=np.int8), (22,) + tm.graph.input.shape)
    checked = 0
    for _ in range(30):
        s_in = 10 ** rng.uniform(-3, -0.5)
        s_out = s_in * 10 ** rng.uniform(-0.5, 1.0)
        model = rewrite_qparams(base, (s_in, rng.integers(-128, 128)), (s_out, rng.integers(-128, 128)))
        tm = graph_from_tflite(model, case, case)
        ours = run_int8(tm.graph, xq)[tm.graph.outputs[0]]
        theirs = oracle_bytes(tm, xq)
        for oracle in ("tflm", "litert"):
            assert np.array_equal(ours, theirs[oracle]), f"{op} differs from {oracle} at {tm.graph.input.q} -> {tm.graph.output.q}"
        checked += 1
    assert checked == 30
