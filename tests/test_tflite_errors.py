"""Bad .tflite files get one clear line and nothing written: a float model, a
dynamic-range model, a truncated or garbage file, an unsupported op."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcugen.errors import McugenError, UnsupportedLayer
from mcugen.tflite.loader import graph_from_tflite, load_tflite
from mcugen.tflite_quantizer import convert_keras

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def small_model(keras, head=None):
    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((8, 8, 1))
    x = L.Conv2D(4, 3, activation="relu")(inp)
    x = head(x) if head else L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, x)


def calib():
    return np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def files(keras, tmp_path_factory):
    from mcugen.oracles import import_tf

    tf = import_tf()
    d = tmp_path_factory.mktemp("tflite_errors")
    model = small_model(keras)
    good = convert_keras(model, calib())
    (d / "good.tflite").write_bytes(good)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    (d / "float.tflite").write_bytes(conv.convert())
    inp = keras.Input((64,))
    big = keras.Model(inp, keras.layers.Dense(32)(inp))  # >= 1024 weights, or they stay float
    conv = tf.lite.TFLiteConverter.from_keras_model(big)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
    (d / "dynamic.tflite").write_bytes(conv.convert())
    up = small_model(keras, lambda x: keras.layers.UpSampling2D()(x))
    (d / "unsupported.tflite").write_bytes(convert_keras(up, calib()))
    for frac in (0.9, 0.5, 0.1):
        (d / f"cut{int(frac * 100)}.tflite").write_bytes(good[: int(len(good) * frac)])
    (d / "tiny.tflite").write_bytes(good[:6])
    (d / "garbage.tflite").write_bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (d / "empty.tflite").write_bytes(b"")
    return d


@pytest.mark.parametrize("name, pattern", [
    ("float", "not a fully int8-quantized model: a float model"),
    ("dynamic", "not a fully int8-quantized model: a dynamic-range quantized model"),
    ("cut90", "truncated or corrupt"),
    ("cut50", "truncated or corrupt"),
    ("cut10", "truncated or corrupt"),
    ("tiny", "not a TFLite model"),
    ("garbage", "not a TFLite model"),
    ("empty", "not a TFLite model"),
])
def test_bad_file_is_one_clear_error(files, name, pattern):
    with pytest.raises(McugenError) as e:
        load_tflite(files / f"{name}.tflite")
    msg = str(e.value)
    assert pattern in msg and "\n" not in msg, msg


def test_unsupported_op_is_named_with_the_supported_list(files):
    with pytest.raises(UnsupportedLayer) as e:
        load_tflite(files / "unsupported.tflite")
    msg = str(e.value)
    assert "unsupported TFLite op" in msg and "TILE (op #" in msg and "supported: " in msg and "CONV_2D" in msg, msg


def test_every_truncation_is_refused(files):
    """Every cut of the file (at 64 evenly spaced lengths) is an McugenError,
    never a crash or a silently wrong graph."""
    good = (files / "good.tflite").read_bytes()
    for n in np.linspace(0, len(good) - 1, 64).astype(int):
        with pytest.raises(McugenError):
            graph_from_tflite(good[:n], "cut", "cut")


def test_missing_file(tmp_path):
    with pytest.raises(McugenError, match="not found"):
        load_tflite(tmp_path / "nope.tflite")


def mcugen_cmd() -> list[str]:
    script = Path(sys.executable).with_name("mcugen")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mcugen.cli"]


def test_cli_writes_nothing(files, tmp_path):
    """`mcugen build` on bad files: exit 1, one 'mcugen: error:' line, no project."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for name in ("float", "cut50", "unsupported"):
        out = tmp_path / f"proj_{name}"
        r = subprocess.run([*mcugen_cmd(), "build", str(files / f"{name}.tflite"), "--board", "uno", "-o", str(out)],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 1, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("mcugen:")]
        assert len(lines) == 1 and lines[0].startswith("mcugen: error: "), r.stderr
        assert "Traceback" not in r.stderr
        assert not out.exists()


# --- files TFLM runs differently from what mcugen would compute (found by
# the fuzz campaign with TFLM as the oracle; each was accepted, and differed)
def _edited(files, change) -> bytes:
    from conftest import edit_tflite

    return edit_tflite((files / "good.tflite").read_bytes(), change)


def _weights(S, m, sg):
    conv = next(op for op in sg.operators if m.operatorCodes[op.opcodeIndex].builtinCode == S.BuiltinOperator.CONV_2D)
    return sg.tensors[conv.inputs[1]]


def test_constant_marked_variable_is_refused(files):
    """TFLM ignores a variable tensor's data (it starts from zeros), LiteRT
    refuses the file: accepted, mcugen's C ran the weights TFLM zeroes."""
    def change(S, m, sg):
        _weights(S, m, sg).isVariable = True

    with pytest.raises(UnsupportedLayer, match=r"marked variable .* also holds constant data"):
        graph_from_tflite(_edited(files, change), "m")


def test_dynamic_output_recorded_with_another_size_is_refused(keras):
    """A dynamic output whose recorded shape TFLM allocates (127 rows) is not
    what the op computes (1 row): TFLM's next op then reads 127 rows."""
    from conftest import edit_tflite

    inp = keras.Input((6,))
    model = keras.Model(inp, keras.layers.LeakyReLU(0.1)(keras.layers.Dense(4)(inp)))
    data = convert_keras(model, np.random.default_rng(0).uniform(-1, 1, (8, 6)).astype(np.float32))

    def change(S, m, sg):
        fc = next(op for op in sg.operators
                  if m.operatorCodes[op.opcodeIndex].builtinCode == S.BuiltinOperator.FULLY_CONNECTED)
        out = sg.tensors[fc.outputs[0]]
        out.shapeSignature = [-1, 4]
        out.shape = [127, 4]

    with pytest.raises(McugenError, match=r"unsupported output shape \(1, 4\) \(the file records \(127, 4\)"):
        graph_from_tflite(edit_tflite(data, change), "m")


def test_expand_dims_with_several_axes_is_refused(keras):
    """TFLM and LiteRT refuse an EXPAND_DIMS axis tensor of several values;
    mcugen took its first one."""
    from conftest import edit_tflite

    inp = keras.Input((12, 2))
    model = keras.Model(inp, keras.layers.Conv1D(3, 3)(inp))
    data = convert_keras(model, np.random.default_rng(0).uniform(-1, 1, (8, 12, 2)).astype(np.float32))

    def change(S, m, sg):
        ed = next(op for op in sg.operators if m.operatorCodes[op.opcodeIndex].builtinCode == S.BuiltinOperator.EXPAND_DIMS)
        axis = sg.tensors[ed.inputs[1]]
        axis.shape = [4]
        m.buffers[axis.buffer].data = np.array([1, 1, 1, 1], np.int32).view(np.uint8)

    with pytest.raises(UnsupportedLayer, match=r"EXPAND_DIMS .*unsupported an axis tensor of 4 values"):
        graph_from_tflite(edit_tflite(data, change), "m")
