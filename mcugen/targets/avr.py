"""AVR: avr-gcc + avr-libc, the bare-metal harness, simavr (cycle-exact)."""
from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..boards import Board
from ..emit import CModel
from ..errors import McugenError
from ..ir import Graph
from ..resources import firmware_dir
from . import (ANSI, TargetRun, elf_size, hook_defines, model_sources, packed_inputs, parse_timing, parse_uart,
               tool, vectors_header)

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]
LDFLAGS = ["-Wl,--gc-sections"]
SIM_TIMEOUT = 600


class AvrTarget:
    unit = "cycles"
    resolution = 1  # Timer1 at the CPU clock: cycle-exact
    packages = "gcc-avr avr-libc simavr"

    def __init__(self, board: Board):
        self.board = board
        self.machine = board.simulator.get("machine", board.mcu)

    def compile(self, folder: Path, cm: CModel, xq: np.ndarray, trace: bool = False,
                timing_layers: int = 0) -> Path:
        """trace: print every layer's output; timing_layers: time each of that many layers."""
        cc = tool(self.board.toolchain["cc"], self.packages)
        cm.write(folder)
        (folder / "mcg_vectors.h").write_text(vectors_header(cm, xq))
        elf = folder / "model.elf"
        harness = firmware_dir() / "harness"
        cmd = [cc, *self.board.toolchain["cflags"], *CFLAGS, *LDFLAGS, "-I", str(folder), "-I", str(harness),
               *hook_defines(trace, timing_layers), str(harness / "avr_main.c"), *model_sources(folder),
               "-o", str(elf)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            from ..fit import first_error

            raise McugenError(f"{Path(cc).name} could not build the test firmware: {first_error(r.stderr, folder)}")
        return elf

    def simulate(self, elf: Path) -> str:
        sim = tool("simavr", self.packages)
        try:
            r = subprocess.run([sim, "-m", self.machine, "-f", str(self.board.clock_hz), str(elf)],
                               capture_output=True, text=True, timeout=SIM_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise McugenError(f"simavr did not finish within {SIM_TIMEOUT} s") from None
        return unwrap_simavr(r.stdout + r.stderr)


    def run(self, g: Graph, cm: CModel, xq, trace: bool = False, timing: bool = False) -> TargetRun:
        """Run on ``xq``: one int8 batch per model input, or the packed vectors."""
        xq = packed_inputs(g, xq)
        with tempfile.TemporaryDirectory(prefix="mcugen-avr-") as d:
            elf = self.compile(Path(d), cm, xq, trace, len(g.ops) if timing else 0)
            flash, sram = elf_size(tool(self.board.toolchain["size"], self.packages), elf)
            text = self.simulate(elf)
            outputs, counts, stack, layers = parse_uart(text, g)
            timed = parse_timing(text, len(g.ops), self.resolution, counts[0]) if timing else None
        return TargetRun(outputs, counts, self.unit, flash, sram, stack, f"simavr {self.machine}", layers, timed)


def unwrap_simavr(text: str) -> str:
    """simavr echoes the UART in coloured chunks: a newline sent by the program
    shows as '.' plus a line break, and a long line is broken wherever its
    buffer filled. Return what the program actually sent."""
    text = ANSI.sub("", text).replace("\r", "")
    text = "\n".join(ln for ln in text.split("\n") if not re.match(r"Loaded \d+ \.\w+", ln))
    return text.replace(".\n", "\0").replace("\n", "").replace("\0", "\n")
