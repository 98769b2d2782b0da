"""Cortex-M: arm-none-eabi-gcc + newlib (for memcpy/memset and libgcc only),
the bare-metal harness, QEMU's MPS2 machines with ``-icount shift=0``.

What the count means. QEMU does not model cycles. With ``-icount shift=0``
every guest instruction advances the virtual clock by exactly 1 ns, and
SysTick, clocked from the processor clock (25 MHz of virtual time on QEMU
7.2's AN385, AN386 and AN500, 20 MHz on the AN505), ticks every 40 (50)
instructions. The harness times each inference with SysTick as it would on a
chip and reports ticks x 40 (x 50): the number of instructions the core
executed, every instruction counting one whatever its kind (a load, a
multiply, a taken branch alike; IT and the conditional instructions it skips
too; exception entry costs none). Deterministic from run to run; resolution
one tick: the count is a multiple of 40 (50) within 40 (50) of the exact
number, which includes the few instructions of the call and the timer reads.
tests/test_target_arm.py checks it against counted loops of 2,000 and
2,000,000 instructions (measured: 2,000,000 reads back as 2,000,000 or
2,000,040). It is not a cycle count: on silicon, loads, taken branches,
multiplies on some cores and flash wait states take extra cycles, and the M7
can issue two instructions at once.

A board's [simulator] machine picks the QEMU machine; a core QEMU does not
model (Cortex-M0+: no MPS2 image in QEMU 7.2) runs on the nearest machine
whose core executes its instruction set (ARMv6-M is a subset of ARMv7-M), with
unaligned accesses made to fault (CCR.UNALIGN_TRP) as they would on the
ARMv6-M core; TargetRun.simulator says so ("qemu mps2-an385 (cortex-m3)
running cortex-m0plus code"). The instructions counted are the M0+ binary's own."""
from __future__ import annotations

import os
import re
import selectors
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..boards import Board
from ..emit import CModel
from ..errors import McugenError
from ..ir import Graph
from ..resources import firmware_dir
from . import (TargetRun, elf_size, hook_defines, model_sources, packed_inputs, parse_timing, parse_uart, tool,
               vectors_header)

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]
LDFLAGS = ["-Wl,--gc-sections", "-nostartfiles", "--specs=nano.specs"]
ICOUNT_SHIFT = 0  # 2**shift ns of virtual time per instruction
SIM_TIMEOUT = 600  # seconds: a hard limit on one QEMU run
EXIT_GRACE = 5  # seconds QEMU may take to exit after the harness printed "E"


@dataclass(frozen=True)
class Machine:
    """A QEMU machine the harness runs on (addresses checked with `info mtree`
    in QEMU 7.2)."""

    core: str  # the core QEMU models
    linker_script: str  # in firmware/harness/
    uart_base: int  # CMSDK APB UART0, as the harness (running Secure on the AN505) sees it
    clock_hz: int  # SysTick's processor clock in virtual time

    @property
    def instructions_per_tick(self) -> int:
        ns_per_tick, rem = divmod(1_000_000_000, self.clock_hz)
        assert rem == 0 and ns_per_tick % (1 << ICOUNT_SHIFT) == 0
        return ns_per_tick >> ICOUNT_SHIFT


MACHINES = {
    "mps2-an385": Machine("cortex-m3", "arm_mps2.ld", 0x40004000, 25_000_000),
    "mps2-an386": Machine("cortex-m4", "arm_mps2.ld", 0x40004000, 25_000_000),
    "mps2-an500": Machine("cortex-m7", "arm_mps2.ld", 0x40004000, 25_000_000),
    "mps2-an505": Machine("cortex-m33", "arm_mps2_an505.ld", 0x50200000, 20_000_000),
}

# Instruction-set level of each core: code for one runs on any core of the
# same or a higher level (v6-M < v7-M < v7E-M (DSP) < v8-M Mainline with DSP).
CORE_LEVEL = {"cortex-m0": 0, "cortex-m0plus": 0, "cortex-m1": 0, "cortex-m3": 1, "cortex-m4": 2,
              "cortex-m7": 2, "cortex-m33": 3}
# The machine for a core when the board file names none: the lowest that runs it.
DEFAULT_MACHINE = {"cortex-m0": "mps2-an385", "cortex-m0plus": "mps2-an385", "cortex-m1": "mps2-an385",
                   "cortex-m3": "mps2-an385", "cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500",
                   "cortex-m33": "mps2-an505"}

END_LINE = re.compile(rb"^E\r?$", re.M)
FAULT_LINE = re.compile(r"^F (\d+)\r?$", re.M)
EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage", 5: "BusFault", 6: "UsageFault", 7: "SecureFault",
              11: "SVCall", 12: "DebugMonitor", 14: "PendSV"}


class ArmTarget:
    unit = "instructions"
    packages = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"

    def __init__(self, board: Board):
        self.board = board
        name = board.simulator.get("machine") or DEFAULT_MACHINE.get(board.core)
        if name not in MACHINES:
            raise McugenError(f"board {board.name}: no QEMU machine for core {board.core!r}"
                              f" (simulator machine {name!r}); known: {', '.join(MACHINES)}")
        self.machine_name = name
        self.machine = MACHINES[name]
        if CORE_LEVEL.get(board.core, 99) > CORE_LEVEL[self.machine.core]:
            raise McugenError(f"board {board.name}: {name} ({self.machine.core}) cannot run {board.core} code")

    @property
    def resolution(self) -> int:
        """Every count is a whole number of SysTick ticks: this many instructions."""
        return self.machine.instructions_per_tick

    @property
    def simulator(self) -> str:
        s = f"qemu {self.machine_name} ({self.machine.core})"
        return s if self.board.core == self.machine.core else f"{s} running {self.board.core} code"

    def compile(self, folder: Path, cm: CModel, xq: np.ndarray, trace: bool = False,
                timing_layers: int = 0) -> Path:
        """trace: print every layer's output; timing_layers: time each of that many layers."""
        cc = tool(self.board.toolchain["cc"], self.packages)
        cm.write(folder)
        (folder / "mcg_vectors.h").write_text(vectors_header(cm, xq))
        harness = firmware_dir() / "harness"
        m = self.machine
        defines = [f"-DMCG_UART_BASE={m.uart_base:#x}u", f"-DMCG_UART_BAUDDIV={m.clock_hz // 115200}u",
                   f"-DMCG_COUNT_PER_TICK={m.instructions_per_tick}u", "-DMCG_SEMIHOSTING_EXIT"]
        if CORE_LEVEL.get(self.board.core) == 0 < CORE_LEVEL[m.core]:
            defines.append("-DMCG_TRAP_UNALIGNED")  # a v7-M core behaving as a v6-M one would
        elf = folder / "model.elf"
        cmd = [cc, *self.board.toolchain["cflags"], *CFLAGS, *LDFLAGS, "-T", m.linker_script, "-L", str(harness),
               "-I", str(folder), "-I", str(harness), *defines, *hook_defines(trace, timing_layers),
               str(harness / "arm_main.c"), str(harness / "arm_startup.c"), *model_sources(folder), "-o", str(elf)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            from ..fit import first_error

            raise McugenError(f"{Path(cc).name} could not build the test firmware: {first_error(r.stderr, folder)}")
        return elf

    def simulate(self, elf: Path) -> str:
        """Run the ELF to its end: QEMU exits on the harness's semihosting
        SYS_EXIT; it is killed if it lingers after the "E" line, and after
        SIM_TIMEOUT seconds whatever happens."""
        qemu = tool("qemu-system-arm", self.packages)
        cmd = [qemu, "-M", self.machine_name, "-nographic", "-icount", f"shift={ICOUNT_SHIFT}",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = bytearray()
        ended = False
        deadline = time.monotonic() + SIM_TIMEOUT
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        if ended:
                            break  # the harness finished; QEMU did not exit
                        raise McugenError(f"qemu did not finish within {SIM_TIMEOUT} s; it printed:"
                                          f" {out.decode(errors='replace').strip()[-400:]!r}")
                    if not sel.select(left):
                        continue
                    chunk = os.read(proc.stdout.fileno(), 1 << 16)
                    if not chunk:
                        break  # QEMU exited
                    out += chunk
                    if not ended and END_LINE.search(out):
                        ended = True
                        deadline = min(deadline, time.monotonic() + EXIT_GRACE)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
        return out.decode(errors="replace")

    def run(self, g: Graph, cm: CModel, xq, trace: bool = False, timing: bool = False) -> TargetRun:
        """Run on ``xq``: one int8 batch per model input, or the packed vectors."""
        xq = packed_inputs(g, xq)
        with tempfile.TemporaryDirectory(prefix="mcugen-arm-") as d:
            elf = self.compile(Path(d), cm, xq, trace, len(g.ops) if timing else 0)
            flash, sram = elf_size(tool(self.board.toolchain["size"], self.packages), elf)
            text = self.simulate(elf)
            fault = FAULT_LINE.search(text)
            if fault:
                n = int(fault.group(1))
                before = text[: fault.start()][-300:]
                raise McugenError(f"the program faulted on {self.simulator}: exception {n}"
                                  f" ({EXCEPTIONS.get(n, 'unexpected')}) after printing {before!r}")
            outputs, counts, stack, layers = parse_uart(text, g)
            timed = parse_timing(text, len(g.ops), self.resolution, counts[0]) if timing else None
        return TargetRun(outputs, counts, self.unit, flash, sram, stack, self.simulator, layers, timed)
