"""Commands that need no TensorFlow do not import it (a .tflite model, the
board list, flashing a folder): LiteRT comes from ai_edge_litert, which runs
the same reference kernels byte for byte and imports in 0.1 s. Long steps of
check/verify/compare show a spinner on a terminal."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MCUGEN = Path(sys.executable).with_name("mcugen")

PROBE = r"""
import json, sys
from click.testing import CliRunner
from mcugen.cli import main
runs = json.loads(sys.argv[1])
codes = [CliRunner().invoke(main, args).exit_code for args in runs]
print(json.dumps({"codes": codes, "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""


@pytest.fixture(scope="module")
def tflite_file(tmp_path_factory) -> Path:
    from mcugen.pipeline import prepare

    p = prepare(ROOT / "examples" / "digits_cnn.h5", ROOT / "examples" / "digits_calib.npz", warn=lambda m: None,
                quantizer="tflite")
    path = tmp_path_factory.mktemp("lazy") / "digits.tflite"
    path.write_bytes(p.tflite.model_bytes)
    return path


def test_ai_edge_litert_is_installed():
    import ai_edge_litert.interpreter  # noqa: F401  (a dependency: pyproject.toml)


def test_tflite_commands_do_not_import_tensorflow(tflite_file, tmp_path):
    f = str(tflite_file)
    runs = [["boards"], ["inspect", f], ["check", f, "-n", "3", "--no-sanitize"],
            ["build", f, "--board", "qemu_m4", "-o", str(tmp_path / "proj")],
            ["compare", f, "-n", "3", "--no-sanitize"]]
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(runs)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["codes"] == [0] * len(runs), d
    assert d["tensorflow"] is False and d["keras"] is False


def test_ai_edge_litert_equals_tensorflow_lite(tflite_file, monkeypatch):
    from mcugen import oracles
    from mcugen.tflite.loader import load_tflite

    tm = load_tflite(tflite_file)
    xq = np.random.default_rng(0).integers(-128, 128, (16,) + tm.graph.input.shape).astype(np.int8)
    tensors = sorted(set(tm.tensor_index.values()))
    runs = {}
    for which in ("litert", "tensorflow"):
        monkeypatch.setenv("MCUGEN_LITERT", which)
        assert oracles.litert_api()[2] == ("ai_edge_litert" if which == "litert" else "tensorflow")
        runs[which] = oracles.run_litert(tm, xq, tensors=tensors)
    a, b = runs["litert"], runs["tensorflow"]
    assert np.array_equal(a.outputs, b.outputs)
    assert set(a.tensors) == set(b.tensors) and all(np.array_equal(a.tensors[i], b.tensors[i]) for i in a.tensors)


def test_check_shows_progress_on_a_terminal(tflite_file):
    env = dict(os.environ, FORCE_COLOR="1", TTY_COMPATIBLE="1")
    r = subprocess.run([str(MCUGEN), "check", str(tflite_file), "-n", "2", "--no-sanitize"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "loading and quantizing digits.tflite" in r.stderr
    assert "compiling the C for the host and running 2 inputs" in r.stderr
