"""16x8 (int16 activations, int8 weights) models against TFLM, one op at a
time (CONV_2D, TRANSPOSE_CONV, ADD, SUB, LEAKY_RELU, PAD, STRIDED_SLICE,
FULLY_CONNECTED, DEPTHWISE_CONV_2D, MAX/AVERAGE_POOL_2D, CONCATENATION, MUL,
RESHAPE, SOFTMAX, QUANTIZE): small Keras models converted by TFLiteConverter with
``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`` and int16
input and output, and QUANTIZE between int8 and int16 (TFLiteConverter puts
none inside a 16x8 model: made by editing a converted one). Each is read back
by mcugen and run on int16 inputs (random, the extremes, alternating) by the
generated C on the host (ASan/UBSan), which must equal mcugen's numpy
reference on every layer, and by the ``tflite-micro`` interpreter, whose
output bytes must be the same. The same source compiles warning-free for
AVR (avr-gcc, ATmega328P) and Cortex-M4 (arm-none-eabi-gcc)."""
from __future__ import annotations

import contextlib
import io
import subprocess

import numpy as np
import pytest

from conftest import edit_tflite

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

L = None  # keras.layers, bound in the fixture

# name -> (input shape, builder)
CASES = {
    "conv2d_same_relu": ((8, 8, 3), lambda x: L.Conv2D(4, 3, padding="same", activation="relu")(x)),
    "conv2d_valid_s2x1": ((9, 7, 2), lambda x: L.Conv2D(5, (3, 2), strides=(2, 1))(x)),
    "conv1d_same_s2": ((16, 3), lambda x: L.Conv1D(4, 3, strides=2, padding="same")(x)),
    "transpose_conv_same_s2": ((4, 5, 3), lambda x: L.Conv2DTranspose(4, 3, strides=2, padding="same")(x)),
    "transpose_conv_valid_nobias": ((3, 4, 2), lambda x: L.Conv2DTranspose(3, (3, 4), strides=(1, 2),
                                                                            use_bias=False)(x)),
    "add": ((6, 6, 3), lambda x: L.Add()([L.Conv2D(3, 1)(x), x])),
    "sub": ((6, 6, 3), lambda x: L.Subtract()([L.Conv2D(3, 1)(x), x])),
    "leaky_relu": ((6, 6, 3), lambda x: L.LeakyReLU(negative_slope=0.2)(x)),
    "leaky_relu_after_conv": ((5, 5, 2), lambda x: L.LeakyReLU(negative_slope=0.3)(L.Conv2D(3, 3)(x))),
    "zeropad2d": ((5, 5, 2), lambda x: L.ZeroPadding2D(((1, 2), (0, 3)))(x)),
    "zeropad1d_conv1d": ((7, 3), lambda x: L.Conv1D(2, 3)(L.ZeroPadding1D((2, 1))(x))),
    "cropping2d": ((6, 7, 3), lambda x: L.Cropping2D(((1, 2), (0, 3)))(x)),
    "getitem_strided": ((8, 6, 2), lambda x: x[:, 1:7:2, ::-1, :]),
    "dense_relu": ((20,), lambda x: L.Dense(7, activation="relu")(x)),
    "depthwise_same": ((8, 8, 4), lambda x: L.DepthwiseConv2D(3, padding="same")(x)),
    "depthwise_dm2_s2": ((9, 9, 3), lambda x: L.DepthwiseConv2D(3, strides=2, depth_multiplier=2)(x)),
    "maxpool2d": ((8, 8, 3), lambda x: L.MaxPooling2D(2)(x)),
    "avgpool2d_same": ((8, 7, 3), lambda x: L.AveragePooling2D(3, strides=2, padding="same")(x)),
    "concat": ((6, 6, 3), lambda x: L.Concatenate()([L.Conv2D(2, 1)(x), x])),
    "mul": ((6, 6, 3), lambda x: L.Multiply()([L.Conv2D(3, 1)(x), x])),
    "reshape_dense": ((4, 6), lambda x: L.Dense(5)(L.Flatten()(x))),
    "dense_softmax": ((12,), lambda x: L.Softmax()(L.Dense(10)(x))),
    "softmax_rank2": ((3, 10), lambda x: L.Softmax()(x)),
    # No bias in the file (TFLM's int64 arithmetic all the same: common.bias_16x8).
    "dense_nobias": ((20,), lambda x: L.Dense(7, use_bias=False)(x)),
}


@pytest.fixture(scope="module")
def layers(keras):
    global L
    L = keras.layers
    return L


_CONVERTED: dict[str, bytes] = {}


def convert_16x8(keras, case: str) -> bytes:
    """The case's .tflite (converted once per process: several tests edit it)."""
    if case not in _CONVERTED:
        _CONVERTED[case] = _convert_16x8(keras, case)
    return _CONVERTED[case]


def _convert_16x8(keras, case: str) -> bytes:
    from conftest import randomize
    from mcugen.oracles import import_tf

    tf = import_tf()
    shape, build = CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=case)
    randomize(model, seed=2)
    calib = np.random.default_rng(3).uniform(-1.0, 1.0, (48,) + shape).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i: i + 1]] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    conv.inference_input_type = tf.int16
    conv.inference_output_type = tf.int16
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(conv.convert())


def rows(shape, dtype, seed: int = 0) -> np.ndarray:
    """The extremes, alternating extremes (both phases), and random values."""
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    n = int(np.prod(shape))
    alt = np.where(np.arange(n) % 2 == 0, lo, hi)
    out = [np.full(n, lo), np.full(n, hi), alt, lo + hi - alt]
    out += list(np.random.default_rng(seed).integers(lo, hi + 1, (6, n)))
    return np.stack(out).reshape((len(out),) + tuple(shape)).astype(dtype)


def tflm_rows(data: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(data, arena_size=1 << 22)
    ys = []
    for row in x:
        it.set_input(row.reshape(it.get_input_details(0)["shape"]), 0)
        it.invoke()
        ys.append(np.array(it.get_output(0)).reshape(-1))
    return np.stack(ys)


CROSS = (["avr-gcc", "-mmcu=atmega328p"], ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb"])


def cross_compiles(cm, folder) -> None:
    cm.write(folder)
    for cc in CROSS:
        r = subprocess.run([*cc, "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror", "-c", "-I", str(folder),
                            str(folder / f"{cm.name}.c"), "-o", str(folder / "model.o")],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{cc[0]}: {r.stderr[:800]}"


def host_matches_reference_and_tflm(data: bytes, name: str, dtype=np.int16, folder=None):
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.reference import run_int
    from mcugen.tflite.loader import graph_from_tflite

    tm = graph_from_tflite(data, name)
    g = tm.graph
    x = rows(g.input.shape, dtype)
    ref = run_int(g, x)
    cm = render(g, name)
    host = run_host(g, cm, x, sanitize=True)
    for op, got in zip(g.ops, host.layers):
        assert np.array_equal(got, ref[op.outputs[0]]), f"C differs from the reference at {op.name!r}"
    ours = np.asarray(host.outputs).reshape(len(x), -1)
    theirs = tflm_rows(data, x)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    assert np.array_equal(ours, theirs), f"differs from TFLM on {np.mean(ours != theirs):.2%} of values"
    if folder is not None:
        cross_compiles(cm, folder)
    return tm


@pytest.mark.parametrize("case", sorted(CASES))
def test_16x8_op_matches_tflm(case, keras, layers, tmp_path):
    tm = host_matches_reference_and_tflm(convert_16x8(keras, case), case, folder=tmp_path)
    assert any(tm.graph.tensors[t].dtype == "int16" for t in tm.graph.inputs)


def quantize_model(keras, src: str, dst: str) -> bytes:
    """A 16x8 LEAKY_RELU model turned into one QUANTIZE from a ``src`` to a
    ``dst`` tensor ("INT8" or "INT16"), the int8 side with its own scale and
    zero point."""
    data = convert_16x8(keras, "leaky_relu")

    def change(S, m, sg):
        code = S.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = S.BuiltinOperator.QUANTIZE
        m.operatorCodes.append(code)
        op = sg.operators[0]
        op.opcodeIndex = len(m.operatorCodes) - 1
        op.builtinOptionsType, op.builtinOptions = 0, None
        for i, kind, scale, zp in ((op.inputs[0], src, 0.011, -7), (op.outputs[0], dst, 0.0093, 5)):
            t = sg.tensors[i]
            t.type = getattr(S.TensorType, kind)
            if kind == "INT8":
                t.quantization.scale, t.quantization.zeroPoint = [scale], [zp]

    return edit_tflite(data, change)


@pytest.mark.parametrize("src, dst", [("INT8", "INT16"), ("INT16", "INT8"), ("INT16", "INT16")])
def test_quantize_16x8_matches_tflm(src, dst, keras, layers, tmp_path):
    data = quantize_model(keras, src, dst)
    tm = host_matches_reference_and_tflm(data, f"quantize_{src}_{dst}".lower(), np.int16 if src == "INT16" else np.int8,
                                         folder=tmp_path)
    assert [op.kind for op in tm.graph.ops] == ["lut"]


def int32_bias(data: bytes) -> bytes:
    """The file with its first operator's int64 bias stored as int32 (the
    same values), which makes TFLM run the layer in int32 arithmetic."""
    def change(S, m, sg):
        t = sg.tensors[sg.operators[0].inputs[2]]
        values = np.frombuffer(bytes(m.buffers[t.buffer].data), dtype=np.int64).astype(np.int32)
        t.type = S.TensorType.INT32
        m.buffers[t.buffer].data = np.frombuffer(values.tobytes(), dtype=np.uint8)

    return edit_tflite(data, change)


@pytest.mark.parametrize("case", ["conv2d_same_relu", "dense_relu"])
def test_16x8_int32_bias_matches_tflm(case, keras, layers, tmp_path):
    tm = host_matches_reference_and_tflm(int32_bias(convert_16x8(keras, case)), f"{case}_b32", folder=tmp_path)
    assert tm.graph.ops[0].acc32


def test_16x8_refusals_are_one_line(keras, layers):
    """What TFLM would run in another arithmetic, or not at all, is refused
    with one line naming the op."""
    from mcugen.errors import McugenError
    from mcugen.tflite.loader import graph_from_tflite

    def refused(data: bytes) -> str:
        with pytest.raises(McugenError) as e:
            graph_from_tflite(data, "m")
        assert "\n" not in str(e.value), str(e.value)
        return str(e.value)

    # TFLM reads an int32 bias of a 16x8 DEPTHWISE_CONV_2D as int64 (garbage)
    msg = refused(int32_bias(convert_16x8(keras, "depthwise_same")))
    assert "DEPTHWISE_CONV_2D" in msg and "INT32 bias" in msg, msg

    def zero_point(S, m, sg):
        sg.tensors[sg.operators[0].outputs[0]].quantization.zeroPoint = [3]

    msg = refused(edit_tflite(convert_16x8(keras, "conv2d_same_relu"), zero_point))
    assert "CONV_2D" in msg and "zero point 3" in msg, msg


def test_keras_model_through_quantizer_tflite_16x8(keras, layers, tmp_path):
    """``--quantizer tflite-16x8``: a Keras model of several 16x8 ops
    (Conv1D, LeakyReLU, a residual ADD, ZeroPadding, Dense) converted by
    TFLiteConverter in 16x8, then ``check`` (C == reference, ASan/UBSan) and
    ``compare`` (every layer == TFLM) meet their targets."""
    from mcugen.check import run_check
    from mcugen.compare import run_compare
    from mcugen.pipeline import prepare

    keras.utils.set_random_seed(4)
    inp = keras.Input((24, 3))
    x = L.Conv1D(8, 3, padding="same")(inp)
    x = L.LeakyReLU(negative_slope=0.2)(x)
    x = L.Add()([x, L.Conv1D(8, 1)(inp)])
    x = L.ZeroPadding1D((1, 0))(x)
    x = L.Conv1D(4, 5, strides=2)(x)
    out = L.Dense(3)(L.Flatten()(x))
    model = keras.Model(inp, out, name="mixed16")
    path = tmp_path / "mixed16.keras"
    model.save(path)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(5).uniform(-1, 1, (32, 24, 3)).astype(np.float32))
    p = prepare(path, calib, warn=lambda m: None, quantizer="tflite-16x8")
    assert all(t.dtype == "int16" for t in p.graph.tensors.values() if t.name in p.graph.inputs + p.graph.outputs)
    r = run_check(p, n=6, sanitize=True)
    assert r.bit_exact == r.inputs == 6, r.first_mismatch_layer
    c = run_compare(p, n=6, sanitize=False)
    assert c.ok and c.oracles["tflm"].identical_bytes_ratio == 1.0, c.notes


@pytest.mark.parametrize("layer", ["Add", "Subtract"])
def test_16x8_add_sub_with_zero_points_matches_tflm(layer, keras, layers):
    """TFLM's int16 ADD and SUB apply zero points (its conv and MUL require
    0): two int16 inputs, every zero point edited to a non-zero value; the C
    on the host equals the reference and TFLM's bytes."""
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.oracles import import_tf
    from mcugen.reference import run_int
    from mcugen.tflite.loader import graph_from_tflite
    from tflite_micro.python.tflite_micro import runtime

    tf = import_tf()
    a, b = keras.Input((4, 5)), keras.Input((4, 5))
    model = keras.Model([a, b], getattr(L, layer)()([a, b]))
    rng = np.random.default_rng(0)
    ca, cb = rng.uniform(-1, 1, (32, 4, 5)).astype(np.float32), rng.uniform(-2, 1, (32, 4, 5)).astype(np.float32)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([ca[i: i + 1], cb[i: i + 1]] for i in range(32))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int16
    with contextlib.redirect_stdout(io.StringIO()):
        data = bytes(conv.convert())

    def zero_points(S, m, sg):
        for k, t in enumerate(sg.tensors):
            if t.type == S.TensorType.INT16:
                t.quantization.zeroPoint = [(k * 37) % 200 - 100]

    data = edit_tflite(data, zero_points)
    tm = graph_from_tflite(data, layer.lower())
    g = tm.graph
    assert all(g.q(t).zero_point != 0 for t in g.inputs + g.outputs)
    xs = [rows(g.tensors[t].shape, np.int16, seed=k) for k, t in enumerate(g.inputs)]
    ref = run_int(g, xs)[g.outputs[0]]
    host = run_host(g, render(g, layer.lower()), xs, sanitize=True)
    assert np.array_equal(host.outputs, ref)
    it = runtime.Interpreter.from_bytes(data, arena_size=1 << 20)
    order = list(tm.input_indices)
    theirs = []
    for n in range(len(xs[0])):
        for t, x in zip(g.inputs, xs):
            it.set_input(x[n].reshape(1, 4, 5), order.index(tm.tensor_index[t]))
        it.invoke()
        theirs.append(np.array(it.get_output(0)).reshape(g.output.shape))
    assert np.array_equal(ref, np.stack(theirs)), f"differs from TFLM on {np.mean(ref != np.stack(theirs)):.2%}"


def test_16x8_softmax_tables_are_tflms(keras, layers):
    """TFLM builds its int16 SOFTMAX tables in float32 (gen_lut<float>); in
    double two entries of 1 / (1 + x) come out one step apart. Rows whose
    sum of exps reads those entries: mcugen's bytes equal TFLM's there."""
    from mcugen.lut16 import lookup, softmax_luts
    from mcugen.reference import run_int
    from mcugen.rounding import multiply_by_quantized_multiplier
    from mcugen.tflite.loader import graph_from_tflite

    CASES["softmax_only"] = ((12,), lambda x: L.Softmax()(x))
    data = convert_16x8(keras, "softmax_only")
    g = graph_from_tflite(data, "softmax_only").graph
    (op,) = g.ops
    exp_lut, rec_lut = softmax_luts()
    rng = np.random.default_rng(7)
    spread = rng.integers(1, 32768, (200000, 1))
    x = (rng.integers(-32768, 32768, (200000, 12)) * spread // 32768).astype(np.int64)
    m, s = op.params16
    e = lookup(np.clip(multiply_by_quantized_multiplier(x - x.max(axis=1, keepdims=True), m, s) + 32767,
                       -32768, 32767), exp_lut)
    total = e.sum(axis=1)
    headroom = 32 - np.vectorize(int.bit_length, otypes=[np.int64])(total)
    index = 256 + ((np.clip((((total << (headroom - 1)) + (1 << 13)) >> 14) - 98304, -32768, 32767)) >> 7)
    double = _double_reciprocal_table()
    differ = np.nonzero(double != rec_lut)[0]
    assert differ.size, "the float32 and double tables agree: nothing to tell apart"
    hit = np.isin(index, differ) | np.isin(index + 1, differ)
    rows = x[hit][:40].astype(np.int16)
    assert len(rows) >= 10, len(rows)
    ours = run_int(g, rows)[g.outputs[0]].reshape(len(rows), -1)
    assert np.array_equal(ours, tflm_rows(data, rows))


def _double_reciprocal_table() -> np.ndarray:
    """TFLite's older gen_lut, in double: 1 / (1 + x) over [0, 1]."""
    table = np.zeros(513, dtype=np.int64)
    step = 1.0 / 512

    def rnd(v):
        return float(np.sign(v) * np.floor(abs(v) + 0.5))

    for i in range(512):
        val, mid, nxt = (1.0 / (1.0 + t) for t in (i * step, i * step + step / 2, (i + 1) * step))
        sample = rnd(val * 32768.0)
        interp = rnd((nxt * 32768.0 + rnd(val * 32768.0)) / 2.0)
        table[i] = min(max(sample - rnd((interp - rnd(mid * 32768.0)) / 2.0), -32768.0), 32767.0)
    table[512] = min(max(rnd(0.5 * 32768.0), -32768.0), 32767.0)
    return table
