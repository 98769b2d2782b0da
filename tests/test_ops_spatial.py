"""Spatial ops: dilated convolutions, transposed convolutions, resizing.

* TFLite: one- or two-op models converted by TFLiteConverter, from Keras
  layers (``KERAS_TFLITE``) and, for the options Keras never emits, from
  tf.functions of TensorFlow's raw ops (``NATIVE``: CONV_2D / DEPTHWISE_CONV_2D
  with their own dilation factors, RESIZE_* with align_corners and
  half_pixel_centers both ways). mcugen's C (host, ASan/UBSan) equals its int8
  reference on every layer, and its output equals TFLM's and LiteRT's byte for
  byte, on random bytes, all -128 and all 127.
* Keras Conv2D / Conv1D / DepthwiseConv2D with dilation_rate come out of
  TFLiteConverter as SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND, which
  mcugen folds back into one dilated conv (mcugen.passes.fold_space_to_batch).
  There LiteRT is the oracle, not TFLM: the file records the "batch" of
  block x block images as 1 (shape signature -1), which TFLM's interpreter
  never resizes, and its SPACE_TO_BATCH_ND pads with a value its Prepare never
  sets (SpaceToBatchParams.output_offset, uninitialised persistent memory), so
  its output on these files is not defined. The dilated conv the fold makes is
  checked against TFLM's own dilated kernels through ``NATIVE``.
* Keras layers through mcugen's quantizer (conftest's roundtrip): C equals the
  reference byte for byte, the float IR equals Keras.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import edit_tflite, int8_rows, rand, randomize, roundtrip
from mcugen.errors import UnsupportedLayer
from mcugen.tflite.loader import graph_from_tflite
from mcugen.tflite_quantizer import convert_keras
from test_tflite_ops import host_matches_reference, oracle_bytes

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

L = None  # keras.layers, bound in the fixture

# name -> (input shape, builder, calibration range). The ranges are lopsided
# so that the input zero point is far from 0 and every padded tap matters.
KERAS_TFLITE = {
    "conv2d_dil2_valid": ((9, 9, 2), lambda x: L.Conv2D(3, 3, dilation_rate=2)(x), (-0.5, 1.5)),
    "conv2d_dil2x1_same_relu": ((7, 8, 2), lambda x: L.Conv2D(3, 3, dilation_rate=(2, 1), padding="same",
                                                              activation="relu")(x), (-0.2, 1.0)),
    "conv2d_dil3_same_nobias": ((8, 8, 3), lambda x: L.Conv2D(2, 3, dilation_rate=3, padding="same",
                                                              use_bias=False)(x), (0.0, 2.0)),
    "conv1d_causal_dil2": ((16, 2), lambda x: L.Conv1D(3, 3, dilation_rate=2, padding="causal")(x), (-0.3, 1.0)),
    "conv1d_dil4_same": ((12, 3), lambda x: L.Conv1D(2, 2, dilation_rate=4, padding="same")(x), (-1.0, 1.0)),
    "depthwise_dil2_same_dm2": ((9, 9, 2), lambda x: L.DepthwiseConv2D(3, dilation_rate=2, padding="same",
                                                                       depth_multiplier=2)(x), (-0.5, 1.5)),
    "depthwise_dil2_valid": ((9, 8, 3), lambda x: L.DepthwiseConv2D((3, 2), dilation_rate=2)(x), (-1.0, 1.0)),
    "convT_same_s2": ((4, 4, 2), lambda x: L.Conv2DTranspose(3, 3, strides=2, padding="same")(x), (-0.5, 1.5)),
    "convT_valid_3x2_s2x3": ((4, 5, 2), lambda x: L.Conv2DTranspose(3, (3, 2), strides=(2, 3))(x), (-1.0, 1.0)),
    "convT_k4s2_same_nobias": ((3, 4, 2), lambda x: L.Conv2DTranspose(2, 4, strides=2, padding="same",
                                                                      use_bias=False)(x), (0.0, 1.0)),
    "convT_outpad": ((4, 4, 2), lambda x: L.Conv2DTranspose(3, 3, strides=2, padding="same",
                                                            output_padding=1)(x), (-1.0, 1.0)),
    "convT1d_s2": ((6, 2), lambda x: L.Conv1DTranspose(3, 3, strides=2)(x), (-0.5, 1.5)),
    "upsampling2d_bilinear": ((4, 5, 2), lambda x: L.UpSampling2D((2, 3), interpolation="bilinear")(x),
                              (-0.5, 1.5)),
}
# Cases TFLiteConverter emits as SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND.
SPACE_TO_BATCH = {c for c in KERAS_TFLITE if "dil" in c}
PER_TENSOR = ("conv2d_dil2_valid", "convT_same_s2")


def native_cases(tf):
    """name -> (input shape, tf.function of raw ops): what Keras layers never
    emit. Two resizes per model: both layers are checked against the
    reference, the output against the oracles."""
    rng = np.random.default_rng(0)

    def const(*shape):
        return tf.constant(rng.normal(0, 0.3, shape).astype(np.float32))

    w, b, w2, dw, dw2 = const(3, 3, 2, 4), const(4), const(2, 3, 3, 2), const(3, 3, 2, 2), const(2, 3, 3, 1)

    def resize(kind, size, align, half):
        return lambda x: getattr(tf.raw_ops, kind)(images=x, size=size, align_corners=align, half_pixel_centers=half)

    def two(a, b):
        return lambda x: b(a(x))

    nn, bl = "ResizeNearestNeighbor", "ResizeBilinear"
    return {
        "conv_dil2_same": ((9, 9, 2), lambda x: tf.nn.conv2d(x, w, 1, "SAME", dilations=2) + b),
        "conv_dil2x3_s2_valid_nobias": ((11, 12, 3), lambda x: tf.raw_ops.Conv2D(
            input=x, filter=w2, strides=[1, 2, 2, 1], padding="VALID", dilations=[1, 2, 3, 1])),
        "depthwise_dil2x3_dm2_same": ((9, 9, 2), lambda x: tf.raw_ops.DepthwiseConv2dNative(
            input=x, filter=dw, strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 2, 3, 1])),
        "depthwise_dil2_s2_valid": ((10, 9, 3), lambda x: tf.raw_ops.DepthwiseConv2dNative(
            input=x, filter=dw2, strides=[1, 2, 2, 1], padding="VALID", dilations=[1, 2, 2, 1])),
        "nearest_up_plain_down_corners": ((4, 5, 2), two(resize(nn, (7, 11), False, False),
                                                         resize(nn, (3, 4), True, False))),
        "nearest_up_half_down_both": ((3, 4, 2), two(resize(nn, (8, 9), False, True),
                                                     resize(nn, (5, 2), True, True))),
        "bilinear_up_plain_down_corners": ((4, 5, 2), two(resize(bl, (7, 11), False, False),
                                                          resize(bl, (3, 4), True, False))),
        "bilinear_up_half_down_half": ((3, 4, 2), two(resize(bl, (8, 9), False, True),
                                                      resize(bl, (5, 3), False, True))),
        "bilinear_row_corners_up": ((1, 4, 3), resize(bl, (1, 9), True, False)),
    }


@pytest.fixture(scope="module")
def tf(keras):
    from mcugen.oracles import import_tf

    return import_tf()


@pytest.fixture(scope="module")
def layers(keras):
    global L
    L = keras.layers
    return L


def convert_fn(tf, fn, shape, calib) -> bytes:
    """A fully int8 .tflite of a tf.function, as convert_keras makes one of a model."""
    import contextlib
    import io
    import warnings

    from mcugen.keras_loader import _native_stderr_silenced

    f = tf.function(fn)
    concrete = f.get_concrete_function(tf.TensorSpec((1,) + shape, tf.float32))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _native_stderr_silenced():
        warnings.simplefilter("ignore")
        c = tf.lite.TFLiteConverter.from_concrete_functions([concrete], f)
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ([calib[i: i + 1]] for i in range(len(calib)))
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.int8
        c.inference_output_type = tf.int8
        return bytes(c.convert())


def keras_tflite(keras, case: str, per_channel: bool = True) -> bytes:
    shape, build, (lo, hi) = KERAS_TFLITE[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=case)
    randomize(model, seed=2)
    calib = np.random.default_rng(3).uniform(lo, hi, (48,) + shape).astype(np.float32)
    return convert_keras(model, calib, per_channel=per_channel)


def native_tflite(tf, case: str) -> bytes:
    shape, fn = native_cases(tf)[case]
    calib = np.random.default_rng(3).uniform(-0.5, 1.5, (32,) + shape).astype(np.float32)
    return convert_fn(tf, fn, shape, calib)


def host_equals_reference(tm, case):
    xq = int8_rows(tm.graph.input.shape)
    return xq, host_matches_reference(tm, xq, case)


def kinds(g):
    return [op.kind for op in g.ops]


@pytest.mark.parametrize("case, per_channel", [pytest.param(c, True, id=c) for c in sorted(KERAS_TFLITE)]
                         + [pytest.param(c, False, id=f"{c}-per_tensor") for c in PER_TENSOR])
def test_keras_layer_tflite_matches_tflite(case, per_channel, keras, layers):
    tm = graph_from_tflite(keras_tflite(keras, case, per_channel), case, case)
    g = tm.graph
    if not per_channel:
        assert all(len(set(np.asarray(op.w_scales).tolist())) == 1 for op in g.ops if hasattr(op, "w_scales"))
    xq, ours = host_equals_reference(tm, case)
    theirs = oracle_bytes(tm, xq)
    assert np.array_equal(ours, theirs["litert"]), (
        f"differs from LiteRT on {np.mean(ours != theirs['litert']):.2%} of bytes")
    if case in SPACE_TO_BATCH:
        assert {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"} <= set(tm.op_names), "the converter changed its pattern"
        # The converter adds the bias after BATCH_TO_SPACE_ND, as an ADD.
        assert kinds(g)[0] in ("conv2d", "depthwise_conv2d") and set(kinds(g)[1:]) <= {"const_binary"}, kinds(g)
        assert any(getattr(op, "dilation", (1, 1)) != (1, 1) for op in g.ops), "not folded into a dilated conv"
        assert "pad" not in kinds(g), "the causal PAD stays"
    else:
        assert np.array_equal(ours, theirs["tflm"]), (
            f"differs from TFLM on {np.mean(ours != theirs['tflm']):.2%} of bytes")


@pytest.mark.parametrize("case", ["conv_dil2_same", "conv_dil2x3_s2_valid_nobias", "depthwise_dil2x3_dm2_same",
                                  "depthwise_dil2_s2_valid", "nearest_up_plain_down_corners",
                                  "nearest_up_half_down_both", "bilinear_up_plain_down_corners",
                                  "bilinear_up_half_down_half", "bilinear_row_corners_up"])
def test_native_op_matches_tflm(case, tf):
    tm = graph_from_tflite(native_tflite(tf, case), case, case)
    want = {"conv": "CONV_2D", "depthwise": "DEPTHWISE_CONV_2D", "nearest": "RESIZE_NEAREST_NEIGHBOR",
            "bilinear": "RESIZE_BILINEAR"}[case.split("_")[0]]
    assert set(tm.op_names) == {want}
    if "dil" in case:
        assert all(op.dilated for op in tm.graph.ops)
    xq, ours = host_equals_reference(tm, case)
    for name, out in oracle_bytes(tm, xq).items():
        assert np.array_equal(ours, out), f"differs from {name} on {np.mean(ours != out):.2%} of bytes"


def test_dilated_convs_run_the_generic_kernels_on_every_family(tf):
    """Every per-family conv / depthwise kernel assumes dilation 1: a dilated
    one runs the generic dilated kernel; an undilated one keeps its fast path."""
    from mcugen.boards import get_board
    from mcugen.emit import render as render_for

    for case, stem in (("conv_dil2_same", "conv2d_dilated"), ("depthwise_dil2x3_dm2_same", "depthwise_conv2d_dilated")):
        g = graph_from_tflite(native_tflite(tf, case), case, case).graph
        for board in ("uno", "qemu_m4", "pico", "qemu_m3"):
            cm = render_for(g, board=get_board(board))
            assert [(k.stem, k.family) for k in cm.kernels] == [(stem, None)], board
            assert f"mcg_{stem}_s8(" in cm.source


KERAS_ROUNDTRIP = {
    "upsampling1d": ((6, 3), lambda x: L.UpSampling1D(3)(x)),
    "upsampling2d_nearest": ((4, 5, 2), lambda x: L.UpSampling2D((2, 3))(L.Conv2D(3, 2)(x))),
    "upsampling2d_bilinear": ((3, 4, 2), lambda x: L.UpSampling2D(2, interpolation="bilinear")(L.Conv2D(3, 2)(x))),
    "conv2d_transpose_same_s2": ((4, 4, 3), lambda x: L.Conv2DTranspose(4, 3, strides=2, padding="same")(x)),
    "conv2d_transpose_valid_relu": ((4, 5, 2), lambda x: L.Conv2DTranspose(3, (3, 2), strides=(2, 3),
                                                                           activation="relu")(x)),
    "conv2d_transpose_batchnorm": ((3, 3, 2), lambda x: L.BatchNormalization()(
        L.Conv2DTranspose(3, 3, strides=2, padding="same")(x))),
    "conv1d_transpose_same": ((7, 2), lambda x: L.Conv1DTranspose(3, 4, strides=2, padding="same",
                                                                  use_bias=False)(x)),
    "tcn_causal_dil2_dil4": ((20, 2), lambda x: L.Conv1D(3, 3, dilation_rate=4, padding="causal")(
        L.Conv1D(4, 3, dilation_rate=2, padding="causal", activation="relu")(x))),
    "conv2d_dil2_same": ((8, 9, 2), lambda x: L.Conv2D(3, 3, dilation_rate=2, padding="same")(x)),
    "conv2d_dil2x3_valid": ((9, 10, 2), lambda x: L.Conv2D(3, (2, 3), dilation_rate=(2, 3))(x)),
    "depthwise_dil2_same_dm2": ((8, 8, 2), lambda x: L.DepthwiseConv2D(3, dilation_rate=2, padding="same",
                                                                       depth_multiplier=2)(x)),
    "separable_dil2": ((8, 8, 2), lambda x: L.SeparableConv2D(4, 3, dilation_rate=2, padding="same")(x)),
}


@pytest.mark.parametrize("case", sorted(KERAS_ROUNDTRIP))
def test_keras_layer_bit_exact(case, keras, layers):
    shape, build = KERAS_ROUNDTRIP[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=case)
    randomize(model, seed=2)
    calib = rand(shape, 64, seed=3, lo=-0.5, hi=1.5)
    r = roundtrip(model, calib, calib[:24])
    assert r.exact, f"C differs from the reference at {r.first_mismatch}"
    assert r.float_err < 1e-5, "the float IR differs from Keras"
    assert r.int8_err_steps <= 3, f"int8 output {r.int8_err_steps:.1f} steps from Keras"
    dilated = [op for op in r.graph.ops if getattr(op, "dilated", False)]
    assert bool(dilated) == ("dil" in case)
    if case == "conv2d_transpose_batchnorm":
        assert [op.kind for op in r.graph.ops] == ["transpose_conv"], "BatchNormalization not folded"


def test_space_to_batch_alone_is_refused(tf):
    shape = (8, 8, 2)
    data = convert_fn(tf, lambda x: tf.space_to_batch(x, [2, 2], [[0, 0], [0, 0]]) * 1.0, shape,
                      np.random.default_rng(0).uniform(-1, 1, (8,) + shape).astype(np.float32))
    with pytest.raises(UnsupportedLayer, match="SPACE_TO_BATCH_ND .* supported only in the pattern"):
        graph_from_tflite(data, "s2b", "s2b")


def test_transpose_conv_with_fused_activation_is_refused(keras, layers):
    """TFLM's TRANSPOSE_CONV ignores a fused activation (it passes
    kTfLiteActNone to its kernel): refused, not silently dropped."""
    def fuse_relu(S, m, sg):
        (op,) = [op for op in sg.operators
                 if m.operatorCodes[op.opcodeIndex].builtinCode == S.BuiltinOperator.TRANSPOSE_CONV]
        op.builtinOptions.fusedActivationFunction = S.ActivationFunctionType.RELU

    with pytest.raises(UnsupportedLayer, match="TRANSPOSE_CONV .*fused activation RELU"):
        graph_from_tflite(edit_tflite(keras_tflite(keras, "convT_same_s2"), fuse_relu), "convt_relu", "convt_relu")


def test_refusals_name_the_layer(keras, layers):
    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, L.UpSampling2D(2, interpolation="bicubic")(inp))
    from mcugen.keras_loader import graph_from_keras

    with pytest.raises(UnsupportedLayer, match="interpolation='bicubic'"):
        graph_from_keras(model, "bicubic")
    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, L.Conv2DTranspose(2, 3, dilation_rate=2)(inp))
    with pytest.raises(UnsupportedLayer, match="dilation_rate"):
        graph_from_keras(model, "convt_dil")


def test_resize_beyond_tflites_tables_is_refused():
    """TFLM's bilinear rounds its scale to 1/1024 and leaves row0 unclamped:
    upsampling 3 values to 2,000 would read past the input there."""
    from mcugen.ir import Graph, QParams
    from mcugen.ops.resize import Resize, bilinear_rows

    assert bilinear_rows(3, 2000, False, False)[:, 0].max() >= 3
    g = Graph("r")
    for name, shape in (("x", (1, 3, 1)), ("y", (1, 2000, 1))):
        g.add_tensor(name, shape).q = QParams(0.1, 0)
    op = Resize(name="r", inputs=["x"], outputs=["y"], mode="bilinear")
    with pytest.raises(ValueError, match="reads outside the input"):
        op.quantize(g)
    assert bilinear_rows(4, 8, False, True)[:, 2].min() >= -512


def test_compare_knows_tflms_dilated_pattern(keras, layers, tmp_path):
    """`mcugen compare` on TFLiteConverter's dilated Conv1D: LiteRT identical,
    TFLM's difference named as the known one, the target met."""
    from mcugen.compare import run_compare
    from mcugen.pipeline import prepare

    path = tmp_path / "tcn.tflite"
    path.write_bytes(keras_tflite(keras, "conv1d_causal_dil2"))
    r = run_compare(prepare(path), n=8, sanitize=False)
    assert r.oracles["litert"].identical_bytes_ratio == 1.0
    assert r.ok, r.notes
    assert any("SPACE_TO_BATCH_ND/CONV_2D/BATCH_TO_SPACE_ND" in n and "LiteRT runs the pattern" in n for n in r.notes)
