"""Run the IR in numpy: float (the float model, for calibration and for the
check against Keras) and int8 (the executable specification of the C)."""
from __future__ import annotations

import numpy as np

from .ir import Graph


def run_float(g: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """All tensors of the float graph for a batch of inputs (N, *input shape)."""
    vals = {g.inputs[0]: np.asarray(x, dtype=np.float64)}
    for op in g.ops:
        vals[op.outputs[0]] = op.forward_float(g, [vals[n] for n in op.inputs])
    return vals


def run_int8(g: Graph, xq: np.ndarray) -> dict[str, np.ndarray]:
    """All tensors of the quantized graph for a batch of int8 inputs."""
    vals = {g.inputs[0]: np.asarray(xq, dtype=np.int8)}
    for op in g.ops:
        y = op.forward_int8(g, [vals[n] for n in op.inputs])
        assert y.dtype == np.int8, f"{op.name}: int8 reference returned {y.dtype}"
        vals[op.outputs[0]] = y
    return vals


def int8_output(g: Graph, xq: np.ndarray) -> np.ndarray:
    return run_int8(g, xq)[g.outputs[0]]
