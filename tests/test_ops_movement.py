"""Data movement on run-time int8 tensors, against TFLM byte for byte:
SPLIT, SPLIT_V, UNPACK, PACK, SLICE, STRIDED_SLICE, FILL, ARG_MAX and an
int8 -> int8 QUANTIZE inside a graph; Keras' Cropping1D/2D and indexing.

The .tflite cases are small Keras models whose layers call tf.split /
tf.unstack / tf.stack / slicing / tf.argmax (the ops of unrolled RNNs, and an
RNN unrolled by hand), converted by TFLiteConverter; the options the
converter does not emit (negative axes and strides, masks, size -1, FILL's
value, a QUANTIZE between two convolutions ...) are written into a converted
file with the flatbuffer object API. Each is read by mcugen and run on random
and edge inputs (all -128, all 127): the host C equals mcugen's int8
reference on every layer (ASan/UBSan) and TFLM's and LiteRT's bytes."""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import edit_tflite, int8_rows
from mcugen.compare import DIVERGENT
from mcugen.emit import render
from mcugen.errors import UnsupportedLayer
from mcugen.host import run_host
from mcugen.oracles import run_oracle
from mcugen.reference import run_int8
from mcugen.tflite.loader import graph_from_tflite
from mcugen.tflite_quantizer import convert_keras

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]




def check_tflite(model: bytes, name: str, expect_ops=(), litert: bool = True):
    """Host C == int8 reference on every layer, == TFLM == LiteRT on the output
    (LiteRT's FULLY_CONNECTED rounds once, so after one it may differ by a
    step; after several, through other layers, by more: ``litert=False``)."""
    tm = graph_from_tflite(model, name, name)
    for op in expect_ops:
        assert op in tm.op_names, f"{name}: the converter emitted {tm.op_names}, no {op}"
    g = tm.graph
    xq = int8_rows(g.input.shape)
    ref = run_int8(g, xq)
    host = run_host(g, render(g, name), xq, sanitize=True)
    for op, got in zip(g.ops, host.layers):
        assert np.array_equal(got, ref[op.outputs[0]]), f"{name}: C differs from the int8 reference at {op.name!r}"
    ours = host.outputs
    tflm = run_oracle("tflm", tm, xq).outputs.reshape(ours.shape)
    assert np.array_equal(ours, tflm), f"{name}: differs from TFLM on {np.mean(ours != tflm):.1%} of bytes"
    if not litert:
        return tm
    lite = run_oracle("litert", tm, xq).outputs.reshape(ours.shape)
    if set(tm.op_names) & set(DIVERGENT["litert"]):
        assert np.abs(ours.astype(int) - lite).max() <= 1
    else:
        assert np.array_equal(ours, lite), f"{name}: differs from LiteRT on {np.mean(ours != lite):.1%} of bytes"
    return tm


# --- Keras models whose layers emit the ops ----------------------------------

def _layer(keras, fn):
    class Fn(keras.layers.Layer):
        def call(self, x):
            return fn(x)

    return Fn()


def models(keras, tf):
    """name -> (input shape, builder, TFLite ops the converter must emit)."""
    L, ops = keras.layers, keras.ops
    dense = lambda n: L.Dense(n)  # noqa: E731 - a fresh layer gives each piece its own range

    def split3(x):
        a, b, c = tf.split(x, 3, axis=-1)
        return tf.concat([c, a, b], axis=-1)

    def split_axis1(x):  # along the first non-batch axis (contiguous pieces)
        a, b = tf.split(x, 2, axis=1)
        return tf.concat([b, a], axis=-1)

    def split_v(x):
        a, b, c = tf.split(x, [2, 4, 1], axis=-1)
        return tf.concat([b, c, a], axis=-1)

    def unstack_stack(x):  # time steps of an unrolled RNN, reversed
        return tf.stack(tf.unstack(x, axis=1)[::-1], axis=1)

    def unstack_last_stack0(x):
        return tf.stack(tf.unstack(x, axis=-1), axis=1)

    def fill_zeros(x):  # an RNN's initial state
        return tf.concat([x, tf.fill(tf.shape(x), 0.0)], axis=-1)

    class UnrolledRNN(L.Layer):
        """An RNN cell unrolled over 4 steps as real models hold one:
        UNPACK the steps, per step two FULLY_CONNECTED, ADD, SPLIT into a
        tanh half and a sigmoid half (the converter requantizes both with
        int8 -> int8 QUANTIZE before the CONCATENATION), PACK the states."""

        def __init__(self, units, **kw):
            super().__init__(**kw)
            self.wx, self.wh = L.Dense(units), L.Dense(units, use_bias=False)

        def call(self, x):
            steps = tf.unstack(x, axis=1)
            h = tf.tanh(self.wx(steps[0]))
            states = [h]
            for s in steps[1:]:
                a, b = tf.split(self.wx(s) + self.wh(h), 2, axis=-1)
                h = tf.concat([tf.tanh(a), tf.sigmoid(b)], axis=-1)
                states.append(h)
            return tf.stack(states, axis=1)

    def argmax(axis, dtype):
        return lambda x: _layer(keras, lambda y: tf.argmax(y, axis=axis, output_type=dtype))(x)

    return {
        "argmax_int32": ((10,), argmax(-1, tf.int32), ["ARG_MAX"]),
        "argmax_axis1": ((4, 6), lambda x: argmax(1, tf.int32)(L.Conv1D(6, 1)(x)), ["ARG_MAX"]),
        "argmax_int64": ((4, 6), argmax(-2, tf.int64), ["ARG_MAX"]),
        "argmax_128": ((128,), argmax(-1, tf.int32), ["ARG_MAX"]),
        "rnn_unrolled": ((4, 3), lambda x: UnrolledRNN(6)(x), ["UNPACK", "SPLIT", "QUANTIZE", "PACK"]),
        "conv_conv": ((5, 5, 2), lambda x: L.Conv2D(2, 1)(L.Conv2D(3, 1)(x)), ["CONV_2D"]),
        "split3_last": ((4, 6), lambda x: _layer(keras, split3)(L.Conv1D(6, 1)(x)), ["SPLIT"]),
        "split2_axis1": ((4, 3), lambda x: _layer(keras, split_axis1)(L.Conv1D(3, 1)(x)), ["SPLIT"]),
        "split_v": ((5,), lambda x: _layer(keras, split_v)(dense(7)(x)), ["SPLIT_V"]),
        "unstack_stack_axis1": ((3, 5), lambda x: _layer(keras, unstack_stack)(L.Conv1D(5, 1)(x)), ["UNPACK", "PACK"]),
        "unstack_last_stack": ((2, 4), lambda x: _layer(keras, unstack_last_stack0)(L.Conv1D(4, 1)(x)),
                               ["UNPACK", "PACK"]),
        "stack_axis0_of_dense": ((6,), lambda x: _layer(keras, lambda y: tf.stack([y[0], y[0]], axis=0))(dense(4)(x)),
                                 ["PACK"]),
        "slice_tf": ((5, 6), lambda x: _layer(keras, lambda y: tf.slice(y, [0, 1, 2], [1, 3, -1]))(L.Conv1D(6, 1)(x)),
                     ["SLICE"]),
        "strided_masks": ((5, 6), lambda x: _layer(keras, lambda y: y[:, 1:4, ::2])(L.Conv1D(6, 1)(x)),
                          ["STRIDED_SLICE"]),
        "strided_shrink_reverse": ((5, 6), lambda x: _layer(keras, lambda y: y[:, -2, ::-2])(L.Conv1D(6, 1)(x)),
                                   ["STRIDED_SLICE"]),
        "strided_rank4": ((4, 5, 3), lambda x: _layer(keras, lambda y: y[:, 1:, ::-1, 1:3])(L.Conv2D(3, 1)(x)),
                          ["STRIDED_SLICE"]),
        "cropping2d": ((6, 6, 2), lambda x: L.Cropping2D(((1, 2), (0, 1)))(L.Conv2D(2, 1)(x)), ["STRIDED_SLICE"]),
        "cropping1d": ((7, 3), lambda x: L.Cropping1D((2, 1))(L.Conv1D(3, 1)(x)), ["STRIDED_SLICE"]),
        "fill_zero_state": ((6,), lambda x: _layer(keras, fill_zeros)(dense(6)(x)), ["FILL"]),
    }


@pytest.fixture(scope="module")
def tf(keras):
    from mcugen.oracles import import_tf

    return import_tf()


@pytest.fixture(scope="module")
def converted(keras, tf):
    out = {}
    for name, (shape, build, ops) in models(keras, tf).items():
        keras.utils.set_random_seed(1)
        inp = keras.Input(shape, batch_size=1 if name.startswith("rnn") else None)
        model = keras.Model(inp, build(inp), name=name)
        calib = np.random.default_rng(3).uniform(-1, 1, (32,) + shape).astype(np.float32)
        out[name] = (convert_keras(model, calib), ops)
    return out


# The converted models checked as they are ("argmax_int64": TFLM writes int32 only; "fill_zero_state": TFLM
# needs constant dims; "conv_conv": the base of an edit).
CONVERTED = ["argmax_int32", "argmax_axis1", "argmax_128", "split3_last", "split2_axis1", "split_v",
             "unstack_stack_axis1", "unstack_last_stack", "stack_axis0_of_dense", "slice_tf", "strided_masks", "strided_shrink_reverse", "strided_rank4",
             "cropping2d", "cropping1d", "rnn_unrolled"]


@pytest.mark.parametrize("name", CONVERTED)
def test_converted_matches_tflm(name, converted):
    model, ops = converted[name]
    check_tflite(model, name, ops, litert=not name.startswith("rnn"))


# --- options the converter does not emit, written into converted files -------

def add_const(S, m, sg, values, dtype=np.int32, like=None) -> int:
    """A new constant tensor (quantized as tensor ``like``): its index."""
    values = np.asarray(values, dtype=dtype)
    buf = S.BufferT()
    buf.data = np.frombuffer(values.tobytes(), np.uint8)
    m.buffers.append(buf)
    t = S.TensorT()
    t.shape = list(values.shape)
    t.type = {np.int32: S.TensorType.INT32, np.int8: S.TensorType.INT8}[dtype]
    t.buffer = len(m.buffers) - 1
    t.name = f"const{len(sg.tensors)}".encode()
    if like is not None:
        t.quantization = sg.tensors[like].quantization
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def op_of(S, m, sg, name: str):
    code = getattr(S.BuiltinOperator, name)
    return next(op for op in sg.operators
                if max(m.operatorCodes[op.opcodeIndex].builtinCode,
                       m.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == code)


def set_shape(sg, i: int, shape) -> None:
    sg.tensors[i].shape = list(shape)
    sg.tensors[i].shapeSignature = None


# name -> (begin, end, strides, begin_mask, end_mask, shrink_mask, output shape) on the (1, 5, 6)
# input of "strided_masks"; TFLM checks the output shape in Prepare.
STRIDED = {
    "negative_indices": ([0, -4, -1], [1, -1, -7], [1, 1, -2], 1, 1, 0, (1, 3, 3)),
    "reverse_masked": ([0, 0, 0], [1, 0, 0], [1, -1, -1], 7, 7, 0, (1, 5, 6)),
    "reverse_unmasked_begin": ([0, 0, 3], [1, 0, 0], [1, -1, -1], 1, 7, 0, (1, 1, 4)),
    "end_clamped": ([0, 2, -100], [1, 100, 100], [1, 2, 3], 0, 0, 0, (1, 2, 2)),
    "shrink_two": ([0, -1, 4], [1, 0, 0], [1, 1, 1], 0, 0, 6, (1,)),
    "shrink_batch": ([0, 1, 0], [1, 4, 6], [1, 1, 1], 0, 4, 1, (3, 6)),
}


def _strided(case):
    begin, end, strides, bm, em, sm, shape = STRIDED[case]

    def change(S, m, sg):
        op = op_of(S, m, sg, "STRIDED_SLICE")
        op.inputs = [op.inputs[0]] + [add_const(S, m, sg, v) for v in (begin, end, strides)]
        o = op.builtinOptions
        o.beginMask, o.endMask, o.shrinkAxisMask = bm, em, sm
        set_shape(sg, op.outputs[0], shape)

    return "strided_masks", change, ["STRIDED_SLICE"]


def _slice_minus1(S, m, sg):
    op = op_of(S, m, sg, "SLICE")
    op.inputs = [op.inputs[0], add_const(S, m, sg, [0, 2, 1]), add_const(S, m, sg, [-1, -1, 4])]
    set_shape(sg, op.outputs[0], (1, 3, 4))


def _split_axis_minus1(S, m, sg):
    op = op_of(S, m, sg, "SPLIT")
    op.inputs = [add_const(S, m, sg, np.int32(-1)), op.inputs[1]]


def _split_v_minus1(S, m, sg):
    op = op_of(S, m, sg, "SPLIT_V")
    op.inputs = [op.inputs[0], add_const(S, m, sg, [2, -1, 1]), add_const(S, m, sg, np.int32(-1))]


def _unpack_pack_negative_axes(S, m, sg):
    op_of(S, m, sg, "UNPACK").builtinOptions.axis = -2
    op_of(S, m, sg, "PACK").builtinOptions.axis = -1
    set_shape(sg, op_of(S, m, sg, "PACK").outputs[0], (1, 5, 3))
    for i in sg.outputs:
        set_shape(sg, i, (1, 5, 3))


def _fill(value):
    """TFLM's FILL needs constant dims (the converter leaves SHAPE -> FILL for
    a model of any batch size): dims made constant, the value byte edited."""
    def change(S, m, sg):
        op = op_of(S, m, sg, "FILL")
        v = op.inputs[1]
        m.buffers[sg.tensors[v].buffer].data = np.array([value], np.int8).view(np.uint8)
        op.inputs = [add_const(S, m, sg, [1, 6]), v]
        for t in sg.tensors:
            t.shapeSignature = None
        sg.operators = [o for o in sg.operators if o is not op_of(S, m, sg, "SHAPE")]

    return "fill_zero_state", change, ["FILL"]


def _requantize_between(S, m, sg):
    """An int8 -> int8 QUANTIZE between two convolutions: the second reads
    the first's output at another scale and zero point."""
    conv2 = [op for op in sg.operators if op is not op_of(S, m, sg, "CONV_2D")][-1]
    t = sg.tensors[conv2.inputs[0]]
    t2 = S.TensorT()
    t2.shape, t2.type, t2.buffer, t2.name = list(t.shape), t.type, 0, b"requantized"
    t2.quantization = S.QuantizationParametersT()
    t2.quantization.scale = [float(np.float32(t.quantization.scale[0] * 1.37))]
    t2.quantization.zeroPoint = [int(t.quantization.zeroPoint[0]) - 23]
    sg.tensors.append(t2)
    code = S.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = S.BuiltinOperator.QUANTIZE
    m.operatorCodes.append(code)
    q = S.OperatorT()
    q.opcodeIndex, q.inputs, q.outputs = len(m.operatorCodes) - 1, [conv2.inputs[0]], [len(sg.tensors) - 1]
    sg.operators.insert(sg.operators.index(conv2), q)
    conv2.inputs = [len(sg.tensors) - 1] + list(conv2.inputs[1:])


# name -> (converted model, change, ops it must hold)
EDITS = {
    **{f"ss_{case}": _strided(case) for case in STRIDED},
    "slice_size_minus1": ("slice_tf", _slice_minus1, ["SLICE"]),
    "split_axis_minus1": ("split3_last", _split_axis_minus1, ["SPLIT"]),
    "split_v_minus1": ("split_v", _split_v_minus1, ["SPLIT_V"]),
    "unpack_pack_negative_axes": ("unstack_stack_axis1", _unpack_pack_negative_axes, ["UNPACK", "PACK"]),
    **{f"fill_{v & 0xff}": _fill(v) for v in (0, -128, 127, 37)},
    "quantize_between_convs": ("conv_conv", _requantize_between, ["QUANTIZE"]),
}


def edited(converted, name: str) -> bytes:
    base, change, _ = EDITS[name]
    return edit_tflite(converted[base][0], change)


@pytest.mark.parametrize("name", sorted(EDITS))
def test_edited_matches_tflm(name, converted):
    tm = check_tflite(edited(converted, name), name, EDITS[name][2])
    if name.startswith("fill"):
        assert [op.kind for op in tm.graph.ops][-2:] == ["fill", "concat"]
    if name == "unpack_pack_negative_axes":
        assert tm.graph.output.shape == (5, 3)


KERAS_CASES = {
    "cropping1d": ((7, 3), lambda L, x: L.Cropping1D((2, 1))(L.Conv1D(3, 1)(x))),
    "cropping2d": ((6, 5, 2), lambda L, x: L.Cropping2D(((1, 2), (0, 1)))(x)),
    "cropping2d_width_conv": ((5, 5, 2), lambda L, x: L.Conv2D(2, 1)(L.Cropping2D(((0, 0), (2, 0)))(x))),
    "cropping1d_none": ((4, 3), lambda L, x: L.Cropping1D((0, 0))(L.Conv1D(3, 1)(x))),
    "getitem_rows": ((6, 4), lambda L, x: L.Dense(4)(x)[:, 1:4]),
    "getitem_reverse_shrink": ((6, 4), lambda L, x: L.Dense(4)(x)[:, ::-2, 1]),
    "getitem_ellipsis": ((5, 4, 3), lambda L, x: L.Conv2D(3, 1)(x)[..., 1:]),
    "getitem_last_step": ((5, 4, 3), lambda L, x: L.Conv2D(3, 1)(x)[:, -1]),
}


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_keras_slicing(case, keras, tmp_path):
    """Cropping1D/2D and indexing (a functional model's GetItem, also read
    back from a saved .keras file) through mcugen's own quantizer: float IR
    == Keras, C == int8 reference on every layer."""
    from conftest import rand, roundtrip
    from mcugen.keras_loader import load_graph

    shape, build = KERAS_CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(keras.layers, inp))
    r = roundtrip(model, rand(shape, 64, seed=3), rand(shape, 24, seed=4))
    assert r.float_err < 1e-5 and r.exact, (r.float_err, r.first_mismatch)
    assert any(op.kind == "slice" for op in r.graph.ops)
    model.save(tmp_path / "m.keras")
    _, g = load_graph(tmp_path / "m.keras")
    assert [op.describe() for op in g.ops] == [op.describe() for op in r.graph.ops]


def test_keras_operation_without_converter_is_named(keras):
    """A keras.ops call in a functional model is an operation, not one of
    model.layers: it is refused by name, not as a broken configuration."""
    from mcugen.keras_loader import graph_from_keras

    inp = keras.Input((6, 4))
    first, _ = keras.ops.split(inp, 2, axis=-1)
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(first)))
    with pytest.raises(UnsupportedLayer, match=r"'split' \(Split\): unsupported Keras operation"):
        graph_from_keras(model, "m")


@pytest.mark.parametrize("case, detail", [
    ("offset", "the offset flag"), ("short", "begin [0, 3]"), ("ellipsis", "ellipsis")])
def test_strided_slice_refusals(case, detail, converted):
    """What TFLM would get wrong is refused by name: the offset flag (its
    Prepare sizes the output without it, its Eval adds it), fewer indices
    than axes (it reads one per axis), ellipsis / new-axis masks (it drops them)."""
    def change(S, m, sg):
        op = op_of(S, m, sg, "STRIDED_SLICE")
        if case == "short":
            op.inputs = [op.inputs[0]] + [add_const(S, m, sg, v) for v in ([0, 3], [1, 5], [1, 1])]
        setattr(op.builtinOptions, {"offset": "offset", "short": "beginMask", "ellipsis": "ellipsisMask"}[case],
                {"offset": True, "short": 0, "ellipsis": 2}[case])

    with pytest.raises(UnsupportedLayer, match="STRIDED_SLICE .*" + re.escape(detail)):
        graph_from_tflite(edit_tflite(converted["strided_masks"][0], change), case, case)


def test_fill_from_shape_arithmetic(converted):
    """FILL(SHAPE(x), 0) as the converter leaves it for any batch size: the
    dims fold, the C fills with the zero point's byte (TFLM refuses the
    non-constant dims, so the reference is the oracle here)."""
    tm = graph_from_tflite(converted["fill_zero_state"][0], "fill_shape", "fill_shape")
    g = tm.graph
    fill = next(op for op in g.ops if op.kind == "fill")
    assert fill.value == g.q(fill.outputs[0]).zero_point
    xq = int8_rows(g.input.shape)
    host = run_host(g, render(g, "fill_shape"), xq)
    ref = run_int8(g, xq)
    assert np.array_equal(host.outputs, ref[g.outputs[0]])
    assert np.all(ref[fill.outputs[0]] == fill.value)


def test_arg_max_index_as_int8(converted):
    """ARG_MAX's int32 / int64 index comes out as an int8 byte with scale 1
    and zero point 0, so dequantize_output gives the index; a tie gives the
    first index. TFLM's ARG_MAX writes int32 only: the int64 file is checked
    against LiteRT."""
    tm = graph_from_tflite(converted["argmax_int32"][0], "am", "am")
    g = tm.graph
    assert g.output.q.scale == 1.0 and g.output.q.zero_point == 0 and g.output.shape == ()
    x = np.zeros((2,) + g.input.shape, np.int8)
    x[0, 3] = 5
    x[1, 6] = x[1, 2] = 7
    host = run_host(g, render(g, "am"), x)
    assert host.outputs.tolist() == [3, 2]
    tm = graph_from_tflite(converted["argmax_int64"][0], "am64", "am64")
    g = tm.graph
    assert g.output.shape == (6,)
    xq = int8_rows(g.input.shape)
    host = run_host(g, render(g, "am64"), xq)
    assert np.array_equal(host.outputs, run_oracle("litert", tm, xq).outputs)
    assert np.array_equal(host.outputs, np.argmax(xq, axis=1))


def _argmax_feeds_op(S, m, sg):
    """The index fed to a second ARG_MAX (an int32 consumer)."""
    op = op_of(S, m, sg, "ARG_MAX")
    second = S.OperatorT()
    second.opcodeIndex, second.builtinOptionsType = op.opcodeIndex, op.builtinOptionsType
    second.builtinOptions = op.builtinOptions
    idx = len(sg.tensors)
    t = S.TensorT()
    t.shape, t.type, t.buffer, t.name = [1], sg.tensors[op.outputs[0]].type, 0, b"again"
    sg.tensors.append(t)
    second.inputs, second.outputs = [op.outputs[0], add_const(S, m, sg, np.int32(0))], [idx]
    sg.operators.append(second)
    sg.outputs = [idx]


def test_arg_max_refusals(converted):
    with pytest.raises(UnsupportedLayer, match="ARG_MAX .*an axis of 129 values"):
        def wide(S, m, sg):
            for i in list(sg.inputs) + [op_of(S, m, sg, "ARG_MAX").inputs[0]]:
                set_shape(sg, i, (1, 129))
        graph_from_tflite(edit_tflite(converted["argmax_128"][0], wide), "wide", "wide")
    with pytest.raises(UnsupportedLayer, match="ARG_MAX .*feeds another op"):
        graph_from_tflite(edit_tflite(converted["argmax_int32"][0], _argmax_feeds_op), "feeds", "feeds")


def test_contiguous_pieces_are_views(converted):
    """A piece whose bytes are contiguous in its input copies nothing: the
    steps and gates of the batch-1 RNN, a split along the first axis; a
    split along the last axis of a (4, 6) tensor copies. A view of the
    model input reads the caller's buffer from its offset."""
    views = {}
    for name in ("rnn_unrolled", "split2_axis1", "split3_last", "unstack_stack_axis1"):
        g = graph_from_tflite(converted[name][0], name, name).graph
        kinds = {getattr(op, "is_view", False) for op in g.ops if op.kind == "slice"}
        views[name] = kinds
        if name == "rnn_unrolled":
            c = render(g, name).source
            assert "in + 9" in c and "mcg_transpose_s8" not in c
    assert views == {"rnn_unrolled": {True}, "split2_axis1": {True}, "split3_last": {False},
                     "unstack_stack_axis1": {True}}
