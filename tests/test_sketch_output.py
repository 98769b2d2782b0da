"""What the generated project prints: the sketch (src/main.cpp, run on the
host against a stand-in for Arduino's Serial) gives the top class and its
score for a classifier and dequantized values for anything else; the Unity
golden test names the sample that failed. ``check`` reports argmax agreement
only where the output holds class scores."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mcugen.boards import get_board
from mcugen.emit import render
from mcugen.project import write_project
from mcugen.reference import int8_output
from mcugen.task import is_classifier

ROOT = Path(__file__).resolve().parents[1]


def run_sketch(tmp_path: Path, proj: Path, name: str) -> str:
    lib = proj / "lib" / name
    obj = tmp_path / "model.o"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "-I", str(lib), str(lib / f"{name}.c"),
                    "-o", str(obj)], check=True)
    exe = tmp_path / "sketch"
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-x", "c++", "-I", str(lib),
                    "-I", str(ROOT / "tests" / "arduino_stub"), str(proj / "src" / "main.cpp"), "-x", "none", str(obj),
                    "-o", str(exe)], check=True)
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def digits():
    from mcugen.pipeline import prepare

    return prepare(ROOT / "examples" / "digits_cnn.h5", ROOT / "examples" / "digits_calib.npz")


@pytest.fixture(scope="module")
def autoencoder(keras, tmp_path_factory):
    from keras import layers as L

    from mcugen.pipeline import prepare

    inp = keras.Input((24,))
    x = L.Dense(6, activation="relu")(inp)
    out = L.Dense(24)(x)
    path = tmp_path_factory.mktemp("ae") / "ae.keras"
    keras.Model(inp, out).save(path)
    calib = path.with_suffix(".npy")
    np.save(calib, np.random.default_rng(0).normal(size=(64, 24)).astype(np.float32))
    return prepare(path, calib)


def test_classifier_sketch_prints_top_class_and_score(tmp_path, digits):
    g = digits.graph
    assert is_classifier(g)
    cm = render(g, board=get_board("uno"))
    xq = g.input.q.quantize(digits.calib[3:5])
    proj = write_project(tmp_path / "p", g, cm, get_board("uno"), xq)
    text = run_sketch(tmp_path, proj, cm.name)
    y = int8_output(g, xq)[0]
    best = int(np.argmax(y))
    m = re.search(r"top class: (\d+) score: ([0-9.]+)", text)
    assert m, text
    assert int(m.group(1)) == best
    assert float(m.group(2)) == pytest.approx(g.output.q.dequantize(y[best]), abs=1e-4)
    assert "output bytes: " + " ".join(str(int(v)) for v in y) in text and "reference: match" in text


def test_autoencoder_sketch_prints_values_and_check_has_no_argmax(tmp_path, autoencoder):
    from mcugen.check import run_check

    g = autoencoder.graph
    assert not is_classifier(g)
    cm = render(g, board=get_board("qemu_m4"))
    xq = g.input.q.quantize(autoencoder.calib[:1])
    proj = write_project(tmp_path / "p", g, cm, get_board("qemu_m4"), xq)
    text = run_sketch(tmp_path, proj, cm.name)
    y = g.output.q.dequantize(int8_output(g, xq)[0])
    assert "top class" not in text
    shown = re.search(r"output values: (.*) \.\.\. \(24 values\)", text)
    assert shown, text
    np.testing.assert_allclose([float(v) for v in shown.group(1).split()], y[:8], atol=1e-4)
    r = run_check(autoencoder, n=4, sanitize=False)
    assert r.bit_exact == 4 and r.float_agreement is None


def test_failing_golden_test_names_the_sample(tmp_path, digits):
    g = digits.graph
    cm = render(g, board=get_board("uno"))
    proj = write_project(tmp_path / "p", g, cm, get_board("uno"), g.input.q.quantize(digits.calib[:3]))
    lib = proj / "lib" / cm.name
    test_c = proj / "test" / "test_model" / "test_main.c"
    text = test_c.read_text()
    head, rest = text.split("golden_outputs[", 1)
    decl, body = rest.split("{", 1)
    values, tail = body.split("}", 1)
    nums = [int(v) for v in values.replace("\n", " ").split(",")]
    nums[g.output.size + 2] ^= 1  # a byte of the second sample (sample 1)
    broken = tmp_path / "broken.c"
    broken.write_text(f"{head}golden_outputs[{decl}{{\n    {', '.join(map(str, nums))}\n}}{tail}")
    exe = tmp_path / "golden"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(lib), "-I",
                    str(ROOT / "tests" / "unity_stub"), str(lib / f"{cm.name}.c"), str(broken), "-o", str(exe)],
                   check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode != 0 and "sample 1" in r.stdout, r.stdout
