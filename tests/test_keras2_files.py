"""Keras 2.x (TensorFlow 2.x's tf.keras) .h5 files: the config keys Keras 3
rejects are mapped where they have one meaning (``groups: 1`` on a
DepthwiseConv2D), refused by name where they have none, and a file Keras
cannot read gets its reason in the error, not the first 200 characters of
the layer's config."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from mcugen.errors import McugenError, UnsupportedLayer
from mcugen.keras_loader import load_error_reason, load_graph


def keras2_file(keras, tmp_path, groups):
    from keras import layers as L

    inp = keras.Input((8, 8, 3))
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(inp)
    x = L.Conv2D(4, 1, name="pw")(x)
    out = L.Dense(2, activation="softmax", name="head")(L.Flatten()(x))
    model = keras.Model(inp, out)
    path = tmp_path / "tf2.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:  # what TensorFlow 2.x's tf.keras wrote
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "DepthwiseConv2D":
                layer["config"]["groups"] = groups
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.4.0"
    return model, path


def test_depthwise_groups_1_loads(keras, tmp_path):
    model, path = keras2_file(keras, tmp_path, groups=1)
    with pytest.raises(Exception, match="groups"):  # what Keras 3 alone says
        keras.models.load_model(path, compile=False)
    loaded, g = load_graph(path)
    assert [op.kind for op in g.ops][:2] == ["depthwise_conv2d", "conv2d"]
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_depthwise_groups_other_than_1_is_refused_by_name(keras, tmp_path):
    _, path = keras2_file(keras, tmp_path, groups=3)
    with pytest.raises(UnsupportedLayer, match=r"layer 'dw' \(DepthwiseConv2D\): groups=3"):
        load_graph(path)


def test_load_error_keeps_the_reason():
    config = {"name": "depthwise_conv2d", "kernel_size": [3, 3], **{f"key{i}": i for i in range(60)}}
    e = TypeError(f"Error when deserializing class 'DepthwiseConv2D' using config={config}.\n\n"
                  "Exception encountered: Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1}")
    assert load_error_reason(e) == "Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1}"
    long = ValueError("start " + "x" * 1000 + " the reason")
    short = load_error_reason(long)
    assert len(short) <= 400 and short.startswith("start") and short.endswith("the reason")


def test_unreadable_file_error_is_one_line_with_reason(tmp_path):
    path = tmp_path / "broken.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {"layers": []}})
    with pytest.raises(McugenError) as e:
        load_graph(path)
    assert "\n" not in str(e.value) and "cannot be read as a Keras model" in str(e.value)
