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
METRICS = ("accuracy", "mae", "auc")


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


def load_labelled(path: str | Path, shape: tuple[int, ...], y_optional: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(inputs, labels) of an .npz; labels None when absent and ``y_optional``
    (mean absolute error of an autoencoder: its targets are its inputs)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise McugenError(f"{path}: --data expects an .npz file with arrays 'x' (inputs) and 'y' (labels)")
    x = load_array(path, "x")
    with np.load(path, allow_pickle=False) as z:
        if "x" not in z.files or ("y" not in z.files and not y_optional):
            raise McugenError(f"{path}: holds {', '.join(z.files) or 'nothing'}; it needs arrays 'x' and 'y'")
        y = z["y"] if "y" in z.files else None
    x = as_inputs(x, shape, f"evaluation inputs {path}")
    if y is not None and len(y) != len(x):
        raise McugenError(f"{path}: {len(x)} inputs but {len(y)} labels")
    return x, None if y is None else np.asarray(y)


ANOMALOUS = ("anomalous", "anomaly", "abnormal")
NORMAL = ("normal",)


def anomaly_labels(y: np.ndarray, where: str) -> np.ndarray:
    """Labels as booleans, True = anomalous: 0/1 (any non-zero number is
    anomalous) or the strings normal / anomalous."""
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind in "US":
        words = np.char.lower(y.astype(str))
        bad = sorted(set(words.tolist()) - set(ANOMALOUS) - set(NORMAL))
        if bad:
            raise McugenError(f"{where}: labels {bad[:3]} are neither normal nor anomalous")
        labels = np.isin(words, ANOMALOUS)
    elif y.dtype.kind in "biuf":
        labels = y != 0
    else:
        raise McugenError(f"{where}: labels of type {y.dtype} (0/1 or normal/anomalous expected)")
    if labels.all() or not labels.any():
        raise McugenError(f"{where}: ROC AUC needs normal and anomalous samples; all {len(labels)} are "
                          f"{'anomalous' if labels.all() else 'normal'}")
    return labels


def roc_auc(scores: np.ndarray, anomalous: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher = more anomalous): the
    probability that an anomalous sample scores above a normal one, ties
    counting half (the Mann-Whitney statistic, as scikit-learn computes it)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average ranks over ties
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    n_pos = int(anomalous.sum())
    n_neg = len(scores) - n_pos
    return float((ranks[anomalous].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def anomaly_scores(pred: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per sample: the mean squared reconstruction error of an autoencoder
    (output the size of the input), or a one-value output itself."""
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if pred.shape == x.shape:
        return np.mean((pred - x) ** 2, axis=1)
    return pred[:, 0]


def score(pred: np.ndarray, y: np.ndarray, metric: str, x: np.ndarray | None = None) -> float:
    """``metric`` of predictions ``pred`` against labels ``y`` (for auc,
    anomaly labels, scored from ``pred`` and the inputs ``x``)."""
    if metric == "auc":
        return roc_auc(anomaly_scores(pred, x), y)
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
    from .tflite.loader import graph_from_tflite
    from .tflite_quantizer import convert_keras

    if metric not in METRICS:
        raise McugenError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    model = Path(model)
    p = prepare(model, calib, warn=warn)
    if len(p.graph.inputs) != 1 or len(p.graph.outputs) != 1:
        raise McugenError(f"{model.name}: eval scores a model with one input and one output; this one has "
                          f"{len(p.graph.inputs)} inputs and {len(p.graph.outputs)} outputs (check and compare "
                          "cover every output)")
    g_in, g_out = p.graph.input, p.graph.output
    autoencoder = g_out.size == g_in.size
    x, y = load_labelled(data, g_in.shape, y_optional=metric == "mae" and autoencoder)
    notes = []
    if y is None:
        y = x
        notes.append(f"{Path(data).name} has no 'y': the output is the size of the input, so the targets "
                     "are the inputs (an autoencoder's reconstruction error)")
    if metric == "auc":
        if not autoencoder and g_out.size != 1:
            raise McugenError(f"--metric auc scores an autoencoder (output the size of the input) or a model with "
                              f"one output; {model.name} has {g_out.size} outputs for {g_in.size} inputs")
        y = anomaly_labels(y, str(data))
        notes.append("ROC AUC of the anomaly score: " + (
            "the mean squared reconstruction error per sample" if autoencoder else "the model's output"))
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
    s = {k: (score(np.concatenate(v), y, metric, x) if v else None) for k, v in preds.items()}
    if g_m is None:
        s["mcugen"] = s["mcugen_tflite"]
    return EvalResult(model.name, Path(data).name, len(x), metric, s["float"], s["mcugen"], s["tflite"],
                      s["mcugen_tflite"], calibration, notes)
