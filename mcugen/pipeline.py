"""The whole front end in one call: load, convert, optimize, calibrate,
quantize. Used by every CLI command and by the tests.

A ``.tflite`` file is read as it is (``mcugen/tflite/``: its own
quantization, nothing calibrated); ``quantizer="tflite"`` quantizes a Keras
model with TFLiteConverter and builds from the result."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import RANDOM_RANGE, load_calibration, random_inputs
from .errors import McugenError
from .ir import Graph
from .keras_loader import load_graph
from .limits import check_graph
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
    # The .tflite the graph was read from (a .tflite input or --quantizer tflite).
    tflite: object | None = None  # mcugen.tflite.loader.TFLiteModel

    def reference_predict(self, x: np.ndarray) -> np.ndarray:
        """The model mcugen's int8 output is held against: the float Keras
        model, or for a .tflite input (which has none) LiteRT's dequantized
        output on the same inputs."""
        if self.keras_model is not None:
            return np.asarray(self.keras_model.predict(x, verbose=0, batch_size=256))
        from .oracles import run_litert

        g = self.graph
        return g.output.q.dequantize(run_litert(self.tflite, g.input.q.quantize(x)).outputs)


def random_calibration_warning(path: Path) -> str:
    lo, hi = RANDOM_RANGE
    return (
        f"warning: no --calib given: calibrating {path.name} on random inputs uniform in [{lo:g}, {hi:g}]; "
        "int8 accuracy may suffer. Pass real inputs with --calib FILE (.npz with array 'x', or .npy, "
        "shaped (N, *input shape))."
    )


QUANTIZERS = ("mcugen", "tflite")


def _prepare_tflite(path: Path, calib, warn=None) -> Prepared:
    from .tflite.loader import load_tflite

    tm = load_tflite(path)
    g = tm.graph
    check_graph(g)
    if calib is not None:
        samples, is_random = load_calibration(calib, g.input.shape, warn=warn), False
    else:
        # Test inputs only (nothing is calibrated): every int8 input code.
        rng = np.random.default_rng(0)
        codes = rng.integers(-128, 128, size=(128,) + g.input.shape).astype(np.int8)
        samples, is_random = g.input.q.dequantize(codes).astype(np.float32), True
    return Prepared(path, None, g, samples, is_random, [], tm)


def prepare(path: str | Path, calib: str | Path | None = None, warn=None, quantizer: str = "mcugen") -> Prepared:
    path = Path(path)
    if quantizer not in QUANTIZERS:
        raise McugenError(f"unknown quantizer {quantizer!r} (known: {', '.join(QUANTIZERS)})")
    if path.suffix.lower() == ".tflite":
        return _prepare_tflite(path, calib, warn)
    model, g = load_graph(path)
    optimize(g)
    check_graph(g, quantized=False)
    warnings = []
    if calib is not None:
        samples, is_random = load_calibration(calib, g.input.shape, warn=warn), False
    else:
        samples, is_random = random_inputs(g.input.shape), True
        warnings.append(random_calibration_warning(path))
    for w in warnings:
        (warn or (lambda m: print(m, file=sys.stderr)))(w)
    if quantizer == "tflite":
        from .tflite.loader import graph_from_tflite
        from .tflite_quantizer import convert_keras

        tm = graph_from_tflite(convert_keras(model, samples), g.name, f"{path.name} (quantized by TFLiteConverter)")
        check_graph(tm.graph)
        return Prepared(path, model, tm.graph, samples, is_random, warnings, tm)
    try:
        quantize_graph(g, samples)
    except (ValueError, IndexError) as e:  # a layer whose arithmetic disagrees with the shapes Keras gives
        from .limits import shown

        raise McugenError(f"{shown(path)}: the layers do not compute the shapes the model declares "
                          f"({shown(str(e).splitlines()[0])[:160]})") from None
    check_graph(g)
    return Prepared(path, model, g, samples, is_random, warnings)
