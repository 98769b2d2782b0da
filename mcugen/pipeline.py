"""The whole front end in one call: load, convert, optimize, calibrate,
quantize. Used by every CLI command and by the tests."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import RANDOM_RANGE, load_calibration, random_inputs
from .ir import Graph
from .keras_loader import load_graph
from .passes import optimize
from .quantize import quantize_graph


@dataclass
class Prepared:
    path: Path
    keras_model: object
    graph: Graph  # optimized and quantized (float weights kept)
    calib: np.ndarray  # float calibration samples
    calib_is_random: bool
    warnings: list[str] = field(default_factory=list)


def random_calibration_warning(path: Path) -> str:
    lo, hi = RANDOM_RANGE
    return (
        f"warning: no --calib given: calibrating {path.name} on random inputs uniform in [{lo:g}, {hi:g}]; "
        "int8 accuracy may suffer. Pass real inputs with --calib FILE (.npz with array 'x', or .npy, "
        "shaped (N, *input shape))."
    )


def prepare(path: str | Path, calib: str | Path | None = None, warn=None) -> Prepared:
    path = Path(path)
    model, g = load_graph(path)
    optimize(g)
    warnings = []
    if calib is not None:
        samples, is_random = load_calibration(calib, g.input.shape), False
    else:
        samples, is_random = random_inputs(g.input.shape), True
        warnings.append(random_calibration_warning(path))
    for w in warnings:
        (warn or (lambda m: print(m, file=sys.stderr)))(w)
    quantize_graph(g, samples)
    return Prepared(path, model, g, samples, is_random, warnings)
