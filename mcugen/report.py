"""Per-layer facts for ``inspect`` and the ``build`` summary."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .emit import CModel
from .ir import Graph


@dataclass
class LayerRow:
    index: int
    name: str
    op: str
    detail: str
    inputs: list[list[int]]
    output: list[int]
    params: int
    macs: int
    scale: float
    zero_point: int
    activation: str | None
    arena_offset: int
    bytes: int


@dataclass
class Totals:
    layers: int
    params: int
    macs: int
    weights_flash_bytes: int
    arena_bytes: int
    input_shape: list[int]
    output_shape: list[int]
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int


def layer_rows(g: Graph, cm: CModel) -> list[LayerRow]:
    rows = []
    for i, op in enumerate(g.ops):
        out = g.tensors[op.outputs[0]]
        rows.append(
            LayerRow(
                index=i,
                name=op.name,
                op=op.kind,
                detail=op.describe(),
                inputs=[list(g.shape(t)) for t in op.inputs],
                output=list(out.shape),
                params=op.param_count(),
                macs=op.macs(g),
                scale=float(out.q.scale),
                zero_point=int(out.q.zero_point),
                activation=op.activation,
                arena_offset=cm.plan.offsets[op.outputs[0]],
                bytes=out.size,
            )
        )
    return rows


def totals(g: Graph, cm: CModel) -> Totals:
    return Totals(
        layers=len(g.ops),
        params=sum(op.param_count() for op in g.ops),
        macs=sum(op.macs(g) for op in g.ops),
        weights_flash_bytes=cm.flash_bytes,
        arena_bytes=cm.plan.arena_size,
        input_shape=list(g.input.shape),
        output_shape=list(g.output.shape),
        input_scale=float(g.input.q.scale),
        input_zero_point=int(g.input.q.zero_point),
        output_scale=float(g.output.q.scale),
        output_zero_point=int(g.output.q.zero_point),
    )


def as_json(g: Graph, cm: CModel) -> dict:
    return {
        "model": g.name,
        "layers": [asdict(r) for r in layer_rows(g, cm)],
        "totals": asdict(totals(g, cm)),
        "memory_plan": [
            {"tensors": b.tensors, "offset": b.offset, "bytes": b.size, "first_op": b.first, "last_op": b.last}
            for b in cm.plan.buffers
        ],
    }
