"""``mcugen check``: the generated C on the host against the int8 reference
(byte for byte, layer by layer) and the int8 model against the float model."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .emit import render
from .host import run_host
from .pipeline import Prepared
from .reference import run_int8
from .task import is_classifier


@dataclass
class CheckResult:
    inputs: int
    bit_exact: int
    max_abs_diff: int
    first_mismatch_layer: str | None
    float_agreement: float | None
    float_max_abs_err: float

    def to_json(self) -> dict:
        return asdict(self)


def test_inputs(p: Prepared, n: int, seed: int = 1) -> np.ndarray:
    """n float inputs: the calibration samples first; random ones (uniform in
    the calibration data's range) make up any shortfall."""
    x = p.calib[:n]
    if len(x) < n:
        rng = np.random.default_rng(seed)
        lo, hi = float(p.calib.min()), float(p.calib.max())
        extra = rng.uniform(lo, hi, size=(n - len(x),) + p.calib.shape[1:]).astype(np.float32)
        x = np.concatenate([x, extra])
    return x


def run_check(p: Prepared, n: int = 100, sanitize: bool = True) -> CheckResult:
    g = p.graph
    x = test_inputs(p, n)
    xq = g.input.q.quantize(x)
    ref = run_int8(g, xq)
    cm = render(g, source=p.path.name)
    host = run_host(g, cm, xq, sanitize=sanitize)
    ref_out = ref[g.outputs[0]]
    same = np.all((host.outputs == ref_out).reshape(len(xq), -1), axis=1)
    first = None
    for op, got in zip(g.ops, host.layers):
        if not np.array_equal(got, ref[op.outputs[0]]):
            first = op.name
            break
    diff = int(np.abs(host.outputs.astype(np.int32) - ref_out.astype(np.int32)).max(initial=0))
    # Float model on the very inputs the int8 model saw (quantized, dequantized);
    # for a .tflite input, which has no float model, LiteRT's int8 output.
    xf = g.input.q.dequantize(xq).astype(np.float32)
    yf = p.reference_predict(xf).reshape(ref_out.shape)
    yq = g.output.q.dequantize(ref_out)
    agreement = None
    if is_classifier(g):
        agreement = float(np.mean(np.argmax(yf, axis=1) == np.argmax(yq, axis=1)))
    return CheckResult(
        inputs=len(xq),
        bit_exact=int(same.sum()),
        max_abs_diff=diff,
        first_mismatch_layer=first,
        float_agreement=agreement,
        float_max_abs_err=float(np.abs(yf - yq).max(initial=0.0)),
    )
