"""Shared test machinery: build a Keras model, convert it, check the float IR
against Keras, quantize, run the generated C on the host under ASan/UBSan and
compare it byte for byte, layer by layer, with the int8 reference."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))


@pytest.fixture(scope="session")
def keras():
    import keras

    return keras


def randomize(model, seed: int = 0) -> None:
    """Give biases and BatchNormalization statistics non-trivial values."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            n = weights[0].shape[0]
            new = []
            names = [w.path.split("/")[-1] for w in layer.weights]
            for name in names:
                if name == "gamma":
                    new.append(rng.uniform(0.5, 1.5, n))
                elif name == "beta":
                    new.append(rng.normal(0, 0.2, n))
                elif name == "moving_mean":
                    new.append(rng.normal(0, 0.2, n))
                else:
                    new.append(rng.uniform(0.5, 1.5, n))
            layer.set_weights([w.astype(np.float32) for w in new])
        else:
            new = [w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(np.float32) for w in weights]
            layer.set_weights(new)


@dataclass
class Roundtrip:
    graph: object
    float_err: float
    int8_err_steps: float
    exact: bool
    first_mismatch: str | None
    agreement: float  # share of inputs where int8 and float argmax agree


def roundtrip(model, x_calib: np.ndarray, x_test: np.ndarray, sanitize: bool = True) -> Roundtrip:
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.keras_loader import graph_from_keras
    from mcugen.passes import optimize
    from mcugen.quantize import quantize_graph
    from mcugen.reference import run_float, run_int8

    g = graph_from_keras(model, model.name)
    optimize(g)
    want = np.asarray(model.predict(x_test, verbose=0))
    got = run_float(g, x_test)[g.outputs[0]]
    float_err = float(np.max(np.abs(want.reshape(got.shape) - got) / (1.0 + np.abs(want.reshape(got.shape)))))
    quantize_graph(g, x_calib)
    xq = g.input.q.quantize(x_test)
    ref = run_int8(g, xq)
    host = run_host(g, render(g, "test"), xq, sanitize=sanitize)
    first = None
    for op, layer in zip(g.ops, host.layers):
        if not np.array_equal(layer, ref[op.outputs[0]]):
            first = op.name
            break
    exact = first is None and np.array_equal(host.outputs, ref[g.outputs[0]])
    # int8 output against the float model on the same (quantized) inputs.
    yf = np.asarray(model.predict(g.input.q.dequantize(xq).astype(np.float32), verbose=0)).reshape(got.shape)
    yq = g.output.q.dequantize(ref[g.outputs[0]])
    steps = float(np.max(np.abs(yf - yq)) / g.output.q.scale)
    agreement = float(np.mean(np.argmax(yf.reshape(len(yf), -1), 1) == np.argmax(yq.reshape(len(yq), -1), 1)))
    return Roundtrip(g, float_err, steps, exact, first, agreement)


def rand(shape, n=32, seed=0, lo=-1.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, (n,) + tuple(shape)).astype(np.float32)
