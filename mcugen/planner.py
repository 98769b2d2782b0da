"""Static memory plan: one arena, an offset per tensor.

Greedy by size like TFLM's GreedyMemoryPlanner: buffers sorted largest
first, each placed at the lowest offset that overlaps no already-placed buffer
alive at the same time. A tensor is alive from the op that writes it to the
last op that reads it; the model input is written before op 0 and the output
read after the last op. View ops (Reshape) give their output the input's bytes,
or a contiguous run of them from ``view_offset`` (a piece of a SPLIT).
An op's scratch buffer (``Op.scratch_bytes``: a conv's padded patches) is a
buffer alive during that op alone, planned with the tensors.

The model inputs (and any view of one) are not in the arena: the kernels read
each where the caller holds it (``invoke(in0, in1, ..., out0, ...)``), so
``arena_size`` counts the intermediate tensors, the outputs and the scratch
buffers only; such tensors have offset ``INPUT`` in the plan. Every output
is alive to the end (copied out after the last op).

Sizes and offsets are in bytes: an int16 tensor takes two per value and
starts at an even offset (the arena itself is 4-byte aligned). The variable
tensors (state kept between invocations) sit first in the arena, one after
another, alive always: nothing else is ever placed over them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .ir import Graph

INPUT = -1  # offset of tensors that live in the caller's input buffer


@dataclass
class Buffer:
    tensors: list[str]
    size: int
    first: int
    last: int
    offset: int = -1
    align: int = 1  # the offset is a multiple of this (an int16 tensor's: 2)

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class Plan:
    offsets: dict[str, int]
    arena_size: int
    buffers: list[Buffer] = field(default_factory=list)
    scratch: dict[int, int] = field(default_factory=dict)  # op index -> offset of its scratch
    in_caller: set[str] = field(default_factory=set)  # the inputs and their views: read in the caller's buffers
    in_caller_offsets: dict[str, int] = field(default_factory=dict)  # a view of an input: its bytes from here
    caller_input: dict[str, int] = field(default_factory=dict)  # such a tensor -> index of its model input

    def ascii(self, width: int = 64) -> str:
        """One line per buffer: its place in the arena, lifetime at the left."""
        if not self.arena_size:
            return "(empty arena)"
        lines = []
        for b in sorted(self.buffers, key=lambda b: (b.first, b.offset)):
            a = b.offset * width // self.arena_size
            e = max(a + 1, (b.offset + b.size) * width // self.arena_size)
            bar = " " * a + "#" * (e - a) + " " * (width - e)
            lines.append(f"ops {b.first:>3}..{b.last:<3} |{bar}| {b.offset:>6} +{b.size:<6} {b.tensors[0]}")
        return "\n".join(lines)


def _view_root(g: Graph) -> tuple[dict[str, str], dict[str, int]]:
    """Each tensor's root buffer, and where its bytes start in it."""
    root = {name: name for name in g.tensors}
    start = {name: 0 for name in g.tensors}
    for op in g.ops:
        if getattr(op, "is_view", False):
            root[op.outputs[0]] = root[op.inputs[0]]
            itemsize = g.tensors[op.outputs[0]].itemsize
            start[op.outputs[0]] = start[op.inputs[0]] + getattr(op, "view_offset", 0) * itemsize
    return root, start


def plan_memory(g: Graph) -> Plan:
    root, start = _view_root(g)
    n = len(g.ops)
    spans: dict[str, list[int]] = {}

    def touch(name: str, step: int):
        r = root[name]
        span = spans.setdefault(r, [step, step])
        span[0], span[1] = min(span[0], step), max(span[1], step)

    for t in g.inputs:
        touch(t, -1)
    for i, op in enumerate(g.ops):
        for name in op.inputs + op.outputs:
            touch(name, i)
    for t in g.outputs:
        touch(t, n)
    in_roots = {root[t]: k for k, t in reversed(list(enumerate(g.inputs)))}
    state = [t for t in g.tensors if g.tensors[t].variable]
    for t in state:
        spans[root[t]] = [-1, n]
    buffers = [
        Buffer([r] + [t for t in g.tensors if root[t] == r and t != r], g.tensors[r].nbytes, a, b,
               align=g.tensors[r].itemsize)
        for r, (a, b) in spans.items() if r not in in_roots
    ]
    scratch = {}
    for i, op in enumerate(g.ops):
        size = op.scratch_bytes(g)
        if size:
            scratch[i] = Buffer([f"{op.name} (scratch)"], size, i, i, align=op.scratch_align)
    buffers += scratch.values()
    placed: list[Buffer] = []
    base = 0
    for buf in (b for b in buffers if b.tensors[0] in state):  # the state region, in order
        buf.offset = base = -(-base // 4) * 4
        base += buf.size
        placed.append(buf)
    base = -(-base // 4) * 4 if placed else 0

    def aligned(offset: int, align: int) -> int:
        return -(-offset // align) * align

    for buf in sorted((b for b in buffers if b.tensors[0] not in state), key=lambda b: (-b.size, b.first)):
        offset = base
        for other in sorted((p for p in placed if p.overlaps_in_time(buf)), key=lambda p: p.offset):
            if aligned(offset, buf.align) + buf.size <= other.offset:
                break
            offset = max(offset, other.offset + other.size)
        buf.offset = aligned(offset, buf.align)
        placed.append(buf)
    where = {b.tensors[0]: b.offset for b in buffers}
    offsets = {t: INPUT if root[t] in in_roots else where[root[t]] + start[t] for t in g.tensors}
    arena = max((b.offset + b.size for b in buffers), default=0)
    caller = {t: in_roots[root[t]] for t in g.tensors if root[t] in in_roots}
    return Plan(offsets, arena, buffers, {i: b.offset for i, b in scratch.items()}, set(caller),
                {t: start[t] for t in caller if start[t]}, caller)
