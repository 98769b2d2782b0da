"""Valid models are never called corrupt. Every file a TFLite interpreter runs
either loads or is refused as unsupported, naming the op or feature (one
line, no "corrupt", "inconsistent", "truncated", no Python exception name):

* every .tflite and .h5 under ../shared/models (MLPerf Tiny, TFLM's examples
  and its int16x8 SEANet ops; skipped only when the folder is absent);
* small models converted with TFLiteConverter across its options (per-channel
  and per-tensor weights, int8 or float input/output, the old quantizer, a
  Keras 2 model from tf_keras): these load and equal TFLM byte for byte;
* files edited with the schema's object API the way real converters wrote
  them: fields TFLite ignores (a bias's quantized dimension or scale, empty
  LSTM intermediates, a scalar stored without a shape field) are ignored,
  and a variable tensor (state kept between invocations) is refused as such.
"""
from __future__ import annotations

import builtins
import fcntl
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import edit_tflite, randomize

from mcugen.errors import McugenError, UnsupportedLayer
from mcugen.reference import run_int8
from mcugen.tflite.loader import graph_from_tflite, load_tflite

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models"
FILES = sorted(str(p.relative_to(MODELS)) for p in MODELS.rglob("*") if p.suffix in (".tflite", ".h5")) \
    if MODELS.is_dir() else []
EXCEPTIONS = sorted(n for n in dir(builtins) if n.endswith(("Error", "Exception")))
LIES = re.compile(r"corrupt|inconsistent|truncated|Traceback|\b(" + "|".join(EXCEPTIONS) + r")\b")


def refusal_is_honest(e: McugenError) -> str:
    msg = str(e)
    assert "\n" not in msg, msg
    assert not LIES.search(msg), msg
    assert isinstance(e, UnsupportedLayer) or "not a fully int8-quantized model" in msg, msg
    return msg


# --- the real files ---------------------------------------------------------

@pytest.mark.skipif(not MODELS.is_dir(), reason=f"{MODELS} is absent (real models are not committed)")
def test_the_corpus_is_there():
    names = set(FILES)
    assert {"tflm/keyword_scrambled_8bit.tflite", "tflm/dtln/dtln_noise_suppression.tflite"} <= names, names
    assert sum(f.startswith("tflm/seanet/") for f in names) > 100
    assert sum(f.startswith("mlperf-tiny/") for f in names) >= 5


def _chunks(files, n):
    return [files[i::n] for i in range(n)] if files else []


@pytest.mark.skipif(not MODELS.is_dir(), reason=f"{MODELS} is absent (real models are not committed)")
@pytest.mark.parametrize("part", range(4))
def test_every_real_file_loads_or_is_refused_honestly(part):
    from mcugen.keras_loader import load_graph

    for name in _chunks(FILES, 4)[part]:
        path = MODELS / name
        try:
            if path.suffix == ".h5":
                load_graph(path)
            else:
                load_tflite(path)
        except McugenError as e:
            refusal_is_honest(e)


@pytest.mark.skipif(not MODELS.is_dir(), reason=f"{MODELS} is absent (real models are not committed)")
def test_keyword_model_loads():
    """TFLM's keyword benchmark: 7 SVDF layers, each reading and updating its
    variable state tensor (tests/test_svdf.py runs it against TFLM)."""
    g = load_tflite(MODELS / "tflm/keyword_scrambled_8bit.tflite").graph
    assert [op.kind for op in g.ops].count("svdf") == 7
    assert len(g.variables) == 7 and all(g.tensors[t].variable for t in g.variables)


@pytest.mark.skipif(not MODELS.is_dir(), reason=f"{MODELS} is absent (real models are not committed)")
def test_dtln_loads():
    """TFLM's DTLN example: two LSTMs with optional intermediate tensors of
    shape (0,), int16 cell state and variable state tensors, FULLY_CONNECTED,
    LOGISTIC (its bytes against TFLM: tests/test_lstm.py)."""
    g = load_tflite(MODELS / "tflm/dtln/dtln_noise_suppression.tflite").graph
    assert [op.kind for op in g.ops] == ["lstm", "lstm", "dense", "lut"]
    assert [g.tensors[t].dtype for t in g.variables] == ["int8", "int16"] * 2
    run_int8(g, np.zeros((2,) + g.input.shape, np.int8))


# --- converted with TFLiteConverter across its options ----------------------

def _cached(tmp_path_factory, name: str, make) -> bytes:
    """``make()``'s bytes, made once per test session (shared by xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / f"valid-corpus-{name}.tflite"
    with open(root / "valid-corpus.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            path.write_bytes(make())
    return path.read_bytes()


def _small_model(keras):
    """Conv, pooling, Flatten (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE in
    the file), Dense, softmax."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((8, 8, 2))
    x = L.Conv2D(4, 3, activation="relu")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(5)(x)
    model = keras.Model(inp, L.Softmax()(x))
    randomize(model)  # non-zero biases, or the converter drops them
    return model


def _two_branch_model(keras):
    """Two Dense branches summed by ADD."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((6,))
    model = keras.Model(inp, L.Add()([L.Dense(4)(inp), L.Dense(4)(inp)]))
    randomize(model)
    return model


def _convert(model, shape, int8_io=True, per_channel=True, old_quantizer=False) -> bytes:
    from mcugen.keras_loader import _native_stderr_silenced
    from mcugen.oracles import import_tf

    tf = import_tf()
    calib = np.random.default_rng(0).uniform(-1, 1, (16,) + shape).astype(np.float32)

    def representative():
        for i in range(len(calib)):
            yield [calib[i : i + 1]]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        c.inference_input_type = c.inference_output_type = tf.int8
    if not per_channel:
        c._experimental_disable_per_channel = True
    if old_quantizer:
        c._experimental_new_quantizer = False
    with _native_stderr_silenced():
        return bytes(c.convert())


def _keras(flavour: str):
    if flavour == "tf_keras":
        return pytest.importorskip("tf_keras")  # a test dependency (pyproject.toml)
    from mcugen.keras_loader import import_keras

    return import_keras()


CONVERSIONS = {
    "per_channel": ("keras", {}),
    "per_tensor": ("keras", {"per_channel": False}),
    "float_io": ("keras", {"int8_io": False}),
    "float_io_per_tensor": ("keras", {"int8_io": False, "per_channel": False}),
    "old_quantizer": ("keras", {"old_quantizer": True}),
    "tf_keras": ("tf_keras", {}),
    "tf_keras_old_quantizer_float_io": ("tf_keras", {"old_quantizer": True, "int8_io": False}),
}


def converted(tmp_path_factory, name: str) -> bytes:
    flavour, kw = CONVERSIONS[name]
    return _cached(tmp_path_factory, name, lambda: _convert(_small_model(_keras(flavour)), (8, 8, 2), **kw))


def equals_tflm(tm, seed: int = 0) -> None:
    from mcugen.oracles import run_oracle

    g = tm.graph
    rng = np.random.default_rng(seed)
    xq = np.concatenate([rng.integers(-128, 128, (24,) + g.input.shape), np.full((1,) + g.input.shape, -128),
                         np.full((1,) + g.input.shape, 127)]).astype(np.int8)
    ours = run_int8(g, xq)[g.outputs[0]]
    assert np.array_equal(ours, run_oracle("tflm", tm, xq).outputs)


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_converter_options_load_and_equal_tflm(name, tmp_path_factory):
    tm = graph_from_tflite(converted(tmp_path_factory, name), name, name)
    assert [op.kind for op in tm.graph.ops] == ["conv2d", "pool", "reshape", "dense", "softmax"]
    assert tm.input_is_float == ("float_io" in name)
    equals_tflm(tm)


# --- edited the way real converters wrote them --------------------------------

def ops_named(S, m, sg, name: str) -> list:
    code = getattr(S.BuiltinOperator, name)
    return [op for op in sg.operators
            if max(m.operatorCodes[op.opcodeIndex].builtinCode, m.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)
            == code]


def loads_like_the_original(data: bytes, original: bytes) -> None:
    """Loads, gives the original file's graph, and equals TFLM on it."""
    tm = graph_from_tflite(data, "edited", "edited")
    ref = graph_from_tflite(original, "original", "original")
    xq = np.random.default_rng(1).integers(-128, 128, (8,) + ref.graph.input.shape).astype(np.int8)
    assert np.array_equal(run_int8(tm.graph, xq)[tm.graph.outputs[0]], run_int8(ref.graph, xq)[ref.graph.outputs[0]])
    equals_tflm(tm)


def _bias_qdim_past_rank(S, m, sg):
    for name in ("CONV_2D", "FULLY_CONNECTED"):
        bias = sg.tensors[ops_named(S, m, sg, name)[0].inputs[2]]
        assert len(bias.shape) == 1
        bias.quantization.quantizedDimension = 3


def _bias_scale(value):
    """A conv bias's own scale, which TFLM's CONV_2D never reads (its
    FULLY_CONNECTED checks it against input x weight scale, per tensor)."""
    def change(S, m, sg):
        q = sg.tensors[ops_named(S, m, sg, "CONV_2D")[0].inputs[2]].quantization
        q.scale = [value] * len(q.scale)
    return change


def _empty_intermediates(S, m, sg):
    """Optional intermediate tensors of shape (0,), as LSTM ops carry them."""
    for dtype in (S.TensorType.FLOAT32, S.TensorType.INT8):
        t = S.TensorT()
        t.shape, t.type, t.buffer, t.name = [0], dtype, 0, b"input_to_input_intermediate"
        sg.tensors.append(t)
    ops_named(S, m, sg, "FULLY_CONNECTED")[0].intermediates = [len(sg.tensors) - 2, len(sg.tensors) - 1]


def _scalar_without_shape(S, m, sg):
    """Flatten's STRIDED_SLICE (batch size, shrink axis) stored without a shape field."""
    (ss,) = ops_named(S, m, sg, "STRIDED_SLICE")
    out = sg.tensors[ss.outputs[0]]
    assert out.shape is None or len(out.shape) == 0
    out.shape = None
    out.shapeSignature = None


EDITS = {
    "bias_quantized_dimension_3": _bias_qdim_past_rank,
    "bias_scale_negative": _bias_scale(-0.25),
    "bias_scale_zero": _bias_scale(0.0),
    "lstm_like_empty_intermediates": _empty_intermediates,
    "strided_slice_scalar_without_shape": _scalar_without_shape,
}


@pytest.mark.parametrize("what", sorted(EDITS))
@pytest.mark.parametrize("base", ["per_channel", "per_tensor"])
def test_fields_tflite_ignores_are_ignored(what, base, tmp_path_factory):
    original = converted(tmp_path_factory, base)
    loads_like_the_original(edit_tflite(original, EDITS[what]), original)


def test_variable_state_is_refused_as_unsupported(tmp_path_factory):
    """ADD reading a variable tensor (kept between invocations, written by no
    operator): TFLM runs it; mcugen names the op and the feature."""
    from tflite_micro.python.tflite_micro import runtime

    def make():
        return _convert(_two_branch_model(_keras("keras")), (6,))

    original = _cached(tmp_path_factory, "two_branch", make)

    def change(S, m, sg):
        (add,) = ops_named(S, m, sg, "ADD")
        src = sg.tensors[add.inputs[1]]
        t = S.TensorT()
        t.shape, t.type, t.buffer, t.name, t.isVariable = list(src.shape), src.type, 0, b"state", True
        t.quantization = src.quantization
        sg.tensors.append(t)
        add.inputs = [add.inputs[0], len(sg.tensors) - 1]

    data = edit_tflite(original, change)
    it = runtime.Interpreter.from_bytes(data)
    it.set_input(np.zeros((1, 6), np.int8), 0)
    it.invoke()
    with pytest.raises(UnsupportedLayer) as e:
        graph_from_tflite(data, "state", "state")
    msg = refusal_is_honest(e.value)
    assert "ADD" in msg and "variable tensor" in msg, msg


def test_sparse_weights_are_unsupported_not_truncated(tmp_path_factory):
    """EXPERIMENTAL_SPARSITY stores a Dense's weights compressed (fewer bytes
    than the shape says) behind a DENSIFY op, which LiteRT runs."""

    def make():
        from mcugen.keras_loader import _native_stderr_silenced
        from mcugen.oracles import import_tf

        tf, keras = import_tf(), _keras("keras")
        keras.utils.set_random_seed(0)
        inp = keras.Input((64,))
        dense = keras.layers.Dense(32)
        model = keras.Model(inp, dense(inp))
        w, b = dense.get_weights()
        w[np.random.default_rng(0).random(w.shape) < 0.9] = 0
        dense.set_weights([w, b + 0.1])
        calib = np.random.default_rng(0).uniform(-1, 1, (16, 64)).astype(np.float32)
        c = tf.lite.TFLiteConverter.from_keras_model(model)
        c.optimizations = [tf.lite.Optimize.DEFAULT, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
        c.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = c.inference_output_type = tf.int8
        with _native_stderr_silenced():
            return bytes(c.convert())

    data = _cached(tmp_path_factory, "sparse", make)
    with pytest.raises(UnsupportedLayer) as e:
        graph_from_tflite(data, "sparse", "sparse")
    msg = refusal_is_honest(e.value)
    assert "DENSIFY (op #0" in msg, msg
