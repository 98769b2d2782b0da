"""``mcugen compare`` and ``mcugen eval`` as a user runs them: the real
command in a subprocess (exit codes, JSON keys, one-line errors), all started
at once by a module fixture; plus the exit code of a compare whose target is
missed (a deliberately wrong multiplier, through click's runner in process)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import run_mcugen_once

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"
DIGITS, CALIB, TEST = EX / "digits_cnn.h5", EX / "digits_calib.npz", EX / "digits_test.npz"
ORACLE_KEYS = {"inputs", "identical_bytes_ratio", "max_abs_diff", "first_mismatch_layer"}

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def make_inputs(d: Path) -> None:
    from mcugen.pipeline import prepare

    p = prepare(DIGITS, CALIB, warn=lambda m: None, quantizer="tflite")
    (d / "digits.tflite").write_bytes(p.tflite.model_bytes)
    (d / "garbage.tflite").write_bytes(b"TFL3 is not enough" * 10)
    with np.load(TEST) as z:
        np.savez(d / "no_labels.npz", x=z["x"])
        np.savez(d / "regress.npz", x=z["x"][:50], y=np.eye(10)[z["y"][:50]])


RUNS = {
    "compare_keras_tflite": ["compare", str(DIGITS), "--calib", str(CALIB), "--quantizer", "tflite", "--layers",
                             "--json", "-n", "40"],
    "compare_tflite_text": ["compare", "{work}/digits.tflite", "--layers", "-n", "20", "--no-sanitize"],
    "compare_keras_mcugen": ["compare", str(DIGITS), "--calib", str(CALIB), "--json", "-n", "20", "--no-sanitize"],
    "compare_garbage": ["compare", "{work}/garbage.tflite"],
    "eval_keras": ["eval", str(DIGITS), "--data", str(TEST), "--calib", str(CALIB), "--json"],
    "eval_tflite_mae": ["eval", "{work}/digits.tflite", "--data", "{work}/regress.npz", "--metric", "mae", "--json"],
    "eval_no_labels": ["eval", str(DIGITS), "--data", "{work}/no_labels.npz", "--calib", str(CALIB)],
    "check_tflite": ["check", "{work}/digits.tflite", "--json", "-n", "20", "--no-sanitize"],
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    """Run every invocation once (shared by the pytest-xdist workers)."""

    def setup(work: Path) -> dict[str, list[str]]:
        make_inputs(work)
        return RUNS

    return run_mcugen_once(tmp_path_factory, "compare-cli", setup)


@pytest.fixture(scope="module")
def work(shared) -> Path:
    return shared[0]


@pytest.fixture(scope="module")
def runs(shared) -> dict[str, subprocess.CompletedProcess]:
    return shared[1]


def ok_json(r) -> dict:
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def one_error_line(r) -> str:
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("mcugen:")]
    assert len(lines) == 1 and lines[0].startswith("mcugen: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_compare_json_keys_per_oracle(runs):
    d = ok_json(runs["compare_keras_tflite"])
    assert d["ok"] is True and d["quantizer"] == "tflite" and d["inputs"] == 40
    assert set(d["oracles"]) == {"litert", "tflm"}
    for o in d["oracles"].values():
        assert ORACLE_KEYS <= set(o), o
        assert o["inputs"] == 40
    assert d["oracles"]["tflm"]["identical_bytes_ratio"] == 1.0
    assert d["oracles"]["tflm"]["first_mismatch_layer"] is None
    layers = d["oracles"]["tflm"]["layers"]
    assert [la["op"] for la in layers][:2] == ["CONV_2D", "MAX_POOL_2D"] and layers[-1]["op"] == "SOFTMAX"
    assert all(la["local_identical_bytes_ratio"] == 1.0 for la in layers)


def test_compare_text_report(runs):
    r = runs["compare_tflite_text"]
    assert r.returncode == 0, r.stderr[-2000:]
    for text in ("LiteRT (reference kernels)", "TFLite Micro", "FULLY_CONNECTED", "TFLM local", "target:", ": met"):
        assert text in r.stdout, text


def test_compare_with_mcugen_quantizer_has_no_byte_target(runs):
    d = ok_json(runs["compare_keras_mcugen"])
    assert d["quantizer"] == "mcugen" and d["target"].startswith("none")
    assert "layers" not in d["oracles"]["tflm"]  # only with --layers
    assert all(ORACLE_KEYS <= set(o) for o in d["oracles"].values())


def test_compare_bad_file(runs):
    assert "not a TFLite model" in one_error_line(runs["compare_garbage"])


def test_eval_reports_three_models(runs):
    d = ok_json(runs["eval_keras"])
    assert d["samples"] == 450 and d["metric"] == "accuracy"
    for key in ("float", "mcugen_int8", "tflite_int8", "mcugen_tflite_int8"):
        assert d[key] > 0.9, (key, d)
    assert abs(d["tflite_int8"] - d["mcugen_tflite_int8"]) <= 0.01


def test_eval_mae_on_tflite(runs, work):
    """For a .tflite input mcugen's int8 model is the file's own quantization
    (evaluate.py reports it twice); its MAE must be what TFLM's bytes give,
    and the "TFLite int8" column what LiteRT's bytes give, recomputed here."""
    from mcugen.oracles import run_oracle
    from mcugen.tflite.loader import graph_from_tflite

    d = ok_json(runs["eval_tflite_mae"])
    assert d["metric"] == "mae" and d["float"] is None and d["samples"] == 50
    assert 0.0 <= d["mcugen_tflite_int8"] < 0.2
    tm = graph_from_tflite((work / "digits.tflite").read_bytes(), "digits", "digits.tflite")
    g = tm.graph
    with np.load(work / "regress.npz") as z:
        x, y = z["x"], z["y"]
    xq = g.input.q.quantize(x)
    for oracle, key in (("tflm", "mcugen_tflite_int8"), ("litert", "tflite_int8")):
        pred = g.output.q.dequantize(run_oracle(oracle, tm, xq).outputs).astype(np.float64).reshape(len(x), -1)
        mae = float(np.mean(np.abs(pred - y.reshape(pred.shape))))
        assert d[key] == pytest.approx(mae, rel=1e-12, abs=0), (key, oracle)


def test_eval_needs_labels(runs):
    assert "'x' and 'y'" in one_error_line(runs["eval_no_labels"])


def test_check_takes_tflite(runs):
    d = ok_json(runs["check_tflite"])
    assert d["bit_exact"] == d["inputs"] == 20 and d["float_agreement"] == 1.0


def test_compare_exit_code_when_target_missed(work, monkeypatch):
    """A wrong multiplier in mcugen's conv (C and numpy alike): compare
    names the layer and exits 1."""
    from click.testing import CliRunner

    from mcugen.cli import main
    from mcugen.ops.conv2d import Conv2D

    real = Conv2D.quantize

    def off_by_a_bit(self, g):
        real(self, g)
        self.mult = (self.mult - (self.mult >> 6)).astype(np.int32)

    monkeypatch.setattr(Conv2D, "quantize", off_by_a_bit)
    r = CliRunner().invoke(main, ["compare", str(work / "digits.tflite"), "--json", "-n", "20"])
    assert r.exit_code == 1, r.output
    d = json.loads(r.output.strip().splitlines()[-1])
    assert d["ok"] is False and d["c_matches_reference"] is True
    assert d["oracles"]["tflm"]["first_mismatch_layer"].endswith("(CONV_2D #0)")
    assert any("differs from mcugen on layer" in n for n in d["notes"])


def test_compare_says_when_litert_cannot_run_the_model(work, monkeypatch):
    """An oracle that cannot run the model leaves half of the target
    unchecked: compare says so and exits 2 (1 would be a miss)."""
    from click.testing import CliRunner

    import mcugen.compare
    from mcugen.cli import main
    from mcugen.errors import McugenError

    real = mcugen.compare.run_oracle

    def no_litert(name, *args, **kwargs):
        if name == "litert":
            raise McugenError("LiteRT cannot run the model: Op builtin_code out of range")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(mcugen.compare, "run_oracle", no_litert)
    r = CliRunner().invoke(main, ["compare", str(work / "digits.tflite"), "--json", "-n", "4", "--no-sanitize"])
    assert r.exit_code == 2, r.output
    d = json.loads(r.output.strip().splitlines()[-1])
    assert d["ok"] is False and d["unchecked"] == ["litert"] and d["met_where_checked"] is True
    assert d["oracles"]["tflm"]["identical_bytes_ratio"] == 1.0
    assert any("NOT checked" in n and "builtin_code" in n for n in d["notes"])
    r = CliRunner().invoke(main, ["compare", str(work / "digits.tflite"), "-n", "4", "--no-sanitize"])
    assert r.exit_code == 2
    assert "met where checked; NOT checked against LiteRT (reference kernels)" in " ".join(r.output.split())
