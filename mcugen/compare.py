"""``mcugen compare``: the generated C (host build) against TFLite's own
interpreters, LiteRT (reference kernels) and TFLite Micro, on the same inputs.

For a ``.tflite`` input or ``--quantizer tflite`` every layer of mcugen's
graph is one operator of the file, so each layer is compared twice:

* end to end: the C's layer output against the oracle's tensor when both ran
  the whole model from the same input (errors propagate);
* locally: mcugen's int8 op (whose C equals it byte for byte, checked here
  too) run on the oracle's *own* inputs to that layer, against the oracle's
  output of it. This pins a difference on the op that makes it.

The target: every layer locally identical to TFLM, and to LiteRT, except
where the two oracles' kernels are known to differ from each other
(``DIVERGENT``); there each layer must match the other oracle exactly.

For a Keras model with mcugen's own quantizer the oracle runs TFLiteConverter's
quantization of the same model: the two quantizations differ, so there is no
byte target; the output agreement (in mcugen's output quantization) is
reported for information.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .check import test_samples
from .emit import render
from .errors import McugenError
from .host import run_host
from .oracles import ORACLES, run_oracle
from .pipeline import Prepared
from .reference import run_int8

ORACLE_TITLES = {"litert": "LiteRT (reference kernels)", "tflm": "TFLite Micro"}

# Ops whose kernel in one oracle is known to compute differently from the
# other's; mcugen matches the other one there.
DIVERGENT = {
    "litert": {
        "FULLY_CONNECTED": "LiteRT's int8 FULLY_CONNECTED rounds the requantization once (the exact "
        "product, rounded half up); TFLM rounds twice (SaturatingRoundingDoublingHighMul, then "
        "RoundingDivideByPOT), as mcugen's rounding contract and every other int8 op do. mcugen matches TFLM",
        "LOGISTIC": "LiteRT evaluates int8 LOGISTIC through a float-built lookup table; TFLM uses gemmlowp's "
        "fixed-point logistic. mcugen matches TFLM",
        "TANH": "LiteRT evaluates int8 TANH through a float-built lookup table; TFLM uses gemmlowp's "
        "fixed-point tanh. mcugen matches TFLM",
        "SUM": "LiteRT's int8 SUM does not requantize as TFLM does (its reference kernel rescales the sum in "
        "float and casts to int8 without clamping; on random inputs it differs from TFLM on most bytes); TFLM "
        "requantizes in integers (QuantizedMeanOrSum) and clamps. mcugen matches TFLM",
        "UNIDIRECTIONAL_SEQUENCE_LSTM": "LiteRT's integer LSTM (EvalInteger8x8_16: effective scales of its own, "
        "biases folded with the zero points, its own cell and hidden arithmetic) differs from TFLM's (gates as "
        "FULLY_CONNECTED to int16, reference Logistic/Tanh and Mul kernels); it refuses 16x8 files. mcugen "
        "matches TFLM",
        "SVDF": "LiteRT's int8 SVDF (int16 state only) takes the state's zero point as 0; TFLM subtracts it in the "
        "time product and adds it to each new state value. mcugen matches TFLM",
    },
    "tflm": {
        "RELU6": "TFLM's int8 RELU6 clamps the input bytes and ignores the output's quantization (wrong "
        "whenever the two differ, as TFLiteConverter makes them for a standalone ReLU6); TFLite's reference "
        "kernel (LiteRT) requantizes first. mcugen matches LiteRT",
        **{f"SPACE_TO_BATCH_ND/{conv}/BATCH_TO_SPACE_ND": "TFLiteConverter's dilated convolution: the file "
           "records the batch of block x block images as 1 (left to run time), which TFLM never resizes, and "
           "TFLM's SPACE_TO_BATCH_ND pads with a value its Prepare never sets; LiteRT runs the pattern as "
           "written. mcugen folds it into one dilated convolution and matches LiteRT"
           for conv in ("CONV_2D", "DEPTHWISE_CONV_2D")},
    },
}


@dataclass
class LayerAgreement:
    layer: str
    op: str  # TFLite builtin operator
    op_index: int  # its position in the file
    identical_bytes_ratio: float  # C layer output vs the oracle's tensor, end to end
    max_abs_diff: int
    local_identical_bytes_ratio: float  # mcugen's op on the oracle's inputs vs its output


@dataclass
class OracleAgreement:
    oracle: str
    inputs: int
    identical_bytes_ratio: float | None
    max_abs_diff: int | None
    first_mismatch_layer: str | None
    layers: list[LayerAgreement] = field(default_factory=list)
    differs_on: list[str] = field(default_factory=list)  # ops locally different from mcugen
    unavailable: str | None = None  # why the oracle could not run the model


@dataclass
class CompareResult:
    model: str
    quantizer: str  # "tflite" (.tflite input or --quantizer tflite) or "mcugen"
    inputs: int
    target: str
    ok: bool
    c_matches_reference: bool
    oracles: dict[str, OracleAgreement]
    notes: list[str]
    # Oracles that could not run the model: their part of the target was not
    # checked, and ``ok`` is False (``mcugen compare`` exits 2 if the rest held).
    unchecked: list[str] = field(default_factory=list)
    met_where_checked: bool = True

    @property
    def verdict(self) -> str:
        if self.unchecked and self.quantizer == "tflite":
            checked = "met" if self.met_where_checked else "NOT met"
            return (f"{checked} where checked; NOT checked against "
                    f"{' or '.join(ORACLE_TITLES[o] for o in self.unchecked)}, which could not run the model")
        return "met" if self.ok else "NOT met"

    def to_json(self, layers: bool = False) -> dict:
        d = asdict(self)
        d["verdict"] = self.verdict
        for o in d["oracles"].values():
            if not layers:
                o.pop("layers")
        return d


def _ratio(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    a = np.asarray(a, dtype=np.int32).reshape(-1)
    b = np.asarray(b, dtype=np.int32).reshape(-1)
    if a.size == 0:
        return 1.0, 0
    return float(np.mean(a == b)), int(np.abs(a - b).max())


def _joined(ys: list[np.ndarray]) -> np.ndarray:
    """Every output of every sample, as one (N, total bytes) array."""
    return np.concatenate([np.asarray(y).reshape(len(y), -1) for y in ys], axis=1)


def _label(layer: str, op: str, index: int) -> str:
    return f"{layer} ({op} #{index})"


def run_compare(p: Prepared, n: int = 100, sanitize: bool = True, litert_resolver: str = "reference") -> CompareResult:
    g = p.graph
    x = test_samples(p, n)
    xq = g.quantize_inputs(x)
    ref = run_int8(g, xq)
    host = run_host(g, render(g, source=p.path.name), xq, sanitize=sanitize)
    c_ok = all(np.array_equal(got, ref[t]) for got, t in zip(host.all_outputs, g.outputs)) and all(
        np.array_equal(got, ref[op.outputs[0]]) for op, got in zip(g.ops, host.layers)
    )
    if p.tflite is None:
        return _compare_other_quantizer(p, x, host.all_outputs, c_ok, litert_resolver)
    tm = p.tflite
    mapped = [t for t in tm.tensor_index if t in g.tensors]
    indices = sorted({tm.tensor_index[t] for t in mapped})
    results: dict[str, OracleAgreement] = {}
    for name in ORACLES:
        try:
            run = run_oracle(name, tm, xq, tensors=indices, resolver=litert_resolver)
        except McugenError as e:  # e.g. TFLM refuses tensors with dynamic shapes
            results[name] = OracleAgreement(name, len(xq[0]), None, None, None, unavailable=str(e))
            continue
        ratio, diff = _ratio(_joined(host.all_outputs), _joined(run.all_outputs))
        agreement = OracleAgreement(name, len(xq[0]), ratio, diff, None)
        vals = dict(zip(g.inputs, xq))
        for op, got in zip(g.ops, host.layers):
            # Each op on the oracle's own inputs ("local"); a model with state
            # runs as a sequence, so there its layers are compared end to end.
            y = ref[op.outputs[0]] if g.variables else op.forward_int(g, [vals[t] for t in op.inputs])
            out = op.outputs[0]
            if out not in tm.tensor_index:
                vals[out] = y
                continue
            theirs = run.tensors[tm.tensor_index[out]].reshape(y.shape).astype(y.dtype)
            vals[out] = theirs
            index, opname = tm.op_info.get(op.name, (-1, op.kind))
            opname = getattr(op, "tflite_pattern", None) or opname
            e2e, e2e_diff = _ratio(got, theirs)
            local, _ = _ratio(y, theirs)
            agreement.layers.append(LayerAgreement(op.name, opname, index, e2e, e2e_diff, local))
            if e2e < 1.0 and agreement.first_mismatch_layer is None:
                agreement.first_mismatch_layer = _label(op.name, opname, index)
            if local < 1.0 and opname not in agreement.differs_on:
                agreement.differs_on.append(opname)
        results[name] = agreement
    ok, notes = _judge(results, c_ok)
    target = ("every layer byte-identical to TFLM and to LiteRT, except where their kernels differ from "
              "each other (then identical to the other one)")
    unchecked = [name for name, r in results.items() if r.unavailable]
    met, _ = _judge({k: r for k, r in results.items() if not r.unavailable}, c_ok)
    return CompareResult(p.path.name, "tflite", len(xq[0]), target, ok, c_ok, results, notes, unchecked, met)


C_DIFFERS = "the generated C differs from mcugen's int8 reference"


def _judge(results: dict[str, OracleAgreement], c_ok: bool) -> tuple[bool, list[str]]:
    ok, notes = c_ok, []
    if not c_ok:
        notes.append(C_DIFFERS + " (see `mcugen check`)")
    other = {"litert": "tflm", "tflm": "litert"}
    local = {name: {(la.layer, la.op): la.local_identical_bytes_ratio for la in r.layers} for name, r in results.items()}
    for name, r in results.items():
        if r.unavailable:
            ok = False
            notes.append(f"{ORACLE_TITLES[name]} could not run the model, so its half of the target was NOT "
                         f"checked: {r.unavailable}")
        for la in r.layers:
            if la.local_identical_bytes_ratio >= 1.0:
                continue
            mate = local.get(other[name], {}).get((la.layer, la.op), 0.0)
            if la.op in DIVERGENT[name] and mate >= 1.0:
                continue
            ok = False
            notes.append(f"{ORACLE_TITLES[name]} differs from mcugen on layer {_label(la.layer, la.op, la.op_index)} "
                         f"({la.local_identical_bytes_ratio:.4%} of its bytes identical on the oracle's own inputs)")
        for op in r.differs_on:
            if op in DIVERGENT[name]:
                notes.append(f"{ORACLE_TITLES[name]} differs on {op}: {DIVERGENT[name][op]}.")
    return ok, notes


def _compare_other_quantizer(p: Prepared, x, c_out, c_ok, litert_resolver) -> CompareResult:
    """mcugen's own quantization against TFLiteConverter's: no byte target."""
    from .tflite.loader import graph_from_tflite
    from .tflite_quantizer import convert_keras

    from .pipeline import adopt_keras_names, permutation

    g = p.graph
    gin, gout = g.io_names()
    tm = graph_from_tflite(convert_keras(p.keras_model, p.samples if len(p.samples) > 1 else p.samples[0]),
                           g.name, f"{p.path.name} (TFLiteConverter)")
    adopt_keras_names(tm.graph, (gin, gout))
    tin, tout = tm.graph.io_names()
    xq_t = tm.graph.quantize_inputs([x[i] for i in permutation(gin, tin)])
    n = len(x[0])
    results = {}
    for name in ORACLES:
        try:
            run = run_oracle(name, tm, xq_t, resolver=litert_resolver)
        except McugenError as e:
            results[name] = OracleAgreement(name, n, None, None, None, unavailable=str(e))
            continue
        ys = tm.graph.dequantize_outputs(run.all_outputs)
        theirs = [g.q(t).quantize(ys[i].astype(np.float32)) for t, i in zip(g.outputs, permutation(tout, gout))]
        ratio, diff = _ratio(_joined(c_out), _joined(theirs))
        results[name] = OracleAgreement(name, n, ratio, diff, None)
    notes = ["mcugen's own quantizer and TFLiteConverter choose different quantization parameters, so no "
             "byte-exact agreement is expected: the oracles' outputs are compared in mcugen's output "
             "quantization, and no layer is compared. Use --quantizer tflite for the byte-exact comparison."]
    if not c_ok:
        notes.insert(0, C_DIFFERS + " (see `mcugen check`)")
    for name, r in results.items():
        if r.unavailable:
            notes.append(f"{ORACLE_TITLES[name]} could not run TFLiteConverter's model: {r.unavailable}")
    return CompareResult(p.path.name, "mcugen", n, "none (different quantizations)", c_ok, c_ok, results, notes,
                         [name for name, r in results.items() if r.unavailable])
