"""TRANSPOSE (a converted PyTorch model's NCHW input) and Keras Permute: the
op is read from a .tflite as a transpose (not refused), and a Keras model
with Permute is bit-exact in C. Byte equality with TFLM and LiteRT is in
tests/test_tflite_ops.py (cases transpose_*)."""
from __future__ import annotations

import numpy as np

from conftest import roundtrip


def test_tflite_transpose_is_read_as_a_transpose(keras):
    from mcugen.tflite.loader import graph_from_tflite
    from mcugen.tflite_quantizer import convert_keras

    L = keras.layers
    inp = keras.Input((3, 8, 8))  # NCHW, as PyTorch exports it
    x = L.Permute((2, 3, 1))(inp)
    out = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, activation="relu")(x))
    calib = np.random.default_rng(0).uniform(-1, 1, (16, 3, 8, 8)).astype(np.float32)
    tm = graph_from_tflite(convert_keras(keras.Model(inp, out), calib), "nchw", "nchw")
    assert "TRANSPOSE" in tm.op_names
    g = tm.graph
    assert g.ops[0].kind == "transpose" and g.ops[0].perm == (1, 2, 0)
    assert g.shape(g.ops[0].outputs[0]) == (8, 8, 3)


def test_keras_permute_is_bit_exact(keras):
    L = keras.layers
    inp = keras.Input((5, 4, 3))
    x = L.Permute((3, 1, 2))(inp)
    x = L.Conv2D(2, 2, padding="same")(x)
    out = L.Dense(3)(L.Flatten()(L.Permute((2, 1, 3))(x)))
    model = keras.Model(inp, out)
    rng = np.random.default_rng(1)
    x_cal = rng.normal(size=(32, 5, 4, 3)).astype(np.float32)
    r = roundtrip(model, x_cal, x_cal[:8])
    assert [op.kind for op in r.graph.ops].count("transpose") == 2
    assert r.exact, r.first_mismatch
    assert r.float_err < 1e-4
