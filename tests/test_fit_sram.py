"""Static RAM over an AVR board's is "does not fit" with the figure, as flash
is: avr-ld reports it as "address 0x801297 of mcg_probe.elf section `.bss' is
not within region `data'" (no "overflowed by"), which must never surface as
"avr-gcc could not build the model"."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from mcugen.cli import main


@pytest.mark.parametrize("board, shape, sram", [
    ("uno", (20, 20, 3), 2_048),  # input 1,200 B + conv output 3,200 B
    ("mega2560", (40, 40, 4), 8_192),  # 6,400 B + 12,800 B (each array under avr-gcc's 32,767 B)
])
def test_sram_overflow_does_not_fit_with_the_figure(keras, tmp_path, board, shape, sram):
    L = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape), L.Conv2D(8, 3, padding="same"), L.GlobalAveragePooling2D(),
                              L.Dense(4)], name="wide")
    path = tmp_path / "wide.h5"
    model.save(path)
    out = tmp_path / "proj"
    r = CliRunner().invoke(main, ["build", str(path), "--board", board, "-o", str(out)])
    errors = [ln for ln in r.output.splitlines() if ln.startswith("mcugen: error:")]
    assert r.exit_code == 1 and len(errors) == 1, r.output
    line = errors[0]
    assert f"does not fit {board}" in line and "SRAM" in line and "over" in line, line
    assert "could not build" not in line and "collect2" not in line, line
    needed = int(line.split("SRAM ")[1].split(" B")[0].replace(",", ""))
    assert needed > sram, line  # the linked figure, over the whole chip's SRAM
    assert not out.exists()
