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

from .errors import McugenError

CHUNK = 64
METRICS = ("accuracy", "mae", "auc")


@dataclass
class OutputScore:
    """One scored output: its name and the metric of each model on it."""
    name: str
    float: float | None
    mcugen_int8: float | None
    tflite_int8: float
    mcugen_tflite_int8: float


@dataclass
class EvalResult:
    """The top-level scores are those of the first scored output (``outputs[0]``),
    so that one-output consumers read them as before."""
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
    outputs: list[OutputScore] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # outputs the data holds no labels for

    def to_json(self) -> dict:
        return asdict(self)


def label_keys(names: list[str]) -> list[tuple[str, ...]]:
    """The .npz names each output's labels may have: 'y' for a model with one
    output (as always), else y_<output name> or y0, y1 ... in the model's order."""
    if len(names) == 1:
        return [("y", f"y_{names[0]}", "y0")]
    return [(f"y_{n}", f"y{k}") for k, n in enumerate(names)]


def load_labelled(path: str | Path, in_names: list[str], in_shapes: list[tuple[int, ...]],
                  out_names: list[str]) -> tuple[list[np.ndarray], list[np.ndarray | None], list[str]]:
    """(inputs, labels, array names) of an .npz: one input array per input
    (as for --calib) and, per output, its labels and the name of their array
    (None and '' where the file holds none)."""
    from .data import load_inputs
    from .limits import shown

    path = Path(path)
    if path.suffix != ".npz":
        raise McugenError(f"{shown(path)}: --data expects an .npz file with arrays 'x' (inputs) and 'y' (labels)")
    with np.load(path, allow_pickle=False) as z:
        files = list(z.files)
    if len(in_names) == 1 and "x" not in files and in_names[0] not in files and "x0" not in files:
        raise McugenError(f"{shown(path)}: holds {', '.join(shown(f) for f in files[:8]) or 'nothing'}; "
                          "it needs arrays 'x' and 'y'")
    xs = load_inputs(path, in_names, in_shapes, "evaluation inputs")
    ys, keys = [], []
    with np.load(path, allow_pickle=False) as z:
        for names in label_keys(out_names):
            key = next((k for k in names if k in z.files), None)
            keys.append(key or "")
            ys.append(None if key is None else np.asarray(z[key]))
    return xs, ys, keys


def check_labels(y: np.ndarray, n: int, size: int, metric: str, where: str) -> np.ndarray:
    """Labels for ``n`` samples of an output of ``size`` values, shaped as
    ``metric`` reads them; one line naming the array when they are not."""
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != n:
        raise McugenError(f"{where}: {n} inputs but {1 if y.ndim == 0 else len(y)} labels")
    cols = y.reshape(n, -1).shape[1] if n else 0
    if metric == "mae" and cols != size:
        raise McugenError(f"{where}: labels shaped {tuple(y.shape)}; mae needs one target per output value, "
                          f"(N, {size})")
    if metric == "accuracy" and cols not in (1, size):
        raise McugenError(f"{where}: labels shaped {tuple(y.shape)}; accuracy needs class indices (N,) or "
                          f"one-hot labels (N, {size})")
    if metric == "auc" and cols != 1:
        raise McugenError(f"{where}: labels shaped {tuple(y.shape)}; auc needs one label per sample (N,)")
    if metric != "auc" and y.dtype.kind not in "biuf":
        raise McugenError(f"{where}: labels of type {y.dtype}; {metric} needs numbers")
    return y


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


def anomaly_scores(pred: np.ndarray, x: np.ndarray | None) -> np.ndarray:
    """Per sample: the mean squared reconstruction error of an autoencoder
    (output the size of its one input ``x``), or a one-value output itself."""
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    if x is not None:
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
    from .limits import shown
    from .oracles import run_litert
    from .pipeline import adopt_keras_names, permutation, prepare
    from .reference import int8_outputs
    from .tflite.loader import graph_from_tflite
    from .tflite_quantizer import convert_keras

    if metric not in METRICS:
        raise McugenError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    model = Path(model)
    p = prepare(model, calib, warn=warn)
    g = p.graph  # the Keras model's order of inputs and outputs (or the .tflite file's)
    in_names, out_names = g.io_names()
    in_sizes = [t.size for t in g.input_tensors]
    out_sizes = [t.size for t in g.output_tensors]
    xs, ys, keys = load_labelled(data, in_names, [t.shape for t in g.input_tensors], out_names)
    n = len(xs[0])
    x_one = xs[0] if len(xs) == 1 else None  # an autoencoder reconstructs its one input
    several = len(out_names) > 1
    notes, scored, skipped = [], [], []

    def names_of(k: int) -> str:
        return " or ".join(repr(c) for c in label_keys(out_names)[k])

    for k, (name, size) in enumerate(zip(out_names, out_sizes)):
        autoencoder = x_one is not None and size == in_sizes[0]
        label = f"output {shown(name)!r}" if several else "the output"
        if metric == "auc" and ys[k] is not None and not autoencoder and size != 1:
            if several:
                raise McugenError(f"--metric auc scores a one-value output or an autoencoder's (the size of its "
                                  f"one input); {model.name}'s {label} has {size} values")
            raise McugenError(f"--metric auc scores an autoencoder (output the size of the input) or a model with "
                              f"one output; {model.name} has {size} outputs for {sum(in_sizes)} inputs")
        if ys[k] is None:
            if metric == "mae" and autoencoder:
                ys[k] = x_one
                notes.append(f"{Path(data).name} has no {names_of(k) if several else repr('y')}: {label} is the size of the input, so "
                             "the targets are the inputs (an autoencoder's reconstruction error)")
            elif several:
                skipped.append(name)
                notes.append(f"{label} not scored: {Path(data).name} has no labels for it ({names_of(k)})")
                continue
            else:
                with np.load(data, allow_pickle=False) as z:
                    held = ", ".join(shown(f) for f in z.files[:8])
                raise McugenError(f"{shown(data)}: holds {held}; it needs arrays "
                                  + ("'x' and 'y'" if len(in_names) == 1 else "'y' (the labels) and one per input"))
        else:
            where = f"{shown(data)}" + (f" (array {shown(keys[k])!r}, {label})" if several else "")
            ys[k] = check_labels(ys[k], n, size, metric, where)
            if metric == "auc":
                ys[k] = anomaly_labels(ys[k], str(data))
                notes.append("ROC AUC of the anomaly score" + (f" of {label}" if several else "") + ": " + (
                    "the mean squared reconstruction error per sample" if autoencoder else "the model's output"))
        scored.append(k)
    if not scored:
        want = ", ".join(f"{names_of(k)} shaped (N,) or (N, {s})" for k, s in enumerate(out_sizes))
        raise McugenError(f"{shown(data)}: no labels for any of the {len(out_names)} outputs; name them {want}")
    if p.tflite is not None:  # a .tflite input: the file is TFLite's model, in the graph's order
        tm, g_m, t_in, t_out = p.tflite, None, list(range(len(in_names))), list(range(len(out_names)))
        notes.append("a .tflite input has no float model and is quantized already: mcugen's int8 model is "
                     "the file's quantization built by mcugen")
    else:
        g_m = g
        try:
            tm = graph_from_tflite(convert_keras(p.keras_model, p.samples if len(p.samples) > 1 else p.samples[0]),
                                   g.name, f"{model.name} (TFLiteConverter)")
        except McugenError as e:  # e.g. a recurrent layer: scored by mcugen's quantizer alone
            tm = None
            notes.append(f"no TFLite int8 columns: {e}")
        if tm is not None:
            # TFLiteConverter orders a signature's inputs and outputs its own way:
            # feed and read them by the Keras names.
            adopt_keras_names(tm.graph, (in_names, out_names))
            tin, tout = tm.graph.io_names()
            t_in, t_out = permutation(in_names, tin), permutation(tout, out_names)
    calibration = "none (the .tflite file's own quantization)" if p.tflite is not None else (
        "random inputs" if p.calib_is_random else str(calib))
    preds = {"float": [], "mcugen": [], "tflite": [], "mcugen_tflite": []}
    task = progress.add_task("evaluating", total=n) if progress is not None else None
    gt = tm.graph if tm is not None else None
    for start in range(0, n, CHUNK):
        xb = [x[start : start + CHUNK] for x in xs]
        if p.keras_model is not None:
            preds["float"].append(p.reference_predict(xb))
        if g_m is not None:
            preds["mcugen"].append(g_m.dequantize_outputs(int8_outputs(g_m, g_m.quantize_inputs(xb))))
        if gt is not None:
            xq = gt.quantize_inputs([xb[i] for i in t_in])
            lite = gt.dequantize_outputs(run_litert(tm, xq).all_outputs)
            ours = gt.dequantize_outputs(int8_outputs(gt, xq))
            preds["tflite"].append([lite[i] for i in t_out])
            preds["mcugen_tflite"].append([ours[i] for i in t_out])
        if task is not None:
            progress.advance(task, len(xb[0]))
    outputs = []
    for k in scored:
        s = {key: (score(np.concatenate([c[k] for c in v]), ys[k], metric, x_one) if v else None)
             for key, v in preds.items()}
        if g_m is None:
            s["mcugen"] = s["mcugen_tflite"]
        outputs.append(OutputScore(out_names[k], s["float"], s["mcugen"], s["tflite"], s["mcugen_tflite"]))
    first = outputs[0]
    return EvalResult(model.name, Path(data).name, n, metric, first.float, first.mcugen_int8, first.tflite_int8,
                      first.mcugen_tflite_int8, calibration, notes, outputs, skipped)
