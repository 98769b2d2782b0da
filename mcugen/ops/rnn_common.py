"""What the recurrent ops (``gru.py``, ``simple_rnn.py``) share: the int16
fixed-point arithmetic of TFLite Micro's integer LSTM, the recurrent op base
class (time loop, weight quantization, C arguments) and the Keras checks.

The integer arithmetic, in the style of TFLM's 8x8->16 LSTM
(``tensorflow/lite/micro/kernels/lstm_eval.h``: CalculateLstmGateInteger,
UpdateLstmCellInteger, UpdateLstmHiddenInteger):

* a gate pre-activation is the sum of two fully connected products, each
  requantized on its own to int16 at the fixed scale 2^-12 (Q3.12, TFLM's
  gate scale) with MultiplyByQuantizedMultiplier and saturated to int16, then
  added with int16 saturation (TFLM's CwiseAdd / AddElementWise):
  - the input product: int8 input (its zero point), int8 weights symmetric
    per output channel, int32 bias at input_scale * weight_scale[c]
    (TFLM: FullyConnectedGeneral with the input FC params);
  - the recurrent product: the int16 hidden state (Q0.15, zero point 0),
    int8 weights per channel, an int32 bias at 2^-15 * weight_scale[c]
    where Keras has one (GRU reset_after). TFLM's LSTM keeps the hidden
    state int8 at the output's scale; mcugen keeps it int16 at 2^-15 (the
    GRU's hidden state is also its "cell" state, which TFLM keeps int16),
    and accumulates in int32 (bounded at build time: the layer is refused
    where sum |h * w| + |bias| could leave int32) where TFLM's 16x8 FC uses
    int64;
* sigmoid and tanh of a Q3.12 value: TFLM's reference_integer_ops
  Logistic(0, 0, ...) and Tanh(0, 0, ...) on int16 (multiplier 3 << 0, the
  256-entry sigmoid table sampled at i/24 in 0.16, linear interpolation),
  giving Q0.15; ``logistic16`` and ``tanh16`` are those two functions;
* element-wise products of two int16 values: TFLM's MulElementwise with
  offsets 0, the multiplier of scale_a * scale_b / scale_out
  (QuantizeMultiplier, as CreateInterGateMulParams), saturated to int16;
* the int8 output: the Q0.15 hidden state requantized to the output tensor's
  calibrated scale and zero point (MultiplyByQuantizedMultiplier of
  2^-15 / output_scale, plus the zero point, clamped: TFLM's int16 -> int8
  Quantize).

The time loop: a sequence model takes its whole (T, F) input in one
invocation, the hidden state starting at zero (no state persists between
invocations). ``go_backwards`` reads the steps from T-1 down to 0;
``return_sequences`` writes the output of every step (in processing order,
as Keras, or reversed for Bidirectional's backward layer), otherwise the
last one.

The streaming form (Keras ``stateful=True``): the hidden state is a variable
tensor (int16, Q0.15, shape (U,), reset to 0: TFLM's reset value of an int16
variable), the op's second input, which each invocation continues from and
updates in place; with a (1, F) input that is one step per invocation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op, QParams
from ..rounding import INT32_MAX, multiply_by_quantized_multiplier, quantize_multiplier
from .common import channel_multipliers, fold_input_offset, quantize_per_channel, quantize_weights_and_bias

GATE_SCALE = 2.0**-12  # gate pre-activations: Q3.12
STATE_SCALE = 2.0**-15  # sigmoid / tanh outputs and the hidden state: Q0.15
INT16_MIN, INT16_MAX = -32768, 32767
ONE_Q15 = 32767  # "1" in 1 - z (TFLM's Sub1Vector: 32767 - x)

# TFLM's sigmoid_table_uint16 (kernels/internal/common.h): sigmoid(i / 24) in
# 0.16 fixed point, i = 0..255. templates/kernels/rnn_act16.c.j2 holds the
# same numbers (tests/test_rnn.py compares them).
SIGMOID_TABLE = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149,
    40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369,
    47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169,
    53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370,
    60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786,
    64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079,
    65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498,
    65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522,
    65523, 65523, 65524, 65524, 65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531,
    65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535,
], dtype=np.int64)


def _table(index: np.ndarray) -> np.ndarray:
    return SIGMOID_TABLE[np.minimum(index, 255)]


def sat16(x) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=np.int64), INT16_MIN, INT16_MAX)


def logistic16(x) -> np.ndarray:
    """reference_integer_ops::Logistic(0, 0, n, x, y) on int16: Q3.12 in,
    Q0.15 out (1 for the most negative inputs, never 0; 32767 at most)."""
    v = np.asarray(x, dtype=np.int64) * 3
    a = np.abs(v)
    uh, ut = a >> 9, a & 0x1FF
    ua = _table(uh)
    ub = _table(uh + 1)
    res = np.where(uh >= 255, 0x7FFF << 10, (ua << 9) + ut * (ub - ua))
    res = np.where(v >= 0, res + (1 << 9), (1 << 25) - res + (1 << 9) - 1)
    return res >> 10


def tanh16(x) -> np.ndarray:
    """reference_integer_ops::Tanh(0, 0, ...) on int16: Q3.12 in, Q0.15 out
    (tanh(x) = 2 sigmoid(2x) - 1 from the same table, 256 steps per 1/24)."""
    v = np.asarray(x, dtype=np.int64) * 3
    a = np.abs(v)
    uh, ut = a >> 8, a & 0xFF
    ua = _table(uh)
    ub = _table(uh + 1)
    res = np.where(uh >= 255, 0xFFFF << 8, (ua << 8) + ut * (ub - ua))
    res = np.where(v >= 0, res - (1 << 23) + (1 << 7), -res + (1 << 23) + (1 << 7) - 1)
    return res >> 8


def mul16(a, b, mult: int, shift: int) -> np.ndarray:
    """MulElementwise of two int16 values, offsets 0, to int16."""
    p = np.asarray(a, dtype=np.int64) * np.asarray(b, dtype=np.int64)
    return sat16(multiply_by_quantized_multiplier(p, mult, shift))


def fc16(x, w_q, bias, mult, shift, zero_point: int = 0) -> np.ndarray:
    """Fully connected to int16: bias + sum((x - zp) * w) over the last axis
    of x (w: (IN, OUT)), requantized per output channel, saturated."""
    acc = (np.asarray(x, dtype=np.int64) - zero_point) @ w_q.astype(np.int64)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return sat16(multiply_by_quantized_multiplier(acc, mult.astype(np.int64), shift.astype(np.int64)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(kw_only=True)
class Recurrent(Op):
    """A recurrent layer over a (T, F) input: ``gates`` blocks of ``units``
    columns in its kernel (F, gates * U) and recurrent kernel (U, gates * U),
    Keras' layout. Subclasses give one step in float and in integers."""

    gates: ClassVar[int] = 1

    units: int
    kernel_w: np.ndarray  # float (F, gates * U)
    recurrent_w: np.ndarray  # float (U, gates * U)
    bias_x: np.ndarray | None  # float (gates * U,), added to the input product
    bias_h: np.ndarray | None = None  # float (gates * U,), added to the recurrent product (GRU reset_after)
    go_backwards: bool = False
    return_sequences: bool = False
    reverse_output: bool = False  # output of the k-th step read at T-1-k (Bidirectional's backward layer)
    # stateful: inputs[1] is the hidden state, a variable tensor kept between invocations

    wx_q: np.ndarray | None = None  # int8 (F, gates * U)
    wx_scales: np.ndarray | None = None
    bx_eff: np.ndarray | None = None  # int32: the input bias with the input zero point folded in
    mx: np.ndarray | None = None
    sx: np.ndarray | None = None
    wh_q: np.ndarray | None = None  # int8 (U, gates * U)
    wh_scales: np.ndarray | None = None
    bh_q: np.ndarray | None = None  # int32 or None
    mh: np.ndarray | None = None
    sh: np.ndarray | None = None
    mul: tuple[int, int] = (0, 0)  # (mult, shift) of 2^-15: Q0.15 x Q_k -> Q_k
    out_req: tuple[int, int] = (0, 0)  # (mult, shift) of 2^-15 / output scale

    # --- shapes and time ---------------------------------------------------
    def computed_shape(self, g):
        t, _ = g.shape(self.inputs[0])
        return (t, self.units) if self.return_sequences else (self.units,)

    def _order(self, t: int) -> list[tuple[int, int]]:
        """(input step read, output position written) of each step in turn."""
        steps = range(t - 1, -1, -1) if self.go_backwards else range(t)
        return [(s, t - 1 - k if self.reverse_output else k) for k, s in enumerate(steps)]

    @property
    def stateful(self) -> bool:
        return len(self.inputs) > 1

    def _run(self, xs_steps, h, step, n_out, dtype):
        """(output, final hidden state)."""
        t = xs_steps.shape[1]
        ys = np.zeros((len(xs_steps), t, n_out), dtype=dtype) if self.return_sequences else None
        y_last = None
        for s, pos in self._order(t):
            h, y = step(xs_steps[:, s], h)
            if ys is not None:
                ys[:, pos] = y
            y_last = y
        return (ys if ys is not None else y_last), h

    # --- float -------------------------------------------------------------
    def cell_float(self, xw: np.ndarray, h: np.ndarray) -> np.ndarray:
        """The new hidden state from the input product (bias added) and the
        previous state."""
        raise NotImplementedError

    def _float(self, x, h0):
        xw = x.astype(np.float64) @ self.kernel_w.astype(np.float64)
        if self.bias_x is not None:
            xw = xw + self.bias_x.astype(np.float64)

        def step(xw_t, h):
            h = self.cell_float(xw_t, h)
            return h, h

        return self._run(xw, h0, step, self.units, np.float64)

    def forward_float(self, g, xs):
        return self._float(xs[0], np.zeros((len(xs[0]), self.units)))[0]

    def forward_float_state(self, g, xs, state):
        if not self.stateful:
            return self.forward_float(g, xs)
        y, h = self._float(xs[0], state[self.inputs[1]][None].astype(np.float64))
        state[self.inputs[1]] = h[0]
        return y

    def recurrent_float(self, h, cols: slice = slice(None)) -> np.ndarray:
        r = h @ self.recurrent_w[:, cols].astype(np.float64)
        if self.bias_h is not None:
            r = r + self.bias_h[cols].astype(np.float64)
        return r

    # --- quantization ------------------------------------------------------
    def quantize(self, g):
        qi, qo = g.q(self.inputs[0]), g.q(self.outputs[0])
        n_in = self.kernel_w.shape[0]
        self.wx_q, self.wx_scales, bx = quantize_weights_and_bias(self.kernel_w, self.bias_x, axis=1,
                                                                  in_scale=qi.scale)
        self.bx_eff = fold_input_offset(self.name, bx, self.wx_q.astype(np.int64).sum(axis=0), qi.zero_point, n_in)
        self.mx, self.sx = channel_multipliers(qi.scale, self.wx_scales, GATE_SCALE)
        if self.bias_h is not None:
            self.wh_q, self.wh_scales, self.bh_q = quantize_weights_and_bias(self.recurrent_w, self.bias_h, axis=1,
                                                                             in_scale=STATE_SCALE)
        else:
            self.wh_q, self.wh_scales = quantize_per_channel(self.recurrent_w, axis=1)
            self.bh_q = None
        self.mh, self.sh = channel_multipliers(STATE_SCALE, self.wh_scales, GATE_SCALE)
        # The recurrent accumulator: |bias| + U products of at most 32768 * 127.
        bound = int(np.abs(self.bh_q.astype(np.int64)).max(initial=0) if self.bh_q is not None else 0)
        bound += self.units * 32768 * 127
        if bound > INT32_MAX:
            raise ValueError(f"layer {self.name!r}: {self.units} units could overflow the int32 accumulator "
                             "of the recurrent product (at most 516 units)")
        self.mul = quantize_multiplier(STATE_SCALE)
        assert self.mul == (1 << 30, -14), self.mul  # what the kernels' mcg_mul_q15_s16 computes
        self.out_req = quantize_multiplier(STATE_SCALE / float(qo.scale))
        if self.stateful:  # the state's own fixed scale, whatever calibration saw
            g.tensors[self.inputs[1]].q = QParams(STATE_SCALE, 0)

    # --- integers ----------------------------------------------------------
    def cell_int(self, gx: np.ndarray, h: np.ndarray) -> np.ndarray:
        """The new Q0.15 hidden state (int64 values) from the Q3.12 input
        gates of one step and the previous state."""
        raise NotImplementedError

    def recurrent_int(self, h, cols: slice = slice(None)) -> np.ndarray:
        bias = self.bh_q[cols] if self.bh_q is not None else None
        return fc16(h, self.wh_q[:, cols], bias, self.mh[cols], self.sh[cols])

    def _int(self, g, x, h0):
        qo = g.q(self.outputs[0])
        # bx_eff + sum(x * w) = b + sum((x - zp) * w): the kernel's sum.
        gx = fc16(x, self.wx_q, self.bx_eff, self.mx, self.sx)
        m, s = self.out_req

        def step(gx_t, h):
            h = self.cell_int(gx_t, h)
            y = np.clip(multiply_by_quantized_multiplier(h, m, s) + qo.zero_point, -128, 127)
            return h, y

        y, h = self._run(gx, np.asarray(h0, dtype=np.int64), step, self.units, np.int64)
        return y.astype(np.int8), h

    def forward_int(self, g, xs):
        return self._int(g, xs[0], np.zeros((len(xs[0]), self.units), dtype=np.int64))[0]

    def forward_int_state(self, g, xs, state):
        if not self.stateful:
            return self.forward_int(g, xs)
        y, h = self._int(g, xs[0], state[self.inputs[1]][None])
        state[self.inputs[1]] = h[0].astype(np.int16)
        return y

    # --- code --------------------------------------------------------------
    def kernels(self, g):
        return ["rnn_act16", self.kernel]

    def scratch_units(self) -> int:
        """int16 vectors of ``units`` values the kernel keeps."""
        return 2

    scratch_align: ClassVar[int] = 2  # int16 vectors

    def scratch_bytes(self, g):
        return 2 * self.units * self.scratch_units()

    def constants(self):
        arrays = [
            CArray("wx", "int8_t", np.ascontiguousarray(self.wx_q.T)),  # (gates * U, F): rows contiguous
            CArray("bx", "int32_t", self.bx_eff),
            CArray("mx", "int32_t", self.mx),
            CArray("sx", "int8_t", self.sx),
            CArray("wh", "int8_t", np.ascontiguousarray(self.wh_q.T)),  # (gates * U, U)
            CArray("mh", "int32_t", self.mh),
            CArray("sh", "int8_t", self.sh),
        ]
        if self.bh_q is not None:
            arrays.append(CArray("bh", "int32_t", self.bh_q))
        return arrays

    def c_call(self, g, c):
        t, f = g.shape(self.inputs[0])
        bh = c.const(self, "bh") if self.bh_q is not None else "NULL"
        k = [c.const(self, s) for s in ("wx", "bx", "mx", "sx", "wh", "mh", "sh")]
        flags = (1 if self.go_backwards else 0) | (2 if self.return_sequences else 0)
        flags |= (4 if self.reverse_output else 0) | self.extra_flags()
        state = c.tensor(self.inputs[1]) if self.stateful else "NULL"
        return (f"mcg_{self.kernel}_s8({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, "
                f"(int16_t *)(void *)({c.scratch(self)}), {state}, "
                f"{k[0]}, {k[1]}, {k[2]}, {k[3]}, {k[4]}, {bh}, {k[5]}, {k[6]}, "
                f"{t}, {f}, {self.units}, {flags}, "
                f"{self.out_req[0]}, {self.out_req[1]}, {g.q(self.outputs[0]).zero_point});")

    def extra_flags(self) -> int:
        return 0

    # --- report ------------------------------------------------------------
    def macs(self, g):
        t, f = g.shape(self.inputs[0])
        return t * (f + self.units) * self.gates * self.units

    def param_count(self):
        n = self.kernel_w.size + self.recurrent_w.size
        return int(n + sum(b.size for b in (self.bias_x, self.bias_h) if b is not None))

    def describe(self):
        parts = [f"{self.kernel_w.shape[0]}->{self.units}"]
        if self.go_backwards:
            parts.append("backwards")
        if self.return_sequences:
            parts.append("sequences")
        if self.stateful:
            parts.append("stateful")
        return ", ".join(parts)


# Keras class name -> function(layer, name, inputs, outputs, reverse_output) -> Recurrent,
# filled by gru.py and simple_rnn.py (Bidirectional builds its two layers with them).
RECURRENT_BUILDERS: dict = {}


def recurrent_layer(*class_names: str):
    def register(fn):
        for name in class_names:
            RECURRENT_BUILDERS[name] = fn
        return fn

    return register


def check_recurrent_config(layer, cfg: dict, unsupported, defaults: dict) -> None:
    """Refuse, naming the option, what the integer kernels do not compute."""
    for key, want in defaults.items():
        got = cfg.get(key, want)
        if isinstance(got, dict):  # a serialized activation
            got = got.get("config", {}).get("name", got.get("class_name"))
        if got != want:
            unsupported(f"{key}={got!r} (only {want!r})")
    if cfg.get("return_state"):
        unsupported("return_state=True (one output per layer)")



def add_recurrent(cx, make) -> None:
    """Add the op ``make(inputs)`` builds for a Keras recurrent layer; with
    stateful=True its hidden state becomes a variable tensor, the op's second
    input (int16, Q0.15, reset to 0)."""
    inputs = [cx.inputs[0]]
    if cx.layer.get_config().get("stateful"):
        units = int(cx.layer.get_config()["units"])
        state = cx.tmp((units,), "state")
        t = cx.g.tensors[state]
        t.dtype, t.variable, t.reset_value = "int16", True, 0
        inputs.append(state)
    cx.add(make(inputs))
