"""TFLite as the outside oracle, one op at a time.

Each case is a one-op (or two-op) Keras model converted by TFLiteConverter
(full int8, per-channel weights, and per-tensor weights for the layers that
have weights), read back from the ``.tflite`` flatbuffer by mcugen, and run on
every case's random int8 inputs by

* the generated C on the host (ASan/UBSan), which must equal mcugen's numpy
  int8 reference on every layer;
* TFLite Micro (``tflite-micro``'s interpreter), which must give the same
  output bytes, except on a standalone RELU6 (see below);
* LiteRT (``tf.lite.Interpreter`` with TFLite's reference kernels), which must
  give the same output bytes except where its kernel is known to compute
  differently from TFLM's (``mcugen.compare.DIVERGENT``: FULLY_CONNECTED
  rounds once, LOGISTIC/TANH use a float table); there it stays within a few
  steps, and TFLM is matched exactly.

A standalone RELU6 whose output range TFLiteConverter sets apart from its
input's is where TFLM's kernel is the odd one: it clamps input bytes and
ignores the output quantization. mcugen matches LiteRT there, and the test
checks that TFLM's bytes are exactly that clamp.
"""
from __future__ import annotations

import numpy as np
import pytest

import tflite_int8_oracle
from mcugen.compare import DIVERGENT
from mcugen.emit import render
from mcugen.errors import McugenError
from mcugen.host import run_host
from mcugen.oracles import run_oracle
from mcugen.reference import run_int8
from mcugen.tflite.loader import graph_from_tflite
from mcugen.tflite_quantizer import convert_keras

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

L = None  # keras.layers, bound in the fixture


def conv(f, k, **kw):
    return lambda x: L.Conv2D(f, k, **kw)(x)


def bn():
    return lambda x: L.BatchNormalization()(x)


# name -> (input shape, builder, has weights (also run per-tensor))
CASES = {
    "conv2d_3x3_valid": ((9, 9, 3), conv(4, 3), True),
    "conv2d_3x3_same_s2_relu6": ((9, 9, 3), conv(5, 3, strides=2, padding="same", activation="relu6"), True),
    "conv2d_5x3_same_even_relu": ((8, 10, 2), conv(3, (5, 3), padding="same", activation="relu"), True),
    "conv2d_1x1_nobias": ((6, 6, 7), conv(6, 1, use_bias=False), True),
    "conv2d_s2x1": ((7, 9, 1), conv(2, 3, strides=(2, 1)), True),
    "conv2d_32ch": ((5, 5, 32), conv(16, 3, padding="same"), True),
    "conv1d_valid": ((16, 3), lambda x: L.Conv1D(4, 3)(x), True),
    "conv1d_same_s2_relu": ((15, 4), lambda x: L.Conv1D(6, 5, strides=2, padding="same", activation="relu")(x), True),
    "depthwise_3x3_same": ((8, 8, 4), lambda x: L.DepthwiseConv2D(3, padding="same")(x), True),
    "depthwise_s2_dm2": ((9, 9, 3), lambda x: L.DepthwiseConv2D(3, strides=2, depth_multiplier=2)(x), True),
    "depthwise_dm3_relu6": ((6, 6, 2), lambda x: L.DepthwiseConv2D((3, 2), padding="same", depth_multiplier=3,
                                                                   activation="relu6")(x), True),
    "depthwise_nobias": ((5, 5, 6), lambda x: L.DepthwiseConv2D(2, use_bias=False)(x), True),
    "separable_same": ((8, 8, 3), lambda x: L.SeparableConv2D(6, 3, padding="same", activation="relu")(x), True),
    "dense": ((20,), lambda x: L.Dense(7)(x), True),
    "dense_relu_nobias": ((33,), lambda x: L.Dense(12, activation="relu", use_bias=False)(x), True),
    "dense_rank2": ((4, 6), lambda x: L.Dense(5)(x), True),
    "maxpool2d_2": ((8, 8, 3), lambda x: L.MaxPooling2D(2)(x), False),
    "maxpool2d_3s2_same": ((9, 7, 2), lambda x: L.MaxPooling2D(3, strides=2, padding="same")(x), False),
    "avgpool2d_2": ((8, 8, 3), lambda x: L.AveragePooling2D(2)(x), False),
    "avgpool2d_3s1_same": ((6, 7, 2), lambda x: L.AveragePooling2D(3, strides=1, padding="same")(x), False),
    "avgpool2d_3x2_s2": ((9, 8, 4), lambda x: L.AveragePooling2D((3, 2), strides=2)(x), False),
    "maxpool1d_same": ((11, 3), lambda x: L.MaxPooling1D(3, strides=2, padding="same")(x), False),
    "avgpool1d": ((12, 3), lambda x: L.AveragePooling1D(3)(x), False),
    "gap2d": ((5, 6, 4), lambda x: L.GlobalAveragePooling2D()(x), False),
    "gap2d_keepdims": ((4, 4, 3), lambda x: L.GlobalAveragePooling2D(keepdims=True)(x), False),
    "gap2d_after_relu": ((5, 5, 4), lambda x: L.GlobalAveragePooling2D()(conv(6, 3, activation="relu")(x)), False),
    "gmp2d": ((5, 6, 4), lambda x: L.GlobalMaxPooling2D()(x), False),
    "gap1d": ((10, 5), lambda x: L.GlobalAveragePooling1D()(x), False),
    "gmp1d": ((10, 5), lambda x: L.GlobalMaxPooling1D()(x), False),
    "flatten_dense": ((4, 4, 3), lambda x: L.Dense(4)(L.Flatten()(conv(2, 3)(x))), False),
    "reshape_conv1d": ((24,), lambda x: L.Conv1D(3, 2)(L.Reshape((6, 4))(L.Dense(24)(x))), False),
    "zeropad2d": ((5, 5, 2), lambda x: L.ZeroPadding2D(((1, 2), (0, 3)))(x), False),
    "zeropad1d_conv1d": ((7, 3), lambda x: L.Conv1D(2, 3)(L.ZeroPadding1D((2, 1))(x)), False),
    "batchnorm_input": ((6, 6, 3), bn(), False),
    "batchnorm_after_relu": ((6, 6, 3), lambda x: L.BatchNormalization()(conv(4, 3, activation="relu")(x)), False),
    "relu": ((5, 5, 2), lambda x: L.ReLU()(x), False),
    "relu6_standalone": ((20,), lambda x: L.ReLU(max_value=6.0)(x), False),
    "leaky_relu": ((4, 4, 3), lambda x: L.LeakyReLU(negative_slope=0.2)(x), False),
    "leaky_relu_after_conv": ((4, 4, 3), lambda x: L.LeakyReLU(negative_slope=0.1)(conv(3, 3)(x)), False),
    "sigmoid": ((12,), lambda x: L.Activation("sigmoid")(L.Dense(8)(x)), False),
    "tanh": ((12,), lambda x: L.Activation("tanh")(L.Dense(8)(x)), False),
    "softmax": ((12,), lambda x: L.Activation("softmax")(L.Dense(8)(x)), False),
    "softmax_rank2": ((3, 10), lambda x: L.Softmax()(x), False),
    "add": ((6, 6, 3), lambda x: L.Add()([conv(4, 3, padding="same")(x), conv(4, 1)(x)]), False),
    "add_input_relu": ((6, 6, 4), lambda x: L.ReLU()(L.Add()([x, conv(4, 3, padding="same")(x)])), False),
    "concat_channels": ((6, 6, 3), lambda x: L.Concatenate()([conv(4, 3, padding="same")(x), conv(2, 1)(x)]), False),
    "concat_axis1": ((6, 4), lambda x: L.Concatenate(axis=1)([L.Conv1D(3, 1)(x), L.Conv1D(3, 3)(x)]), False),
    "concat_three": ((8,), lambda x: L.Concatenate()([L.Dense(3)(x), x, L.Dense(2, activation="relu")(x)]), False),
    # TRANSPOSE: NCHW -> NHWC as a converted PyTorch model starts, then a conv.
    "transpose_nchw_conv": ((3, 7, 6), lambda x: conv(4, 3)(L.Permute((2, 3, 1))(x)), False),
    "transpose_rank2": ((4, 6), lambda x: L.Permute((2, 1))(x), False),
    "transpose_rank4": ((2, 3, 4, 5), lambda x: L.Permute((4, 1, 3, 2))(x), False),
}
PARAMS = [pytest.param(c, True, id=c) for c in sorted(CASES)] + [
    pytest.param(c, False, id=f"{c}-per_tensor") for c in sorted(CASES) if CASES[c][2]
]


@pytest.fixture(scope="module")
def layers(keras):
    global L
    L = keras.layers
    return L


def convert_case(keras, case: str, per_channel: bool) -> bytes:
    shape, build, _ = CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=case)
    from conftest import randomize

    randomize(model, seed=2)
    rng = np.random.default_rng(3)
    calib = rng.uniform(-1.0, 1.0, (48,) + shape).astype(np.float32)
    return convert_keras(model, calib, per_channel=per_channel)


def oracle_bytes(tm, xq):
    """Each oracle's output bytes; None where it cannot run the model (TFLM
    refuses the dynamic shapes TFLiteConverter emits for Dense on a rank-3
    input)."""
    out = {}
    for name in ("litert", "tflm"):
        try:
            out[name] = run_oracle(name, tm, xq).outputs
        except McugenError as e:
            assert name == "tflm" and str(e).startswith("TFLM cannot run the model"), (name, str(e))
            out[name] = None
    return out


def host_matches_reference(tm, xq, name: str) -> np.ndarray:
    """The generated C on the host (ASan/UBSan) == mcugen's int8 reference
    on every layer; returns its output bytes."""
    g = tm.graph
    ref = run_int8(g, xq)
    host = run_host(g, render(g, name), xq, sanitize=True)
    for op, got in zip(g.ops, host.layers):
        assert np.array_equal(got, ref[op.outputs[0]]), f"C differs from the int8 reference at {op.name!r}"
    assert np.array_equal(host.outputs, ref[g.outputs[0]])
    return host.outputs


def host_matches_oracles(tm, xq, name: str) -> np.ndarray:
    """``host_matches_reference``, and those bytes == TFLM's, and == LiteRT's
    except on the ops where LiteRT computes differently (mcugen.compare.DIVERGENT:
    within 4 steps there)."""
    ours = host_matches_reference(tm, xq, name)
    theirs = oracle_bytes(tm, xq)
    assert np.array_equal(ours, theirs["tflm"]), f"differs from TFLM on {np.mean(ours != theirs['tflm']):.2%} of bytes"
    diff = np.abs(ours.astype(int) - theirs["litert"])
    assert diff.max() <= (4 if set(tm.op_names) & set(DIVERGENT["litert"]) else 0), f"LiteRT differs by {diff.max()}"
    return ours


@pytest.mark.parametrize("case, per_channel", PARAMS)
def test_op_matches_tflite(case, per_channel, keras, layers):
    tm = graph_from_tflite(convert_case(keras, case, per_channel), case, case)
    g = tm.graph
    if CASES[case][2]:
        w_ops = [op for op in g.ops if getattr(op, "w_scales", None) is not None]
        assert w_ops, "no op with weights"
        n_scales = {len(set(np.asarray(op.w_scales).tolist())) for op in w_ops}
        if not per_channel:
            assert n_scales == {1}, "the per-tensor case has per-channel weights"
    rng = np.random.default_rng(4)
    xq = np.concatenate([
        rng.integers(-128, 128, (96,) + g.input.shape),
        np.full((1,) + g.input.shape, -128), np.full((1,) + g.input.shape, 127),
    ]).astype(np.int8)
    ref = run_int8(g, xq)
    host = run_host(g, render(g, case), xq, sanitize=True)
    for op, got in zip(g.ops, host.layers):
        assert np.array_equal(got, ref[op.outputs[0]]), f"C differs from the int8 reference at {op.name!r}"
    ours = host.outputs
    theirs = oracle_bytes(tm, xq)
    ops = {name for _, name in tm.op_info.values()}
    relu6_apart = any(
        name == "RELU6" and g.q(op.inputs[0]) != g.q(op.outputs[0])
        for op in g.ops for _, name in [tm.op_info[op.name]]
    )
    tflm, litert = theirs["tflm"], theirs["litert"]
    if relu6_apart:
        # TFLM's RELU6: the input bytes clamped to [zp, zp + round(6 / scale)].
        qi = g.input.q
        six = qi.zero_point + int(np.round(np.float32(6.0) / np.float32(qi.scale)))
        assert np.array_equal(tflm, np.clip(xq, qi.zero_point, min(six, 127)))
        assert np.array_equal(ours, litert), "standalone RELU6 differs from LiteRT"
        return
    if tflm is None:
        # TFLM cannot allocate the dynamic shapes; the independent oracle
        # (TFLite's reference FULLY_CONNECTED and ADD written out) is exact.
        assert case == "dense_rank2", f"TFLM could not run {case}"
        want = tflite_int8_oracle.run(tm.model_bytes, xq).reshape(ours.shape)
        assert np.array_equal(ours, want), (
            f"differs from the exact oracle on {np.mean(ours != want):.2%} of bytes "
            f"(max {np.abs(ours.astype(int) - want).max()})")
    else:
        assert np.array_equal(ours, tflm), (
            f"differs from TFLM on {np.mean(ours != tflm):.2%} of bytes (max {np.abs(ours.astype(int) - tflm).max()})"
        )
    if ops & set(DIVERGENT["litert"]):
        assert np.abs(ours.astype(int) - litert).max() <= 4
    else:
        assert np.array_equal(ours, litert), (
            f"differs from LiteRT on {np.mean(ours != litert):.2%} of bytes "
            f"(max {np.abs(ours.astype(int) - litert).max()})"
        )


def test_float_edges_quantize_dequantize(keras, layers, tf_quiet):
    """A model converted with float input and output: QUANTIZE and DEQUANTIZE
    at the edges are dropped, the C works in int8 and still equals TFLite."""
    tf = tf_quiet
    keras.utils.set_random_seed(1)
    inp = keras.Input((6, 6, 2))
    model = keras.Model(inp, L.GlobalAveragePooling2D()(conv(4, 3, activation="relu")(inp)))
    rng = np.random.default_rng(0)
    calib = rng.uniform(-1, 1, (32, 6, 6, 2)).astype(np.float32)

    def representative():
        for i in range(len(calib)):
            yield [calib[i : i + 1]]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    tm = graph_from_tflite(bytes(c.convert()), "edges", "edges")
    assert tm.input_is_float and tm.output_is_float
    assert "QUANTIZE" in tm.op_names and "DEQUANTIZE" in tm.op_names
    g = tm.graph
    assert [op.kind for op in g.ops] == ["conv2d", "reduce"]
    xq = rng.integers(-128, 128, (64,) + g.input.shape).astype(np.int8)
    host = run_host(g, render(g, "edges"), xq, sanitize=False)
    for name, out in oracle_bytes(tm, xq).items():
        assert np.array_equal(host.outputs, out), name


@pytest.fixture(scope="module")
def tf_quiet():
    from mcugen.oracles import import_tf

    return import_tf()


def rewrite_qparams(model: bytes, qin, qout, opcode: str | None = None) -> bytes:
    """The same one-op model with other input / output qparams (and, when
    given, another builtin operator code), edited with the schema bindings."""
    import flatbuffers

    from mcugen.tflite.reader import schema

    S = schema()
    m = S.ModelT.InitFromPackedBuf(bytearray(model), 0)
    sg = m.subgraphs[0]
    for idx, (scale, zp) in ((sg.inputs[0], qin), (sg.outputs[0], qout)):
        q = sg.tensors[idx].quantization
        q.scale, q.zeroPoint = [float(np.float32(scale))], [int(zp)]
    if opcode is not None:
        code = getattr(S.BuiltinOperator, opcode)
        oc = m.operatorCodes[sg.operators[0].opcodeIndex]
        oc.builtinCode, oc.deprecatedBuiltinCode = code, min(code, 127)
        sg.operators[0].builtinOptionsType, sg.operators[0].builtinOptions = 0, None
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.mark.parametrize("op", ["RELU", "RELU6", "LEAKY_RELU", "QUANTIZE"])
def test_elementwise_tables_sweep(op, keras, layers):
    """Every input byte, at 40 random input/output quantizations per op:
    RELU, LEAKY_RELU and QUANTIZE (int8 -> int8 requantization, made by
    editing a RELU model's operator code) equal both oracles; RELU6 equals
    LiteRT (TFLM's RELU6 ignores the output quantization)."""
    keras.utils.set_random_seed(1)
    layer = {"RELU": L.ReLU(), "RELU6": L.ReLU(max_value=6.0), "LEAKY_RELU": L.LeakyReLU(negative_slope=0.23),
             "QUANTIZE": L.ReLU()}[op]
    inp = keras.Input((1,))
    base = convert_keras(keras.Model(inp, layer(inp)), np.linspace(-3, 8, 16, dtype=np.float32).reshape(16, 1))
    rng = np.random.default_rng(11)
    xq = np.arange(-128, 128, dtype=np.int8).reshape(256, 1)
    for _ in range(40):
        s_in = 10 ** rng.uniform(-3, 0)
        s_out = s_in * 10 ** rng.uniform(-0.6, 0.6)
        model = rewrite_qparams(base, (s_in, rng.integers(-128, 128)), (s_out, rng.integers(-128, 128)),
                                "QUANTIZE" if op == "QUANTIZE" else None)
        tm = graph_from_tflite(model, op.lower(), op)
        assert tm.op_names == [op]
        ours = run_int8(tm.graph, xq)[tm.graph.outputs[0]]
        theirs = oracle_bytes(tm, xq)
        assert np.array_equal(ours, theirs["litert"]), f"{op}: LiteRT differs at {tm.graph.input.q} -> {tm.graph.output.q}"
        if op != "RELU6":
            assert np.array_equal(ours, theirs["tflm"]), f"{op}: TFLM differs at {tm.graph.input.q} -> {tm.graph.output.q}"


def test_litert_fully_connected_rounds_once(keras, layers):
    """The one integer kernel where LiteRT and TFLM differ: LiteRT's int8
    FULLY_CONNECTED rounds the requantization once. mcugen follows TFLM
    (double rounding); this pins down what LiteRT does instead."""
    tm = graph_from_tflite(convert_case(keras, "dense", True), "dense", "dense")
    g = tm.graph
    op = g.ops[0]
    rng = np.random.default_rng(9)
    xq = rng.integers(-128, 128, (3000,) + g.input.shape).astype(np.int8)
    qi, qo = g.q(op.inputs[0]), g.q(op.outputs[0])
    acc = (xq.astype(np.int64) - qi.zero_point) @ op.w_q.astype(np.int64) + op.b_q
    total = 31 - op.shift.astype(np.int64)
    once = (acc * op.mult.astype(np.int64) + (np.int64(1) << (total - 1))) >> total
    once = np.clip(once + qo.zero_point, -128, 127)
    theirs = oracle_bytes(tm, xq)
    assert np.array_equal(theirs["litert"], once)
    assert np.array_equal(theirs["tflm"], run_int8(g, xq)[g.outputs[0]])
    assert not np.array_equal(theirs["litert"], theirs["tflm"]), "no tie case hit: use more inputs"


@pytest.mark.parametrize("case", ["dense", "dense_relu_nobias"])
def test_exact_fully_connected_oracle_equals_tflm(case, keras, layers):
    """tests/tflite_int8_oracle.py (the dense_rank2 oracle) equals TFLM byte
    for byte where TFLM can run the model, per-channel and per-tensor."""
    rng = np.random.default_rng(5)
    for per_channel in (True, False):
        model = convert_case(keras, case, per_channel)
        tm = graph_from_tflite(model, case, case)
        xq = np.concatenate([rng.integers(-128, 128, (400,) + tm.graph.input.shape),
                             np.full((1,) + tm.graph.input.shape, -128), np.full((1,) + tm.graph.input.shape, 127)])
        xq = xq.astype(np.int8)
        want = run_oracle("tflm", tm, xq).outputs
        assert np.array_equal(tflite_int8_oracle.run(model, xq).reshape(want.shape), want), (case, per_channel)


def test_compare_judges_known_divergences(keras, layers, tmp_path):
    """A standalone RELU6 then a FULLY_CONNECTED: TFLM differs on the first,
    LiteRT on the second, mcugen matches the other oracle on each, and
    ``compare`` counts that as the target met and says why."""
    from mcugen.compare import run_compare
    from mcugen.pipeline import prepare

    keras.utils.set_random_seed(1)
    inp = keras.Input((24,))
    model = keras.Model(inp, L.Dense(16)(L.ReLU(max_value=6.0)(inp)))
    rng = np.random.default_rng(0)
    path = tmp_path / "relu6_dense.tflite"
    path.write_bytes(convert_keras(model, rng.uniform(-3, 8, (64, 24)).astype(np.float32)))
    r = run_compare(prepare(path), n=300, sanitize=False)
    assert r.ok and r.c_matches_reference, r.notes
    assert r.oracles["tflm"].differs_on == ["RELU6"]
    assert r.oracles["litert"].differs_on in ([], ["FULLY_CONNECTED"])
    assert r.oracles["tflm"].first_mismatch_layer.endswith("(RELU6 #0)")
    assert any("TFLM's int8 RELU6" in n for n in r.notes)
