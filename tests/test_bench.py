"""`mcugen bench`: the report's fields, the per-layer split of the timing
build (it must add up to the untimed inference on AVR and on Cortex-M), the
plot and the saved report, milliseconds in `verify`, and bad input.

The models are two small fully int8 .tflite files (made here with
TFLiteConverter), so that each command runs without importing TensorFlow."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import run_mcugen_once
from mcugen.errors import McugenError
from mcugen.targets import parse_timing


LAYER_FIELDS = {"index", "name", "op", "detail", "output", "macs", "count", "share", "per_mac", "measured_zero"}
MODEL_FIELDS = {"model", "board", "simulator", "simulator_note", "unit", "count", "per_mac", "macs", "clock_hz", "ms",
                "ms_note", "flash_bytes", "sram_bytes", "stack_bytes", "ram_bytes", "inputs", "bit_exact",
                "first_mismatch_layer"}
SPLIT_FIELDS = {"input", "rest", "stamp_cost", "resolution", "total", "accounted", "unattributed", "tolerance",
                "consistent"}


def make_models(work: Path) -> dict[str, Path]:
    import keras
    from keras import layers as L

    from mcugen.tflite_quantizer import convert_keras

    rng = np.random.default_rng(3)
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 2))
    x = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    y = L.Dense(5, activation="softmax")(x)
    cnn = keras.Model(inp, y, name="cnn")
    keras.utils.set_random_seed(1)
    inp = keras.Input((16,))
    x = L.Dense(8, activation="relu")(inp)
    y = L.Dense(4)(x)
    mlp = keras.Model(inp, y, name="mlp")
    paths = {}
    for model, shape in ((cnn, (6, 6, 2)), (mlp, (16,))):
        path = work / f"{model.name}.tflite"
        path.write_bytes(convert_keras(model, rng.uniform(-1, 1, (16,) + shape).astype(np.float32)))
        paths[model.name] = path
    (work / "notes.txt").write_text("not a model\n")
    (work / "garbage.tflite").write_bytes(b"TFL3" + bytes(range(200)))
    return paths


def invocations(work: Path) -> dict[str, list[str]]:
    m = make_models(work)
    cnn, mlp = str(m["cnn"]), str(m["mlp"])
    return {
        "avr": ["bench", cnn, "--board", "uno", "-n", "2", "--layers", "--json"],
        "arm": ["bench", cnn, mlp, "--board", "qemu_m3", "-n", "2", "--json", "--plot", "split.png",
                "--save", "report.json"],
        "table": ["bench", cnn, "--board", "qemu_m4", "-n", "2", "--layers"],
        "verify_avr": ["verify", mlp, "--board", "uno", "-n", "2"],
        "verify_arm": ["verify", mlp, "--board", "qemu_m4", "-n", "2", "--json"],
        # Bad input.
        "missing": ["bench", "nope.tflite", "--board", "qemu_m4"],
        "not_a_model": ["bench", "notes.txt", "--board", "qemu_m4"],
        "garbage": ["bench", "garbage.tflite", "--board", "qemu_m4", "--plot", "garbage.png"],
        "second_bad": ["bench", cnn, "garbage.tflite", "--board", "qemu_m4", "--save", "partial.json"],
        "board": ["bench", cnn, "--board", "esp8266"],
        "plot_suffix": ["bench", cnn, "--board", "qemu_m4", "--plot", "split.jpg"],
        "plot_folder": ["bench", cnn, "--board", "qemu_m4", "--plot", "no/such/folder/split.png"],
        "save_suffix": ["bench", cnn, "--board", "qemu_m4", "--save", "report.txt"],
        # Click's usage errors, one line too.
        "no_model": ["bench", "--board", "qemu_m4"],
        "no_board": ["bench", cnn],
        "n_zero": ["bench", cnn, "--board", "qemu_m4", "-n", "0"],
    }


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return run_mcugen_once(tmp_path_factory, "bench", invocations, workers=2, timeout=300)


@pytest.fixture(scope="module")
def work(shared) -> Path:
    return shared[0]


@pytest.fixture(scope="module")
def runs(shared) -> dict[str, subprocess.CompletedProcess]:
    return shared[1]


def report(r: subprocess.CompletedProcess) -> dict:
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcugen: error: "), r.stderr
    return lines[0]


def check_model(m: dict, board: str, unit: str, clock_hz: int) -> None:
    assert MODEL_FIELDS <= set(m), set(m) ^ MODEL_FIELDS
    assert m["board"] == board and m["unit"] == unit and m["clock_hz"] == clock_hz
    assert m["inputs"] == 2 and m["bit_exact"] == 2 and m["first_mismatch_layer"] is None
    assert m["count"] > 0 and m["macs"] > 0
    assert m["per_mac"] == pytest.approx(m["count"] / m["macs"], abs=2e-3)
    assert m["ms"] == pytest.approx(1000 * m["count"] / clock_hz, abs=2e-3)
    assert m["ram_bytes"] == m["sram_bytes"] + m["stack_bytes"] and m["stack_bytes"] > 0
    assert 0 < m["flash_bytes"] < 65536


def check_split(m: dict, resolution: int) -> None:
    """The per-layer counts (each less one stamp) plus the rest add up to the
    untimed inference within the stated tolerance."""
    layers, s = m["layers"], m["layer_split"]
    assert SPLIT_FIELDS <= set(s) and all(LAYER_FIELDS <= set(la) for la in layers)
    assert [la["index"] for la in layers] == list(range(len(layers))) and len(layers) >= 2
    assert s["resolution"] == resolution and 0 < s["stamp_cost"] < 100
    assert 0 < s["total"] <= m["count"]  # input 0's count; the reported one is the largest
    assert s["accounted"] == sum(la["count"] for la in layers) + s["rest"]
    assert s["unattributed"] == s["total"] - s["accounted"]
    assert s["tolerance"] == pytest.approx(2 * resolution + len(layers) * s["stamp_cost"] / 2 + s["total"] / 100,
                                           abs=2e-3)
    assert abs(s["unattributed"]) <= s["tolerance"] and s["consistent"] is True
    assert sum(la["share"] for la in layers) == pytest.approx(1, abs=s["tolerance"] / s["total"] + 1e-3)
    for la in layers:
        if la["macs"]:
            assert la["count"] > 0 and la["per_mac"] == pytest.approx(la["count"] / la["macs"], abs=2e-3)
            assert not la["measured_zero"]
        assert la["share"] == pytest.approx(la["count"] / s["total"], abs=1e-5)
    # The Flatten has no code: its count is two stamps back to back less one
    # stamp, 0 (give or take the stamp's own 1-cycle branch on AVR; under QEMU
    # within a tick below and less than a tick above).
    for flat in (la for la in layers if la["op"] == "reshape"):
        if resolution == 1:
            assert abs(flat["count"]) <= 2, flat
        else:
            assert -s["stamp_cost"] - 1 <= flat["count"] < resolution, flat
    if m["model"] == "cnn.tflite":
        assert [la["op"] for la in layers].count("reshape") == 1


def test_avr_report_and_split_add_up(runs):
    r = report(runs["avr"])
    assert r["board"] == "uno" and r["unit"] == "cycles" and r["simulator"] == "simavr atmega328p"
    assert any("cycles, exactly" in n for n in r["notes"])
    (m,) = r["models"]
    assert m["model"] == "cnn.tflite"
    check_model(m, "uno", "cycles", 16_000_000)
    assert m["ms_note"] == "at 16 MHz"
    check_split(m, 1)


def test_cortex_m_report_split_plot_and_saved_report(runs, work):
    r = report(runs["arm"])
    assert r["unit"] == "instructions" and r["simulator"] == "qemu mps2-an385 (cortex-m3)"
    assert any("instructions, not cycles" in n for n in r["notes"])
    assert [m["model"] for m in r["models"]] == ["cnn.tflite", "mlp.tflite"]
    for m in r["models"]:
        check_model(m, "qemu_m3", "instructions", 25_000_000)
        assert m["ms_note"] == "at 25 MHz if every instruction took one cycle"
        assert m["count"] % 40 == 0
        check_split(m, 40)  # --plot implies the per-layer split
    assert json.loads((work / "report.json").read_text()) == r
    png = (work / "split.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_table_says_what_is_counted(runs):
    r = runs["table"]
    assert r.returncode == 0, r.stderr
    text = r.stdout
    for words in ("instructions / inference", "ms (1 instr/cycle)", "QEMU counts instructions, not cycles",
                  "if every instruction took one cycle", "RAM static + stack", "cnn.tflite", "2/2",
                  "per layer on qemu_m4", "(output copy, return)", "less one stamp", "within the tolerance",
                  "slowest layer: "):
        assert words in text, (words, text)
    split = report(runs["arm"])["models"][0]["layers"]
    for la in split:  # every layer of the model has its row
        assert la["name"] in text


def test_verify_shows_milliseconds(runs):
    r = runs["verify_avr"]
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("cycles per inference"))
    cycles = int(line.split(":")[1].split("(")[0].replace(",", ""))
    assert f"; {cycles / 16e3:,.2f} ms at 16 MHz" in line
    v = report(runs["verify_arm"])
    assert v["ms"] == pytest.approx(v["instructions"] / 25e3, abs=2e-3)
    assert v["ms_note"] == "at 25 MHz if every instruction took one cycle" and v["clock_hz"] == 25_000_000


@pytest.mark.parametrize("case, words", [
    ("missing", ["model file not found", "nope.tflite"]),
    ("not_a_model", ["notes.txt", "not a model file"]),
    ("garbage", ["garbage.tflite"]),
    ("second_bad", ["garbage.tflite"]),
    ("board", ["unknown board", "esp8266"]),
    ("plot_suffix", ["--plot", ".png"]),
    ("plot_folder", ["--plot", "does not exist"]),
    ("save_suffix", ["--save", ".json"]),
    ("no_model", ["Missing argument 'MODELS...'", "mcugen bench --help"]),
    ("no_board", ["Missing option '--board'"]),
    ("n_zero", ["'-n'", "0 is not in the range"]),
])
def test_bad_input_one_line_nothing_written(runs, work, case, words):
    line = error_line(runs[case])
    for w in words:
        assert w in line, line
    assert not (work / "garbage.png").exists() and not (work / "partial.json").exists()
    assert not list(work.glob(".*.png*")) and not list(work.glob(".*.json*"))


# ------------------------------------------------------- the harness's lines

TIMED = "O 0102 1000\nT 0 400\nT 1 0\nT 2 560\nR 40\n"


def test_parse_timing():
    t = parse_timing("H 64 480 40\n" + TIMED + "S 100\nE\n", 3, 40, 1000)
    assert t.layers == [400, 0, 560] and t.rest == 40 and t.resolution == 40
    assert t.stamp_cost == (480 - 40) / 64
    assert parse_timing("H 8 497 17\n" + TIMED, 3, 1, 1000).stamp_cost == 60


@pytest.mark.parametrize("text, total, words", [
    ("H 64 480 40\n" + TIMED, 1040, "add up to 1,000"),  # the counts must add up to the timed inference
    ("H 64 480 40\n" + TIMED.replace("T 1 0\n", ""), 1000, "every layer"),
    ("H 480 40\n" + TIMED, 1000, "every layer"),  # the old format
    (TIMED, 1000, "every layer"),  # no calibration line
])
def test_parse_timing_refuses_incomplete_or_inconsistent_reports(text, total, words):
    with pytest.raises(McugenError, match=words):
        parse_timing(text, 3, 40, total)
