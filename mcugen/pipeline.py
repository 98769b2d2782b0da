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
    samples: list[np.ndarray]  # float calibration samples, one batch per model input
    calib_is_random: bool
    warnings: list[str] = field(default_factory=list)
    # The .tflite the graph was read from (a .tflite input or --quantizer tflite).
    tflite: object | None = None  # mcugen.tflite.loader.TFLiteModel
    # The Keras model's input and output names in its own order (its graph's
    # order may differ: TFLiteConverter orders a signature its own way).
    keras_io: tuple[list[str], list[str]] | None = None
    # Whose outputs reference_predict gave for a .tflite: LiteRT's, or TFLM's
    # where LiteRT cannot run the model.
    reference_oracle: str = "LiteRT"

    @property
    def calib(self) -> np.ndarray:
        """The calibration samples of a one-input model."""
        if len(self.samples) != 1:
            raise ValueError(f"the model has {len(self.samples)} inputs: use samples")
        return self.samples[0]

    def reference_predict(self, x) -> list[np.ndarray]:
        """The model mcugen's int8 outputs are held against, one array per
        output: the float Keras model, or for a .tflite input (which has
        none) LiteRT's dequantized outputs on the same inputs (TFLM's where
        LiteRT cannot run the model)."""
        g = self.graph
        xs = g.input_arrays(x)
        if self.keras_model is not None:
            in_names, out_names = g.io_names()
            k_in, k_out = self.keras_io or (in_names, out_names)
            xs = [xs[i] for i in permutation(in_names, k_in)]
            # A stateful (streaming) model runs the rows as one sequence from
            # its reset state, one row per batch, as the C and the reference do.
            stateful = [layer for layer in getattr(self.keras_model, "layers", []) if getattr(layer, "stateful", False)]
            for layer in stateful:
                layer.reset_states()
            y = self.keras_model.predict(xs[0] if len(xs) == 1 else xs, verbose=0, batch_size=1 if stateful else 256)
            ys = [y[k] for k in y] if isinstance(y, dict) else list(y) if isinstance(y, (list, tuple)) else [y]
            return [np.asarray(ys[i]) for i in permutation(k_out, out_names)]
        from .oracles import run_litert, run_tflm

        xq = g.quantize_inputs(xs)
        try:
            outs = run_litert(self.tflite, xq).all_outputs
        except McugenError:  # a model LiteRT cannot run (an SVDF with an int8 state): TFLM's outputs
            outs = run_tflm(self.tflite, xq).all_outputs
            self.reference_oracle = "TFLM"
        return g.dequantize_outputs(outs)


def permutation(have: list[str], want: list[str]) -> list[int]:
    """Indices into ``have`` that give the order of ``want`` (by name; the
    identity when the names do not match one to one)."""
    if sorted(have) != sorted(want) or len(set(have)) != len(have):
        return list(range(len(have)))
    return [have.index(n) for n in want]


def adopt_keras_names(g: Graph, keras_io: tuple[list[str], list[str]]) -> None:
    """TFLiteConverter keys a Keras model's outputs output_0, output_1 ...
    in the model's order: give them the Keras output names."""
    _, outs = g.io_names()
    k_out = keras_io[1]
    idx = [int(o[len("output_"):]) if o.startswith("output_") and o[len("output_"):].isdigit() else -1 for o in outs]
    if len(k_out) == len(outs) and sorted(idx) == list(range(len(outs))):
        g.output_names = [k_out[i] for i in idx]


def random_calibration_warning(path: Path) -> str:
    lo, hi = RANDOM_RANGE
    return (
        f"warning: no --calib given: calibrating {path.name} on random inputs uniform in [{lo:g}, {hi:g}]; "
        "int8 accuracy may suffer. Pass real inputs with --calib FILE (.npz with array 'x', or .npy, "
        "shaped (N, *input shape); for several inputs an .npz with one array per input, named as the "
        "input or x0, x1 ...)."
    )


QUANTIZERS = ("mcugen", "tflite", "tflite-16x8")


def _samples(g: Graph, calib, warn, make_random) -> tuple[list[np.ndarray], bool]:
    names, _ = g.io_names()
    shapes = [t.shape for t in g.input_tensors]
    if calib is not None:
        return load_calibration(calib, shapes, warn=warn, names=names), False
    return [make_random(k, s) for k, s in enumerate(shapes)], True


def _prepare_tflite(path: Path, calib, warn=None) -> Prepared:
    from .tflite.loader import load_tflite

    tm = load_tflite(path)
    g = tm.graph
    check_graph(g)

    def codes(k, shape):
        # Test inputs only (nothing is calibrated): every int8 input code
        # (int16: codes over the whole range).
        rng = np.random.default_rng(k)
        lo, hi = g.tensors[g.inputs[k]].limits
        x = rng.integers(lo, hi + 1, size=(128,) + shape).astype(g.tensors[g.inputs[k]].np_dtype)
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
    if quantizer in ("tflite", "tflite-16x8"):
        from .tflite.loader import graph_from_tflite
        from .tflite_quantizer import convert_keras

        int16 = quantizer == "tflite-16x8"
        tm = graph_from_tflite(convert_keras(model, samples if len(samples) > 1 else samples[0], int16=int16),
                               g.name, f"{path.name} (quantized by TFLiteConverter{' in 16x8' if int16 else ''})")
        check_graph(tm.graph)
        keras_io = g.io_names()
        adopt_keras_names(tm.graph, keras_io)
        samples = [samples[i] for i in permutation(keras_io[0], tm.graph.io_names()[0])]
        return Prepared(path, model, tm.graph, samples, is_random, warnings, tm, keras_io)
    try:
        quantize_graph(g, samples)
    except (ValueError, IndexError) as e:  # a layer whose arithmetic disagrees with the shapes Keras gives
        from .limits import shown

        raise McugenError(f"{shown(path)}: the layers do not compute the shapes the model declares "
                          f"({shown(str(e).splitlines()[0])[:160]})") from None
    check_graph(g)
    return Prepared(path, model, g, samples, is_random, warnings, None, g.io_names())
