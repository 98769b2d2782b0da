"""Post-training int8 quantization, TFLite's scheme.

* activations: per tensor, asymmetric int8 [-128, 127]; the calibrated range
  [min, max] is widened to include 0, scale = (max - min) / 255 stored as
  float32, zero point = round(-128 - min / scale), an exact integer;
* ops that TFLite requires to keep their input's scale (pooling, reshape,
  pad, concatenation) share one set of qparams with their inputs: the union
  of the ranges involved;
* softmax, sigmoid and tanh outputs have TFLite's fixed qparams;
* weights, biases and multipliers are each op's business (``Op.quantize``).
"""
from __future__ import annotations

import numpy as np

from .errors import McugenError, naming_layer
from .ir import Graph, QParams
from .reference import run_float

CHUNK = 256


def choose_qparams(lo: float, hi: float) -> QParams:
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        return QParams(float(np.float32(1.0 / 255.0)), -128)
    scale = float(np.float32((hi - lo) / 255.0))
    zp = -128 - lo / scale
    zp = int(np.clip(np.floor(zp + 0.5), -128, 127))
    return QParams(scale, zp)


def calibrate(g: Graph, samples) -> dict[str, tuple[float, float]]:
    """(min, max) of every tensor over the calibration samples (one batch
    per model input, or the batch of a one-input model)."""
    xs = g.input_arrays(samples)
    ranges: dict[str, tuple[float, float]] = {}
    for start in range(0, len(xs[0]), CHUNK):
        vals = run_float(g, [x[start : start + CHUNK] for x in xs])
        for name, v in vals.items():
            lo, hi = float(np.min(v)), float(np.max(v))
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise McugenError(f"tensor {name!r} is not finite on the calibration data")
            if name in ranges:
                lo, hi = min(lo, ranges[name][0]), max(hi, ranges[name][1])
            ranges[name] = (lo, hi)
    return ranges


def _groups(g: Graph) -> dict[str, str]:
    """Union-find over tensors that must share qparams: tensor -> root."""
    parent = {name: name for name in g.tensors}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for op in g.ops:
        if op.shares_qparams:
            names = op.inputs + op.outputs
            for other in names[1:]:
                parent[find(other)] = find(names[0])
    return {name: find(name) for name in g.tensors}


def quantize_graph(g: Graph, samples) -> Graph:
    for op in g.ops:  # an op that records ranges of its own (an LSTM's cell state) starts afresh
        getattr(op, "begin_calibration", lambda: None)()
    ranges = calibrate(g, samples)
    for op in g.ops:  # an op whose output holds a state seen wider inside it (an LSTM's hidden state, every step)
        inner = getattr(op, "state_output_range", lambda: None)()
        if inner is not None and op.outputs[0] in ranges:
            lo, hi = ranges[op.outputs[0]]
            ranges[op.outputs[0]] = (min(lo, inner[0]), max(hi, inner[1]))
    root = _groups(g)
    group_range: dict[str, tuple[float, float]] = {}
    for name, (lo, hi) in ranges.items():
        r = root[name]
        if r in group_range:
            lo, hi = min(lo, group_range[r][0]), max(hi, group_range[r][1])
        group_range[r] = (lo, hi)
    fixed: dict[str, QParams] = {}
    for op in g.ops:
        q = op.fixed_output_qparams(g)
        if q is not None:
            fixed[root[op.outputs[0]]] = q
    for name, t in g.tensors.items():
        r = root[name]
        t.q = fixed.get(r) or choose_qparams(*group_range[r])
    for op in g.ops:
        try:
            op.quantize(g)
        except ValueError as e:
            raise McugenError(naming_layer(op.name, e)) from None
    g.quantizer = "mcugen"
    return g
