"""The Cortex-M target: models cross-compiled with arm-none-eabi-gcc, run on
QEMU's MPS2 machines (Cortex-M3, M4, M7, M33) with -icount, outputs compared
byte for byte with the int8 reference; the reported counts are instructions
(checked against loops of known length); faults are reported, not hung on."""
from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mcugen.boards import get_board
from mcugen.emit import FIRMWARE_FILES
from mcugen.errors import McugenError
from mcugen.resources import firmware_dir
from mcugen.targets import parse_uart
from mcugen.targets.arm import MACHINES, ArmTarget

QEMU_BOARDS = ["qemu_m3", "qemu_m4", "qemu_m7", "qemu_m33"]



@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two small models of the same shape, one with about three times the MACs."""
    import keras
    from keras import layers as L

    from mcugen.pipeline import prepare

    folder = tmp_path_factory.mktemp("arm")
    out = {}
    for name, filters, units in (("small", 3, 4), ("large", 16, 24)):
        keras.utils.set_random_seed(0)
        inp = keras.Input((6, 6, 2))
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(inp)
        x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = L.Flatten()(x)
        x = L.Dense(units, activation="relu")(x)
        y = L.Dense(5, activation="softmax")(x)
        path = folder / f"{name}.h5"
        keras.Model(inp, y, name=name).save(path)
        out[name] = prepare(path, warn=lambda _: None)  # random calibration data
    return out


@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_bit_exact_and_instructions_follow_macs(models, board):
    from mcugen.verify import run_verify

    b = get_board(board)
    small, large = (run_verify(models[k], b, n=8) for k in ("small", "large"))
    for r in (small, large):
        assert r.inputs == 8 and r.bit_exact == 8, r
        assert r.unit == "instructions"
        assert r.simulator == f"qemu {b.simulator['machine']} ({b.core})"
        assert r.count > r.macs > 0  # at least one instruction per multiply-accumulate
        assert 0 < r.stack_bytes < 4096 and 0 < r.flash_bytes < 65536
    assert large.macs > 2 * small.macs
    assert large.count > 1.5 * small.count


class FakeModel:
    """A stand-in for a generated model: `<name>_invoke(in, out)` with the
    given body, one input byte, one output byte."""

    def __init__(self, name: str, body: str):
        self.name, self.body = name, body

    def write(self, folder: Path) -> None:
        n, N = self.name, self.name.upper()
        (folder / f"{n}.h").write_text(f"#include <stdint.h>\n#define {N}_INPUT_SIZE 1\n#define {N}_OUTPUT_SIZE 1\n"
                                       f"void {n}_invoke(const int8_t *in, int8_t *out);\n")
        (folder / f"{n}.c").write_text(f'#include "{n}.h"\nvoid {n}_invoke(const int8_t *in, int8_t *out)\n'
                                       f"{{\n{self.body}\n}}\n")
        for f in FIRMWARE_FILES:
            (folder / f).write_text((firmware_dir() / f).read_text())


def loop_model(iterations: int) -> FakeModel:
    """`subs; bne` per iteration: 2 * iterations instructions in all."""
    return FakeModel("loop", f"""    uint32_t n = {iterations}u;
    __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+l"(n) :: "cc");
    out[0] = in[0];""")


def unaligned_model() -> FakeModel:
    """A 32-bit load from an odd address: fine on a Cortex-M3, a HardFault on
    a Cortex-M0+ (which the M3 reproduces when it runs M0+ code)."""
    return FakeModel("unal", """    static uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    out[0] = (int8_t)*(volatile uint32_t *)(void *)(buf + in[0] + 1);""")


ONE_BYTE = SimpleNamespace(output=SimpleNamespace(shape=(1,)))


@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_count_is_instructions(board):
    """Loops of 2,000 to 2,000,000 instructions read back within one SysTick
    tick (40 instructions, 50 on the AN505) plus the timer reads' own few."""
    target = ArmTarget(get_board(board))
    per_tick = MACHINES[target.machine_name].instructions_per_tick
    assert per_tick == (50 if board == "qemu_m33" else 40)
    for iterations in (1_000, 1_000_000):
        with tempfile.TemporaryDirectory() as d:
            elf = target.compile(Path(d), loop_model(iterations), np.zeros((3, 1), np.int8))
            _, counts, stack, _ = parse_uart(target.simulate(elf), ONE_BYTE)
        for c in counts:
            assert c % per_tick == 0
            assert -per_tick < c - 2 * iterations < per_tick + 40, (iterations, counts)
        assert 0 < stack < 512


def test_m0plus_code_runs_on_the_m3_and_faults_are_reported():
    m0 = ArmTarget(get_board("pico"))  # RP2040: Cortex-M0+
    assert m0.simulator == "qemu mps2-an385 (cortex-m3) running cortex-m0plus code"
    xq = np.zeros((1, 1), np.int8)
    assert ArmTarget(get_board("qemu_m3")).run(ONE_BYTE, unaligned_model(), xq).outputs.shape == (1, 1)
    with pytest.raises(McugenError, match="HardFault"):
        m0.run(ONE_BYTE, unaligned_model(), xq)


def test_a_program_that_never_ends_is_stopped(monkeypatch):
    import mcugen.targets.arm as arm

    monkeypatch.setattr(arm, "SIM_TIMEOUT", 2)
    hang = FakeModel("hang", "    (void)in;\n    (void)out;\n    for (;;) {\n    }")
    with pytest.raises(McugenError, match="did not finish within 2 s"):
        ArmTarget(get_board("qemu_m4")).run(ONE_BYTE, hang, np.zeros((1, 1), np.int8))
