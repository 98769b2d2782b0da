"""UNIDIRECTIONAL_SEQUENCE_LSTM: TFLM's integer LSTM, byte for byte.

What is matched (tflite-micro ``kernels/unidirectional_sequence_lstm.cc``,
``lstm_eval.h`` / ``lstm_eval.cc`` / ``lstm_eval_common.cc``, ``lstm_shared.h``):

* Two integer variants, chosen by the input's type: int8 activations with
  int8 weights, int16 cell state and int32 biases (``EvalLstm<int8_t, int8_t,
  int16_t, int32_t>``, "8x8->16"), and int16 activations with int8 weights,
  int16 cell state and int64 biases (``EvalLstm<int16_t, int8_t, int16_t,
  int64_t>``, "16x8").
* TFLM's standard LSTM only (``LstmTensors::ValidateTensorStatus``): the four
  input and four recurrent weight matrices and the four gate biases present;
  no peephole (inputs 9-11), no projection (16-17), no layer norm (20-23);
  the hidden state (18) and cell state (19) variable tensors. Anything else is
  refused with one line, as TFLM refuses it.
* Each gate (``CalculateLstmGate``, order forget, input, cell, then the cell
  update, then output): FC(input) with the gate bias plus FC(hidden) without
  bias, each the reference integer FullyConnected to int16 at the gate scale
  2^-12 (``PrepareGateParametersInteger``): accumulator int32 (int64 for 16x8),
  ``acc += w * (x - zp)``, + bias, MultiplyByQuantizedMultiplier (the int32
  double-rounding one, or the int64 one with the multiplier cut to 16 bits for
  16x8), clamped to int16. The multiplier is GetQuantizedConvolutionMultipler's:
  float32 product of the input and weight scales, then divided by 2^-12 in
  double. The two FC results are added with int16 saturation
  (``AddElementWise``). Per-channel weights are refused (TFLM's LSTM passes
  only the per-tensor multiplier).
* Sigmoid: ``reference_integer_ops::Logistic`` on int16 (multiplier 0, shift 0:
  x * 3, the 256-entry sigmoid table, interpolated). Tanh: the int16
  ``reference_integer_ops::Tanh``; gates use scale power -12 (x * 3), the cell
  state its own: left shift = 15 + log2(cell scale) - 3 (``CheckedLog2``, the
  rounded float log2 whether or not the scale is a power of two), a negative
  shift meaning multiplier 3 with a rounding right shift.
* Cell: c = sat16(MulElementwise(f, c) + MulElementwise(i, g)), clipped to
  +-quantized_cell_clip when cell_clip > 0 (clip / cell scale in double, cast
  to int16 after clamping to the int16 range). Hidden: MulElementwise(
  tanh(c), o) at the hidden state's scale and zero point, clamped to its type.
  Each MulElementwise: int32 product, MultiplyByQuantizedMultiplier (int32,
  double rounding) with the multiplier of s1 * s2 / s_out computed in double
  (``CreateInterGateMulParams``), + zero point, clamp.
* The output at each step is a copy of the new hidden state (so its bytes are
  the hidden state's, whatever scale the output tensor records). time_major
  (T, B, I) runs all batches per step; otherwise (B, T, I) runs batch by batch,
  each with its own state row. The state persists between invocations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import CArray, Op, QParams
from ..rounding import multiply_by_quantized_multiplier, quantize_multiplier
from . import tflite_op

GATES = ("input", "forget", "cell", "output")  # the order of the constant arrays
GATE_SCALE = 2.0 ** -12  # the FC output: Q3.12
ACT_SCALE = 2.0 ** -15  # sigmoid / tanh output: Q0.15

# TFLite's sigmoid_table_uint16: sigmoid(i / 24) in 0.16 fixed point, i = 0..255
# (its values, not a formula: some entries are one below the rounded value).
SIGMOID_TABLE = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
], dtype=np.int64)

INT16 = (-32768, 32767)
INT8 = (-128, 127)


def sigmoid16(x: np.ndarray) -> np.ndarray:
    """reference_integer_ops::Logistic on int16 with input_multiplier 0 and
    input_left_shift 0 (so x * 3)."""
    v = np.asarray(x, dtype=np.int64) * 3
    a = np.abs(v)
    uh = a >> 9
    idx = np.minimum(uh, 254)
    ua, ub = SIGMOID_TABLE[idx], SIGMOID_TABLE[idx + 1]
    res = np.where(uh >= 255, 0x7FFF << 10, (ua << 9) + (a & 0x1FF) * (ub - ua))
    res = np.where(v >= 0, res + (1 << 9), (1 << 25) - res + (1 << 9) - 1)
    return ((res & 0xFFFFFFFF) >> 10).astype(np.int16)


def tanh_params(power: int) -> tuple[int, int]:
    """(input multiplier, input left shift) as lstm_internal::Tanh and then
    reference_integer_ops::Tanh resolve them for a scale of 2^power."""
    shift = 15 + power - 3
    mult = 0
    if shift < 0:
        shift, mult = -shift, 3
    if mult == 0:
        mult, shift = 3 << shift, 0
    return mult, shift


def tanh16(x: np.ndarray, power: int) -> np.ndarray:
    """reference_integer_ops::Tanh on int16 for an input scale of 2^power."""
    mult, shift = tanh_params(power)
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    v = (np.asarray(x, dtype=np.int64) * mult + rnd) >> shift
    a = np.abs(v)
    uh = a >> 8
    idx = np.minimum(uh, 254)
    ua, ub = SIGMOID_TABLE[idx], SIGMOID_TABLE[idx + 1]
    res = np.where(uh >= 255, 0xFFFF << 8, (ua << 8) + (a & 0xFF) * (ub - ua))
    res = np.where(v >= 0, res - (1 << 23) + (1 << 7), -res + (1 << 23) + (1 << 7) - 1)
    return (res >> 8).astype(np.int16)


def mbqm64(x, multiplier: int, shift: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier(int64_t x, ...): the multiplier rounded
    to 16 bits, one rounding shift; the result cast to int32 (wraps)."""
    reduced = (multiplier + (1 << 15)) >> 16 if multiplier < 0x7FFF0000 else 0x7FFF
    total = 15 - shift
    r = (np.asarray(x, dtype=np.int64) * reduced + (np.int64(1) << (total - 1))) >> total
    return ((r + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def f32_product_multiplier(s1: float, s2: float, out: float) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler: float32 product, double division."""
    return quantize_multiplier(float(np.float32(s1) * np.float32(s2)) / float(out))


def mul_multiplier(s1: float, s2: float, out: float) -> tuple[int, int]:
    """CreateInterGateMulParams: all in double."""
    return quantize_multiplier(float(s1) * float(s2) / float(out))


def checked_log2(x: float) -> int:
    """CheckedLog2's rounded result (float arithmetic)."""
    v = np.float32(np.log(np.float32(x))) * np.float32(1.0 / np.float32(np.log(np.float32(2.0))))
    return int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))


@dataclass(kw_only=True)
class UnidirectionalSequenceLstm(Op):
    """inputs: [x, hidden state (variable), cell state (variable)]; output:
    the hidden state of every step. Shapes (per invocation, batch included
    as the file has it): x (B, T, I) or (T, B, I) when time_major."""

    kind: ClassVar[str] = "lstm"
    kernel: ClassVar[str] = "lstm"
    scratch_align: ClassVar[int] = 4

    w_in: np.ndarray | None  # int8 (4, H, I), gates in GATES order (None: quantize() makes them)
    w_rec: np.ndarray | None  # int8 (4, H, H)
    bias: np.ndarray | None  # int32 or int64 (4, H)
    w_in_scales: np.ndarray | None  # float32 (4,)
    w_rec_scales: np.ndarray | None  # float32 (4,)
    time_major: bool
    batch: int
    steps: int
    cell_clip: float = 0.0
    act16: bool = False  # int16 activations (16x8)
    # The Keras path (lstm_keras.py): float weights in Keras' layout (kernel
    # (I, 4H), recurrent kernel (H, 4H), bias (4H,), gates i, f, c, o);
    # stateless: the state starts from its reset value at every invocation
    # (Keras' stateful=False; it lives in the op's scratch, not in variable
    # tensors); last_only: the output is the last step's hidden state.
    kernel_f: np.ndarray | None = None
    recurrent_f: np.ndarray | None = None
    bias_f: np.ndarray | None = None
    stateless: bool = False
    last_only: bool = False
    # Keras' go_backwards: the steps read from the last to the first (the
    # output in processing order, as Keras gives it); reverse_output: the
    # sequence output written reversed, so that Bidirectional's backward
    # layer lines up with its forward one (batch-major only: the Keras path).
    go_backwards: bool = False
    reverse_output: bool = False
    h_q: QParams | None = None  # the hidden state's qparams (a stateless op has no tensor for it)
    c_q: QParams | None = None  # the cell state's
    cell_absmax: float = 0.0  # the float reference's largest |cell state| (calibration)
    hidden_range_f: tuple[float, float] = (0.0, 0.0)  # and its hidden state range
    calibrating: bool = False  # between begin_calibration() and quantize()
    calibration_state: tuple | None = None
    # computed by quantize()
    fc_mult: np.ndarray | None = None  # int32 (8,): input FC of each gate, then recurrent FC
    fc_shift: np.ndarray | None = None  # int8 (8,)
    mul_mult: np.ndarray | None = None  # int32 (3,): forget*cell, input*cell gate, tanh(cell)*output
    mul_shift: np.ndarray | None = None
    cell_power: int = 0
    quantized_clip: int = 0

    # --- shapes ------------------------------------------------------------
    @property
    def n_cell(self) -> int:
        return int(self.w_in.shape[1] if self.w_in is not None else self.recurrent_f.shape[0])

    @property
    def n_input(self) -> int:
        return int(self.w_in.shape[2] if self.w_in is not None else self.kernel_f.shape[0])

    def full_in_shape(self):
        return (self.steps, self.batch, self.n_input) if self.time_major else (self.batch, self.steps, self.n_input)

    def computed_shape(self, g):
        shape = g.shape(self.inputs[0])
        return (shape[:-2] if self.last_only else shape[:-1]) + (self.n_cell,)

    # --- quantization ------------------------------------------------------
    def quantize(self, g):
        self.calibrating = False
        if self.kernel_f is not None:
            from .lstm_keras import quantize_keras_lstm

            quantize_keras_lstm(self, g)
        if not self.stateless:
            self.h_q, self.c_q = g.q(self.inputs[1]), g.q(self.inputs[2])
        qi, qh, qc = g.q(self.inputs[0]), self.h_q, self.c_q
        mults, shifts = [], []
        for k in range(4):
            m, s = f32_product_multiplier(qi.scale, self.w_in_scales[k], GATE_SCALE)
            mults.append(m)
            shifts.append(s)
        for k in range(4):
            m, s = f32_product_multiplier(qh.scale, self.w_rec_scales[k], GATE_SCALE)
            mults.append(m)
            shifts.append(s)
        self.fc_mult = np.array(mults, dtype=np.int32)
        self.fc_shift = np.array(shifts, dtype=np.int8)
        pairs = [mul_multiplier(ACT_SCALE, qc.scale, qc.scale), mul_multiplier(ACT_SCALE, ACT_SCALE, qc.scale),
                 mul_multiplier(ACT_SCALE, ACT_SCALE, qh.scale)]
        self.mul_mult = np.array([p[0] for p in pairs], dtype=np.int32)
        self.mul_shift = np.array([p[1] for p in pairs], dtype=np.int8)
        self.cell_power = checked_log2(qc.scale)
        if tanh_params(self.cell_power)[0] > 65535:
            raise ValueError(f"layer {self.name!r}: a cell state scale of {qc.scale:g} (2^{self.cell_power}): "
                             "TFLM's tanh of it overflows int32 (cell scales up to 4 are supported)")
        if not self.act16:  # the C accumulates each FC in int32, as TFLM does
            worst = max(self.n_input, self.n_cell) * 255 * 127 + int(np.abs(self.bias.astype(np.int64)).max())
            if worst > 2**31 - 1:
                raise ValueError(f"layer {self.name!r}: {max(self.n_input, self.n_cell)} products per gate "
                                 "could overflow the int32 accumulator")
        clip = float(np.float32(self.cell_clip)) / float(np.float32(qc.scale))
        self.quantized_clip = int(min(max(clip, -32768.0), 32767.0))  # static_cast truncates

    def hidden_range(self) -> tuple[int, int]:
        return INT16 if self.act16 else INT8

    # --- reference ---------------------------------------------------------
    def _fc(self, x, w, zp, bias, m, s):
        acc = (np.asarray(x, np.int64) - zp) @ w.astype(np.int64).T
        if bias is not None:
            acc = acc + bias.astype(np.int64)
        if self.act16:
            y = mbqm64(acc, int(m), int(s))
        else:
            acc = ((acc + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)  # int32 accumulator
            y = multiply_by_quantized_multiplier(acc, int(m), int(s))
        return np.clip(y, *INT16)

    def _mul(self, a, b, k, zp, lo, hi):
        p = np.asarray(a, np.int64) * np.asarray(b, np.int64)
        y = multiply_by_quantized_multiplier(p, int(self.mul_mult[k]), int(self.mul_shift[k])) + zp
        return np.clip(y, lo, hi)

    def step(self, g, x, h, c):
        """One time step for the rows of x (n, I), hidden h (n, H), cell c
        (n, H) -> (new h, new c)."""
        qi, qh = g.q(self.inputs[0]), self.h_q
        gates = []
        for k in range(4):
            a = self._fc(x, self.w_in[k], qi.zero_point, self.bias[k], self.fc_mult[k], self.fc_shift[k])
            b = self._fc(h, self.w_rec[k], qh.zero_point, None, self.fc_mult[4 + k], self.fc_shift[4 + k])
            pre = np.clip(a + b, *INT16)
            gates.append(tanh16(pre, -12) if GATES[k] == "cell" else sigmoid16(pre))
        gi, gf, gg, go = (v.astype(np.int64) for v in gates)
        c1 = self._mul(gf, c, 0, 0, *INT16)
        c2 = self._mul(gi, gg, 1, 0, *INT16)
        c = np.clip(c1 + c2, *INT16)
        if self.cell_clip > 0:
            c = np.clip(c, -self.quantized_clip, self.quantized_clip)
        t = tanh16(c, self.cell_power).astype(np.int64)
        h = self._mul(t, go, 2, qh.zero_point, *self.hidden_range())
        return h, c

    def run(self, g, x, h, c):
        """One invocation: x of full_in_shape, h and c (B, H) -> (output, h, c)."""
        x = np.asarray(x, np.int64).reshape(self.full_in_shape())
        h = np.asarray(h, np.int64).reshape(self.batch, self.n_cell)
        c = np.asarray(c, np.int64).reshape(self.batch, self.n_cell)
        out = np.zeros(x.shape[:2] + (self.n_cell,), np.int64)
        if self.time_major:
            for t in range(self.steps):
                h, c = self.step(g, x[t], h, c)
                out[t] = h
        else:
            last = self.steps - 1
            for b in range(self.batch):
                hb, cb = h[b:b + 1], c[b:b + 1]
                for t in range(self.steps):
                    hb, cb = self.step(g, x[b, last - t if self.go_backwards else t][None], hb, cb)
                    out[b, last - t if self.reverse_output else t] = hb[0]
                h[b], c[b] = hb[0], cb[0]
        return out, h, c

    def out_dtype(self):
        return np.int16 if self.act16 else np.int8

    def reset_state(self):
        """(hidden, cell) after a reset: TFLM's rule (an int8 hidden state at
        its zero point, otherwise 0)."""
        h = np.full((self.batch, self.n_cell), 0 if self.act16 else self.h_q.zero_point, np.int64)
        return h, np.zeros((self.batch, self.n_cell), np.int64)

    def forward_int(self, g, xs):
        """A stateless op (the Keras path): every row of the batch from the reset state."""
        assert self.stateless, "an LSTM with variable state runs through forward_int_state"
        outs = []
        for x in xs[0]:
            out, _, _ = self.run(g, x, *self.reset_state())
            outs.append((out[-1] if self.time_major else out[:, -1]) if self.last_only else out)
        return np.stack(outs).astype(self.out_dtype()).reshape((len(outs),) + g.shape(self.outputs[0]))

    def forward_int_state(self, g, xs, state):
        hname, cname = self.inputs[1], self.inputs[2]
        out, h, c = self.run(g, xs[0], state[hname], state[cname])
        state[hname] = h.astype(self.out_dtype()).reshape(np.shape(state[hname]))
        state[cname] = c.astype(np.int16).reshape(np.shape(state[cname]))
        if self.last_only:
            out = out[-1] if self.time_major else out[:, -1]
        return out.astype(self.out_dtype()).reshape((1,) + g.shape(self.outputs[0]))

    def forward_float(self, g, xs):
        if self.kernel_f is None:
            raise NotImplementedError("UNIDIRECTIONAL_SEQUENCE_LSTM read from a .tflite file runs in integer only")
        from .lstm_keras import float_run

        return float_run(self, xs[0]).reshape((len(xs[0]),) + g.shape(self.outputs[0]))

    def forward_float_state(self, g, xs, state):
        if self.stateless or self.kernel_f is None:
            return self.forward_float(g, xs)
        from .lstm_keras import float_step

        return float_step(self, g, xs, state).reshape((1,) + g.shape(self.outputs[0]))

    def state_output_range(self):
        """The float hidden state's range over every calibrated step (the
        Keras path): the output holds hidden-state bytes, so its qparams
        (shared with a Concatenate, say) must cover it (quantize_graph)."""
        return self.hidden_range_f if self.kernel_f is not None else None

    def begin_calibration(self) -> None:
        """quantize_graph calls it before calibrating: the state ranges the
        float reference records start afresh."""
        self.cell_absmax, self.hidden_range_f = 0.0, (0.0, 0.0)
        self.calibrating, self.calibration_state = self.kernel_f is not None, None

    # --- code --------------------------------------------------------------
    def kernels(self, g):
        return ["lstm_common", "lstm_s16" if self.act16 else "lstm"]

    def scratch_bytes(self, g):
        n = self.batch * self.n_cell
        # the new hidden state; a stateless op also keeps its cell and hidden state there
        return n * (2 if self.act16 else 1) * (2 if self.stateless else 1) + (2 * n if self.stateless else 0)

    def bias_words(self) -> np.ndarray:
        """The bias as the kernel reads it: int32, or for 16x8 each int64 as
        two int32 words (low, high)."""
        b = self.bias.astype(np.int64).reshape(-1)
        if not self.act16:
            return b.astype(np.int32)
        lo = ((b & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
        return np.stack([lo, b >> 32], axis=1).reshape(-1).astype(np.int32)

    def constants(self):
        return [CArray("wi", "int8_t", self.w_in.reshape(-1)), CArray("wr", "int8_t", self.w_rec.reshape(-1)),
                CArray("b", "int32_t", self.bias_words()),
                CArray("m", "int32_t", np.concatenate([self.fc_mult, self.mul_mult])),
                CArray("s", "int8_t", np.concatenate([self.fc_shift, self.mul_shift]))]

    def c_call(self, g, c):
        qi, qh = g.q(self.inputs[0]), self.h_q
        fn = "mcg_lstm_s16" if self.act16 else "mcg_lstm_s8"
        tm, ts = tanh_params(self.cell_power)
        clip = self.quantized_clip if self.cell_clip > 0 else -1
        n = self.batch * self.n_cell
        ht = "int16_t" if self.act16 else "int8_t"
        if self.stateless:  # scratch: cell (int16), hidden, new hidden
            base = f"(uint8_t *)({c.scratch(self)})"
            hidden, cell = f"({ht} *)(void *)({base} + {2 * n})", f"(int16_t *)(void *)({base})"
            scratch = f"(void *)({base} + {2 * n + n * (2 if self.act16 else 1)})"
        else:
            hidden, cell = c.tensor(self.inputs[1]), c.tensor(self.inputs[2])
            scratch = f"(void *)({c.scratch(self)})"
        flags = int(self.time_major) | (2 if self.stateless else 0) | (4 if self.last_only else 0)
        flags |= (8 if self.go_backwards else 0) | (16 if self.reverse_output else 0)
        return (f"{fn}({c.tensor(self.inputs[0])}, {c.tensor(self.outputs[0])}, {hidden}, "
                f"{cell}, {scratch}, "
                f"{c.const(self, 'wi')}, {c.const(self, 'wr')}, {c.const(self, 'b')}, "
                f"{c.const(self, 'm')}, {c.const(self, 's')}, "
                f"{self.batch}, {self.steps}, {self.n_input}, {self.n_cell}, {flags}, "
                f"{qi.zero_point}, {qh.zero_point}, {tm}, {ts}, {clip});")

    def macs(self, g):
        return self.batch * self.steps * 4 * self.n_cell * (self.n_input + self.n_cell)

    def param_count(self):
        return 4 * self.n_cell * (self.n_input + self.n_cell + 1)

    def describe(self):
        return (f"{self.n_input}->{self.n_cell} x{self.steps}{' time-major' if self.time_major else ''}"
                f"{', backwards' if self.go_backwards else ''}")


# Input indices of UNIDIRECTIONAL_SEQUENCE_LSTM (lstm_shared.h).
IN_WEIGHTS = (1, 2, 3, 4)  # input_to_{input,forget,cell,output}
REC_WEIGHTS = (5, 6, 7, 8)  # recurrent_to_{input,forget,cell,output}
PEEPHOLE = (9, 10, 11)
BIASES = (12, 13, 14, 15)
PROJECTION = (16, 17)
HIDDEN, CELL = 18, 19
LAYER_NORM = (20, 21, 22, 23)


def _present(cx, k: int) -> bool:
    return cx.tensor_index(k) >= 0


def _type(cx, k: int) -> str:
    return cx.dtype(k)


@tflite_op("UNIDIRECTIONAL_SEQUENCE_LSTM", options="UnidirectionalSequenceLSTMOptions", int16=True)
def from_tflite(cx):
    """TFLM's integer LSTM; TFLM's own limits refused as TFLM refuses them."""
    if cx.n_inputs() != 24:
        cx.unsupported(f"{cx.n_inputs()} inputs (24 expected)")
    for ks, what in ((PEEPHOLE, "peephole connections"), (PROJECTION, "a projection layer"),
                     (LAYER_NORM, "layer normalization")):
        if any(_present(cx, k) for k in ks):
            cx.unsupported(f"{what} (TFLM's LSTM kernel has none)")
    for k in IN_WEIGHTS + REC_WEIGHTS + BIASES:
        if not _present(cx, k):
            cx.unsupported(f"a missing input {k} (CIFG or no bias: TFLM needs all four gates' weights and biases)")
    act_type = _type(cx, 0)
    if act_type not in ("INT8", "INT16"):
        cx.unsupported(f"{act_type} activations (int8 or int16 expected)")
    act16 = act_type == "INT16"
    for k, want in ((HIDDEN, act_type), (CELL, "INT16")):
        if _present(cx, k) and _type(cx, k) != want:
            cx.unsupported(f"a {_type(cx, k)} {'hidden' if k == HIDDEN else 'cell'} state ({want.lower()} expected)")
    opts = cx.options
    act = int(getattr(opts, "fusedActivationFunction", 0) or 0)
    if cx.loader.activation_names.get(act) != "TANH":
        cx.unsupported(f"cell activation {cx.loader.activation_names.get(act, act)} (TFLM's integer LSTM: TANH)")
    if bool(getattr(opts, "diagonalRecurrentTensors", False)):
        cx.unsupported("diagonal recurrent weights")
    time_major = bool(getattr(opts, "timeMajor", False))
    cell_clip = float(np.float32(getattr(opts, "cellClip", 0.0) or 0.0))
    if cell_clip < 0:
        cx.unsupported(f"a negative cell clip ({cell_clip})")
    full = cx.tshape(0)
    if len(full) != 3:
        cx.unsupported(f"a rank-{len(full)} input (batch, time, features expected)")
    steps, batch, n_in = (full[0], full[1], full[2]) if time_major else (full[1], full[0], full[2])
    x = cx.input(0)
    hidden, cell = cx.variable(HIDDEN), cx.variable(CELL)

    def weights(ks, cols):
        ws, scales = [], []
        for k in ks:
            w, sc = cx.weights(k, channel_axis=0)
            if len(cx.quant(k)[0]) != 1:
                cx.unsupported(f"per-channel weights on input {k} (TFLM's LSTM uses one scale per matrix)")
            if w.shape != (n_cell, cols):
                cx.unsupported(f"weights of shape {w.shape} on input {k} ({(n_cell, cols)} expected)")
            ws.append(w)
            scales.append(sc[0])
        return np.stack(ws), np.array(scales, dtype=np.float32)

    n_cell = int(np.asarray(cx.const(IN_WEIGHTS[1])).shape[0])
    w_in, s_in = weights(IN_WEIGHTS, n_in)
    w_rec, s_rec = weights(REC_WEIGHTS, n_cell)
    btype = "INT64" if act16 else "INT32"
    biases = []
    for k in BIASES:
        if _type(cx, k) != btype:
            cx.unsupported(f"a {_type(cx, k)} bias on input {k} ({btype.lower()} expected)")
        b = np.asarray(cx.const(k), dtype=np.int64).reshape(-1)
        if b.size != n_cell:
            cx.unsupported(f"a bias of {b.size} values on input {k} ({n_cell} expected)")
        biases.append(b)
    for name in (hidden, cell):
        if cx.g.tensors[name].size != batch * n_cell:
            cx.unsupported(f"a state of {cx.g.tensors[name].size} values ({batch} x {n_cell} expected)")
    cx.set_output_shape(tuple(full[:2]) + (n_cell,))
    qh = cx.g.q(hidden)
    if act16 and (qh.zero_point != 0 or cx.g.q(x).zero_point != 0):
        cx.unsupported("int16 activations with a non-zero zero point")
    if cx.output_dtype() != act_type:
        cx.unsupported(f"a {cx.output_dtype()} output ({act_type.lower()} expected)")
    op = UnidirectionalSequenceLstm(
        name=cx.name, inputs=[x, hidden, cell], outputs=[cx.output],
        w_in=w_in, w_rec=w_rec, bias=np.stack(biases).astype(np.int64 if act16 else np.int32),
        w_in_scales=s_in, w_rec_scales=s_rec, time_major=time_major, batch=int(batch), steps=int(steps),
        cell_clip=cell_clip, act16=act16)
    cx.add(op)
