"""Fits on the board: a CNN of real use (several thousand parameters, trained
on the digits) builds for the Uno with the Arduino core's share left, runs
bit-exact in simavr with plausible cycle counts; a model too big for the Uno is
refused with a clear error and builds for the Mega 2560."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import mcugen_cmd, user_env
from mcugen.boards import get_board
from mcugen.emit import render
from mcugen.fit import check_fit
from mcugen.pipeline import prepare
from mcugen.verify import run_verify

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def uno_cnn(tmp_path_factory, keras):
    from train_digits import load_split

    x_train, x_test, y_train, y_test = load_split()
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(12, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(24, 3, padding="same", use_bias=False),
        L.BatchNormalization(),
        L.ReLU(),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(32, activation="relu"),
        L.Dense(10, activation="softmax"),
    ], name="uno_cnn")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    acc = model.evaluate(x_test, y_test, verbose=0)[1]
    d = tmp_path_factory.mktemp("uno")
    model.save(d / "uno_cnn.h5")
    import numpy as np

    np.savez(d / "calib.npz", x=x_train[:200])
    return d / "uno_cnn.h5", d / "calib.npz", acc, model.count_params()


def test_real_cnn_fits_the_uno_and_runs_bit_exact(uno_cnn):
    path, calib, acc, params = uno_cnn
    assert acc > 0.9 and params > 5000
    p = prepare(path, calib)
    uno = get_board("uno")
    fit = check_fit(p.graph, render(p.graph, board=uno), uno)
    assert fit.measured, "avr-gcc must be installed (make test installs it)"
    assert fit.fits, fit.problems()
    assert fit.flash_budget == 32768 - uno.reserve_flash_bytes and fit.sram_budget == 2048 - uno.reserve_sram_bytes
    r = run_verify(p, uno, n=20)
    assert r.bit_exact == r.inputs == 20
    # Cycles are the simulator's: plausible against the MACs, and larger for
    # a model with more MACs (the bundled example has fewer).
    assert 5 * r.macs < r.count < 500 * r.macs
    small = run_verify(prepare(ROOT / "examples" / "digits_cnn.h5", ROOT / "examples" / "digits_calib.npz"), uno, n=2)
    assert small.macs < r.macs and small.count < r.count
    assert r.flash_bytes < 32768 and r.sram_bytes + r.stack_bytes < 2048


@pytest.fixture(scope="module")
def big_model(tmp_path_factory, keras):
    keras.utils.set_random_seed(0)
    L = keras.layers
    # 44,000 bytes of weights: over the Uno's flash, within the Mega's, every
    # array under avr-gcc's 32,767-byte limit and all within near flash.
    model = keras.Sequential([keras.Input((64,)), L.Dense(300, activation="relu"), L.Dense(80), L.Dense(10)], name="big")
    path = tmp_path_factory.mktemp("big") / "big.h5"
    model.save(path)
    return path


def _dense_model(keras, folder, name, widths):
    L = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((widths[0],))] + [L.Dense(w) for w in widths[1:]], name=name)
    path = folder / f"{name}.h5"
    model.save(path)
    return path


@pytest.mark.parametrize("widths, reason", [
    ((64, 384, 96, 10), "avr-gcc refuses one array over 32,767 bytes"),  # 384 x 96 = 36,864 bytes in one array
    ((64, 400, 80, 400, 10), "beyond the first 64 KiB of flash"),  # 89,600 bytes, each array < 32,767
])
def test_mega_limits_are_refused_with_the_reason(keras, tmp_path, widths, reason):
    """avr-gcc cannot build one array over 32,767 bytes, and the AVR kernels'
    near flash reads reach 64 KiB: on the Mega (256 KiB of flash) such models
    are refused with that reason, never passed by an estimate."""
    model = _dense_model(keras, tmp_path, "wide", widths)
    r = _run("build", str(model), "--board", "mega2560", "-o", str(tmp_path / "proj"))
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "--calib" not in ln]
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert "does not fit mega2560" in lines[0] and reason in lines[0] and "estimate" not in lines[0]
    assert not (tmp_path / "proj").exists()
    r = _run("verify", str(model), "--board", "mega2560", "-n", "1")
    assert r.returncode == 1 and reason in r.stderr and len(r.stderr.strip().splitlines()) <= 2, r.stderr


def _run(*args):
    return subprocess.run(mcugen_cmd() + list(args), capture_output=True, text=True, env=user_env())


def test_too_big_for_uno_is_refused_and_builds_for_mega(big_model, tmp_path):
    out = tmp_path / "uno_proj"
    r = _run("build", str(big_model), "--board", "uno", "-o", str(out))
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "--calib" not in ln]
    assert r.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("mcugen: error:"), r.stderr
    assert "does not fit uno" in lines[0] and "flash" in lines[0] and "over" in lines[0]
    assert "dense" in lines[0]  # names the largest layers
    assert not out.exists()
    r = _run("build", str(big_model), "--board", "mega2560", "-o", str(tmp_path / "mega_proj"))
    assert r.returncode == 0, r.stderr
    assert "fits" in r.stdout and (tmp_path / "mega_proj" / "platformio.ini").exists()
    forced = _run("build", str(big_model), "--board", "uno", "--force", "-o", str(tmp_path / "forced"))
    assert forced.returncode == 0 and "does not fit" in forced.stderr
