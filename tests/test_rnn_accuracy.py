"""Accuracy of int8 recurrent models on a sequence task: small GRU and
SimpleRNN classifiers trained (a few seconds, fixed seeds, nothing cached) to
tell noisy sine, square and sawtooth waves apart (random frequency, phase,
amplitude, offset; Gaussian noise), quantized by mcugen: the int8 model's
test accuracy stays within 2 points of the float model's, and the C on the
host equals the integer reference on the test set."""
from __future__ import annotations

import numpy as np
import pytest

STEPS = 48


def waves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, STEPS, 1) signals and their class: 0 sine, 1 square, 2 sawtooth."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    freq = rng.uniform(0.06, 0.15, (n, 1))
    phase = rng.uniform(0, 1, (n, 1))
    amp = rng.uniform(0.5, 1.5, (n, 1))
    u = (np.arange(STEPS)[None] * freq + phase) % 1.0
    shapes = np.stack([np.sin(2 * np.pi * u), np.where(u < 0.5, 1.0, -1.0), 2 * u - 1])
    x = amp * shapes[y, np.arange(n)] + rng.normal(0, 0.25, (n, STEPS)) + rng.uniform(-0.3, 0.3, (n, 1))
    return x[..., None].astype(np.float32), y


# (layer, units, epochs, the float accuracy the trained model must reach)
MODELS = {"GRU": (16, 15, 0.9), "SimpleRNN": (16, 15, 0.7)}


@pytest.mark.parametrize("cls", sorted(MODELS))
def test_int8_accuracy_within_two_points_of_float(cls, keras):
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.keras_loader import graph_from_keras
    from mcugen.passes import optimize
    from mcugen.quantize import quantize_graph
    from mcugen.reference import run_int8

    units, epochs, floor = MODELS[cls]
    keras.utils.set_random_seed(0)
    x_train, y_train = waves(3000, seed=1)
    x_test, y_test = waves(1000, seed=2)
    inp = keras.Input(x_train.shape[1:])
    model = keras.Model(inp, keras.layers.Dense(3)(getattr(keras.layers, cls)(units)(inp)), name=f"waves_{cls}")
    model.compile(optimizer=keras.optimizers.Adam(0.005),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    acc_float = float(np.mean(np.argmax(model.predict(x_test, verbose=0), 1) == y_test))
    assert acc_float >= floor, f"{cls}: the float model reached only {acc_float:.3f}"

    g = graph_from_keras(model, model.name)
    optimize(g)
    quantize_graph(g, x_train[:300])
    xq = g.input.q.quantize(x_test)
    yq = run_int8(g, xq)[g.outputs[0]]
    acc_int8 = float(np.mean(np.argmax(yq, 1) == y_test))
    assert abs(acc_int8 - acc_float) <= 0.02, f"{cls}: int8 {acc_int8:.3f} vs float {acc_float:.3f}"

    host = run_host(g, render(g, "test"), xq[:200])
    assert np.array_equal(host.outputs, yq[:200]), f"{cls}: the C differs from the integer reference"
    print(f"{cls}({units}): float {acc_float:.3f}, int8 {acc_int8:.3f}")
