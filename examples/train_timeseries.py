"""Train the bundled Conv1D example: a small 1-D CNN classifying synthetic
three-axis signals (64 samples) into four seeded classes: a slow sine, a fast
sine, a square wave and a decaying burst, each with random phase, amplitude,
axis mix and noise. No data is downloaded; the generator is seeded.

    python examples/train_timeseries.py   # writes timeseries_cnn.h5, timeseries_calib.npz

The test set is make_data(300, SEED + 1): rebuilt from the seed, not stored.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 0
STEPS, AXES, CLASSES = 64, 3, 4


def make_data(n: int, seed: int):
    """(x (n, 64, 3) float32 in about [-1, 1], y (n,) int64)."""
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS) / STEPS
    y = rng.integers(0, CLASSES, n)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.4, 0.9, (n, 1))
    freq = np.where(y == 0, 2.0, 6.0)[:, None] * rng.uniform(0.8, 1.2, (n, 1))
    wave = np.sin(2 * np.pi * freq * t + phase)
    wave = np.where((y == 2)[:, None], np.sign(np.sin(2 * np.pi * 3.0 * t + phase)), wave)
    burst = np.exp(-8.0 * np.clip(t - rng.uniform(0.1, 0.5, (n, 1)), 0, None)) * (t >= 0.1)
    wave = np.where((y == 3)[:, None], burst * np.sin(2 * np.pi * 10.0 * t + phase), wave)
    mix = rng.uniform(-1, 1, (n, AXES))
    mix /= np.abs(mix).max(axis=1, keepdims=True)
    x = (amp * wave)[:, :, None] * mix[:, None, :] + rng.normal(0, 0.08, (n, STEPS, AXES))
    return x.astype(np.float32), y.astype(np.int64)


def make_model():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((STEPS, AXES), name="signal"),
            layers.Conv1D(16, 7, strides=2, padding="same", activation="relu", name="conv1"),
            layers.Conv1D(32, 5, strides=2, activation="relu", name="conv2"),
            layers.MaxPooling1D(2, name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(CLASSES, activation="softmax", name="kind"),
        ],
        name="timeseries_cnn",
    )


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(SEED)
    x_train, y_train = make_data(1200, SEED)
    x_test, y_test = make_data(300, SEED + 1)
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=20, batch_size=64, verbose=0, validation_split=0.1)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"float test accuracy: {acc:.4f}")
    model.save(HERE / "timeseries_cnn.h5", include_optimizer=False)
    np.savez_compressed(HERE / "timeseries_calib.npz", x=x_train[:48])


if __name__ == "__main__":
    main()
