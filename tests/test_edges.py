"""Edges where exactness matters most and calibration-like data never goes:

* calibration narrower than the test inputs (a quarter of their range), so
  inputs, accumulators and outputs saturate, on the Keras path (the round
  trip also runs conftest.edge_rows: all -128, all 127, alternating, random);
* output zero points of -128 and 127 (every calibration output of one sign),
  with test inputs of both signs: outputs pinned at the edge of int8;
* the same zero points written into TFLiteConverter's files, against TFLM.
"""
from __future__ import annotations

import numpy as np
import pytest

import test_ops
import test_tflite_ops
from conftest import edge_rows, rand, randomize, roundtrip
from mcugen.emit import render
from mcugen.host import run_host
from mcugen.oracles import run_oracle
from mcugen.reference import run_int8
from mcugen.tflite.loader import graph_from_tflite

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# One or two cases of each kernel family of tests/test_ops.py.
NARROW = ["conv2d_3x3_same_s2", "conv2d_2x2_s2_relu6", "conv2d_17ch_odd", "pointwise_odd", "conv2d_after_relu",
          "dense_rows_odd_tail", "dense_300_relu", "dense_1100_acc32", "depthwise_8ch_s2_same", "depthwise_dm3_relu6",
          "separable_s2_dm2", "conv1d_k9_s3_same", "conv1d_causal", "avgpool2d_3s1_same", "maxpool2d_3s2_same",
          "gap2d", "gap1d", "bn_on_input_rank2", "bn_after_relu", "leaky_relu", "relu_threshold_slope",
          "act_sigmoid", "act_tanh", "act_softmax", "dense_sigmoid_tanh", "act_elu", "act_gelu", "act_hard_sigmoid",
          "add_relu", "add_input", "concat_three", "permute_rank2", "zeropad2d_conv"]


@pytest.fixture(scope="module")
def layers(keras):
    test_ops.L = keras.layers
    test_tflite_ops.L = keras.layers
    return keras.layers


@pytest.mark.parametrize("case", NARROW)
def test_calibration_narrower_than_inputs(case, keras, layers):
    shape, build = test_ops.CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=case)
    randomize(model, seed=2)
    x_calib = rand(shape, n=32, seed=3, lo=-0.25, hi=0.25)
    x_test = rand(shape, n=16, seed=4, lo=-1.0, hi=1.0)
    r = roundtrip(model, x_calib, x_test)
    assert r.float_err < 1e-5, f"float IR differs from Keras by {r.float_err}"
    # The test inputs reach past the calibrated range: they saturate.
    xq = r.graph.input.q.quantize(x_test)
    assert (xq == 127).any() or (xq == -128).any()
    assert r.exact, f"C differs from the int8 reference, first at layer {r.first_mismatch!r}"


def one_signed(keras, kind: str, sign: int):
    """A model whose outputs are all of one sign on inputs in [0, 1]: weights
    and biases of that sign."""
    L = keras.layers
    keras.utils.set_random_seed(3)
    init = keras.initializers.RandomUniform(0.05, 0.3) if sign > 0 else keras.initializers.RandomUniform(-0.3, -0.05)
    bias = keras.initializers.Constant(0.1 * sign)
    dense = lambda n: L.Dense(n, kernel_initializer=init, bias_initializer=bias)  # noqa: E731
    conv = lambda n, **kw: L.Conv2D(n, 3, kernel_initializer=init, bias_initializer=bias, **kw)  # noqa: E731
    if kind == "dense":
        inp = keras.Input((12,))
        out = dense(5)(inp)
    elif kind == "conv2d":
        inp = keras.Input((6, 6, 2))
        out = conv(3, padding="same")(inp)
    elif kind == "depthwise":
        inp = keras.Input((6, 6, 3))
        out = L.DepthwiseConv2D(3, depthwise_initializer=init, bias_initializer=bias)(inp)
    elif kind == "avgpool":
        inp = keras.Input((6, 6, 2))
        out = L.AveragePooling2D(2)(conv(3, padding="same")(inp))
    elif kind == "add":
        inp = keras.Input((12,))
        out = L.Add()([dense(5)(inp), dense(5)(inp)])
    else:
        inp = keras.Input((12,))
        out = L.Concatenate()([dense(3)(inp), dense(4)(inp)])
    return keras.Model(inp, out, name=f"{kind}_{'pos' if sign > 0 else 'neg'}")


@pytest.mark.parametrize("sign, zp", [(1, -128), (-1, 127)])
@pytest.mark.parametrize("kind", ["dense", "conv2d", "depthwise", "avgpool", "add", "concat"])
def test_output_zero_point_at_the_edge(kind, sign, zp, keras):
    model = one_signed(keras, kind, sign)
    shape = tuple(model.inputs[0].shape[1:])
    x_calib = rand(shape, n=32, seed=5, lo=0.0, hi=1.0)
    x_test = rand(shape, n=16, seed=6, lo=-1.0, hi=1.0)
    r = roundtrip(model, x_calib, x_test)
    assert r.graph.output.q.zero_point == zp, r.graph.output.q
    assert r.float_err < 1e-5
    assert r.exact, f"C differs from the int8 reference, first at layer {r.first_mismatch!r}"


# Not AVERAGE_POOL_2D (TFLM refuses output quantization apart from the
# input's), CONCATENATION and a conv1d's RESHAPE (mcugen refuses inputs quantized apart from the
# output): there the output zero point is the input's.
TFLITE_CASES = ["conv2d_3x3_valid", "conv2d_3x3_same_s2_relu6", "conv2d_5x3_same_even_relu", "depthwise_3x3_same",
                "dense", "dense_relu_nobias", "gap2d", "add", "add_input_relu", "leaky_relu"]


@pytest.mark.parametrize("zp", [-128, 127])
@pytest.mark.parametrize("case", TFLITE_CASES)
def test_tflite_output_zero_point_at_the_edge(case, zp, keras, layers):
    """TFLiteConverter's file with its output zero point set to -128 or 127:
    the C equals the reference on every layer and TFLM on the output."""
    model = test_tflite_ops.convert_case(keras, case, True)
    g0 = graph_from_tflite(model, case, case).graph
    qi, qo = g0.input.q, g0.output.q
    edited = test_tflite_ops.rewrite_qparams(model, (qi.scale, qi.zero_point), (qo.scale, zp))
    tm = graph_from_tflite(edited, case, case)
    g = tm.graph
    assert g.output.q.zero_point == zp
    rng = np.random.default_rng(7)
    xq = np.concatenate([rng.integers(-128, 128, (24,) + g.input.shape).astype(np.int8), edge_rows(g.input.shape)])
    ref = run_int8(g, xq)
    host = run_host(g, render(g, case), xq, sanitize=True)
    for op, got in zip(g.ops, host.layers):
        assert np.array_equal(got, ref[op.outputs[0]]), f"C differs from the int8 reference at {op.name!r}"
    tflm = run_oracle("tflm", tm, xq).outputs
    assert np.array_equal(host.outputs, tflm), (
        f"differs from TFLM on {np.mean(host.outputs != tflm):.2%} of bytes "
        f"(max {np.abs(host.outputs.astype(int) - tflm).max()})")
    # The edge is reached: outputs pinned at the zero point's end of int8.
    assert (host.outputs == (127 if zp == 127 else -128)).any()
