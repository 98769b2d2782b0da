"""Activations: TFLite's HARD_SWISH and PRELU byte for byte with TFLM (and
LiteRT) and the generated C; Keras' PReLU, ELU, the swish / gelu /
hard_sigmoid / softplus / softsign activations (as ``activation=`` and as
Activation layers), Rescaling and Normalization bit-exact between the C and
mcugen's reference and close to float."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import int8_rows, rand, randomize, roundtrip
from mcugen.emit import render
from mcugen.host import run_host
from mcugen.reference import run_int8
from mcugen.tflite.loader import graph_from_tflite
from mcugen.tflite_quantizer import convert_keras
from test_tflite_ops import host_matches_oracles, oracle_bytes, rewrite_qparams

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




@pytest.mark.parametrize("case", sorted(TFLITE_CASES))
def test_tflite_op_matches_tflm(case, keras, layers):
    tm = graph_from_tflite(convert(keras, case), case, case)
    assert tm.op_names == TFLITE_CASES[case][2]
    host_matches_oracles(tm, int8_rows(tm.graph.input.shape), case)


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


def normalization(data, **kw):
    layer = L.Normalization(**kw)
    layer.adapt(data)
    return layer


PIXELS = np.random.default_rng(7).uniform(0, 255, (64, 4, 4, 3)).astype(np.float32)
# Channels of different means and spreads (within a factor of 6: one int8 scale holds the input).
SERIES = (np.random.default_rng(8).normal(size=(64, 6)) * [1, 2, 0.5, 3, 1.5, 1] + [0, 3, -1, 5, 2, -4]).astype(np.float32)
ACTS = ["swish", "silu", "gelu", "hard_sigmoid", "softplus", "softsign", "elu", "hard_swish"]

# name -> (input shape, builder, input range, ops expected after optimize)
KERAS_CASES = {
    **{f"dense_{a}": ((10,), lambda x, a=a: L.Dense(6, activation=a)(x), (-2, 2), ["dense", "elementwise"])
       for a in ACTS},
    **{f"act_{a}": ((10,), lambda x, a=a: L.Activation(a)(L.Dense(6)(x)), (-2, 2), ["dense", "elementwise"])
       for a in ACTS},
    # Keras 3's other activations of one value (defaults only: celu alpha 1, squareplus b 4, shrink 0.5)
    **{f"act_{a}": ((10,), lambda x, a=a: L.Activation(a)(L.Dense(6)(x)), (-2, 2), ["dense", "elementwise"])
       for a in ["celu", "exponential", "hard_tanh", "hard_shrink", "soft_shrink", "log_sigmoid", "sparse_plus",
                 "sparse_sigmoid", "squareplus", "tanh_shrink", "selu", "mish"]},
    "conv_swish": ((6, 6, 2), lambda x: L.Conv2D(4, 3, activation="swish")(x), (-2, 2), ["conv2d", "elementwise"]),
    "elu_layer": ((10,), lambda x: L.ELU(alpha=0.5)(L.Dense(6)(x)), (-2, 2), ["dense", "elementwise"]),
    "prelu_full": ((4, 3), lambda x: prelu()(L.Dense(3)(x)), (-2, 2), ["dense", "prelu"]),
    "prelu_per_channel": ((5, 5, 2), lambda x: prelu(shared_axes=[1, 2])(L.Conv2D(4, 3)(x)), (-2, 2),
                          ["conv2d", "prelu"]),
    "prelu_shared_channels": ((5, 5, 2), lambda x: prelu(shared_axes=[3])(L.Conv2D(4, 3)(x)), (-2, 2),
                              ["conv2d", "prelu"]),
    "rescaling_first": ((4, 4, 3), lambda x: L.Conv2D(4, 3)(L.Rescaling(1 / 255)(x)), (0, 255), ["affine", "conv2d"]),
    "rescaling_offset_first": ((4, 4, 3), lambda x: L.Conv2D(4, 3)(L.Rescaling(1 / 127.5, offset=-1)(x)), (0, 255),
                               ["affine", "conv2d"]),
    "rescaling_per_channel": ((4, 4, 3), lambda x: L.Conv2D(4, 3)(L.Rescaling([0.01, 0.02, 0.005], offset=-0.5)(x)),
                              (0, 255), ["batchnorm", "conv2d"]),
    "rescaling_middle": ((10,), lambda x: L.Dense(4)(L.Rescaling(0.5, offset=0.25)(L.Dense(6)(x))), (-2, 2),
                         ["dense", "affine", "dense"]),
    "normalization_first": ((6,), lambda x: L.Dense(4)(normalization(SERIES)(x)), None, ["batchnorm", "dense"]),
    "normalization_scalar": ((6,), lambda x: L.Dense(4)(normalization(SERIES, axis=None)(x)), None,
                             ["affine", "dense"]),
    # after a Dense: folded into it, as a BatchNormalization is
    "normalization_invert": ((6,), lambda x: normalization(SERIES, invert=True)(L.Dense(6)(x)), (-2, 2), ["dense"]),
}


def keras_data(shape, rng_range, n, seed):
    if rng_range is None:
        return SERIES[np.random.default_rng(seed).integers(0, len(SERIES), n)]
    return rand(shape, n=n, seed=seed, lo=rng_range[0], hi=rng_range[1])


def build_keras(keras, case):
    shape, build, _, _ = KERAS_CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=case)
    for layer in model.layers:  # random biases, PReLU alphas and Normalization statistics stay
        if type(layer).__name__ in ("Dense", "Conv2D"):
            randomize(keras.Sequential([layer]), seed=2)
    return model


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_keras_layer(case, keras, layers):
    shape, _, rng_range, kinds = KERAS_CASES[case]
    model = build_keras(keras, case)
    x_test = keras_data(shape, rng_range, 24, 4)
    x_calib = np.concatenate([keras_data(shape, rng_range, 64, 3), x_test])
    r = roundtrip(model, x_calib, x_test)
    assert [op.kind for op in r.graph.ops] == kinds
    assert r.float_err < 1e-5, f"float IR differs from Keras by {r.float_err}"
    assert r.exact, f"C differs from the int8 reference, first at layer {r.first_mismatch!r}"
    assert r.int8_err_steps <= 6, f"int8 output {r.int8_err_steps:.2f} steps away from float"
    g = r.graph
    if {op.kind for op in g.ops} - {"dense", "conv2d", "elementwise"}:
        # Edge bytes through the new kernels (a table has no edge beyond its
        # 256 entries): all -128, all 127, random.
        xq = int8_rows(g.input.shape, n=16)
        host = run_host(g, render(g, case), xq, sanitize=True)
        assert np.array_equal(host.outputs, run_int8(g, xq)[g.outputs[0]])


def test_rescaling_on_the_input_is_folded(keras, layers):
    """Rescaling(1/255) as the first layer costs nothing at run time: the
    model input takes its quantization, the op emits no code and the raw
    pixel bytes are what the conv reads."""
    model = build_keras(keras, "rescaling_first")
    r = roundtrip(model, keras_data((4, 4, 3), (0, 255), 64, 3), keras_data((4, 4, 3), (0, 255), 8, 4))
    g = r.graph
    affine = g.ops[0]
    assert affine.folded and affine.kernels(g) == [] and affine.c_call(g, None) == ""
    assert g.input.q.scale == pytest.approx(g.q(affine.outputs[0]).scale * 255, rel=1e-6)
    assert "mcg_lut_s8" not in render(g, "fold").source
    # Rescaling(1/127.5, offset=-1): offset / scale is not a whole number of
    # steps at the calibrated scale, so it stays a table lookup.
    model = build_keras(keras, "rescaling_offset_first")
    r = roundtrip(model, keras_data((4, 4, 3), (0, 255), 64, 3), keras_data((4, 4, 3), (0, 255), 8, 4))
    assert not r.graph.ops[0].folded and "mcg_lut_s8" in render(r.graph, "table").source


def test_elementwise_activations_stay_table_lookups(keras, layers):
    """Every activation of one int8 value compiles to the 256-byte table
    kernel (what keeps them cheap in an Uno's inner loops)."""
    for case in [c for c in KERAS_CASES if c.startswith(("dense_", "act_"))] + ["elu_layer"]:
        model = build_keras(keras, case)
        shape, _, rng_range, _ = KERAS_CASES[case]
        from mcugen.keras_loader import graph_from_keras
        from mcugen.passes import optimize
        from mcugen.quantize import quantize_graph

        g = optimize(graph_from_keras(model, case))
        quantize_graph(g, keras_data(shape, rng_range, 32, 3))
        act = g.ops[-1]
        assert act.kernels(g) == ["lut"] and act.table.shape == (256,), case
