"""``mcugen check``: the generated C on the host against the int8 reference
(byte for byte, layer by layer) and the int8 model against the float model."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .emit import render
from .host import run_host
from .pipeline import Prepared
from .reference import run_int8
from .task import output_is_classifier


@dataclass
class OutputCheck:
    """One output of a model with several."""

    name: str
    bit_exact: int
    max_abs_diff: int
    float_agreement: float | None
    float_max_abs_err: float


@dataclass
class CheckResult:
    inputs: int
    bit_exact: int  # inputs on which every output is exact
    max_abs_diff: int
    first_mismatch_layer: str | None
    float_agreement: float | None  # one output: its argmax agreement; several: None (see outputs)
    float_max_abs_err: float
    outputs: list[OutputCheck] = field(default_factory=list)  # a model with several outputs: each

    def to_json(self) -> dict:
        d = asdict(self)
        if not self.outputs:
            d.pop("outputs")
        return d


def test_inputs(p: Prepared, n: int, seed: int = 1):
    """``test_samples`` of a one-input model as its array (several inputs:
    the list)."""
    xs = test_samples(p, n, seed)
    return xs[0] if len(xs) == 1 else xs


def test_samples(p: Prepared, n: int, seed: int = 1) -> list[np.ndarray]:
    """n float samples per model input: the calibration samples first;
    random ones (uniform in each input's calibration range) make up any
    shortfall."""
    rng = np.random.default_rng(seed)
    xs = []
    for calib in p.samples:
        x = calib[:n]
        if len(x) < n:
            lo, hi = float(calib.min()), float(calib.max())
            extra = rng.uniform(lo, hi, size=(n - len(x),) + calib.shape[1:]).astype(np.float32)
            x = np.concatenate([x, extra])
        xs.append(x)
    return xs


def run_check(p: Prepared, n: int = 100, sanitize: bool = True) -> CheckResult:
    g = p.graph
    xq = g.quantize_inputs(test_samples(p, n))
    ref = run_int8(g, xq)
    cm = render(g, source=p.path.name)
    host = run_host(g, cm, xq, sanitize=sanitize)
    n_in = len(xq[0])
    ref_outs = [ref[t] for t in g.outputs]
    same_each = [np.all((got == want).reshape(n_in, -1), axis=1) for got, want in zip(host.all_outputs, ref_outs)]
    same = np.all(same_each, axis=0)
    first = None
    for op, got in zip(g.ops, host.layers):
        if not np.array_equal(got, ref[op.outputs[0]]):
            first = op.name
            break
    diffs = [int(np.abs(got.astype(np.int32) - want.astype(np.int32)).max(initial=0))
             for got, want in zip(host.all_outputs, ref_outs)]
    # Float model on the very inputs the int8 model saw (quantized, dequantized);
    # for a .tflite input, which has no float model, LiteRT's int8 output.
    xf = [g.q(t).dequantize(x).astype(np.float32) for t, x in zip(g.inputs, xq)]
    yfs = [np.asarray(y).reshape(r.shape) for y, r in zip(p.reference_predict(xf), ref_outs)]
    yqs = g.dequantize_outputs(ref_outs)
    agreements = [float(np.mean(np.argmax(yf, axis=1) == np.argmax(yq, axis=1))) if output_is_classifier(g, k) else None
                  for k, (yf, yq) in enumerate(zip(yfs, yqs))]
    errs = [float(np.abs(yf - yq).max(initial=0.0)) for yf, yq in zip(yfs, yqs)]
    _, names = g.io_names()
    per_output = [] if len(g.outputs) == 1 else [
        OutputCheck(name, int(s.sum()), d, a, e) for name, s, d, a, e in zip(names, same_each, diffs, agreements, errs)]
    return CheckResult(
        inputs=n_in,
        bit_exact=int(same.sum()),
        max_abs_diff=max(diffs),
        first_mismatch_layer=first,
        float_agreement=agreements[0] if len(g.outputs) == 1 else None,
        float_max_abs_err=max(errs),
        outputs=per_output,
    )
