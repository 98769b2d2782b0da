"""Whole networks, trained for a few epochs on scikit-learn's real 8x8 digits:
each is bit-exact on the host (C == int8 reference, every layer, ASan/UBSan)
and its int8 model agrees with the float model on >= 95% of argmax decisions."""
from __future__ import annotations

import pytest

from conftest import roundtrip


@pytest.fixture(scope="module")
def digits():
    from train_digits import load_split

    return load_split()


def mlp(k, L):
    inp = k.Input((64,))
    x = L.Dense(32, activation="relu")(inp)
    x = L.Dropout(0.1)(x)
    return k.Model(inp, L.Dense(10, activation="softmax")(x), name="mlp"), (64,)


def cnn_bn(k, L):
    inp = k.Input((8, 8, 1))
    x = L.Conv2D(8, 3, padding="same", use_bias=False)(inp)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(16, 3, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return k.Model(inp, L.Dense(10, activation="softmax")(x), name="cnn_bn"), (8, 8, 1)


def ds_cnn(k, L):
    """Keyword-spotting style depthwise-separable CNN (MobileNet blocks, ReLU6)."""
    inp = k.Input((8, 8, 1))
    x = L.Conv2D(16, 3, strides=1, padding="same", use_bias=False)(inp)
    x = L.BatchNormalization()(x)
    x = L.ReLU(max_value=6.0)(x)
    for stride in (2, 1):
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU(max_value=6.0)(x)
        x = L.Conv2D(16, 1, use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU(max_value=6.0)(x)
    x = L.AveragePooling2D(4)(x)
    x = L.Flatten()(x)
    return k.Model(inp, L.Dense(10, activation="softmax")(x), name="ds_cnn"), (8, 8, 1)


def resnet(k, L):
    inp = k.Input((8, 8, 1))
    x = L.Conv2D(12, 3, padding="same", activation="relu")(inp)
    for _ in range(2):
        y = L.Conv2D(12, 3, padding="same", use_bias=False)(x)
        y = L.BatchNormalization()(y)
        y = L.ReLU()(y)
        y = L.Conv2D(12, 3, padding="same", use_bias=False)(y)
        y = L.BatchNormalization()(y)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.GlobalAveragePooling2D()(x)
    return k.Model(inp, L.Dense(10, activation="softmax")(x), name="resnet"), (8, 8, 1)


def branches(k, L):
    inp = k.Input((8, 8, 1))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
    a = L.Conv2D(8, 1, activation="relu")(x)
    b = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    c = L.MaxPooling2D(3, strides=1, padding="same")(x)
    x = L.Concatenate()([a, b, c])
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    return k.Model(inp, L.Dense(10, activation="softmax")(x), name="branches"), (8, 8, 1)


def conv1d(k, L):
    inp = k.Input((8, 8))  # 8 time steps (image rows) of 8 features
    x = L.Conv1D(16, 3, padding="same", activation="relu")(inp)
    x = L.MaxPooling1D(2)(x)
    x = L.Conv1D(24, 3, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    x = L.GlobalAveragePooling1D()(x)
    return k.Model(inp, L.Dense(10, activation="softmax")(x), name="conv1d"), (8, 8)


MODELS = {f.__name__: f for f in (mlp, cnn_bn, ds_cnn, resnet, branches, conv1d)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_whole_model(name, keras, digits):
    x_train, x_test, y_train, y_test = digits
    keras.utils.set_random_seed(0)
    model, shape = MODELS[name](keras, keras.layers)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train.reshape((-1,) + shape), y_train, epochs=30, batch_size=32, verbose=0)
    xt = x_test.reshape((-1,) + shape)
    float_acc = model.evaluate(xt, y_test, verbose=0)[1]
    assert float_acc > 0.85, f"{name} did not train ({float_acc:.3f}); the test would prove little"
    r = roundtrip(model, x_train[:300].reshape((-1,) + shape), xt)
    assert r.float_err < 1e-4, f"float IR differs from Keras by {r.float_err}"
    assert r.exact, f"C differs from the int8 reference, first at layer {r.first_mismatch!r}"
    assert r.agreement >= 0.95, f"int8 argmax agrees with float on only {r.agreement:.1%}"
