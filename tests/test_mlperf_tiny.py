"""The MLPerf Tiny reference models (../shared/models/mlperf-tiny, data only,
never committed; MCUGEN_MLPERF_DIR points elsewhere): every .h5 and .tflite
file loads, its generated C is bit-exact with the int8 reference (under
ASan/UBSan) on a few inputs, a .tflite matches TFLM and LiteRT layer by layer
(``compare``'s target), and each builds into a project for a real board whose
linked ELF fits. Skipped only when the folder is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from skip_policy import skip_unless_data

ROOT = Path(__file__).resolve().parents[1]
MLPERF = Path(os.environ.get("MCUGEN_MLPERF_DIR", ROOT.parent / "shared" / "models" / "mlperf-tiny"))
FILES = sorted(p.name for p in MLPERF.glob("*") if p.suffix in (".h5", ".tflite")) if MLPERF.is_dir() else []
BOARD = "nano33ble"  # Cortex-M4, 1 MB flash, 256 KB SRAM: holds each of them
N = 3

pytestmark = [
    skip_unless_data(MLPERF),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def test_the_folder_has_both_kinds():
    assert any(f.endswith(".h5") for f in FILES) and any(f.endswith(".tflite") for f in FILES), FILES


@pytest.mark.parametrize("name", FILES or ["none"])
def test_loads_checks_bit_exact_and_builds(name, tmp_path):
    from mcugen.boards import get_board
    from mcugen.check import run_check
    from mcugen.compare import run_compare
    from mcugen.emit import render
    from mcugen.fit import check_fit
    from mcugen.pipeline import prepare
    from mcugen.project import write_project

    p = prepare(MLPERF / name, None, warn=lambda m: None)
    r = run_check(p, n=N, sanitize=True)
    assert r.bit_exact == r.inputs == N, r.first_mismatch_layer
    if name.endswith(".tflite"):
        c = run_compare(p, n=N, sanitize=False)
        assert c.ok and not c.unchecked, c.notes
        # TFLM runs every one of these files: its bytes, not only compare's verdict.
        tflm = c.oracles["tflm"]
        assert tflm.inputs == N and tflm.identical_bytes_ratio == 1.0, (tflm.identical_bytes_ratio, c.notes)
    board = get_board(BOARD)
    cm = render(p.graph, source=name, board=board)
    fit = check_fit(p.graph, cm, board)
    assert fit.measured and fit.fits, fit.problems()
    proj = write_project(tmp_path / "proj", p.graph, cm, board, p.graph.input.q.quantize(p.calib[:2]))
    assert (proj / "platformio.ini").is_file() and (proj / "lib" / cm.name / f"{cm.name}.c").is_file()
