"""The bundled LSTM example (examples/train_har.py: activity recognition from
simulated accelerometer windows, LSTM(16) -> Dense(6)): mcugen's int8 model
keeps the float model's accuracy on the held-out windows (within 2 points),
the C on the host equals the integer reference on all of them, and on the
Arduino Uno (simavr) it fits and runs bit-exact."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

EX = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def har():
    from mcugen.pipeline import prepare

    return prepare(EX / "har_lstm.h5", EX / "har_calib.npz")


def test_har_int8_accuracy_within_two_points_and_c_exact(har):
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.reference import int8_output

    with np.load(EX / "har_test.npz") as d:
        x, y = d["x"], d["y"]
    g = har.graph
    assert [op.kind for op in g.ops][0] == "lstm"
    acc_float = float(np.mean(np.argmax(har.keras_model.predict(x, verbose=0), 1) == y))
    xq = g.input.q.quantize(x)
    ref = int8_output(g, xq)
    acc_int8 = float(np.mean(np.argmax(ref, 1) == y))
    assert acc_float >= 0.85, f"float accuracy {acc_float:.3f}"
    assert abs(acc_int8 - acc_float) <= 0.02, f"int8 {acc_int8:.3f} vs float {acc_float:.3f}"
    host = run_host(g, render(g, "har_lstm.h5"), xq, sanitize=True)
    assert np.array_equal(host.outputs, ref), "the C differs from the integer reference"


def test_har_test_split_is_the_generated_one():
    import sys

    sys.path.insert(0, str(EX))
    from train_har import test_split

    x, y = test_split()
    with np.load(EX / "har_test.npz") as d:
        assert np.array_equal(d["x"], x) and np.array_equal(d["y"], y)
    assert sorted(set(y.tolist())) == list(range(6))


def test_har_on_the_uno_bit_exact_in_simavr(har):
    from mcugen.boards import get_board
    from mcugen.verify import run_verify

    r = run_verify(har, get_board("uno"), n=6)  # refuses a model that does not fit
    assert r.bit_exact == r.inputs == 6, r
    assert r.model_sram_bytes + r.model_stack_bytes < 2048 and r.model_flash_bytes < 32768, r
    assert r.count > r.macs  # cycles were counted


def test_har_eval_scores_mcugen_int8_without_tflite_columns(tmp_path):
    """`mcugen eval` on the LSTM model: TFLiteConverter cannot make it (a
    WHILE loop), so its columns are empty with a note, and the float and
    mcugen int8 accuracies are scored."""
    from mcugen.evaluate import run_eval

    with np.load(EX / "har_test.npz") as d:
        np.savez(tmp_path / "few.npz", x=d["x"][:60], y=d["y"][:60])
    r = run_eval(EX / "har_lstm.h5", tmp_path / "few.npz", EX / "har_calib.npz")
    assert r.tflite_int8 is None and r.mcugen_tflite_int8 is None
    assert r.float is not None and r.float > 0.8, r
    assert r.mcugen_int8 is not None and r.mcugen_int8 > 0.8, r
    assert any("WHILE" in note for note in r.notes), r.notes
