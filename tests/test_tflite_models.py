"""Whole networks through TFLite's quantization, byte for byte with TFLite.

The core set of ``test_models.py`` plus a MobileNet-style network (ReLU6,
zero padding before stride-2 depthwise convolutions, BatchNormalization
everywhere), each trained briefly on scikit-learn's digits, then

* ``--quantizer tflite``: quantized by TFLiteConverter (calibration on real
  digits) and built by mcugen;
* ``.tflite`` input: the converter's file written out and read back;

and ``mcugen compare``'s machinery runs the generated C (host, ASan/UBSan for
the first path) against LiteRT and TFLM: every layer identical to TFLM, and
to LiteRT except its FULLY_CONNECTED (which rounds once, see
``mcugen.compare.DIVERGENT``)."""
from __future__ import annotations

import numpy as np
import pytest

from mcugen.compare import run_compare
from mcugen.pipeline import prepare
from test_models import MODELS as CORE

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def mobilenet(k, L):
    """MobileNet v1 blocks: ReLU6, stride-2 depthwise after zero padding."""
    inp = k.Input((8, 8, 1))
    x = L.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    x = L.BatchNormalization()(x)
    x = L.ReLU(6.0)(x)
    for filters, stride in ((16, 2), (24, 1), (32, 2)):
        if stride == 2:
            x = L.ZeroPadding2D(((0, 1), (0, 1)))(x)
        x = L.DepthwiseConv2D(3, strides=stride, padding="same" if stride == 1 else "valid", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU(6.0)(x)
        x = L.Conv2D(filters, 1, use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU(6.0)(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.1)(x)
    return k.Model(inp, L.Dense(10, activation="softmax")(x), name="mobilenet"), (8, 8, 1)


MODELS = dict(CORE, mobilenet=mobilenet)


@pytest.fixture(scope="module")
def digits():
    from train_digits import load_split

    return load_split()


def assert_agrees(r, inputs: int) -> None:
    assert r.c_matches_reference
    assert r.ok, r.notes
    tflm, litert = r.oracles["tflm"], r.oracles["litert"]
    assert tflm.inputs == litert.inputs == inputs
    assert tflm.identical_bytes_ratio == 1.0 and tflm.first_mismatch_layer is None, r.notes
    assert all(la.local_identical_bytes_ratio == 1.0 for la in tflm.layers)
    assert set(litert.differs_on) <= {"FULLY_CONNECTED"}, litert.differs_on
    assert litert.identical_bytes_ratio >= 0.99


@pytest.mark.parametrize("name", sorted(MODELS))
def test_whole_model_matches_tflite(name, keras, digits, tmp_path):
    x_train, x_test, y_train, y_test = digits
    keras.utils.set_random_seed(0)
    model, shape = MODELS[name](keras, keras.layers)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train.reshape((-1,) + shape), y_train, epochs=6, batch_size=32, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.concatenate([x_test, x_train[:200]]).reshape((-1,) + shape))

    p = prepare(path, calib, warn=lambda m: None, quantizer="tflite")
    assert p.graph.quantizer == "tflite" and p.tflite is not None
    r = run_compare(p, n=200, sanitize=True)
    assert_agrees(r, 200)

    tfl = tmp_path / f"{name}.tflite"
    tfl.write_bytes(p.tflite.model_bytes)
    p2 = prepare(tfl, calib)
    assert p2.keras_model is None and [op.kind for op in p2.graph.ops] == [op.kind for op in p.graph.ops]
    r2 = run_compare(p2, n=200, sanitize=False)
    assert_agrees(r2, 200)
    assert r2.oracles["litert"].identical_bytes_ratio == r.oracles["litert"].identical_bytes_ratio
