"""Running the generated C on a target instruction set: cross-compile with the
board's toolchain and a bare-metal harness (firmware/harness/), run in an
instruction-set simulator, read outputs and counts from the UART.

Each architecture is one module (``avr.py``, ``arm.py``) exposing a Target."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..boards import Board
from ..emit import CModel, c_values
from ..errors import McugenError
from ..ir import Graph

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Timing:
    """What a timing build reports for its first inference (the harness's
    "H", "T" and "R" lines, in the target's unit)."""

    layers: list[int]  # per layer: timer difference since the previous layer's stamp
    rest: int  # after the last layer's stamp: the output copy, the return
    stamps: int  # how many back-to-back stamps the harness timed (64 on Cortex-M, 8 on AVR)
    stamps_count: int  # their count (plus one timer read)
    timer_read: int  # one timer read
    resolution: int  # every count is a multiple of this (1 on AVR, 40 or 50 under QEMU)

    @property
    def stamp_cost(self) -> float:
        """What one stamp (a timer read and a store) adds to a layer's count."""
        return max(self.stamps_count - self.timer_read, 0) / self.stamps


@dataclass
class TargetRun:
    all_outputs: list[np.ndarray]  # per model output: (N, *output shape) int8
    counts: list[int]  # per inference, in `unit`
    unit: str  # "cycles" or "instructions"
    flash_bytes: int
    sram_bytes: int  # static: .data + .bss
    stack_bytes: int  # measured peak (painted stack)
    simulator: str  # what ran it, e.g. "simavr atmega328p"
    layers: dict[int, np.ndarray] = field(default_factory=dict)  # trace builds: layer -> bytes
    timing: Timing | None = None  # timing builds

    @property
    def outputs(self) -> np.ndarray:
        """The output of a one-output model."""
        if len(self.all_outputs) != 1:
            raise ValueError(f"the model has {len(self.all_outputs)} outputs: use all_outputs")
        return self.all_outputs[0]


def packed_inputs(g, xq) -> np.ndarray:
    """The test vectors as the harness reads them: per sample, every input
    one after another (``xq``: one batch per input, or a packed array)."""
    if isinstance(xq, (list, tuple)):
        from ..host import pack_inputs

        return pack_inputs(g, xq)
    return np.asarray(xq, dtype=np.int8)


def vectors_header(cm: CModel, xq: np.ndarray) -> str:
    """The harness's test vectors (``xq`` packed: per sample, every input one
    after another) and how to call the model on its packed buffers."""
    multi = len(getattr(cm, "input_sizes", [])) > 1 or len(getattr(cm, "output_sizes", [])) > 1 or any(
        ct != "int8_t" for ct in getattr(cm, "input_ctypes", []) + getattr(cm, "output_ctypes", []))
    invoke = [f"#define MCG_VEC_INVOKE {cm.name}_invoke"] if not multi else [
        "/* The harness keeps one input byte buffer and one output byte buffer:",
        " * each input and output at the sum of the byte sizes before it. */",
        "static inline void mcg_vec_invoke(const int8_t *in, int8_t *out)",
        "{",
        f"    {cm.packed_call('in', 'out')};",
        "}",
        "#define MCG_VEC_INVOKE mcg_vec_invoke",
    ]
    sizes = ([f"#define MCG_VEC_INPUT_SIZE {cm.name.upper()}_INPUT_SIZE",
              f"#define MCG_VEC_OUTPUT_SIZE {cm.name.upper()}_OUTPUT_SIZE"] if not multi else
             [f"#define MCG_VEC_INPUT_SIZE {cm.input_size}", f"#define MCG_VEC_OUTPUT_SIZE {cm.output_size}"])
    return "\n".join(
        [
            "/* Test vectors for the mcugen harness. Generated; do not edit. */",
            "#ifndef MCG_VECTORS_H",
            "#define MCG_VECTORS_H",
            '#include "mcg_arch.h"',
            f'#include "{cm.name}.h"',
            f"#define MCG_VEC_COUNT {len(xq)}",
            *sizes,
            *invoke,
            f"static const int8_t MCG_FLASH mcg_vec_inputs[{max(xq.size, 1)}] = {{",
            c_values(xq if xq.size else np.zeros(1, np.int8)),
            "};",
            "#endif",
            "",
        ]
    )


def parse_uart(text: str, g: Graph) -> tuple[list[np.ndarray], list[int], int, dict[int, np.ndarray]]:
    """Parse the harness's lines: outputs (one array per model output),
    counts, stack peak, layer traces."""
    text = ANSI.sub("", text).replace("\r", "")
    outs, counts, stack, layers = [], [], -1, {}
    for m in re.finditer(r"^([OSL]) ([0-9a-f ]+?)[.\s]*$", text, re.M):
        kind, body = m.group(1), m.group(2).split()
        if kind == "O" and len(body) == 2:
            outs.append(np.frombuffer(bytes.fromhex(body[0]), dtype=np.int8))
            counts.append(int(body[1]))
        elif kind == "S":
            stack = int(body[0])
        elif kind == "L" and len(body) == 2:
            layers[int(body[0])] = np.frombuffer(bytes.fromhex(body[1]), dtype=np.int8)
    if not outs or not re.search(r"^E[.\s]*$", text, re.M):
        raise McugenError(f"the simulated program did not finish; it printed: {text.strip()[-400:]!r}")
    packed = np.stack(outs)
    if hasattr(g, "output_tensors"):
        from ..host import unpack_outputs

        return unpack_outputs(g, packed), counts, stack, layers
    return [packed.reshape((len(outs),) + tuple(g.output.shape))], counts, stack, layers


def parse_timing(text: str, n_layers: int, resolution: int, total: int) -> Timing:
    """The first inference's per-layer counts from a timing build's output;
    they must add up to that inference's count (``total``, its "O" line)."""
    text = ANSI.sub("", text).replace("\r", "")
    h = re.search(r"^H ([1-9]\d*) (\d+) (\d+)[.\s]*$", text, re.M)
    per: dict[int, int] = {}
    rest = None
    for m in re.finditer(r"^([TR]) (\d+)(?: (\d+))?[.\s]*$", text, re.M):
        if m.group(1) == "T" and m.group(3) is not None:
            per.setdefault(int(m.group(2)), int(m.group(3)))
        elif m.group(1) == "R" and m.group(3) is None and rest is None:
            rest = int(m.group(2))
    if h is None or rest is None or sorted(per) != list(range(n_layers)):
        raise McugenError(f"the timing build did not report every layer; it printed: {text.strip()[-400:]!r}")
    t = Timing([per[i] for i in range(n_layers)], rest, int(h.group(1)), int(h.group(2)), int(h.group(3)), resolution)
    if sum(t.layers) + t.rest != total:
        raise McugenError(f"the per-layer counts add up to {sum(t.layers) + t.rest:,}, not to the inference's "
                          f"{total:,} (a layer longer than the timer's period?)")
    return t


def hook_defines(trace: bool, timing_layers: int) -> list[str]:
    """What the harness does after each layer: a trace build prints the
    layer's output, a timing build stores the timer (firmware/harness/
    mcg_timing.h, on the include path) and prints the count of each layer."""
    if timing_layers:
        return [f"-DMCG_TIMING_LAYERS={timing_layers}", '-DMCG_TRACE_INCLUDE="mcg_timing.h"']
    return ["-DMCG_TRACE_HOOK=mcg_target_trace"] if trace else []


def model_sources(folder: Path) -> list[str]:
    """Every generated C file in the folder (one model, or a bundle of them)."""
    return [str(p) for p in sorted(folder.glob("*.c"))]


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise McugenError(f"{name} not found: install it (apt-get install {package})")
    return path


def elf_size(size_tool: str, elf: Path) -> tuple[int, int]:
    """(flash, static RAM) of a linked ELF from `size` (Berkeley format)."""
    r = subprocess.run([size_tool, "-B", str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in r.stdout.splitlines()[1].split()[:3])
    return text + data, data + bss


def get_target(board: Board):
    if board.arch == "avr":
        from .avr import AvrTarget

        return AvrTarget(board)
    if board.arch == "arm":
        from .arm import ArmTarget

        return ArmTarget(board)
    raise McugenError(f"board {board.name}: no target support for arch {board.arch!r}")
