"""Does the model fit the board? Measured from a linked ELF when the board's
cross compiler is installed, estimated (and labelled so) when it is not.

The probe links the generated model with a minimal main (static input and
output buffers, one call) using the board's flags and --gc-sections, reads
flash (.text + .data) and static RAM (.data + .bss) with `size`, and takes the
stack from GCC's -fstack-usage: the invoke function's frame plus the deepest
kernel frame (kernels are leaves; the requantize helpers are inlined)."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .boards import Board
from .emit import CModel
from .ir import Graph

PROBE = """#include <stdint.h>
#include "%(name)s.h"
static int8_t probe_in[%(NAME)s_INPUT_SIZE];
static int8_t probe_out[%(NAME)s_OUTPUT_SIZE];
volatile int8_t probe_sink;
int main(void)
{
    %(name)s_invoke(probe_in, probe_out);
    probe_sink = probe_out[0];
    for (;;) {
    }
}
"""
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

    @property
    def ram_total(self) -> int:
        return self.sram_bytes + self.stack_bytes

    @property
    def fits(self) -> bool:
        return self.flash_bytes <= self.flash_budget and self.ram_total <= self.sram_budget

    def problems(self) -> list[str]:
        out = []
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
    return [f"tensor {b.tensors[0]!r} {b.size:,} B" for b in tensors] + [
        f"layer {op.name!r} {sum(a.nbytes for a in op.constants()):,} B of constants" for op in layers if op.constants()
    ]


def _stack_usage(folder: Path, name: str) -> int | None:
    frames: dict[str, int] = {}
    for su in folder.glob("*.su"):
        for line in su.read_text().splitlines():
            m = re.match(r".*:(\w+)\s+(\d+)\s+(\w+)", line)
            if m:
                frames[m.group(1)] = max(frames.get(m.group(1), 0), int(m.group(2)))
    if f"{name}_invoke" not in frames:
        return None
    kernels = [v for k, v in frames.items() if k.startswith("mcg_")]
    return frames.get("main", 0) + frames[f"{name}_invoke"] + max(kernels, default=0) + STACK_MARGIN


def check_fit(g: Graph, cm: CModel, board: Board) -> Fit:
    cc, size = shutil.which(board.toolchain["cc"]), shutil.which(board.toolchain["size"])
    fit = Fit(board.name, False, 0, 0, 0, board.flash_budget, board.sram_budget, _culprits(g, cm))
    if cc and size:
        with tempfile.TemporaryDirectory(prefix="mcugen-fit-") as d:
            folder = Path(d)
            cm.write(folder)
            (folder / "mcg_probe.c").write_text(PROBE % {"name": cm.name, "NAME": cm.name.upper()})
            extra = ["--specs=nosys.specs"] if board.arch == "arm" else []
            cmd = [cc, *board.toolchain["cflags"], "-std=c99", "-ffunction-sections", "-fdata-sections",
                   "-fstack-usage", "-Wl,--gc-sections", *extra, "-I", str(folder),
                   "mcg_probe.c", f"{cm.name}.c", "-o", "mcg_probe.elf"]
            r = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
            stack = _stack_usage(folder, cm.name) if r.returncode == 0 else None
            if r.returncode == 0 and stack is not None:
                out = subprocess.run([size, "-B", "mcg_probe.elf"], cwd=folder, capture_output=True, text=True, check=True)
                text, data, bss = (int(v) for v in out.stdout.splitlines()[1].split()[:3])
                fit.measured, fit.flash_bytes, fit.sram_bytes, fit.stack_bytes = True, text + data, data + bss, stack
                return fit
    fit.flash_bytes = cm.flash_bytes + CODE_PER_KERNEL.get(board.arch, 600) * len(cm.kernels) + 512
    fit.sram_bytes = cm.plan.arena_size + g.input.size + g.output.size
    fit.stack_bytes = STACK_GUESS.get(board.arch, 128)
    return fit
