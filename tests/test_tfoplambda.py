"""Keras 2 .h5 files with arithmetic TFOpLambda layers (``x + y``,
``tf.math.multiply(x, 0.5)``, ``2.0 - x`` ...), written as TensorFlow 2.x's
tf.keras saved them: a Keras 3 model saved to .h5, one layer's entry
replaced by the TFOpLambda entry Keras 2 wrote for the same computation
(mcugen/ops/tfoplambda.py). The file loads, predicts as the original,
and the C equals mcugen's reference; other TensorFlow functions are refused
by name."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import rand, roundtrip
from mcugen.errors import UnsupportedLayer
from mcugen.keras_loader import load_graph

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def tfop_entry(name: str, function: str, first, kwargs) -> dict:
    """A TFOpLambda layer as Keras 2 saved it (``first``: the first
    argument, a [layer, node, tensor] reference or ["_CONSTANT_VALUE", -1, c])."""
    return {"class_name": "TFOpLambda", "name": name, "inbound_nodes": [[[*first, {**kwargs, "name": None}]]],
            "config": {"name": name, "trainable": True, "dtype": "float32", "function": function}}


def keras2_file(keras, tmp_path, build, entry):
    """Save build(keras)'s model to .h5 with its layer 'op' replaced by
    ``entry(name)``; returns (original model, path)."""
    model = build(keras, keras.layers)
    path = tmp_path / "tf2.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layers = config["config"]["layers"]
        k = next(i for i, layer in enumerate(layers) if layer["config"]["name"] == "op")
        layers[k] = entry("op")
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
    return model, path


def two_dense(merge):
    def build(keras, L):
        inp = keras.Input((12,))
        a, b = L.Dense(6, name="da")(inp), L.Dense(6, name="db", activation="sigmoid")(inp)
        return keras.Model(inp, L.Dense(3, name="head")(merge(L)([a, b])))

    return build


def one_dense(layer):
    def build(keras, L):
        inp = keras.Input((12,))
        return keras.Model(inp, L.Dense(3, name="head")(layer(L)(L.Dense(6, name="da")(inp))))

    return build


Y = {"y": ["db", 0, 0]}
CASES = {
    # function, Keras 3 stand-in for the original (None: no Keras 3 layer computes it), TFOpLambda entry
    "add": ("__operators__.add", two_dense(lambda L: L.Add(name="op")), lambda n: tfop_entry(
        n, "__operators__.add", ["da", 0, 0], Y)),
    "multiply": ("math.multiply", two_dense(lambda L: L.Multiply(name="op")), lambda n: tfop_entry(
        n, "math.multiply", ["da", 0, 0], Y)),
    "subtract": ("math.subtract", two_dense(lambda L: L.Subtract(name="op")), lambda n: tfop_entry(
        n, "math.subtract", ["da", 0, 0], Y)),
    "maximum": ("math.maximum", two_dense(lambda L: L.Maximum(name="op")), lambda n: tfop_entry(
        n, "math.maximum", ["da", 0, 0], Y)),
    "minimum": ("math.minimum", two_dense(lambda L: L.Minimum(name="op")), lambda n: tfop_entry(
        n, "math.minimum", ["da", 0, 0], Y)),
    "squared_difference": ("math.squared_difference", two_dense(lambda L: L.Subtract(name="op")),
                           lambda n: tfop_entry(n, "math.squared_difference", ["da", 0, 0], Y)),
    "times_constant": ("math.multiply", one_dense(lambda L: L.Rescaling(0.5, name="op")), lambda n: tfop_entry(
        n, "math.multiply", ["da", 0, 0], {"y": 0.5})),
    "plus_constant": ("__operators__.add", one_dense(lambda L: L.Rescaling(1.0, offset=0.25, name="op")),
                      lambda n: tfop_entry(n, "__operators__.add", ["da", 0, 0], {"y": 0.25})),
    "constant_minus": ("math.subtract", one_dense(lambda L: L.Rescaling(-1.0, offset=2.0, name="op")),
                       lambda n: tfop_entry(n, "math.subtract", ["_CONSTANT_VALUE", -1, 2.0], {"y": ["da", 0, 0]})),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tfoplambda_loads_and_is_exact(case, keras, tmp_path):
    _, build, entry = CASES[case]
    keras.utils.set_random_seed(1)
    original, path = keras2_file(keras, tmp_path, build, entry)
    with pytest.raises(Exception):  # what Keras 3 alone does with the file
        keras.models.load_model(path, compile=False)
    loaded, g = load_graph(path)
    x = rand((12,), n=24, seed=4)
    if case != "squared_difference":  # the stand-in computes a - b there
        np.testing.assert_allclose(loaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-5,
                                   atol=1e-6)
    r = roundtrip(loaded, np.concatenate([rand((12,), n=64, seed=3), x]), x)
    assert r.float_err < 1e-5, f"float IR differs from Keras by {r.float_err}"
    assert r.exact, f"C differs from the int8 reference, first at layer {r.first_mismatch!r}"
    assert r.int8_err_steps <= 6, f"int8 output {r.int8_err_steps:.2f} steps away from float"


def test_other_tensorflow_functions_are_refused_by_name(keras, tmp_path):
    _, path = keras2_file(keras, tmp_path, one_dense(lambda L: L.ReLU(name="op")),
                          lambda n: tfop_entry(n, "nn.relu", ["da", 0, 0], {}))
    with pytest.raises(UnsupportedLayer, match=r"layer 'op' \(TFOpLambda\): unsupported TensorFlow function 'nn.relu'"):
        load_graph(path)
