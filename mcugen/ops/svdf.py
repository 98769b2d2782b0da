"""TFLite's SVDF (singular value decomposition filter), int8, with its
activation state kept between invocations.

Inputs of the operator in the file: the input [batch, n_in] int8, the
feature weights [n_filter, n_in] int8, the time weights [n_filter, n_memory]
(int8 or int16), an optional int32 bias [n_filter / rank] and the activation
state, a variable tensor [batch, n_filter * n_memory] of the time weights'
type. In the IR the op reads the input and the state (``inputs``) and
updates the state in place; the weights and the bias are its constants.

What is matched is TFLM's ``EvalIntegerSvdfReference<T>`` (svdf_common.cc,
T = the time weights' type) as the ``tflite-micro`` package runs it, checked
byte for byte against that interpreter over sequences of invocations
(tests/test_svdf.py):

* Prepare: effective_scale_1 = input_scale * feature_scale / state_scale and
  effective_scale_2 = state_scale * time_scale / output_scale, each computed
  in float32 (TfLiteTensor params are floats) and then widened to double for
  ``QuantizeMultiplier``. The bias scale must equal state_scale * time_scale
  within 1e-5, or TFLM refuses the model (so does mcugen).
* Eval: the whole state buffer moves left by one element; for each filter
  f, state[f][n_memory - 1] = T(clamp(MBQM(sum_c wf[f][c] * (x[c] - in_zp),
  scale 1), T's range) + state_zp): the zero point is added *after* the clamp
  and the int32 sum narrowed to T, i.e. it wraps (a later upstream revision
  adds it before the clamp; the packaged TFLM, the oracle, does not). Then
  out[u] = clamp(MBQM(bias[u] + sum over the rank filters of unit u of
  sum_j wt[f][j] * (state[f][j] - state_zp), scale 2) + out_zp, -128, 127),
  every sum in int32 (wrapping, as TFLM's compiled code does).
* No fused activation: TFLM's integer kernel ignores the options' RELU (it
  clamps to the int8 range only), and so does mcugen. (LiteRT's int8 SVDF
  requires RELU in the options, takes only an int16 state, and does not
  apply it either; it takes the state's zero point as 0, so it agrees with
  TFLM where that is 0: ``litert_refusal``, compare.DIVERGENT.)
* No bias: TFLM's Eval takes a missing bias as zeros; its Prepare reads the
  absent bias's scale (a crash in the packaged interpreter), so the test
  compares mcugen on such a file with TFLM on the same file with a zero bias.
* Reset: an int8 state starts at its zero point, an int16 state at 0
  (``MicroInterpreter::ResetVariableTensors``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op
from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from . import tflite_op

LIMITS = {np.dtype(np.int8): (-128, 127), np.dtype(np.int16): (-32768, 32767)}


def svdf_step(x, state, wf, wt, bias, rank, in_zp, state_zp, out_zp, m1, s1, m2, s2):
    """One invocation of TFLM's integer SVDF. x: (B, n_in) int8; state:
    (B, n_filter * n_memory) of wt's dtype. Returns (new state, int8 output
    (B, n_filter // rank))."""
    n_filter, n_memory = wt.shape
    lo, hi = LIMITS[np.dtype(wt.dtype)]
    b = x.shape[0]
    flat = np.asarray(state, dtype=np.int64).reshape(-1)
    flat = np.concatenate([flat[1:], flat[-1:]])  # the buffer moves left by one
    st = flat.reshape(b, n_filter, n_memory)
    dot = wrap_int32((np.asarray(x, dtype=np.int64) - in_zp) @ wf.astype(np.int64).T)  # (B, F)
    v = np.clip(multiply_by_quantized_multiplier(dot, m1, s1), lo, hi) + state_zp
    st[:, :, -1] = ((v - lo) & (hi - lo)) + lo  # narrowed to T: wraps
    per_filter = np.einsum("bfm,fm->bf", st - state_zp, wt.astype(np.int64))
    acc = per_filter.reshape(b, n_filter // rank, rank).sum(axis=2)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    out = multiply_by_quantized_multiplier(wrap_int32(acc), m2, s2) + out_zp
    return st.reshape(b, n_filter * n_memory).astype(wt.dtype), np.clip(out, -128, 127).astype(np.int8)


@dataclass(kw_only=True)
class Svdf(Op):
    kind: ClassVar[str] = "svdf"
    kernel: ClassVar[str] = "svdf"

    w_feature: np.ndarray  # int8 (n_filter, n_in)
    w_time: np.ndarray  # int8 or int16 (n_filter, n_memory)
    bias: np.ndarray | None  # int32 (n_filter // rank,)
    rank: int
    feature_scale: float  # float32 values, as the file stores them
    time_scale: float
    fused: str | None = None  # the options' activation, which TFLM's integer kernel does not apply
    m1: int = 0
    s1: int = 0
    m2: int = 0
    s2: int = 0

    @property
    def state(self) -> str:
        return self.inputs[1]

    @property
    def n_filter(self) -> int:
        return int(self.w_time.shape[0])

    @property
    def n_memory(self) -> int:
        return int(self.w_time.shape[1])

    @property
    def n_in(self) -> int:
        return int(self.w_feature.shape[1])

    @property
    def n_unit(self) -> int:
        return self.n_filter // self.rank

    def stem(self) -> str:
        return "svdf_s16" if self.w_time.dtype == np.int16 else "svdf"

    def kernels(self, g):
        return [self.stem()]

    def quantize(self, g):
        f32 = np.float32
        qi, qs, qo = g.q(self.inputs[0]), g.q(self.state), g.q(self.outputs[0])
        e1 = f32(f32(qi.scale) * f32(self.feature_scale)) / f32(qs.scale)
        e2 = f32(f32(qs.scale) * f32(self.time_scale)) / f32(qo.scale)
        self.m1, self.s1 = quantize_multiplier(float(e1))
        self.m2, self.s2 = quantize_multiplier(float(e2))

    def forward_float(self, g, xs):
        raise NotImplementedError("SVDF comes from .tflite files only, which are not run in float")

    def forward_float_state(self, g, xs, state):
        raise NotImplementedError("SVDF comes from .tflite files only, which are not run in float")

    def forward_int_state(self, g, xs, state):
        """One invocation: xs[0] the input with a leading batch of 1, the
        state tensor's current value in ``state``, updated here."""
        x = np.asarray(xs[0]).reshape(-1, self.n_in)
        cur = state[self.state].astype(self.w_time.dtype)
        new, y = svdf_step(x, cur, self.w_feature, self.w_time, self.bias, self.rank,
                           g.q(self.inputs[0]).zero_point, g.q(self.state).zero_point,
                           g.q(self.outputs[0]).zero_point, self.m1, self.s1, self.m2, self.s2)
        state[self.state] = new.reshape(np.shape(state[self.state]))
        return y.reshape((1,) + g.shape(self.outputs[0]))

    def litert_refusal(self, g) -> str | None:
        """Why LiteRT's int8 SVDF cannot run this layer (None: it runs it; it
        still differs from TFLM where the state's zero point is not 0, see
        mcugen.compare.DIVERGENT)."""
        if self.w_time.dtype != np.int16:
            return (f"its int8 SVDF takes an int16 state only (layer {self.name!r} keeps an int8 one, which "
                    "LiteRT would read past its end)")
        if self.fused != "relu":
            return f"its int8 SVDF requires RELU in the options (layer {self.name!r} has {self.fused or 'none'})"
        return None

    def constants(self):
        t = "int16_t" if self.w_time.dtype == np.int16 else "int8_t"
        arrays = [CArray("wf", "int8_t", self.w_feature), CArray("wt", t, self.w_time)]
        if self.bias is not None:
            arrays.append(CArray("b", "int32_t", self.bias))
        return arrays

    def c_call(self, g, c):
        batch = g.tensors[self.inputs[0]].size // self.n_in
        bias = c.const(self, "b") if self.bias is not None else "NULL"
        fn = "mcg_svdf_s16" if self.w_time.dtype == np.int16 else "mcg_svdf_s8"
        return (
            f"{fn}({c.tensor(self.inputs[0])}, {c.tensor(self.state)}, {c.tensor(self.outputs[0])}, "
            f"{c.const(self, 'wf')}, {c.const(self, 'wt')}, {bias}, "
            f"{batch}, {self.n_in}, {self.n_filter}, {self.n_memory}, {self.rank}, "
            f"{g.q(self.inputs[0]).zero_point}, {g.q(self.state).zero_point}, {g.q(self.outputs[0]).zero_point}, "
            f"{self.m1}, {self.s1}, {self.m2}, {self.s2});"
        )

    def macs(self, g):
        batch = g.tensors[self.inputs[0]].size // self.n_in
        return batch * self.n_filter * (self.n_in + self.n_memory)

    def param_count(self):
        return int(self.w_feature.size + self.w_time.size + (0 if self.bias is None else self.bias.size))

    def describe(self):
        wt = "int16" if self.w_time.dtype == np.int16 else "int8"
        fused = f", {self.fused} not applied (as TFLM)" if self.fused else ""
        return f"{self.n_in}->{self.n_unit} rank {self.rank} memory {self.n_memory} ({wt} state{fused})"


def _per_tensor_scale(cx, k: int, what: str) -> float:
    scales, zps, _ = cx.quant(k)
    if len(scales) != 1:
        cx.unsupported(f"{what} with {len(scales)} scales (TFLM's SVDF takes one scale per tensor)")
    if np.any(zps != 0):
        cx.unsupported(f"{what} with a non-zero zero point (TFLM's SVDF ignores it)")
    return float(scales[0])


@tflite_op("SVDF", options="SVDFOptions", options_required=True, int16=True)
def from_tflite(cx):
    """SVDF: input [batch, n_in] int8, feature weights [n_filter, n_in] int8,
    time weights [n_filter, n_memory] int8 or int16, bias [n_filter / rank]
    int32 or absent, state [batch, n_filter * n_memory] variable, of the time
    weights' type (TFLM reads the state as that type), output
    [batch, n_filter / rank] int8."""
    if cx.n_inputs() != 5:
        cx.unsupported(f"{cx.n_inputs()} inputs (5 expected: input, weights, time weights, bias, state)")
    rank = int(cx.options.rank or 0)
    cx.require_int8(0)
    x = cx.input(0)
    batch_in = cx.tshape(0)
    if len(batch_in) != 2:
        cx.unsupported(f"an input of shape {batch_in} ([batch, n_in] expected)")
    n_batch, n_in = batch_in
    cx.require_int8(1)
    wf = np.asarray(cx.const(1), dtype=np.int8)
    wt_type = cx.dtype(2)
    if wt_type not in ("INT8", "INT16"):
        cx.unsupported(f"time weights of type {wt_type} (int8 or int16 expected)")
    wt = np.asarray(cx.const(2), dtype=np.int16 if wt_type == "INT16" else np.int8)
    if wf.ndim != 2 or wt.ndim != 2 or wf.shape[1] != n_in or wt.shape[0] != wf.shape[0]:
        cx.unsupported(f"weights of shapes {wf.shape} and {wt.shape} for an input of {n_in} values")
    n_filter, n_memory = wt.shape
    if rank < 1 or n_filter % rank:
        cx.unsupported(f"rank {rank} for {n_filter} filters (a divisor of the filter count expected)")
    units = n_filter // rank
    state = cx.variable(4)
    i_state = cx.tensor_index(4)
    st_type = cx.dtype(4)
    if st_type != wt_type:
        cx.unsupported(f"a state of type {st_type} with time weights of type {wt_type} (TFLM reads the state "
                       "as the time weights' type)")
    if cx.loader.full_shape(i_state) != (n_batch, n_filter * n_memory):
        cx.unsupported(f"a state of shape {cx.loader.full_shape(i_state)} "
                       f"({(n_batch, n_filter * n_memory)} expected)")
    feature_scale = _per_tensor_scale(cx, 1, "feature weights")
    time_scale = _per_tensor_scale(cx, 2, "time weights")
    bias = cx.bias(3, units)
    q_state = cx.tensor_qparams(4)
    if bias is not None:
        b_scale = float(cx.quant(3)[0][0])
        want = float(np.float32(q_state.scale) * np.float32(time_scale))
        if abs(b_scale - want) >= 1e-5:  # TFLM's Prepare refuses it
            cx.unsupported(f"a bias scale of {b_scale:g} (state scale x time weights scale = {want:g} expected)")
    out_type = cx.output_dtype()
    if out_type != "INT8":
        cx.unsupported(f"an output of type {out_type} (int8 expected)")
    cx.set_output_shape((n_batch, units))
    # The options' activation is kept for the report: TFLM's integer kernel
    # applies none (see the module's docstring).
    fused = cx.loader.activation_names.get(int(getattr(cx.options, "fusedActivationFunction", 0) or 0))
    cx.add(Svdf(name=cx.name, inputs=[x, state], outputs=[cx.output], w_feature=wf, w_time=wt, bias=bias,
                rank=rank, feature_scale=feature_scale, time_scale=time_scale,
                fused=None if fused in (None, "NONE") else fused.lower()))
