"""The bundled example keeps its accuracy: int8 (numpy reference, and the C on
the host for every test image) within 2 points of the float model."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mcugen.emit import render
from mcugen.host import run_host
from mcugen.pipeline import prepare
from mcugen.reference import int8_output

EX = Path(__file__).resolve().parents[1] / "examples"


def test_example_accuracy_and_exactness():
    with np.load(EX / "digits_test.npz") as d:
        x, y = d["x"], d["y"]
    p = prepare(EX / "digits_cnn.h5", EX / "digits_calib.npz")
    g = p.graph
    float_acc = float(np.mean(np.argmax(p.keras_model.predict(x, verbose=0), 1) == y))
    xq = g.input.q.quantize(x)
    ref = int8_output(g, xq)
    int8_acc = float(np.mean(np.argmax(ref, 1) == y))
    assert float_acc > 0.95
    assert abs(float_acc - int8_acc) <= 0.02, (float_acc, int8_acc)
    host = run_host(g, render(g, "digits_cnn.h5"), xq, sanitize=True)
    assert np.array_equal(host.outputs, ref)


def test_example_split_is_the_bundled_one():
    from train_digits import load_split

    _, x_test, _, y_test = load_split()
    with np.load(EX / "digits_test.npz") as d:
        assert np.array_equal(d["x"], x_test) and np.array_equal(d["y"], y_test)
