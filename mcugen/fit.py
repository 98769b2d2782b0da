"""Does the model fit the board? Measured from a linked ELF when the board's
cross compiler is installed, estimated (and labelled so) only when it is not.

The probe links the generated model with a minimal main (static input and
output buffers, one call) using the board's flags and --gc-sections, reads
flash (.text + .data) and static RAM (.data + .bss) with `size`, and takes the
stack from GCC's -fstack-usage: the invoke function's frame plus the deepest
kernel frame (kernels are leaves; the requantize helpers are inlined). That
firmware is "the model alone" (FIRMWARE): the figure `build` and `verify`
report as the model's; PlatformIO's own figure adds the Arduino framework and
src/main.cpp, which the board file's reserve budgets.

A link that fails is never turned into an estimate: the linker running out
of a memory region (flash or static RAM) is a "does not fit" with its figure,
any other failure a build error. AVR has two more limits, checked before linking: avr-gcc refuses
one array over 32,767 bytes, and the kernels read constants with near LPM
loads, which reach the first 64 KiB of flash only (the ATmega2560 has 256)."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .boards import Board
from .emit import CModel
from .errors import McugenError
from .ir import Graph
from .limits import shown

FIRMWARE = "the model alone: generated C + mcugen runtime + a minimal main with the input and output buffers"
AVR_MAX_ARRAY = 32_767  # bytes: avr-gcc's limit on one object
AVR_NEAR_FLASH = 65_536  # bytes of flash that LPM (pgm_read_*) reaches

PROBE = """#include <stdint.h>
#include "%(name)s.h"
%(buffers)s
volatile int8_t probe_sink;
int main(void)
{
    %(call)s;
    probe_sink = %(sink)s;
    for (;;) {
    }
}
"""


def probe_source(cm: CModel) -> str:
    """A minimal main: one static buffer per input and per output, one call."""
    ins = [f"probe_in{k}" for k in range(len(cm.input_sizes))]
    outs = [f"probe_out{k}" for k in range(len(cm.output_sizes))]
    buffers = "\n".join(f"static int8_t {b}[{n}];" for b, n in zip(ins + outs, cm.input_sizes + cm.output_sizes))
    sink = " ^ ".join(f"{b}[0]" for b in outs)
    return PROBE % {"name": cm.name, "buffers": buffers, "call": f"{cm.name}_invoke({', '.join(ins + outs)})",
                    "sink": f"(int8_t)({sink})" if len(outs) > 1 else sink}


# Without a cross compiler: bytes of code per distinct kernel, and a stack guess.
CODE_PER_KERNEL = {"avr": 700, "arm": 400}
STACK_GUESS = {"avr": 96, "arm": 256}
STACK_MARGIN = 32


@dataclass
class Fit:
    board: str
    measured: bool  # True: from a linked ELF; False: an estimate
    flash_bytes: int
    sram_bytes: int  # static RAM of model, buffers and runtime
    stack_bytes: int
    flash_budget: int
    sram_budget: int
    largest: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)  # limits other than the budgets the model breaks
    how: str = ""  # what the figures are: "linked ELF (...)" or "estimate: ..."
    firmware: str = FIRMWARE

    @property
    def ram_total(self) -> int:
        return self.sram_bytes + self.stack_bytes

    @property
    def fits(self) -> bool:
        return not self.limits and self.flash_bytes <= self.flash_budget and self.ram_total <= self.sram_budget

    def problems(self) -> list[str]:
        out = list(self.limits)
        if self.flash_bytes > self.flash_budget:
            out.append(f"flash: needs {self.flash_bytes:,} bytes, {self.flash_bytes - self.flash_budget:,} over the "
                       f"{self.flash_budget:,} the board leaves for the model")
        if self.ram_total > self.sram_budget:
            out.append(f"SRAM: needs {self.ram_total:,} bytes ({self.sram_bytes:,} static + {self.stack_bytes:,} stack), "
                       f"{self.ram_total - self.sram_budget:,} over the {self.sram_budget:,} the board leaves for the model")
        return out

    def to_json(self) -> dict:
        d = asdict(self)
        d["fits"] = self.fits
        return d


def _culprits(g: Graph, cm: CModel) -> list[str]:
    tensors = sorted(cm.plan.buffers, key=lambda b: -b.size)[:3]
    layers = sorted(g.ops, key=lambda op: -sum(a.nbytes for a in op.constants()))[:3]
    return [f"tensor {shown(b.tensors[0])[:60]!r} {b.size:,} B" for b in tensors] + [
        f"layer {shown(op.name)[:60]!r} {sum(a.nbytes for a in op.constants()):,} B of constants"
        for op in layers if op.constants()
    ]


def _stack_usage(folder: Path, name: str) -> int | None:
    frames: dict[str, int] = {}
    for su in folder.glob("*.su"):
        for line in su.read_text(errors="replace").splitlines():
            m = re.match(r".*:(\w+)\s+(\d+)\s+(\w+)", line)
            if m:
                frames[m.group(1)] = max(frames.get(m.group(1), 0), int(m.group(2)))
    if f"{name}_invoke" not in frames:
        return None
    kernels = [v for k, v in frames.items() if k.startswith("mcg_")]
    return frames.get("main", 0) + frames[f"{name}_invoke"] + max(kernels, default=0) + STACK_MARGIN


def avr_limits(g: Graph, cm: CModel, board: Board) -> list[str]:
    """What avr-gcc and near flash reads cannot take, before any link."""
    if board.arch != "avr":
        return []
    out = []
    big = [(op, a) for op in g.ops for a in op.constants() if a.nbytes > AVR_MAX_ARRAY]
    for op, a in big[:3]:
        out.append(f"layer {shown(op.name)[:60]!r}: its {a.suffix!r} array holds {a.nbytes:,} bytes; avr-gcc refuses "
                   f"one array over {AVR_MAX_ARRAY:,} bytes")
    if board.flash_bytes > AVR_NEAR_FLASH and cm.flash_bytes > AVR_NEAR_FLASH - 1024:
        out.append(f"constants: {cm.flash_bytes:,} bytes, beyond the first 64 KiB of flash that the AVR kernels "
                   "read (near LPM loads; far reads are not implemented)")
    return out


# GNU ld's words for an image larger than a memory region: "region `FLASH'
# overflowed by N bytes" (arm-none-eabi), "will not fit in region", and
# avr-ld's "address 0x801297 of x.elf section `.bss' is not within region
# `data'" when static RAM overflows.
LINK_OVERFLOW = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes|will not fit in region|"
                           r"is not within region")


def first_error(text: str, folder: Path | None = None, limit: int = 300) -> str:
    """The line of a compiler or linker's output that says what went wrong,
    without the temporary folder's path."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    pick = next((ln for ln in lines if "error" in ln.lower() or "overflowed" in ln or "will not fit" in ln
                 or "undefined reference" in ln), lines[0] if lines else "no output")
    if folder is not None:
        pick = pick.replace(str(folder) + "/", "")
    return shown(pick)[:limit]


def check_fit(g: Graph, cm: CModel, board: Board) -> Fit:
    cc, size = shutil.which(board.toolchain["cc"]), shutil.which(board.toolchain["size"])
    fit = Fit(board.name, False, 0, 0, 0, board.flash_budget, board.sram_budget, _culprits(g, cm),
              avr_limits(g, cm, board))
    if not (cc and size):
        missing = board.toolchain["cc"] if not cc else board.toolchain["size"]
        fit.how = f"estimate: {missing} not installed"
        fit.flash_bytes = cm.flash_bytes + CODE_PER_KERNEL.get(board.arch, 600) * len(cm.kernels) + 512
        fit.sram_bytes = cm.plan.arena_size + cm.input_size + cm.output_size
        fit.stack_bytes = STACK_GUESS.get(board.arch, 128)
        return fit
    if fit.limits:  # avr-gcc would refuse it: say why instead of linking
        fit.how = f"not linked: {board.toolchain['cc']} cannot build it"
        fit.flash_bytes = cm.flash_bytes
        fit.sram_bytes = cm.plan.arena_size + cm.input_size + cm.output_size
        return fit
    with tempfile.TemporaryDirectory(prefix="mcugen-fit-") as d:
        folder = Path(d)
        cm.write(folder)
        (folder / "mcg_probe.c").write_text(probe_source(cm))
        # newlib-nano, as the harness and the Cortex-M frameworks link: full newlib's
        # reentrancy data would add ~0.8 KB of static RAM that is not the model's.
        extra = ["--specs=nano.specs", "--specs=nosys.specs"] if board.arch == "arm" else []
        cmd = [cc, *board.toolchain["cflags"], "-std=c99", "-ffunction-sections", "-fdata-sections",
               "-fstack-usage", "-Wl,--gc-sections", *extra, "-I", str(folder),
               "mcg_probe.c", f"{cm.name}.c", "-o", "mcg_probe.elf"]
        r = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
        overflow = r.returncode != 0 and bool(LINK_OVERFLOW.search(r.stderr))
        if overflow:
            # The image overflows the MCU's own memory: link it anyway
            # (--noinhibit-exec) to measure by how much.
            r = subprocess.run(cmd[:-2] + ["-Wl,--noinhibit-exec"] + cmd[-2:], cwd=folder, capture_output=True,
                               text=True)
        if r.returncode != 0:
            raise McugenError(f"{board.toolchain['cc']} could not build the model for {board.name}: "
                              f"{first_error(r.stderr, folder)}")
        out = subprocess.run([size, "-B", "mcg_probe.elf"], cwd=folder, capture_output=True, text=True)
        if out.returncode != 0 or len(out.stdout.splitlines()) < 2:
            raise McugenError(f"{board.toolchain['size']} could not read the linked model: {first_error(out.stderr)}")
        text, data, bss = (int(v) for v in out.stdout.splitlines()[1].split()[:3])
        stack = _stack_usage(folder, cm.name)
        fit.measured, fit.flash_bytes, fit.sram_bytes = True, text + data, data + bss
        fit.how = f"linked ELF, {board.toolchain['cc']}" + ("; it overflows the MCU's memory" if overflow else "")
        if stack is None:
            fit.stack_bytes = STACK_GUESS.get(board.arch, 128)
            fit.how += "; stack estimated (no -fstack-usage figure)"
        else:
            fit.stack_bytes = stack
        return fit
