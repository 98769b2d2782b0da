"""``mcugen eval``: task accuracy (or mean absolute error) of the float Keras
model, of mcugen's int8 model and of TFLite's int8 model on the same data.

* float: the Keras model (none for a ``.tflite`` input);
* mcugen int8: mcugen's quantization (``--calib``), run by the numpy int8
  reference, which the generated C equals byte for byte (``mcugen check``);
* TFLite int8: TFLiteConverter's full-int8 quantization of the same model
  with the same calibration samples, run by LiteRT (reference kernels); for a
  ``.tflite`` input, the file itself;
* mcugen --quantizer tflite: that same TFLite quantization built by mcugen
  (byte-identical to TFLite Micro).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .data import as_inputs, load_array
from .errors import McugenError

CHUNK = 64
METRICS = ("accuracy", "mae")


@dataclass
class EvalResult:
    model: str
    data: str
    samples: int
    metric: str
    float: float | None
    mcugen_int8: float | None
    tflite_int8: float
    mcugen_tflite_int8: float
    calibration: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def load_labelled(path: str | Path, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    path = Path(path)
    if path.suffix != ".npz":
        raise McugenError(f"{path}: --data expects an .npz file with arrays 'x' (inputs) and 'y' (labels)")
    x = load_array(path, "x")
    with np.load(path, allow_pickle=False) as z:
        if "x" not in z.files or "y" not in z.files:
            raise McugenError(f"{path}: holds {', '.join(z.files) or 'nothing'}; it needs arrays 'x' and 'y'")
        y = z["y"]
    x = as_inputs(x, shape, f"evaluation inputs {path}")
    if len(y) != len(x):
        raise McugenError(f"{path}: {len(x)} inputs but {len(y)} labels")
    return x, np.asarray(y)


def score(pred: np.ndarray, y: np.ndarray, metric: str) -> float:
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    if metric == "mae":
        return float(np.mean(np.abs(pred - np.asarray(y, dtype=np.float64).reshape(pred.shape))))
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1)
    guess = (pred[:, 0] > 0.5).astype(np.int64) if pred.shape[1] == 1 else pred.argmax(axis=1)
    return float(np.mean(guess == labels.astype(np.int64)))


def run_eval(model: str | Path, data: str | Path, calib=None, metric: str = "accuracy", warn=None,
             progress=None) -> EvalResult:
    from .oracles import run_litert
    from .pipeline import prepare
    from .reference import int8_output
    from .tflite_loader import graph_from_tflite
    from .tflite_quantizer import convert_keras

    if metric not in METRICS:
        raise McugenError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    model = Path(model)
    p = prepare(model, calib, warn=warn)
    x, y = load_labelled(data, p.graph.input.shape)
    notes = []
    if p.tflite is not None:  # a .tflite input: the file is TFLite's model
        tm, g_m = p.tflite, None
        notes.append("a .tflite input has no float model and is quantized already: mcugen's int8 model is "
                     "the file's quantization built by mcugen")
    else:
        g_m = p.graph
        tm = graph_from_tflite(convert_keras(p.keras_model, p.calib), p.graph.name, f"{model.name} (TFLiteConverter)")
    calibration = "none (the .tflite file's own quantization)" if p.tflite is not None else (
        "random inputs" if p.calib_is_random else str(calib))
    preds = {"float": [], "mcugen": [], "tflite": [], "mcugen_tflite": []}
    chunks = range(0, len(x), CHUNK)
    task = progress.add_task("evaluating", total=len(x)) if progress is not None else None
    for start in chunks:
        xb = x[start : start + CHUNK]
        if p.keras_model is not None:
            preds["float"].append(np.asarray(p.keras_model.predict(xb, verbose=0)))
        if g_m is not None:
            preds["mcugen"].append(g_m.output.q.dequantize(int8_output(g_m, g_m.input.q.quantize(xb))))
        gt = tm.graph
        xq = gt.input.q.quantize(xb)
        preds["tflite"].append(gt.output.q.dequantize(run_litert(tm, xq).outputs))
        preds["mcugen_tflite"].append(gt.output.q.dequantize(int8_output(gt, xq)))
        if task is not None:
            progress.advance(task, len(xb))
    s = {k: (score(np.concatenate(v), y, metric) if v else None) for k, v in preds.items()}
    if g_m is None:
        s["mcugen"] = s["mcugen_tflite"]
    return EvalResult(model.name, Path(data).name, len(x), metric, s["float"], s["mcugen"], s["tflite"],
                      s["mcugen_tflite"], calibration, notes)
