"""16x8 models bit-exact on the simulated boards: TFLM's SEANet models
(``../shared/models/tflm/seanet``, skipped only when absent) with the int32
edges, the int64 requantization (64-bit arithmetic on AVR) and broadcasting,
on simavr (ATmega2560) and QEMU (Cortex-M4, Cortex-M0+'s code on pico), two
inputs each; and the Keras 16x8 cases of the other kernels on both."""
from __future__ import annotations

import pytest

from mcugen.boards import get_board
from mcugen.pipeline import prepare
from mcugen.verify import run_verify
from skip_policy import skip_unless_data
from test_seanet import SEANET

# (model, boards): the ATmega2560's 8 KiB of SRAM holds the smaller ones only.
SEANET_RUNS = [(m, b) for m, boards in [
    ("transpose_conv/transpose_conv4", ("qemu_m4", "pico")),
    ("sub/sub0", ("qemu_m4", "pico")),
    ("quantize/quantize0", ("mega2560", "qemu_m4", "pico")),
    ("quantize/quantize1", ("mega2560", "qemu_m4", "pico")),
    ("conv/conv15", ("mega2560", "qemu_m4", "pico")),
    ("add/add0", ("mega2560",)),
    ("leaky_relu/leaky_relu10", ("mega2560",)),
] for b in boards]


def bit_exact(p, board: str) -> None:
    r = run_verify(p, get_board(board), n=2, force=True)
    assert r.inputs == r.bit_exact == 2, \
        f"{board}: {r.bit_exact}/{r.inputs}, first differing layer {r.first_mismatch_layer}"


@skip_unless_data(SEANET)
@pytest.mark.parametrize("model, board", SEANET_RUNS)
def test_seanet_bit_exact_on_targets(model, board):
    bit_exact(prepare(SEANET / f"{model}.tflite", None, warn=lambda m: None), board)


@pytest.mark.parametrize("board", ["mega2560", "qemu_m4"])
@pytest.mark.parametrize("case", ["dense_relu", "depthwise_dm2_s2", "avgpool2d_same", "concat", "mul", "dense_softmax"])
def test_16x8_keras_cases_bit_exact_on_targets(case, board, keras, tmp_path):
    import test_16x8

    test_16x8.L = keras.layers
    path = tmp_path / f"{case}.tflite"
    path.write_bytes(test_16x8.convert_16x8(keras, case))
    bit_exact(prepare(path, None, warn=lambda m: None), board)
