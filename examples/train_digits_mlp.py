"""Train the bundled dense example: a 64-32-10 MLP on scikit-learn's 8x8
handwritten digits, flattened to 64 values (the split of train_digits.py).

    python examples/train_digits_mlp.py   # writes digits_mlp.h5, digits_mlp_calib.npz
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from train_digits import SEED, load_split

HERE = Path(__file__).resolve().parent


def make_model():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((64,), name="pixels"),
            layers.Dense(32, activation="relu", name="hidden"),
            layers.Dense(10, activation="softmax", name="digit"),
        ],
        name="digits_mlp",
    )


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(SEED)
    x_train, x_test, y_train, y_test = load_split()
    x_train, x_test = x_train.reshape(len(x_train), 64), x_test.reshape(len(x_test), 64)
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=40, batch_size=64, verbose=0, validation_split=0.1)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"float test accuracy: {acc:.4f}")
    model.save(HERE / "digits_mlp.h5", include_optimizer=False)
    np.savez_compressed(HERE / "digits_mlp_calib.npz", x=x_train[:200])


if __name__ == "__main__":
    main()
