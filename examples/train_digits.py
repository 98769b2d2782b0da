"""Train the bundled example: a small CNN on scikit-learn's 8x8 handwritten
digits (1,797 real images shipped with scikit-learn, no download).

    python examples/train_digits.py   # writes digits_cnn.h5, digits_calib.npz, digits_test.npz

The split is fixed (``load_split``), so tests can rebuild the same test set.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 0


def load_split():
    """(x_train, y_train, x_test, y_test): pixels scaled to [0, 1], NHWC."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., np.newaxis]
    return train_test_split(x, d.target.astype(np.int64), test_size=0.25, random_state=SEED, stratify=d.target)


def make_model():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv2"),
            layers.BatchNormalization(name="bn2"),
            layers.ReLU(name="relu2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.2, name="dropout"),
            layers.Dense(10, activation="softmax", name="digit"),
        ],
        name="digits_cnn",
    )


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(SEED)
    x_train, x_test, y_train, y_test = load_split()
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=40, batch_size=64, verbose=0, validation_split=0.1)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"float test accuracy: {acc:.4f}")
    model.save(HERE / "digits_cnn.h5")
    np.savez_compressed(HERE / "digits_calib.npz", x=x_train[:200])
    np.savez_compressed(HERE / "digits_test.npz", x=x_test, y=y_test)


if __name__ == "__main__":
    main()
