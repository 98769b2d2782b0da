"""The command line as a user meets it: the real ``mcugen`` in a subprocess
(real exit codes, real stderr, TensorFlow's own start-up output included).

Every invocation is started once, concurrently, by the module fixture
``shared`` (each pays a TensorFlow import; pytest-xdist workers share the one
run); the tests then assert on what each printed and left on disk.

Covered: ``build`` for every board (summary, project layout, ``pio project
config`` accepts it, default folder), ``check`` (text and --json, exit code),
``inspect`` (table and --json), the random-calibration warning, layer names
that are not C identifiers, and bad input: missing / corrupt models,
unsupported layers, bad calibration data, unknown boards and output folders
that cannot be written, each one line on stderr with nothing left behind."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import run_mcugen_once

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_cnn.h5"
CALIB = ROOT / "examples" / "digits_calib.npz"
BOARDS = {
    (data := tomllib.loads(p.read_text()))["name"]: data for p in sorted((ROOT / "boards").glob("*.toml"))
}
# The command line builds for one board of each architecture (each run pays a
# TensorFlow import); every board's project is also written in process and
# handed to PlatformIO.
CLI_BOARDS = sorted({data["arch"]: name for name, data in reversed(BOARDS.items())}.values())
WEIRD_STEM = "2nd model-v1.0 α"  # the model's C name comes from the file name
# Layer names that are not C identifiers: spaces, dashes, dots, unicode, C
# keywords, leading digits, and two that clash once made identifiers.
WEIRD_LAYERS = ["int", "conv 2d-v1.0", "1st flatten", "dénse-α", "dense.α", "dense α", "for", "void", "3 output"]
TF_NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages", "oneDNN")


def pio_cmd() -> str:
    pio = Path(sys.executable).with_name("pio")
    found = str(pio) if pio.exists() else shutil.which("pio")
    assert found, "PlatformIO (pio) is a dependency of mcugen but is not installed"
    return found


# ------------------------------------------------------------------ fixtures


def make_inputs(work: Path) -> dict[str, Path]:
    """Models and data files, good and bad, under ``work``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers as L

    f: dict[str, Path] = {}
    rng = np.random.default_rng(0)

    # A model whose layer names are anything but C identifiers.
    inp = keras.Input((6, 6, 1), name="in put-1.x")
    x = L.Conv2D(2, 3, activation="relu", name=WEIRD_LAYERS[0])(inp)
    x = L.Conv2D(3, 1, name=WEIRD_LAYERS[1])(x)
    x = L.Flatten(name=WEIRD_LAYERS[2])(x)
    a = L.Dense(5, name=WEIRD_LAYERS[3])(x)
    b = L.Dense(5, name=WEIRD_LAYERS[4])(x)
    c = L.Dense(5, name=WEIRD_LAYERS[5])(x)
    x = L.Add(name=WEIRD_LAYERS[6])([a, b])
    x = L.Add(name=WEIRD_LAYERS[7])([x, c])
    out = L.Dense(4, activation="softmax", name=WEIRD_LAYERS[8])(x)
    f["weird"] = work / f"{WEIRD_STEM}.keras"
    keras.Model(inp, out, name="weird model ü").save(f["weird"])
    f["weird_calib"] = work / "weird calib.npz"
    np.savez(f["weird_calib"], x=rng.uniform(-1, 1, (16, 6, 6, 1)).astype(np.float32))

    def small(path: Path, shape, *layers):
        i = keras.Input(shape)
        y = i
        for layer in layers:
            y = layer(y)
        keras.Model(i, y).save(path)
        return path

    f["lstm"] = small(work / "lstm.h5", (8,), L.Reshape((2, 4, 1)), L.ConvLSTM1D(3, 2, name="my_lstm"), L.Flatten(),
                      L.Dense(2))
    f["convt"] = small(work / "convt.keras", (4, 4, 1), L.Reshape((4, 4, 1, 1)), L.Conv3D(2, 3, padding="same",
                                                                                         name="upsample"))
    f["lambda"] = small(work / "lambda.h5", (8,), L.Lambda(lambda t: t * 2, name="double"), L.Dense(3))

    f["random_h5"] = work / "random.h5"
    f["random_h5"].write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    f["truncated_h5"] = work / "truncated.h5"
    f["truncated_h5"].write_bytes(DIGITS.read_bytes()[: DIGITS.stat().st_size // 2])
    f["text_keras"] = work / "notes.keras"
    f["text_keras"].write_text("not a model\n")

    x = np.load(CALIB)["x"]
    f["calib_shape"] = work / "shape.npz"
    np.savez(f["calib_shape"], x=x[:4, :4, :4])
    f["calib_dtype"] = work / "strings.npz"
    np.savez(f["calib_dtype"], x=np.full(x[:4].shape, "a"))
    nan = x[:4].copy()
    nan[1, 2, 3, 0] = np.nan
    f["calib_nan"] = work / "nan.npz"
    np.savez(f["calib_nan"], x=nan)
    f["calib_corrupt"] = work / "corrupt.npz"
    f["calib_corrupt"].write_bytes(CALIB.read_bytes()[:300])
    f["calib_missing"] = work / "no such file.npz"

    (work / "a_file").write_text("a regular file\n")
    (work / "taken").mkdir()
    (work / "taken" / "notes.txt").write_text("the user's own files\n")
    (work / "out").mkdir()
    return f


def invocations(f: dict[str, Path], work: Path) -> dict[str, list[str]]:
    d, c = str(DIGITS), str(CALIB)
    return {
        # Good runs.
        **{f"build_{b}": ["build", d, "--board", b, "--calib", c, "-o", f"out/digits-{b}"] for b in CLI_BOARDS},
        "build_weird": ["build", str(f["weird"]), "--board", CLI_BOARDS[0]],  # default -o, no --calib
        "check_json": ["check", d, "--calib", c, "-n", "5", "--json"],
        "check_weird": ["check", str(f["weird"]), "-n", "5"],  # no --calib
        "inspect": ["inspect", d, "--calib", c],
        "inspect_json": ["inspect", str(f["weird"]), "--calib", str(f["weird_calib"]), "--json"],
        "boards": ["boards"],
        # Bad models.
        "model_missing": ["check", str(work / "missing.h5"), "-n", "5"],
        "model_random": ["check", str(f["random_h5"]), "-n", "5"],
        "model_truncated": ["build", str(f["truncated_h5"]), "--board", "uno", "-o", "out/truncated/proj"],
        "model_text": ["inspect", str(f["text_keras"])],
        "layer_lstm": ["build", str(f["lstm"]), "--board", "uno", "-o", "out/lstm/proj"],
        "layer_convt": ["check", str(f["convt"]), "-n", "5"],
        "layer_lambda": ["inspect", str(f["lambda"])],
        # Bad calibration data.
        "calib_shape": ["build", d, "--board", "uno", "--calib", str(f["calib_shape"]), "-o", "out/shape/proj"],
        "calib_dtype": ["check", d, "--calib", str(f["calib_dtype"]), "-n", "5"],
        "calib_nan": ["inspect", d, "--calib", str(f["calib_nan"])],
        "calib_corrupt": ["build", d, "--board", "uno", "--calib", str(f["calib_corrupt"]), "-o", "out/corrupt/proj"],
        "calib_missing": ["check", d, "--calib", str(f["calib_missing"]), "-n", "5"],
        # Bad board, bad output folder.
        "board_unknown": ["build", d, "--board", "esp8266", "-o", "out/board/proj"],
        "out_under_file": ["build", d, "--board", "uno", "--calib", c, "-o", "a_file/sub/proj"],
        "out_not_ours": ["build", d, "--board", "uno", "--calib", c, "-o", "taken"],
    }


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    """Run every invocation once (shared by the pytest-xdist workers)."""
    return run_mcugen_once(tmp_path_factory, "cli", lambda work: invocations(make_inputs(work), work),
                           workers=max(2, min(4, os.cpu_count() or 2)), timeout=300)


@pytest.fixture(scope="module")
def work(shared) -> Path:
    return shared[0]


@pytest.fixture(scope="module")
def runs(shared) -> dict[str, subprocess.CompletedProcess]:
    return shared[1]


def error_line(r: subprocess.CompletedProcess) -> str:
    """The run failed with exactly one line on stderr: the error."""
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mcugen: error: "), r.stderr
    return lines[0]


def quiet_stderr(r: subprocess.CompletedProcess) -> list[str]:
    """stderr holds only mcugen's own lines: no traceback, no TensorFlow log."""
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    for line in lines:
        assert line.startswith("mcugen: "), r.stderr
        assert not any(n in line for n in TF_NOISE), r.stderr
    return lines


def assert_random_calibration_warning(r: subprocess.CompletedProcess) -> None:
    lines = quiet_stderr(r)
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("mcugen: warning:")
    assert "random" in lines[0] and "--calib FILE" in lines[0] and ".npz" in lines[0]


def nothing_left(work: Path, out: str) -> None:
    """A failed build leaves neither the project nor its staging folder nor
    the parent folders it would have made."""
    out_path = work / out
    assert not out_path.exists() and not out_path.parent.exists()
    assert sorted(p.name for p in (work / "out").iterdir() if not p.name.startswith("digits-")) == []
    assert not list(work.glob(".*")), list(work.glob(".*"))


# --------------------------------------------------------------- good runs


@pytest.mark.parametrize("board", CLI_BOARDS)
def test_build(runs, work, board):
    r = runs[f"build_{board}"]
    assert r.returncode == 0, r.stderr
    assert quiet_stderr(r) == []  # real calibration data: no warning
    for word in ("layers", "parameters", "MACs", "weights in flash", "activation arena", "bytes"):
        assert word in r.stdout, r.stdout
    assert "1,898" in r.stdout  # the example's parameter count
    folder = work / "out" / f"digits-{board}"
    assert (folder / "src" / "main.cpp").is_file()
    lib = folder / "lib" / "digits_cnn"
    assert (lib / "digits_cnn.c").is_file() and (lib / "digits_cnn.h").is_file()
    ini = (folder / "platformio.ini").read_text()
    assert f"[env:{board}]" in ini
    assert f"board = {BOARDS[board]['platformio']['board']}" in ini
    umask = os.umask(0)
    os.umask(umask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask  # a normal folder, not mkdtemp's 0700
    assert not [p for p in (work / "out").iterdir() if p.name.startswith(".")]  # no staging left


def test_pio_accepts_every_generated_project(runs, work, prepared, tmp_path):
    """``pio project config`` (offline) accepts the project of every board in
    boards/: those the command line built and one per board written here the
    way ``mcugen build`` writes it."""
    from mcugen.boards import get_board
    from mcugen.emit import render
    from mcugen.project import write_project

    p = prepared[0]
    folders = [work / "out" / f"digits-{b}" for b in CLI_BOARDS] + [work / "build" / f"{WEIRD_STEM}-{CLI_BOARDS[0]}"]
    for name, data in BOARDS.items():
        board = get_board(name)
        cm = render(p.graph, source=DIGITS.name, board=board)
        folder = write_project(tmp_path / name, p.graph, cm, board, p.graph.input.q.quantize(p.calib[:1]))
        ini = (folder / "platformio.ini").read_text()
        assert f"[env:{name}]" in ini and f"board = {data['platformio']['board']}" in ini
        folders.append(folder)
    env = dict(os.environ, PLATFORMIO_SETTING_ENABLE_TELEMETRY="No")

    def config(folder):
        return subprocess.run([pio_cmd(), "project", "config", "-d", str(folder)], capture_output=True, text=True,
                              env=env, timeout=120)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for folder, r in zip(folders, pool.map(config, folders)):
            assert r.returncode == 0, (folder, r.stdout, r.stderr)


def test_boards_lists_every_board_file(runs):
    r = runs["boards"]
    assert r.returncode == 0 and r.stderr == ""
    for name, data in BOARDS.items():
        assert name in r.stdout and data["description"] in r.stdout


def test_build_default_folder_and_odd_names(runs, work):
    """No -o: build/<model stem>-<board>. No --calib: the warning. Layer and
    file names that are not C identifiers become identifiers."""
    r = runs["build_weird"]
    assert r.returncode == 0, r.stderr
    assert_random_calibration_warning(r)
    folder = work / "build" / f"{WEIRD_STEM}-{CLI_BOARDS[0]}"
    libs = list((folder / "lib").iterdir())
    assert [p.name for p in libs] == ["model_2nd_model_v1_0"]
    source = (libs[0] / "model_2nd_model_v1_0.c").read_text(encoding="utf-8")
    weights = re.findall(r"MCG_FLASH (\w+)_w\[", source)
    # One weight array per Conv2D / Dense, each a distinct identifier (the
    # two "dense" names get different ones), none a bare C keyword.
    assert len(weights) == len(set(weights)) == 6, weights
    assert all(w.startswith("model_2nd_model_v1_0_") and w.isascii() for w in weights), weights


def test_check_json(runs):
    r = runs["check_json"]
    assert r.returncode == 0, r.stderr
    assert quiet_stderr(r) == []
    data = json.loads(r.stdout)  # one JSON object, nothing else on stdout
    assert isinstance(data, dict)
    assert data["inputs"] == 5 and data["bit_exact"] == 5
    assert isinstance(data["max_abs_diff"], int) and data["max_abs_diff"] == 0
    assert data["first_mismatch_layer"] is None
    assert isinstance(data["float_agreement"], float) and 0.0 <= data["float_agreement"] <= 1.0
    assert isinstance(data["float_max_abs_err"], float) and data["float_max_abs_err"] >= 0.0


def test_check_text_odd_names_compile_and_are_bit_exact(runs):
    r = runs["check_weird"]
    assert r.returncode == 0, r.stdout + r.stderr  # the C compiled (-Wall -Werror -pedantic) and matched
    assert "bit-exact: 5/5 inputs" in r.stdout.splitlines()
    assert_random_calibration_warning(r)


def test_inspect_table_then_totals(runs):
    r = runs["inspect"]
    assert r.returncode == 0, r.stderr
    assert quiet_stderr(r) == []
    out = r.stdout
    for col in ("layer", "op", "params", "MACs", "scale", "zp"):
        assert col in out
    total = out.index("total: 7 layers, 1,898 parameters")
    for layer in ("conv1", "pool2", "digit_softmax"):  # the example's layers, then the totals
        assert 0 <= out.index(layer) < total


def test_inspect_json(runs):
    r = runs["inspect_json"]
    assert r.returncode == 0, r.stderr
    assert quiet_stderr(r) == []  # --calib given: no warning
    data = json.loads(r.stdout)
    names = [row["name"] for row in data["layers"]]
    assert set(WEIRD_LAYERS) <= set(names), names  # the report keeps the Keras names
    row = data["layers"][0]
    for key in ("name", "op", "params", "macs", "scale", "zero_point", "bytes"):
        assert key in row
    assert data["totals"]["layers"] == len(data["layers"])
    assert data["totals"]["params"] == sum(r["params"] for r in data["layers"])


# ---------------------------------------------------------------- bad input


def test_missing_model(runs):
    line = error_line(runs["model_missing"])
    assert "missing.h5" in line and "not found" in line


@pytest.mark.parametrize("case", ["model_random", "model_truncated", "model_text"])
def test_corrupt_model(runs, work, case):
    line = error_line(runs[case])
    name = {"model_random": "random.h5", "model_truncated": "truncated.h5", "model_text": "notes.keras"}[case]
    assert name in line
    assert "not found" not in line.lower()  # the file is there; it is not a model
    if case == "model_truncated":
        nothing_left(work, "out/truncated/proj")


@pytest.mark.parametrize(
    "case, layer, cls",
    [("layer_lstm", "my_lstm", "ConvLSTM1D"), ("layer_convt", "upsample", "Conv3D"), ("layer_lambda", "double", "Lambda")],
)
def test_unsupported_layer(runs, work, case, layer, cls):
    line = error_line(runs[case])
    assert f"'{layer}' ({cls})" in line
    supported = line.split("supported:", 1)[1]
    for known in ("Conv2D", "Dense", "DepthwiseConv2D", "MaxPooling2D", "Softmax"):
        assert known in supported
    assert cls not in [s.strip() for s in supported.split(",")]
    if case == "layer_lstm":
        nothing_left(work, "out/lstm/proj")


@pytest.mark.parametrize(
    "case, words",
    [
        ("calib_shape", ["shape.npz", "(4, 4, 4, 1)", "(N, 8, 8, 1)"]),
        ("calib_dtype", ["strings.npz", "dtype"]),
        ("calib_nan", ["nan.npz", "NaN"]),
        ("calib_corrupt", ["corrupt.npz", "not a readable .npz"]),
        ("calib_missing", ["no such file.npz", "not found"]),
    ],
)
def test_bad_calibration_data(runs, work, case, words):
    line = error_line(runs[case])
    for w in words:
        assert w in line, line
    if "build" in runs[case].args:
        nothing_left(work, f"out/{case.split('_')[1]}/proj")


def test_unknown_board(runs, work):
    line = error_line(runs["board_unknown"])
    assert "esp8266" in line
    for name in BOARDS:
        assert name in line  # lists the known boards
    nothing_left(work, "out/board/proj")


def test_output_under_a_regular_file(runs, work):
    line = error_line(runs["out_under_file"])
    assert "a_file/sub/proj" in line
    assert (work / "a_file").read_text() == "a regular file\n"
    assert not list(work.glob(".*")) and not list(work.glob(".proj*"))


def test_output_folder_not_ours(runs, work):
    line = error_line(runs["out_not_ours"])
    assert "taken" in line
    assert [p.name for p in (work / "taken").iterdir()] == ["notes.txt"]
    assert not list(work.glob(".taken*"))


# ------------------------------------------------------------- in process


@pytest.mark.parametrize("as_json", [False, True])
def test_check_exit_code_follows_bit_exactness(monkeypatch, as_json):
    """Exit 0 only when every input is bit-exact (a mismatch is simulated)."""
    from click.testing import CliRunner

    import mcugen.check
    from mcugen.check import CheckResult
    from mcugen.cli import main

    def run(exact):
        monkeypatch.setattr(mcugen.check, "run_check", lambda p, n, sanitize: CheckResult(
            inputs=n, bit_exact=exact, max_abs_diff=n - exact, first_mismatch_layer="conv2" if exact < n else None,
            float_agreement=1.0, float_max_abs_err=0.01))
        return CliRunner().invoke(main, ["check", str(DIGITS), "--calib", str(CALIB), "-n", "5"] + ["--json"] * as_json)

    bad, good = run(4), run(5)
    assert (bad.exit_code, good.exit_code) == (1, 0)
    if as_json:
        assert json.loads(bad.stdout)["first_mismatch_layer"] == "conv2"
        assert json.loads(good.stdout)["first_mismatch_layer"] is None
    else:
        assert "bit-exact: 4/5 inputs" in bad.stdout and "conv2" in bad.stdout
        assert "bit-exact: 5/5 inputs" in good.stdout


@pytest.fixture(scope="module")
def prepared():
    from mcugen.boards import get_board
    from mcugen.emit import render
    from mcugen.pipeline import prepare

    p = prepare(DIGITS, CALIB, warn=lambda m: None)
    board = get_board("uno")
    return p, render(p.graph, source=DIGITS.name, board=board), board


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), RuntimeError("bug")])
def test_failure_midway_leaves_nothing(prepared, tmp_path, monkeypatch, exc):
    from mcugen.emit import CModel
    from mcugen.errors import McugenError
    from mcugen.project import write_project

    p, cm, board = prepared

    def failing_write(self, folder):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "half.c").write_text("/* half")
        raise exc

    monkeypatch.setattr(CModel, "write", failing_write)
    with pytest.raises(McugenError if isinstance(exc, OSError) else RuntimeError) as e:
        write_project(tmp_path / "new" / "deeper" / "proj", p.graph, cm, board, p.graph.input.q.quantize(p.calib[:1]))
    if isinstance(exc, OSError):
        assert "No space left on device" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_rebuild_updates_an_mcugen_project(prepared, tmp_path):
    """A rebuild regenerates mcugen's files and keeps the user's (more in
    tests/test_project_update.py)."""
    from mcugen.project import write_project

    p, cm, board = prepared
    x = p.graph.input.q.quantize(p.calib[:1])
    folder = write_project(tmp_path / "proj", p.graph, cm, board, x)
    (folder / "notes.txt").write_text("the user's")
    (folder / "platformio.ini").unlink()
    write_project(tmp_path / "proj", p.graph, cm, board, x)
    assert (folder / "notes.txt").read_text() == "the user's" and (folder / "platformio.ini").is_file()
    assert [q.name for q in tmp_path.iterdir()] == ["proj"]
