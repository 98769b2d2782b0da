"""The MLPerf Tiny models (../shared/models/mlperf-tiny, or MCUGEN_MLPERF_DIR)
built from their .tflite and run bit-exact on the Cortex-M kernel families:
arm_dsp (qemu_m4), arm_v7m (qemu_m3) and arm_v6m (pico's code), two inputs
each. Skipped only when the folder is absent. (Speed is measured by
`mcugen verify`, not here.)"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcugen.boards import get_board
from skip_policy import skip_unless_data
from mcugen.pipeline import prepare
from mcugen.verify import run_verify

ROOT = Path(__file__).resolve().parents[1]
MLPERF = Path(os.environ.get("MCUGEN_MLPERF_DIR", ROOT.parent / "shared" / "models" / "mlperf-tiny"))
MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]


@skip_unless_data(MLPERF)
@pytest.mark.parametrize("board", ["qemu_m4", "qemu_m3", "pico"])
@pytest.mark.parametrize("model", MODELS)
def test_mlperf_tiny_bit_exact(model, board):
    r = run_verify(prepare(MLPERF / f"{model}.tflite"), get_board(board), n=2)
    assert r.inputs == r.bit_exact == 2, f"{model} on {board}: {r.bit_exact}/{r.inputs}, first differing layer {r.first_mismatch_layer}"
