"""Run the IR in numpy: float (the float model, for calibration and for the
check against Keras) and int8 (the executable specification of the C).

Inputs are batches, one per model input in ``g.inputs`` order (a list), or
for a one-input model the batch itself; the results hold every tensor, so a
caller reads each output as ``vals[t] for t in g.outputs``."""
from __future__ import annotations

import numpy as np

from .ir import Graph


def run_float(g: Graph, x) -> dict[str, np.ndarray]:
    """All tensors of the float graph for batches of inputs (N, *input shape)."""
    vals = {t: np.asarray(xi, dtype=np.float64) for t, xi in zip(g.inputs, g.input_arrays(x))}
    for op in g.ops:
        vals[op.outputs[0]] = op.forward_float(g, [vals[n] for n in op.inputs])
    return vals


def run_int8(g: Graph, xq) -> dict[str, np.ndarray]:
    """All tensors of the quantized graph for batches of int8 inputs."""
    vals = {t: np.asarray(xi, dtype=np.int8) for t, xi in zip(g.inputs, g.input_arrays(xq))}
    for op in g.ops:
        y = op.forward_int8(g, [vals[n] for n in op.inputs])
        assert y.dtype == np.int8, f"{op.name}: int8 reference returned {y.dtype}"
        vals[op.outputs[0]] = y
    return vals


def int8_outputs(g: Graph, xq) -> list[np.ndarray]:
    """Every output of the quantized graph, in ``g.outputs`` order."""
    vals = run_int8(g, xq)
    return [vals[t] for t in g.outputs]


def int8_output(g: Graph, xq) -> np.ndarray:
    """The output of a one-output model."""
    if len(g.outputs) != 1:
        raise ValueError(f"the model has {len(g.outputs)} outputs: use int8_outputs")
    return int8_outputs(g, xq)[0]
