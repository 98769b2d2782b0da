"""``mcugen bench``: how fast and how large a model is on a board, measured in
the board's simulator (the firmware of ``mcugen verify``), and where the time
goes layer by layer.

What is counted. simavr counts CPU cycles exactly; QEMU (``-icount``) counts
instructions, not cycles, in steps of 40 (50 on the M33 machine): see
mcugen/targets/arm.py. Milliseconds are that count at the board's clock; for
an instruction count that is a lower bound that holds only if every
instruction took one cycle.

The per-layer split comes from a second, timing build of the same firmware
(firmware/harness/mcg_timing.h): after each layer the harness stores the
timer (inline, a handful of instructions, so that the model compiles to the
code of the untimed build), and prints the differences after the inference.
Each layer's count is its difference less the cost of one stamp, measured in
the same firmware (64 stamps in a row, 8 on AVR); layer 0 also holds the invoke call
(the input is read where the caller holds it, not copied); "rest" is what follows the last
layer (the output copy, the return). The counts add up exactly to the timed
inference, and (stamps subtracted) to the untimed one within ``tolerance``:
two timer steps, plus half a stamp per layer, plus 1% of the inference.
The 1% is for what the stamps still change: the two builds place code and
constants differently (a kernel whose path depends on an address moved by
319 instructions of 30 M, VWW on the M3), and GCC allocates the registers of
the kernels it inlines into the invoke function a little differently around
them (898 cycles of 302 k, a small CNN on the Uno: 0.3%).
``LayerSplit.consistent`` says whether they do."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .boards import Board
from .check import test_samples
from .emit import render
from .errors import McugenError
from .pipeline import Prepared
from .reference import run_int8
from .targets import get_target
from .verify import VerifyResult, ms_note, run_verify

FLASH_NOTE = "flash: the linked firmware without its test vectors: model (code and constants), runtime, UART and timer code"
RAM_NOTE = ("RAM: static (.data + .bss of the linked firmware: the arena, the harness's input and output buffers) "
            "+ peak stack (painted, measured in the simulator)")


@dataclass
class LayerTime:
    index: int
    name: str
    op: str
    detail: str
    output: list[int]
    macs: int
    count: int  # in the result's unit, less one stamp
    share: float  # of the (untimed) inference's count
    measured_zero: bool  # the timer did not advance: the layer took less than one timer step

    @property
    def per_mac(self) -> float | None:
        return self.count / self.macs if self.macs else None


@dataclass
class LayerSplit:
    layers: list[LayerTime]
    rest: int  # after the last layer: the output copy, the return
    stamp_cost: float  # subtracted from each layer
    resolution: int  # the timer's step in the unit: 1 (AVR), 40 or 50 (QEMU)
    total: int  # the untimed build's count for the same input
    tolerance: float

    @property
    def accounted(self) -> int:
        return sum(la.count for la in self.layers) + self.rest

    @property
    def unattributed(self) -> int:
        return self.total - self.accounted

    @property
    def consistent(self) -> bool:
        return abs(self.unattributed) <= self.tolerance

    def to_json(self) -> dict:
        return {
            "input": 0,
            "rest": self.rest,
            "stamp_cost": round(self.stamp_cost, 3),
            "resolution": self.resolution,
            "total": self.total,
            "accounted": self.accounted,
            "unattributed": self.unattributed,
            "tolerance": round(self.tolerance, 3),
            "consistent": self.consistent,
        }


@dataclass
class BenchResult:
    model: str
    verify: VerifyResult
    split: LayerSplit | None = None

    @property
    def ram_bytes(self) -> int:
        return self.verify.sram_bytes + self.verify.stack_bytes

    def to_json(self) -> dict:
        v = self.verify
        d = {
            "model": self.model,
            "board": v.board,
            "simulator": v.simulator,
            "simulator_note": v.simulator_note,
            "unit": v.unit,
            "count": v.count,
            "per_mac": round(v.per_mac, 3),
            "macs": v.macs,
            "clock_hz": v.clock_hz,
            "ms": round(v.ms, 3),
            "ms_note": v.ms_note,
            "flash_bytes": v.flash_bytes,
            "sram_bytes": v.sram_bytes,
            "stack_bytes": v.stack_bytes,
            "ram_bytes": self.ram_bytes,
            "inputs": v.inputs,
            "bit_exact": v.bit_exact,
            "first_mismatch_layer": v.first_mismatch_layer,
        }
        if self.split is not None:
            d["layers"] = [
                {**{k: val for k, val in asdict(la).items()}, "share": round(la.share, 5),
                 "per_mac": None if la.per_mac is None else round(la.per_mac, 3)}
                for la in self.split.layers
            ]
            d["layer_split"] = self.split.to_json()
        return d


def notes(unit: str, clock_hz: int) -> list[str]:
    first = ("simavr counts CPU cycles, exactly" if unit == "cycles" else
             "QEMU counts instructions, not cycles (every instruction counts one, in steps of the SysTick tick); "
             "on silicon loads, branches and wait states take more cycles")
    return [first, f"ms: the count {ms_note(unit, clock_hz)}", FLASH_NOTE, RAM_NOTE]


def tolerance_for(resolution: int, layers: int, stamp_cost: float, total: int) -> float:
    """How far the split may miss the untimed count (see the module's doc)."""
    return 2 * resolution + layers * stamp_cost / 2 + total / 100


def layer_split(p: Prepared, board: Board, total: int) -> LayerSplit:
    """Time every layer on the first test input (the first input of
    run_verify, whose untimed count is ``total``)."""
    g = p.graph
    target = get_target(board)
    cm = render(g, source=p.path.name, board=board)
    xq = g.quantize_inputs(test_samples(p, 1))
    run = target.run(g, cm, xq, timing=True)
    want = run_int8(g, xq)
    if not all(np.array_equal(got, want[t]) for got, t in zip(run.all_outputs, g.outputs)):
        raise McugenError(f"{p.path.name}: the timing build's output differs from the reference on {board.name}")
    t = run.timing
    h = t.stamp_cost
    layers = []
    for i, (op, raw) in enumerate(zip(g.ops, t.layers)):
        count = int(round(raw - h))
        layers.append(LayerTime(index=i, name=op.name, op=op.kind, detail=op.describe(),
                                output=list(g.tensors[op.outputs[0]].shape), macs=op.macs(g), count=count,
                                share=count / total if total else 0.0, measured_zero=raw == 0))
    tolerance = tolerance_for(t.resolution, len(g.ops), h, total)
    return LayerSplit(layers, t.rest, h, t.resolution, total, tolerance)


def run_bench(p: Prepared, board: Board, n: int = 10, layers: bool = False) -> BenchResult:
    v = run_verify(p, board, n=n, force=True)  # bench measures whatever the board holds
    split = layer_split(p, board, v.counts[0]) if layers else None
    return BenchResult(p.path.name, v, split)


def print_tables(out, results: list[BenchResult], board: Board, notes: list[str], layers: bool) -> None:
    """The terminal report: one row per model; with layers, one table per model."""
    from rich.table import Table

    v0 = results[0].verify
    unit = v0.unit
    if v0.simulator_note:
        out.print(f"note: {v0.simulator_note}")
    ms_head = "ms" if unit == "cycles" else "ms (1 instr/cycle)"
    table = Table(title=f"mcugen bench on {board.name}: {v0.simulator}, {board.clock_hz / 1e6:g} MHz")
    for col in ("model", "MACs", f"{unit} / inference", "per MAC", ms_head, "flash", "RAM static + stack",
                "bit-exact"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in results:
        v = r.verify
        table.add_row(r.model, f"{v.macs:,}", f"{v.count:,}", f"{v.per_mac:.2f}", f"{v.ms:,.2f}",
                      f"{v.flash_bytes:,} B", f"{v.sram_bytes:,} + {v.stack_bytes:,} B",
                      f"{v.bit_exact}/{v.inputs}" + ("" if v.bit_exact == v.inputs else " NO"))
    out.print(table)
    for note in notes:
        out.print(f"note: {note}")
    for r in results:
        if r.verify.first_mismatch_layer:
            out.print(f"{r.model}: first layer that differs: {r.verify.first_mismatch_layer}")
    if not layers:
        return
    for r in results:
        s = r.split
        lt = Table(title=f"{r.model} per layer on {board.name} (input 0: {s.total:,} {unit})")
        for col in ("#", "layer", "op", "", "output", "MACs", unit, "share", "per MAC"):
            lt.add_column(col, justify="right" if col in ("#", "MACs", unit, "share", "per MAC") else "left")
        for la in s.layers:
            # A layer with (next to) no code can come out a few counts below zero.
            count = f"< {s.resolution}" if la.measured_zero and s.resolution > 1 else f"{max(la.count, 0):,}"
            lt.add_row(str(la.index), la.name, la.op, la.detail, str(tuple(la.output)), f"{la.macs:,}", count,
                       f"{max(la.share, 0.0):.1%}", "-" if la.per_mac is None else f"{la.per_mac:.2f}")
        lt.add_row("", "(output copy, return)", "", "", "", "", f"{s.rest:,}", f"{s.rest / s.total:.1%}", "")
        out.print(lt)
        top = max(s.layers, key=lambda la: la.count)
        out.print(f"slowest layer: {top.index} {top.name} ({top.op} {top.detail}): {top.count:,} {unit}, "
                  f"{top.share:.1%}" + ("" if top.per_mac is None else f", {top.per_mac:.2f} per MAC"))
        step = "exact" if s.resolution == 1 else f"in steps of {s.resolution}"
        out.print(f"per layer: timer differences ({step}) less one stamp ({s.stamp_cost:.3g} {unit}) each; layer 0 "
                  f"includes the invoke call. Sum {s.accounted:,} vs {s.total:,} untimed: "
                  f"{s.unattributed:+,} ({'within' if s.consistent else 'OUTSIDE'} the tolerance of "
                  f"{s.tolerance:.0f}: two timer steps + half a stamp per layer + 1%)")


def plot_layers(results: list[BenchResult], path) -> None:
    """A PNG of the per-layer split: one panel per model, one bar per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = [r for r in results if r.split is not None]
    heights = [max(2.0, 0.28 * (len(r.split.layers) + 1) + 1.2) for r in rows]
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, r in zip(axes[:, 0], rows):
        v, s = r.verify, r.split
        labels = [f"{la.index} {la.name} ({la.op})" for la in s.layers] + ["(output copy, return)"]
        counts = [max(la.count, 0) for la in s.layers] + [max(s.rest, 0)]
        ys = np.arange(len(counts))
        bars = ax.barh(ys, counts, color=["#4c72b0"] * len(s.layers) + ["#999999"])
        ax.set_yticks(ys, labels, fontsize=7)
        ax.invert_yaxis()
        per_mac = [la.per_mac for la in s.layers] + [None]
        for bar, c, pm in zip(bars, counts, per_mac):
            share = c / s.total if s.total else 0.0
            if share >= 0.005:
                text = f" {share:.1%}" + ("" if pm is None else f", {pm:.1f}/MAC")
                ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=7)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.set_xlabel(f"{v.unit} per layer" + ("" if v.unit == "cycles" else " (QEMU: instructions, not cycles)"))
        ax.set_title(f"{r.model} on {v.board} ({v.simulator}): {v.count:,} {v.unit}, {v.per_mac:.2f} per MAC",
                     fontsize=9)
        ax.margins(x=0.12)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
