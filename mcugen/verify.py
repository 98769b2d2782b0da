"""``mcugen verify``: the model cross-compiled for a board, run in an
instruction-set simulator, every output byte compared with the reference."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .boards import Board
from .check import test_samples
from .emit import render
from .errors import McugenError
from .fit import check_fit
from .host import as_bytes, pack_inputs, unpack_inputs
from .limits import shown
from .pipeline import Prepared
from .reference import run_int8
from .targets import get_target


@dataclass
class VerifyResult:
    board: str
    simulator: str
    inputs: int
    bit_exact: int
    unit: str
    count: int  # cycles or instructions per inference (the largest seen)
    macs: int
    flash_bytes: int  # harness + runtime + model, test vectors excluded
    sram_bytes: int  # static RAM: .data + .bss
    stack_bytes: int
    first_mismatch_layer: str | None
    simulator_note: str | None = None  # set when the board itself is not simulated
    clock_hz: int = 0  # the board's clock
    counts: list[int] = field(default_factory=list, repr=False)  # per input, in order
    # The model alone, as `build` reports it (mcugen.fit: FIRMWARE).
    model_flash_bytes: int = 0
    model_sram_bytes: int = 0
    model_stack_bytes: int = 0
    model_how: str = ""
    model_firmware: str = ""

    @property
    def per_mac(self) -> float:
        return self.count / self.macs if self.macs else 0.0

    @property
    def ms(self) -> float:
        """Milliseconds per inference at the board's clock (for an instruction
        count: if every instruction took one cycle)."""
        return 1000.0 * self.count / self.clock_hz if self.clock_hz else 0.0

    @property
    def ms_note(self) -> str:
        return ms_note(self.unit, self.clock_hz)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("counts")
        d[self.unit] = d.pop("count")
        d.pop("unit")
        d[f"{self.unit}_per_mac"] = round(self.per_mac, 3)
        d["ms"] = round(self.ms, 3)
        d["ms_note"] = self.ms_note
        return d


def ms_note(unit: str, clock_hz: int) -> str:
    """What a millisecond figure means: cycles are the board's; QEMU counts
    instructions, which are milliseconds only if each took one cycle."""
    mhz = f"{clock_hz / 1e6:g} MHz"
    return f"at {mhz}" if unit == "cycles" else f"at {mhz} if every instruction took one cycle"


def batch_size(board: Board, input_size: int) -> int:
    """How many test vectors one firmware image carries."""
    return max(1, min(16384, board.flash_bytes // 4) // max(input_size, 1))


def run_verify(p: Prepared, board: Board, n: int = 100, force: bool = False) -> VerifyResult:
    """Check that the model fits the board (refused unless ``force``), then
    run it in the simulator."""
    g = p.graph
    target = get_target(board)
    cm = render(g, source=p.path.name, board=board)
    fit = check_fit(g, cm, board)
    if not fit.fits and not force:
        raise McugenError(f"{shown(p.path.name)} does not fit {board.name} ({fit.how}): {'; '.join(fit.problems())};"
                          f" largest: {', '.join(fit.largest)} (--force runs it anyway)")
    xq = pack_inputs(g, g.quantize_inputs(test_samples(p, n)))  # per sample, every input in turn
    k = batch_size(board, cm.input_size)
    if g.variables:  # each firmware image runs its vectors as one sequence from a reset
        refs = [run_int8(g, unpack_inputs(g, xq[a : a + k])) for a in range(0, len(xq), k)]
        ref = {t: np.concatenate([r[t] for r in refs]) for t in refs[0]}
    else:
        ref = run_int8(g, unpack_inputs(g, xq))
    want = np.concatenate([ref[t].reshape(len(xq), -1) for t in g.outputs], axis=1)
    outputs, counts, runs = [], [], []
    for start in range(0, len(xq), k):
        run = target.run(g, cm, xq[start : start + k])
        runs.append(run)
        outputs.append(np.concatenate([y.reshape(len(y), -1) for y in run.all_outputs], axis=1))
        counts += run.counts
    got = np.concatenate(outputs)
    same = np.all((got == want).reshape(len(xq), -1), axis=1)
    first = None
    if not same.all():
        bad = int(np.argmin(same))
        begin = bad - bad % k if g.variables else bad  # a sequence: rerun it from its start
        traced = target.run(g, cm, xq[begin : bad + 1], trace=True)  # layer traces: the last input's
        for i, op in enumerate(g.ops):
            layer = traced.layers.get(i)
            out = g.tensors[op.outputs[0]]
            if layer is None or not np.array_equal(layer, as_bytes(ref[op.outputs[0]][bad : bad + 1], out).reshape(-1)):
                first = op.name
                break
    run = runs[0]
    note = None
    if board.arch == "arm" and not board.name.startswith("qemu_"):
        note = f"no simulator models {board.description}; ran its code on {run.simulator}"
    return VerifyResult(
        board=board.name,
        simulator=run.simulator,
        inputs=len(xq),
        bit_exact=int(same.sum()),
        unit=run.unit,
        count=max(counts),
        macs=sum(op.macs(g) for op in g.ops),
        flash_bytes=run.flash_bytes - min(k, len(xq)) * cm.input_size,
        sram_bytes=run.sram_bytes,
        stack_bytes=run.stack_bytes,
        first_mismatch_layer=first,
        simulator_note=note,
        clock_hz=board.clock_hz,
        counts=counts,
        model_flash_bytes=fit.flash_bytes,
        model_sram_bytes=fit.sram_bytes,
        model_stack_bytes=fit.stack_bytes,
        model_how=fit.how,
        model_firmware=fit.firmware,
    )
