"""UNIDIRECTIONAL_SEQUENCE_LSTM against TFLM, over sequences of invocations
(the hidden and cell state carried from one to the next, never reset).

* TFLM's DTLN example (two int8 LSTMs with int16 cell state, FULLY_CONNECTED,
  LOGISTIC): the generated C on its input equals the expected output that
  TFLM's dtln_test.cc checks, parsed from dtln_inout_data.cc; and over a
  sequence of invocations it equals TFLM's interpreter.
* Keras LSTMs (batch size 1, or 2) converted by TFLiteConverter to int8,
  sequence lengths 1, 3 and 7, return_sequences on and off; their time-major
  twins (the option set and the shapes swapped with the schema's object API,
  which TFLiteConverter does not emit); and their 16x8 twins (TFLiteConverter
  refuses 16x8 for this op: input, hidden state and output made int16 with
  zero point 0, the biases int64 at the new input scale, weights and cell
  state unchanged), which TFLM runs with its 16x8 kernel (return_sequences
  off is int8 only here: its STRIDED_SLICE has no 16x8 kernel in mcugen yet).
  Each: the C on the host (ASan/UBSan) equals the numpy reference on every
  layer for every invocation, and its output bytes equal TFLM's.
* What TFLM's kernel refuses (projection, peephole, layer norm, CIFG) is
  refused in one line naming the op and the feature.
* The Keras LSTM layer with mcugen's quantizer: float IR == Keras, C == the
  reference, and its quantization == TFLiteConverter's (mcugen/ops/lstm_keras.py).
"""
from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import edit_tflite
from skip_policy import skip_unless_data
from test_tflite_ops import host_matches_reference

from mcugen.emit import render
from mcugen.errors import McugenError
from mcugen.oracles import run_oracle
from mcugen.tflite.loader import graph_from_tflite

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

DTLN = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "tflm" / "dtln"
DTLN = Path(os.environ.get("MCUGEN_TFLM_DIR", DTLN.parent)) / "dtln"


# --- models -----------------------------------------------------------------

def _cached(tmp_path_factory, name: str, make) -> bytes:
    """``make()``'s bytes, made once per test session (shared by xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / f"lstm-{name}.tflite"
    with open(root / "lstm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            path.write_bytes(make())
    return path.read_bytes()


def convert_lstm(steps: int, seq: bool, batch: int = 1, features: int = 4, units: int = 5) -> bytes:
    """A Keras LSTM (fixed batch size) converted by TFLiteConverter to int8."""
    import tf_keras as keras

    from mcugen.keras_loader import _native_stderr_silenced
    from mcugen.oracles import import_tf

    tf = import_tf()
    keras.utils.set_random_seed(steps * 10 + seq + batch)
    inp = keras.Input((steps, features), batch_size=batch)
    model = keras.Model(inp, keras.layers.LSTM(units, return_sequences=seq)(inp))
    rng = np.random.default_rng(steps)
    weights = model.layers[1].get_weights()
    model.layers[1].set_weights(weights[:2] + [rng.normal(0, 0.5, weights[2].shape).astype(np.float32)])

    def representative():
        for _ in range(32):
            yield [rng.normal(0, 1, (batch, steps, features)).astype(np.float32)]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    with _native_stderr_silenced():
        return c.convert()


def _lstm_op(sg):
    return next(op for op in sg.operators if op.inputs is not None and len(op.inputs) == 24)


def time_major(data: bytes) -> bytes:
    """The same LSTM with time_major set: input and output (B, T, F) become (T, B, F)."""
    def change(S, m, sg):
        op = _lstm_op(sg)
        op.builtinOptions.timeMajor = True
        for i in (int(op.inputs[0]), int(op.outputs[0])):
            t = sg.tensors[i]
            b, steps, f = (int(v) for v in t.shape)
            t.shape = [steps, b, f]
            if t.shapeSignature is not None:
                t.shapeSignature = [steps, b, f]

    return edit_tflite(data, change)


def to_16x8(data: bytes) -> bytes:
    """The int8 LSTM file as its 16x8 twin (see the module's docstring)."""
    def change(S, m, sg):
        op = _lstm_op(sg)
        ins = [int(i) for i in op.inputs]

        def int16(i, scale):
            t = sg.tensors[i]
            t.type = S.TensorType.INT16
            t.quantization.scale = [float(scale)]
            t.quantization.zeroPoint = [0]

        s_in8 = float(sg.tensors[ins[0]].quantization.scale[0])
        s_in16 = np.float32(s_in8 / 128)
        s_h16 = np.float32(float(sg.tensors[ins[18]].quantization.scale[0]) / 128)
        int16(ins[0], s_in16)
        int16(ins[18], s_h16)
        int16(int(op.outputs[0]), s_h16)
        done = set()
        for k in (12, 13, 14, 15):
            t = sg.tensors[ins[k]]
            t.type = S.TensorType.INT64
            if t.buffer in done:  # zero biases share one buffer
                continue
            done.add(t.buffer)
            buf = m.buffers[t.buffer]
            b32 = np.frombuffer(bytes(bytearray(buf.data)), np.int32).astype(np.float64)
            buf.data = list(np.round(b32 * s_in8 / float(s_in16)).astype(np.int64).tobytes())
        for i in ([] if op.intermediates is None else [int(v) for v in op.intermediates]):
            if sg.tensors[i].type == S.TensorType.INT8:
                int16(i, sg.tensors[i].quantization.scale[0])

    return edit_tflite(data, change)


def rows(g, n: int, seed: int) -> np.ndarray:
    """n random invocations of the model's input, in its own type, then one
    of each extreme."""
    t = g.input
    lo, hi = t.limits
    rng = np.random.default_rng(seed)
    xs = rng.integers(lo, hi + 1, (n,) + t.shape)
    return np.concatenate([xs, np.full((1,) + t.shape, lo), np.full((1,) + t.shape, hi)]).astype(t.np_dtype)


def tflm(tm, xq) -> np.ndarray:
    return run_oracle("tflm", tm, xq).outputs


# --- DTLN -------------------------------------------------------------------

def c_array(text: str, name: str) -> np.ndarray:
    body = re.search(rf"\b{name}\[\]\s*=\s*\{{([^}}]*)\}}", text).group(1)
    return np.array([int(v) for v in body.replace("\n", " ").split(",") if v.strip()], dtype=np.int64)


@skip_unless_data(DTLN)
def test_dtln_equals_the_examples_expected_output():
    data = (DTLN / "dtln_inout_data.cc").read_text()
    feature, golden = c_array(data, "feature_data"), c_array(data, "golden_ref")
    tm = graph_from_tflite((DTLN / "dtln_noise_suppression.tflite").read_bytes(), "dtln")
    g = tm.graph
    assert [type(op).__name__ for op in g.ops][:2] == ["UnidirectionalSequenceLstm"] * 2
    assert [g.tensors[t].variable for t in g.ops[0].inputs] == [False, True, True]
    assert feature.size == golden.size == g.input.size == 257
    ours = host_matches_reference(tm, feature.reshape((1,) + g.input.shape).astype(np.int8), "dtln")
    assert np.array_equal(ours.reshape(-1), golden), f"{np.sum(ours.reshape(-1) != golden)} bytes differ"


@skip_unless_data(DTLN)
def test_dtln_sequence_equals_tflm():
    tm = graph_from_tflite((DTLN / "dtln_noise_suppression.tflite").read_bytes(), "dtln")
    xq = rows(tm.graph, 5, seed=7)
    ours = host_matches_reference(tm, xq, "dtln")
    theirs = tflm(tm, xq)
    assert np.array_equal(ours, theirs), f"differs from TFLM on {np.mean(ours != theirs):.2%} of bytes"
    # the state matters: the same input twice in a row gives two outputs
    twice = np.concatenate([xq[:1], xq[:1]])
    again = host_matches_reference(tm, twice, "dtln")
    assert not np.array_equal(again[0], again[1])


# --- converted models -------------------------------------------------------

CASES = {  # name: (steps, return_sequences, batch, time_major, 16x8)
    "t1": (1, True, 1, False, False),
    "t3": (3, True, 1, False, False),
    "t7": (7, True, 1, False, False),
    "t3_last": (3, False, 1, False, False),
    "t7_last": (7, False, 1, False, False),
    "t3_major": (3, True, 1, True, False),
    "t7_major": (7, True, 1, True, False),
    "t3_batch2": (3, True, 2, False, False),
    "t3_batch2_major": (3, True, 2, True, False),
    "t1_16x8": (1, True, 1, False, True),
    "t3_16x8": (3, True, 1, False, True),
    "t7_16x8": (7, True, 1, False, True),
    "t3_batch2_major_16x8": (3, True, 2, True, True),
    "t3_major_16x8": (3, True, 1, True, True),
}


def case_model(tmp_path_factory, case: str):
    steps, seq, batch, major, act16 = CASES[case]
    data = _cached(tmp_path_factory, f"s{steps}{int(seq)}b{batch}", lambda: convert_lstm(steps, seq, batch))
    if major:
        data = time_major(data)
    if act16:
        data = to_16x8(data)
    return graph_from_tflite(data, case)


@pytest.mark.parametrize("case", list(CASES))
def test_converted_lstm_equals_tflm(case, tmp_path_factory):
    steps, seq, batch, major, act16 = CASES[case]
    tm = case_model(tmp_path_factory, case)
    lstm = next(op for op in tm.graph.ops if type(op).__name__ == "UnidirectionalSequenceLstm")
    assert (lstm.steps, lstm.batch, lstm.time_major, lstm.act16) == (steps, batch, major, act16)
    xq = rows(tm.graph, 4, seed=steps)
    ours = host_matches_reference(tm, xq, case)
    theirs = tflm(tm, xq)
    assert np.array_equal(ours, theirs), f"differs from TFLM on {np.mean(ours != theirs):.2%} of values"


def with_cell_clip(data: bytes, clip: float) -> bytes:
    def change(S, m, sg):
        _lstm_op(sg).builtinOptions.cellClip = clip

    return edit_tflite(data, change)


@pytest.mark.parametrize("clip, act16", [(0.05, False), (1e-6, False), (0.02, True)])
def test_cell_clip_equals_tflm(clip, act16, tmp_path_factory):
    """A cell clip that bites (1e-6: quantized to 0, every cell value clamped to 0)."""
    data = with_cell_clip(_cached(tmp_path_factory, "s711b1", lambda: convert_lstm(7, True, 1)), clip)
    tm = graph_from_tflite(to_16x8(data) if act16 else data, "clip")
    lstm = tm.graph.ops[0]
    assert lstm.quantized_clip == int(np.float64(np.float32(clip)) / lstm.c_q.scale)
    xq = rows(tm.graph, 3, seed=5)
    ours = host_matches_reference(tm, xq, "clip")
    theirs = tflm(tm, xq)
    assert np.array_equal(ours, theirs), f"differs from TFLM on {np.mean(ours != theirs):.2%} of values"


# --- refusals ---------------------------------------------------------------

def _with_input(k: int, source: int):
    """Input k of the LSTM set to the tensor of input ``source``."""
    def change(S, m, sg):
        op = _lstm_op(sg)
        ins = [int(i) for i in op.inputs]
        ins[k] = ins[source] if source >= 0 else -1
        op.inputs = ins

    return change


@pytest.mark.parametrize("k, source, words", [
    (16, 5, "a projection layer"),
    (9, 12, "peephole connections"),
    (20, 12, "layer normalization"),
    (1, -1, "missing input 1"),
])
def test_what_tflm_refuses_is_refused(k, source, words, tmp_path_factory):
    data = _cached(tmp_path_factory, "s310b1", lambda: convert_lstm(3, True, 1))
    with pytest.raises(McugenError) as e:
        graph_from_tflite(edit_tflite(data, _with_input(k, source)), "bad")
    msg = str(e.value)
    assert "\n" not in msg and "UNIDIRECTIONAL_SEQUENCE_LSTM" in msg and words in msg, msg


def test_kernels_compile_for_avr_and_cortex_m(tmp_path_factory, tmp_path):
    """Both kernels are C99 and warning-free for avr-gcc and arm-none-eabi-gcc."""
    import subprocess

    firmware = Path(__file__).resolve().parents[1] / "firmware"
    for case in ("t3", "t3_16x8"):
        tm = case_model(tmp_path_factory, case)
        c = render(tm.graph, case)
        src = tmp_path / f"{case}.c"
        src.write_text(c.source)
        (tmp_path / f"{case}.h").write_text(c.header)
        for cc, flags in (("avr-gcc", ["-mmcu=atmega328p"]), ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb"])):
            r = subprocess.run([cc, *flags, "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror", f"-I{firmware}",
                                f"-I{tmp_path}", "-c", str(src), "-o", str(tmp_path / f"{case}.o")],
                               capture_output=True, text=True)
            assert r.returncode == 0, (cc, r.stderr[-2000:])


# --- the Keras LSTM layer (mcugen's quantizer) ---------------------------------

def _keras_lstm(keras, seq: bool, steps: int = 5, features: int = 3, units: int = 4, stateful: bool = False):
    keras.utils.set_random_seed(steps + seq)
    inp = keras.Input((steps, features), batch_size=1 if stateful else None)
    lstm = keras.layers.LSTM(units, return_sequences=seq, stateful=stateful)
    model = keras.Model(inp, lstm(inp), name=f"lstm{int(seq)}")
    w = lstm.get_weights()
    lstm.set_weights(w[:2] + [np.random.default_rng(steps).normal(0, 0.5, w[2].shape).astype(np.float32)])
    return model


@pytest.mark.parametrize("seq", [True, False])
def test_keras_lstm_roundtrip(keras, seq):
    """Float IR == Keras (every invocation from a zero state, Keras'
    stateful=False), and the C == the integer reference on every layer."""
    from conftest import roundtrip

    inp = keras.Input((5, 3))
    x = keras.layers.LSTM(4, return_sequences=seq)(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(x) if seq else x), name=f"kl{int(seq)}")
    rng = np.random.default_rng(1)
    r = roundtrip(model, rng.normal(0, 1, (64, 5, 3)).astype(np.float32), rng.normal(0, 1, (6, 5, 3)).astype(np.float32))
    assert r.float_err < 1e-5, r.float_err
    assert r.exact, r.first_mismatch


def converter_twin(model, xc: np.ndarray, seq: bool):
    """The Keras LSTM's weights in a tf_keras LSTM of batch size 1 converted
    by TFLiteConverter to int8 on the calibration samples ``xc``."""
    import tf_keras

    from mcugen.keras_loader import _native_stderr_silenced
    from mcugen.oracles import import_tf

    tf = import_tf()
    steps, features = xc.shape[1:]
    lstm = next(layer for layer in model.layers if type(layer).__name__ == "LSTM")
    twin_in = tf_keras.Input((steps, features), batch_size=1)
    twin_lstm = tf_keras.layers.LSTM(lstm.get_config()["units"], return_sequences=seq)
    twin = tf_keras.Model(twin_in, twin_lstm(twin_in))
    twin_lstm.set_weights(lstm.get_weights())

    def representative():
        for x in xc:
            yield [x[None]]

    c = tf.lite.TFLiteConverter.from_keras_model(twin)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    with _native_stderr_silenced():
        return graph_from_tflite(c.convert(), "twin")


@pytest.mark.parametrize("seq", [True, False])
def test_keras_lstm_quantized_as_tflite_converter(keras, seq):
    """mcugen's quantization of a Keras LSTM equals TFLiteConverter's for the
    same weights and calibration samples: int8 weights, their scales, int32
    biases, input qparams and input-FC multipliers, cell scale, cell clip;
    the hidden (= output) qparams to float32 rounding of the calibrated range
    (mcugen calibrates in float64). The C on the host equals the reference."""
    from mcugen.keras_loader import graph_from_keras
    from mcugen.quantize import quantize_graph

    model = _keras_lstm(keras, seq)
    xc = np.random.default_rng(2).normal(0, 1, (48, 5, 3)).astype(np.float32)
    g = quantize_graph(graph_from_keras(model, "k"), xc)
    ours = g.ops[0]
    tm = converter_twin(model, xc, seq)
    theirs = next(op for op in tm.graph.ops if op.kind == "lstm")
    for field in ("w_in", "w_rec", "bias", "w_in_scales", "w_rec_scales", "mul_shift", "cell_power",
                  "quantized_clip"):
        assert np.array_equal(getattr(ours, field), getattr(theirs, field)), field
    assert np.array_equal(ours.fc_mult[:4], theirs.fc_mult[:4])  # input FCs: input and weight scales
    assert (g.input.q, ours.c_q) == (tm.graph.input.q, theirs.c_q)
    # the hidden (= output) range: float64 here, float32 in the converter's calibration
    assert ours.h_q.zero_point == theirs.h_q.zero_point
    assert abs(ours.h_q.scale / theirs.h_q.scale - 1) < 1e-5, (ours.h_q, theirs.h_q)
    xq = g.input.q.quantize(np.random.default_rng(3).normal(0, 1, (3, 5, 3)))
    host_matches_reference(SimpleNamespace(graph=g), xq, "klstm")


@pytest.mark.parametrize("seq", [True, False])
def test_keras_stateful_lstm_equals_tflm(keras, seq):
    """stateful=True: the state kept from one invocation to the next, as
    Keras keeps it between calls (float IR == Keras over a sequence) and as
    TFLM keeps it between invokes: the C over a sequence equals the reference
    and, quantized as TFLiteConverter quantizes the same weights, TFLM's bytes
    on the converted file (its hidden scale is a float32 step apart here: the
    float64 calibration; the bytes agree)."""
    from mcugen.keras_loader import graph_from_keras
    from mcugen.quantize import quantize_graph
    from mcugen.reference import run_float

    model = _keras_lstm(keras, seq, stateful=True)
    rng = np.random.default_rng(4)
    xc, xt = rng.normal(0, 1, (48, 5, 3)).astype(np.float32), rng.normal(0, 1, (6, 5, 3)).astype(np.float32)
    g = graph_from_keras(model, "ks")
    assert [g.tensors[t].variable for t in g.ops[0].inputs] == [False, True, True]
    model.layers[1].reset_states()
    want = np.asarray(model.predict(xt, batch_size=1, verbose=0))
    got = run_float(g, xt)[g.outputs[0]]
    assert np.abs(want.reshape(got.shape) - got).max() < 1e-5
    quantize_graph(g, xc)
    xq = g.input.q.quantize(xt)
    ours = host_matches_reference(SimpleNamespace(graph=g), xq, "ks")
    tm = converter_twin(model, xc, seq)
    theirs = tflm(tm, xq)
    assert np.array_equal(ours.reshape(theirs.shape), theirs), f"{np.mean(ours.reshape(theirs.shape) != theirs):.2%}"


def test_keras_stateful_lstm_check_and_converter_refusal(keras, tmp_path):
    """`check` of a stateful LSTM (a .keras file): its float model runs the
    rows as one sequence (batch size 1, state reset first), as the C does;
    TFLiteConverter, which crashes on a Keras 3 LSTM with a fixed batch size,
    is not called on it (`compare`, --quantizer tflite): one line instead."""
    from mcugen.check import run_check
    from mcugen.pipeline import prepare
    from mcugen.tflite_quantizer import convert_keras

    model = _keras_lstm(keras, False, stateful=True)
    model.save(tmp_path / "ks.keras")
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(5).normal(0, 1, (32, 5, 3)).astype(np.float32))
    r = run_check(prepare(tmp_path / "ks.keras", calib), n=8)
    assert r.bit_exact == r.inputs == 8 and r.max_abs_diff == 0
    with pytest.raises(McugenError, match="crashes"):
        convert_keras(model, np.zeros((2, 5, 3), np.float32))
