"""The whole front end in one call: load, convert, optimize, calibrate,
quantize. Used by every CLI command and by the tests.

A ``.tflite`` file is read as it is (``mcugen/tflite_loader.py``: its own
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
    samples: list[np.ndarray]  # float calibration samples, one batch per model input
    calib_is_random: bool
    warnings: list[str] = field(default_factory=list)
    # The .tflite the graph was read from (a .tflite input or --quantizer tflite).
    tflite: object | None = None  # mcugen.tflite_loader.TFLiteModel

    @property
    def calib(self) -> np.ndarray:
        """The calibration samples of a one-input model."""
        if len(self.samples) != 1:
            raise ValueError(f"the model has {len(self.samples)} inputs: use samples")
        return self.samples[0]

    def reference_predict(self, x) -> list[np.ndarray]:
        """The model mcugen's int8 outputs are held against, one array per
        output: the float Keras model, or for a .tflite input (which has
        none) LiteRT's dequantized outputs on the same inputs."""
        g = self.graph
        xs = g.input_arrays(x)
        if self.keras_model is not None:
            y = self.keras_model.predict(keras_inputs(self.keras_model, g, xs), verbose=0, batch_size=256)
            ys = list(y) if isinstance(y, (list, tuple)) else [y]
            if isinstance(y, dict):
                ys = [y[k] for k in y]
            return [np.asarray(v) for v in ys]
        from .oracles import run_litert

        return g.dequantize_outputs(run_litert(self.tflite, g.quantize_inputs(xs)).all_outputs)


def keras_inputs(model, g: Graph, xs: list[np.ndarray]):
    """What ``model.predict`` takes for the graph's input batches: the array
    of a one-input model, else a list in the model's input order."""
    return xs[0] if len(xs) == 1 else list(xs)


def random_calibration_warning(path: Path) -> str:
    lo, hi = RANDOM_RANGE
    return (
        f"warning: no --calib given: calibrating {path.name} on random inputs uniform in [{lo:g}, {hi:g}]; "
        "int8 accuracy may suffer. Pass real inputs with --calib FILE (.npz with array 'x', or .npy, "
        "shaped (N, *input shape); for several inputs an .npz with one array per input, named as the "
        "input or x0, x1 ...)."
    )


QUANTIZERS = ("mcugen", "tflite")


def _samples(g: Graph, calib, warn, make_random) -> tuple[list[np.ndarray], bool]:
    names, _ = g.io_names()
    shapes = [t.shape for t in g.input_tensors]
    if calib is not None:
        return load_calibration(calib, shapes, warn=warn, names=names), False
    return [make_random(k, s) for k, s in enumerate(shapes)], True


def _prepare_tflite(path: Path, calib, warn=None) -> Prepared:
    from .tflite_loader import load_tflite

    tm = load_tflite(path)
    g = tm.graph
    check_graph(g)

    def codes(k, shape):
        # Test inputs only (nothing is calibrated): every int8 input code.
        rng = np.random.default_rng(k)
        x = rng.integers(-128, 128, size=(128,) + shape).astype(np.int8)
        return g.q(g.inputs[k]).dequantize(x).astype(np.float32)

    samples, is_random = _samples(g, calib, warn, codes)
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
    samples, is_random = _samples(g, calib, warn, lambda k, shape: random_inputs(shape, seed=k))
    if is_random:
        warnings.append(random_calibration_warning(path))
    for w in warnings:
        (warn or (lambda m: print(m, file=sys.stderr)))(w)
    if quantizer == "tflite":
        from .tflite_loader import graph_from_tflite
        from .tflite_quantizer import convert_keras

        tm = graph_from_tflite(convert_keras(model, samples if len(samples) > 1 else samples[0]), g.name,
                               f"{path.name} (quantized by TFLiteConverter)")
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
