"""Run the IR in numpy: float (the float model, for calibration and for the
check against Keras) and int8 (the executable specification of the C).

Inputs are batches, one per model input in ``g.inputs`` order (a list), or
for a one-input model the batch itself; the results hold every tensor, so a
caller reads each output as ``vals[t] for t in g.outputs``.

A graph with variable tensors (state kept between invocations, ``g.variables``)
runs its batch as a sequence: row 0 is the first invocation after a reset,
row 1 the next one, each row seeing the state the rows before it left, as the
generated C (which resets itself before its first invocation) and TFLM do."""
from __future__ import annotations

import numpy as np

from .ir import Graph


def initial_state(g: Graph, quantized: bool = True) -> dict[str, np.ndarray]:
    """Each variable tensor's value after a reset (no batch dimension)."""
    state = {}
    for t in g.variables:
        tensor = g.tensors[t]
        if quantized:
            state[t] = np.full(tensor.shape, tensor.reset_value, dtype=tensor.np_dtype)
        else:
            state[t] = np.zeros(tensor.shape, dtype=np.float64)
    return state


def _run_sequence(g: Graph, inputs: list[np.ndarray], step, quantized: bool) -> dict[str, np.ndarray]:
    """Row after row, the state carried; the variable tensors' values in the
    result are those each row saw on entry."""
    state = initial_state(g, quantized)
    rows: list[dict[str, np.ndarray]] = []
    for n in range(inputs[0].shape[0] if inputs else 0):
        vals = {t: xi[n : n + 1] for t, xi in zip(g.inputs, inputs)}
        for t, v in state.items():
            vals[t] = v[None]
        for op in g.ops:
            vals[op.outputs[0]] = step(op, [vals[k] for k in op.inputs], state)
        rows.append(vals)
    names = rows[0].keys() if rows else []
    return {k: np.concatenate([r[k] for r in rows]) for k in names}


def run_float(g: Graph, x) -> dict[str, np.ndarray]:
    """All tensors of the float graph for batches of inputs (N, *input shape)."""
    inputs = [np.asarray(xi, dtype=np.float64) for xi in g.input_arrays(x)]
    if g.variables:
        return _run_sequence(g, inputs, lambda op, xs, st: op.forward_float_state(g, xs, st), False)
    vals = dict(zip(g.inputs, inputs))
    for op in g.ops:
        vals[op.outputs[0]] = op.forward_float(g, [vals[n] for n in op.inputs])
    return vals


def run_int(g: Graph, xq) -> dict[str, np.ndarray]:
    """All tensors of the quantized graph for batches of integer inputs
    (each of its tensor's dtype: int8 or int16)."""
    inputs = [np.asarray(xi).astype(g.tensors[t].np_dtype) for t, xi in zip(g.inputs, g.input_arrays(xq))]

    def step(op, xs, state):
        y = op.forward_int_state(g, xs, state) if state else op.forward_int(g, xs)
        want = g.tensors[op.outputs[0]].np_dtype
        assert y.dtype == want, f"{op.name}: integer reference returned {y.dtype}, its output is {np.dtype(want)}"
        return y

    if g.variables:
        return _run_sequence(g, inputs, step, True)
    vals = dict(zip(g.inputs, inputs))
    for op in g.ops:
        vals[op.outputs[0]] = step(op, [vals[n] for n in op.inputs], {})
    return vals


run_int8 = run_int  # the name callers knew it by


def int8_outputs(g: Graph, xq) -> list[np.ndarray]:
    """Every output of the quantized graph, in ``g.outputs`` order."""
    vals = run_int8(g, xq)
    return [vals[t] for t in g.outputs]


def int8_output(g: Graph, xq) -> np.ndarray:
    """The output of a one-output model."""
    if len(g.outputs) != 1:
        raise ValueError(f"the model has {len(g.outputs)} outputs: use int8_outputs")
    return int8_outputs(g, xq)[0]
