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
    dtype: str = "int8"  # the output's


@dataclass
class PortRow:
    """One input or output of the model, as the generated API names it."""

    name: str  # as the model names it
    c_name: str  # the invoke parameter; <MODEL>_INPUT_<C_NAME>_SIZE ...
    shape: list[int]
    bytes: int
    scale: float
    zero_point: int
    dtype: str = "int8"


@dataclass
class StateRow:
    """A variable tensor: state kept from one invocation to the next."""

    name: str
    shape: list[int]
    dtype: str
    bytes: int
    arena_offset: int
    reset_value: int


@dataclass
class Totals:
    layers: int
    params: int
    macs: int
    weights_flash_bytes: int
    arena_bytes: int
    # The single input's and output's (None for a model with several: see inputs, outputs).
    input_shape: list[int] | None
    output_shape: list[int] | None
    input_scale: float | None
    input_zero_point: int | None
    output_scale: float | None
    output_zero_point: int | None
    inputs: list[PortRow]
    outputs: list[PortRow]
    state: list[StateRow]


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
                bytes=out.nbytes,
                dtype=out.dtype,
            )
        )
    return rows


def ports(g: Graph, cm: CModel) -> tuple[list[PortRow], list[PortRow]]:
    from .emit import ports as c_ports

    ins, outs = c_ports(g, cm.name)
    row = lambda p, t: PortRow(p.name, p.ident, list(t.shape), t.nbytes, float(t.q.scale), int(t.q.zero_point),  # noqa: E731
                               t.dtype)
    return [row(p, t) for p, t in zip(ins, g.input_tensors)], [row(p, t) for p, t in zip(outs, g.output_tensors)]


def totals(g: Graph, cm: CModel) -> Totals:
    ins, outs = ports(g, cm)
    one_in, one_out = ins[0] if len(ins) == 1 else None, outs[0] if len(outs) == 1 else None
    return Totals(
        layers=len(g.ops),
        params=sum(op.param_count() for op in g.ops),
        macs=sum(op.macs(g) for op in g.ops),
        weights_flash_bytes=cm.flash_bytes,
        arena_bytes=cm.plan.arena_size,
        input_shape=one_in and one_in.shape,
        output_shape=one_out and one_out.shape,
        input_scale=one_in and one_in.scale,
        input_zero_point=one_in and one_in.zero_point,
        output_scale=one_out and one_out.scale,
        output_zero_point=one_out and one_out.zero_point,
        inputs=ins,
        outputs=outs,
        state=[StateRow(t, list(g.tensors[t].shape), g.tensors[t].dtype, g.tensors[t].nbytes, cm.plan.offsets[t],
                        int(g.tensors[t].reset_value)) for t in g.variables],
    )


def io_lines(t: Totals) -> list[str]:
    """The inputs and outputs in words: one line for a one-input,
    one-output model (as always), else one line each."""
    def typed(p: PortRow) -> str:
        return "" if p.dtype == "int8" else f" {p.dtype}"

    state = [f"state {s.name!r} {tuple(s.shape)} {s.dtype}, {s.bytes:,} bytes at arena offset {s.arena_offset}, "
             f"reset to {s.reset_value}" for s in t.state]
    if len(t.inputs) == 1 and len(t.outputs) == 1:
        return [f"input {tuple(t.input_shape)}{typed(t.inputs[0])} scale {t.input_scale:.6g} zp {t.input_zero_point}; "
                f"output {tuple(t.output_shape)}{typed(t.outputs[0])} scale {t.output_scale:.6g} "
                f"zp {t.output_zero_point}"] + state
    return [f"{kind} {k} {p.name!r} (C: {p.c_name}) {tuple(p.shape)}{typed(p)} scale {p.scale:.6g} zp {p.zero_point}"
            for kind, rows in (("input", t.inputs), ("output", t.outputs)) for k, p in enumerate(rows)] + state


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
