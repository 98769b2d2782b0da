"""A model that does not fit is refused in one short line: what is over and
by how much, the largest tensor and layer by short names (not a converter's
';'-joined tensor names), and a real board on which the linked model fits."""
from __future__ import annotations

import numpy as np
import pytest

from mcugen.boards import get_board
from mcugen.emit import render
from mcugen.fit import check_fit
from mcugen.fit_advice import refusal, short


def test_short_names():
    assert short("model/conv2d_3/Relu;model/conv2d_3/BiasAdd;model/conv2d_3/Conv2D") == "model/conv2d_3/Relu"
    assert len(short("x" * 100)) == 32 and short("x" * 100).endswith("...")


@pytest.fixture(scope="module")
def big_tflite(keras, tmp_path_factory):
    """~52k weights through TFLiteConverter (long ';'-joined tensor names), every
    array under avr-gcc's 32,767-byte limit, so that flash is what is over."""
    from mcugen.pipeline import prepare

    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([keras.Input((64,)), L.Dense(320, activation="relu"), L.Dense(96, activation="relu"),
                              L.Dense(10, activation="softmax")], name="big")
    path = tmp_path_factory.mktemp("big") / "big.keras"
    model.save(path)
    calib = path.with_suffix(".npy")
    np.save(calib, np.random.default_rng(0).normal(size=(32, 64)).astype(np.float32))
    return prepare(path, calib, quantizer="tflite")


def test_refusal_is_short_and_names_a_board_that_fits(big_tflite):
    g = big_tflite.graph
    long_names = [t for t in g.tensors if len(t) > 32]
    assert long_names  # the converter's names are long
    uno = get_board("uno")
    cm = render(g, board=uno)
    fit = check_fit(g, cm, uno)
    assert not fit.fits
    msg = refusal(g, cm, fit, uno, "big.tflite")
    assert msg.startswith("big.tflite does not fit uno: flash ") and " over " in msg
    assert len(msg) < 300, msg
    assert "largest tensor" in msg and "largest layer" in msg
    assert not any(t in msg for t in long_names)
    suggested = msg.rsplit("; fits ", 1)[1].split(" ", 1)[0]
    board = get_board(suggested)
    assert board.platformio["platform"] != "native"
    assert check_fit(g, render(g, board=board), board).fits
