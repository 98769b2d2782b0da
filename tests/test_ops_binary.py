"""Element-wise ops on two run-time tensors, with broadcasting: ADD, MUL, SUB,
SQUARED_DIFFERENCE, MAXIMUM, MINIMUM (mcugen/ops/add.py, binary.py,
minmax.py, broadcast.py).

* .tflite: one- or two-op Keras models converted by TFLiteConverter, read
  by mcugen; the host C equals the int8 reference on every layer and TFLM
  byte for byte (and LiteRT, see SUB below), on random, all -128 and all 127
  inputs.
* Every pair of int8 values: the outer product model (256, 1) op (1, 256)
  run on the 256 byte values, its quantization and fused activation
  rewritten at random, against TFLM.
* Keras: Multiply, Subtract, Maximum, Minimum, Average and Add (broadcast,
  more than two inputs, a ReLU fused) through mcugen's own quantizer: float
  IR equal to Keras, C equal to the reference, int8 close to float.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import edit_tflite, int8_rows, rand, randomize, roundtrip
from mcugen.emit import render
from mcugen.host import run_host
from mcugen.reference import run_int8
from mcugen.tflite.loader import graph_from_tflite
from mcugen.tflite_quantizer import convert_keras
from test_tflite_ops import host_matches_oracles, oracle_bytes

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

L = None  # keras.layers, bound in the fixture
TF = None  # tensorflow, for tf.math.squared_difference


def conv(f, k, **kw):
    return lambda x: L.Conv2D(f, k, **kw)(x)


def gap(x):
    return L.GlobalAveragePooling2D(keepdims=True)(x)


def sqdiff(a, b):
    return L.Lambda(lambda t: TF.math.squared_difference(t[0], t[1]))([a, b])


def scalar(x):
    """A (1, 1, 1) tensor from an (H, W, C) one: a broadcast scalar."""
    return L.Reshape((1, 1, 1))(L.Dense(1)(L.Flatten()(x)))


# name -> (input shape, builder, TFLite ops the file must hold)
TFLITE_CASES = {
    "mul_same": ((5, 5, 3), lambda x: L.Multiply()([conv(4, 3, padding="same")(x), conv(4, 1)(x)]), {"MUL"}),
    "mul_gating": ((12,), lambda x: L.Multiply()([L.Dense(8)(x), L.Activation("sigmoid")(L.Dense(8)(x))]), {"MUL"}),
    "mul_bcast_channel": ((4, 4, 3), lambda x: L.Multiply()([x, gap(conv(3, 1)(x))]), {"MUL"}),
    "mul_bcast_pixel": ((4, 4, 3), lambda x: L.Multiply()([conv(1, 1)(x), x]), {"MUL"}),
    "mul_bcast_scalar": ((4, 4, 3), lambda x: L.Multiply()([x, scalar(x)]), {"MUL"}),
    "mul_bcast_row": ((4, 5, 3), lambda x: L.Multiply()([x, L.AveragePooling2D((4, 1))(x)]), {"MUL"}),
    "mul_relu": ((5, 5, 2), lambda x: L.ReLU()(L.Multiply()([conv(3, 1)(x), conv(3, 3, padding="same")(x)])),
                 {"MUL"}),
    "mul_relu6": ((10,), lambda x: L.ReLU(max_value=6.0)(L.Multiply()([L.Dense(6)(x), L.Dense(6)(x)])), {"MUL"}),
    "sub_same": ((5, 5, 3), lambda x: L.Subtract()([conv(4, 3, padding="same")(x), conv(4, 1)(x)]), {"SUB"}),
    "sub_bcast_channel": ((4, 4, 3), lambda x: L.Subtract()([x, gap(x)]), {"SUB"}),
    "sub_bcast_first": ((4, 4, 3), lambda x: L.Subtract()([scalar(x), x]), {"SUB"}),
    "sub_relu": ((4, 4, 3), lambda x: L.ReLU()(L.Subtract()([conv(3, 1)(x), conv(3, 3, padding="same")(x)])),
                 {"SUB"}),
    "sub_relu6": ((10,), lambda x: L.ReLU(max_value=6.0)(L.Subtract()([L.Dense(6)(x), L.Dense(6)(x)])), {"SUB"}),
    "sqdiff_same": ((4, 4, 3), lambda x: sqdiff(x, conv(3, 1)(x)), {"SQUARED_DIFFERENCE"}),
    "sqdiff_bcast_channel": ((4, 4, 3), lambda x: sqdiff(x, gap(x)), {"SQUARED_DIFFERENCE"}),
    "max_same": ((5, 5, 3), lambda x: L.Maximum()([conv(3, 3, padding="same")(x), conv(3, 1)(x)]), {"MAXIMUM"}),
    "max_bcast_pixel": ((4, 4, 3), lambda x: L.Maximum()([x, conv(1, 1)(x)]), {"MAXIMUM"}),
    "min_bcast_channel": ((4, 4, 3), lambda x: L.Minimum()([gap(conv(3, 1)(x)), x]), {"MINIMUM"}),
    "add_bcast_channel": ((4, 4, 3), lambda x: L.Add()([x, gap(conv(3, 1)(x))]), {"ADD"}),
    "add_bcast_scalar_relu": ((4, 4, 3), lambda x: L.ReLU()(L.Add()([scalar(x), conv(3, 1)(x)])), {"ADD"}),
    "average": ((4, 4, 3), lambda x: L.Average()([x, conv(3, 1)(x)]), {"ADD", "MUL"}),
}


@pytest.fixture(scope="module")
def layers(keras):
    global L, TF
    import tensorflow as tf

    L, TF = keras.layers, tf
    return L


def convert(keras, shape, build, name) -> bytes:
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=name)
    randomize(model, seed=2)
    calib = np.random.default_rng(3).uniform(-1.0, 1.0, (48,) + shape).astype(np.float32)
    return convert_keras(model, calib)




@pytest.mark.parametrize("case", sorted(TFLITE_CASES))
def test_tflite_binary_matches_tflm(case, keras, layers):
    shape, build, ops = TFLITE_CASES[case]
    tm = graph_from_tflite(convert(keras, shape, build, case), case, case)
    assert ops <= set(tm.op_names), tm.op_names
    host_matches_oracles(tm, int8_rows(tm.graph.input.shape), case)


def set_quantization(model: bytes, q_in, q_out, activation: str | None = None) -> bytes:
    """The outer-product model with every tensor but the output quantized as
    q_in, the output as q_out, and the last operator's fused activation set."""
    def change(S, m, sg):
        for i, t in enumerate(sg.tensors):
            if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale) == 1:
                scale, zp = q_out if i == sg.outputs[0] else q_in
                t.quantization.scale, t.quantization.zeroPoint = [float(np.float32(scale))], [int(zp)]
        if activation is not None:
            sg.operators[-1].builtinOptions.fusedActivationFunction = getattr(S.ActivationFunctionType, activation)

    return edit_tflite(model, change)


SWEEP = {
    "MUL": lambda a, b: L.Multiply()([a, b]),
    "SUB": lambda a, b: L.Subtract()([a, b]),
    "ADD": lambda a, b: L.Add()([a, b]),
    "SQUARED_DIFFERENCE": sqdiff,
    "MAXIMUM": lambda a, b: L.Maximum()([a, b]),
    "MINIMUM": lambda a, b: L.Minimum()([a, b]),
}


@pytest.mark.parametrize("op", sorted(SWEEP))
def test_every_pair_of_bytes_at_random_quantizations(op, keras, layers):
    """(256, 1) op (1, 256) on the 256 int8 values: all 65,536 pairs, at 12
    random input and output quantizations (and fused activations where the
    op has them) edited into one converted file, equal to TFLM."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((256,))
    model = keras.Model(inp, SWEEP[op](L.Reshape((256, 1))(inp), L.Reshape((1, 256))(inp)))
    base = convert_keras(model, np.random.default_rng(0).uniform(-2, 2, (16, 256)).astype(np.float32))
    xq = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    rng = np.random.default_rng(17)
    for k in range(12):
        s_in = 10 ** rng.uniform(-3, 0)
        # about the output's range / 255, times up to 10 either way
        s_out = {"MUL": 128 * s_in, "SQUARED_DIFFERENCE": 255 * s_in}.get(op, 2.0) * s_in * 10 ** rng.uniform(-1, 1)
        act = str(rng.choice(["NONE", "RELU", "RELU6"])) if op in ("MUL", "SUB", "ADD") else None
        zp_out = int(rng.integers(-128, 128))
        if act in ("RELU", "RELU6"):  # an output range from about 0, as TFLiteConverter gives a fused ReLU
            zp_out = int(rng.integers(-128, -60))
        if act == "RELU6":  # up to about 6
            s_out = min(s_out, 6.0 / 200)
        tm = graph_from_tflite(set_quantization(base, (s_in, rng.integers(-128, 128)), (s_out, zp_out), act),
                               op.lower(), op)
        assert tm.op_names[-1] == op
        ours = run_int8(tm.graph, xq)[tm.graph.outputs[0]]
        assert len(np.unique(ours)) > 8, f"a degenerate draw: the output hardly varies ({tm.graph.output.q}, {act})"
        tflm = oracle_bytes(tm, xq)["tflm"]
        assert np.array_equal(ours, tflm), f"{op} {act}: {np.sum(ours != tflm)} of 65,536 bytes differ from TFLM"
        if k == 0:
            host = run_host(tm.graph, render(tm.graph, op.lower()), xq, sanitize=True)
            assert np.array_equal(host.outputs, ours.reshape(host.outputs.shape))


KERAS_CASES = {
    "multiply": ((5, 5, 3), lambda x: L.Multiply()([conv(4, 3, padding="same")(x), conv(4, 1)(x)])),
    "multiply_gating": ((12,), lambda x: L.Multiply()([L.Dense(8)(x), L.Dense(8, activation="sigmoid")(x)])),
    "multiply_bcast_channel": ((4, 4, 3), lambda x: L.Multiply()([x, gap(conv(3, 1, activation="sigmoid")(x))])),
    "multiply_three_relu": ((10,), lambda x: L.ReLU()(L.Multiply()([L.Dense(5)(x), L.Dense(5)(x), L.Dense(5)(x)]))),
    "subtract_bcast_pixel": ((4, 4, 3), lambda x: L.Subtract()([x, conv(1, 1)(x)])),
    "subtract_relu6": ((10,), lambda x: L.ReLU(max_value=6.0)(L.Subtract()([L.Dense(6)(x), L.Dense(6)(x)]))),
    "maximum": ((5, 5, 3), lambda x: L.Maximum()([conv(3, 3, padding="same")(x), x])),
    "minimum_bcast_channel": ((4, 4, 3), lambda x: L.Minimum()([gap(conv(3, 1)(x)), x])),
    # a sigmoid's fixed output quantization cannot hold the other input: requantized first
    "maximum_sigmoid": ((9,), lambda x: L.Maximum()([L.Dense(4)(x), L.Dense(4, activation="sigmoid")(x)])),
    "maximum_three": ((9,), lambda x: L.Maximum()([L.Dense(4)(x), L.Dense(4)(x), L.Dense(4)(x)])),
    "average": ((5, 5, 3), lambda x: L.Average()([conv(3, 3, padding="same")(x), x])),
    "average_three": ((9,), lambda x: L.Average()([L.Dense(4)(x), L.Dense(4)(x), L.Dense(4)(x)])),
    "add_bcast_scalar": ((4, 4, 3), lambda x: L.Add()([x, scalar(x)])),
}


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_keras_binary_layers(case, keras, layers):
    shape, build = KERAS_CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=case)
    randomize(model, seed=2)
    x_test = rand(shape, n=24, seed=4)
    r = roundtrip(model, np.concatenate([rand(shape, n=64, seed=3), x_test]), x_test)
    kinds = {op.kind for op in r.graph.ops}
    assert kinds & {"binary", "minmax", "add"}, kinds
    assert r.float_err < 1e-5, f"float IR differs from Keras by {r.float_err}"
    assert r.exact, f"C differs from the int8 reference, first at layer {r.first_mismatch!r}"
    assert r.int8_err_steps <= 6, f"int8 output {r.int8_err_steps:.2f} steps away from float"


def test_broadcast_walk_compresses_and_refuses_beyond_four_dimensions():
    """The C walk: dimensions merged where both inputs advance alike, the
    strides of each input (0 where broadcast); five alternating dimensions
    are refused by name, not miscomputed."""
    from mcugen.errors import UnsupportedLayer
    from mcugen.ir import Graph
    from mcugen.ops.broadcast import check_pair, walk

    w = walk((4, 4, 3), (1, 1, 3), (4, 4, 3))
    assert (w.dims, w.a_strides, w.b_strides, w.out_strides) == ([16, 3], [3, 1], [0, 1], [3, 1])
    w = walk((4, 4, 3), (4, 1, 3), (4, 4, 3))
    assert (w.dims, w.a_strides, w.b_strides) == ([4, 4, 3], [12, 3, 1], [3, 0, 1])
    w = walk((1,), (4, 4, 3), (4, 4, 3))
    assert (w.dims, w.a_strides, w.b_strides) == ([48], [0], [1])

    class Cx:
        g = Graph("g")

        def unsupported(self, detail):
            raise UnsupportedLayer(f"layer 'x': unsupported {detail}")

    cx = Cx()
    cx.g.add_tensor("a", (2, 1, 2, 1, 2))
    cx.g.add_tensor("b", (2, 2, 1, 2, 1))
    cx.g.add_tensor("c", (3,))
    with pytest.raises(UnsupportedLayer, match="over 5 alternating dimensions"):
        check_pair(cx, "a", "b")
    with pytest.raises(UnsupportedLayer, match="do not broadcast"):
        check_pair(cx, "a", "c")


def test_tflite_sub_of_a_constant_is_refused_by_name(keras, layers):
    tm_bytes = convert(keras, (6,), lambda x: L.Lambda(lambda t: 0.5 - t)(L.Dense(6)(x)), "rsub")
    from mcugen.errors import UnsupportedLayer

    with pytest.raises(UnsupportedLayer, match=r"SUB .*unsupported a constant operand"):
        graph_from_tflite(tm_bytes, "rsub", "rsub")
