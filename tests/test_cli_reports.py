"""Reports a user asks for: ``build`` prints the layer table and has
``--json``; ``inspect --board`` checks the fit without writing a project;
``eval`` scores an autoencoder without labels (mae) and an anomaly detector
by ROC AUC."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mcugen.cli import main
from mcugen.evaluate import anomaly_labels, roc_auc

ROOT = Path(__file__).resolve().parents[1]
DIGITS, CALIB = ROOT / "examples" / "digits_cnn.h5", ROOT / "examples" / "digits_calib.npz"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def last_json(r) -> dict:
    assert r.exit_code == 0, r.output
    return json.loads(r.output.strip().splitlines()[-1])


def test_build_prints_layers_and_has_json(tmp_path):
    r = invoke("build", DIGITS, "--board", "uno", "--calib", CALIB, "-o", tmp_path / "text")
    assert r.exit_code == 0, r.output
    for text in ("layer", "MACs", "offset", "conv2d", "softmax", "fits", "project"):
        assert text in r.output, text
    d = last_json(invoke("build", DIGITS, "--board", "uno", "--calib", CALIB, "-o", tmp_path / "js", "--json"))
    assert d["board"] == "uno" and d["fit"]["fits"] is True and Path(d["project"]) == tmp_path / "js"
    assert [la["op"] for la in d["layers"]][-1] == "softmax" and d["totals"]["macs"] == 24458
    assert (tmp_path / "js" / "platformio.ini").is_file()


def test_inspect_board_checks_fit_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = last_json(invoke("inspect", DIGITS, "--calib", CALIB, "--board", "uno", "--json"))
    assert d["board"] == "uno" and d["fit"]["fits"] is True and d["fit"]["measured"] is True
    assert 0 < d["fit"]["flash_bytes"] <= d["fit"]["flash_budget"]
    r = invoke("inspect", DIGITS, "--calib", CALIB, "--board", "uno")
    assert r.exit_code == 0 and "on Arduino Uno" in r.output and "linked ELF" in r.output
    assert list(tmp_path.iterdir()) == []


def test_inspect_board_says_what_would_fit(tmp_path, keras, monkeypatch):
    monkeypatch.chdir(tmp_path)
    L = keras.layers
    keras.utils.set_random_seed(0)
    path = tmp_path / "big.keras"
    keras.Sequential([keras.Input((64,)), L.Dense(384, activation="relu"), L.Dense(10)]).save(path)
    r = invoke("inspect", path, "--board", "uno")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert re.search(r"fits\W+NO", text) and "does not fit uno: flash" in text and "; fits " in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.keras"]


def test_roc_auc_matches_scikit_learn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300).astype(bool)
    scores = np.round(rng.normal(size=300) + y * 0.8, 1)  # ties on purpose
    assert roc_auc(scores, y) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert roc_auc(np.array([0.1, 0.2, 0.9]), np.array([False, False, True])) == 1.0
    assert list(anomaly_labels(np.array(["normal", "Anomalous", "normal"]), "d")) == [False, True, False]


@pytest.fixture(scope="module")
def autoencoder(keras, tmp_path_factory):
    """A small autoencoder trained on normal data (points near a plane)."""
    L = keras.layers
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 16))
    normal = (rng.normal(size=(600, 3)) @ basis / 2).astype(np.float32)
    model = keras.Sequential([keras.Input((16,)), L.Dense(8, activation="relu"), L.Dense(3), L.Dense(8, activation="relu"),
                              L.Dense(16)])
    model.compile("adam", "mse")
    model.fit(normal, normal, epochs=30, batch_size=32, verbose=0)
    d = tmp_path_factory.mktemp("ae")
    model.save(d / "ae.keras")
    np.save(d / "calib.npy", normal[:200])
    anomalous = (rng.normal(size=(60, 16)) * 1.0).astype(np.float32)
    x = np.concatenate([normal[500:560], anomalous])
    np.savez(d / "recon.npz", x=x)  # no 'y'
    np.savez(d / "anomaly.npz", x=x, y=np.array(["normal"] * 60 + ["anomalous"] * 60))
    return d


def test_eval_mae_of_an_autoencoder_needs_no_labels(autoencoder):
    d = last_json(invoke("eval", autoencoder / "ae.keras", "--data", autoencoder / "recon.npz", "--calib",
                         autoencoder / "calib.npy", "--metric", "mae", "--json"))
    assert d["samples"] == 120 and 0 < d["float"] < 1.5 and 0 < d["mcugen_int8"] < 1.5
    assert any("targets are the inputs" in n for n in d["notes"])


def test_eval_auc_for_anomaly_detection(autoencoder):
    d = last_json(invoke("eval", autoencoder / "ae.keras", "--data", autoencoder / "anomaly.npz", "--calib",
                         autoencoder / "calib.npy", "--metric", "auc", "--json"))
    assert d["metric"] == "auc"
    for key in ("float", "mcugen_int8", "tflite_int8", "mcugen_tflite_int8"):
        assert 0.9 < d[key] <= 1.0, (key, d)
    r = invoke("eval", DIGITS, "--data", autoencoder / "anomaly.npz", "--metric", "auc")
    assert r.exit_code == 1
