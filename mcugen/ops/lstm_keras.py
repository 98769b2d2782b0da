"""The Keras LSTM layer on UNIDIRECTIONAL_SEQUENCE_LSTM (mcugen/ops/lstm.py),
quantized by mcugen's own quantizer as TFLiteConverter quantizes the integer
LSTM it makes of the layer, and run by the same integer arithmetic (TFLM's).

What is matched from TFLiteConverter's integer LSTM:
* each of the eight weight matrices per tensor, symmetric int8, scale
  max |w| / 127 (at least 1e-6 / 254, as its other weights), so the int8
  weights are the converter's for the same float weights;
* each gate bias int32 at input scale x that gate's input-weight scale,
  rounded as its biases (``quantize_bias``);
* the hidden state quantized as the op's output (one set of qparams for
  both, asymmetric int8 from the calibrated range of the hidden state over
  every step; mcugen widens it to the union when the output shares
  qparams with others, as a Concatenate's inputs do); a cell clip of 10
  (the converter writes cell_clip = 10 for a Keras LSTM);
* the cell state int16, symmetric, with a power-of-two scale 2^(p - 15), p
  the smallest integer >= 0 with 2^p >= max |cell state|;
* calibration as its calibrator runs it: the representative samples are one
  sequence (the state carried from each sample to the next), the hidden range
  is that of the op's output (every step), and the cell range that of the
  cell state tensor, i.e. its value at the end of each sample.

Where mcugen differs: its float reference computes in float64 and TFLite's
calibration in float32, so a calibrated range (the hidden state's, the
layers' after it) can differ in its last bits and give a scale one float32
step apart; the int8 weights, biases, input qparams and cell scale are the
converter's (tests/test_lstm.py). The C follows Keras' semantics: with
stateful=False every invocation starts from the reset state (the op keeps
it in its scratch; the converted file's TFLM run keeps the state between
invocations instead); with stateful=True (batch size 1) the state is kept
between invocations in variable tensors, as Keras keeps it between calls
and TFLM between invokes. return_state and activations other
than tanh / sigmoid are refused. go_backwards reads the steps from the
last (the sequence output in processing order, as Keras); in Bidirectional
the backward layer's sequence output is written reversed (bidirectional.py).
"""
from __future__ import annotations

import numpy as np

from ..ir import QParams
from . import keras_layer
from .common import quantize_bias, quantize_per_channel
from .rnn_common import recurrent_layer


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _sequence(op, x: np.ndarray, h: np.ndarray, c: np.ndarray, every: int = 0):
    """Keras' LSTM over x (n, T, I) from state (h, c) of (n, H): returns the
    hidden state of every step (n, T, H) and the last (h, c); records in the
    op the range of the hidden state over every step and the largest |cell
    state| at the end of every ``every`` steps (each sample's end, where
    TFLiteConverter's calibrator sees the cell state tensor)."""
    H = op.n_cell
    K, R, b = (np.asarray(v, dtype=np.float64) for v in (op.kernel_f, op.recurrent_f, op.bias_f))
    seq, cmax = [], op.cell_absmax
    for t in range(x.shape[1]):
        z = x[:, t] @ K + h @ R + b
        i, f, g, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), _sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        seq.append(h)
        if every and (t + 1) % every == 0:
            cmax = max(cmax, float(np.abs(c).max(initial=0.0)))
    op.cell_absmax = cmax
    out = np.stack(seq, axis=1) if seq else np.zeros(x.shape[:2] + (H,))
    if out.size:
        lo, hi = op.hidden_range_f
        op.hidden_range_f = (min(lo, float(out.min())), max(hi, float(out.max())))
    return out, h, c


def _ordered(op, x: np.ndarray) -> np.ndarray:
    """The steps of x (n, T, I) in the order the op reads them."""
    return x[:, ::-1] if op.go_backwards else x


def _output(op, out: np.ndarray) -> np.ndarray:
    """The op's output from the hidden states in processing order (n, T, H)."""
    if op.last_only:
        return out[:, -1]
    return out[:, ::-1] if op.reverse_output else out


def float_run(op, x: np.ndarray) -> np.ndarray:
    """Keras' LSTM on rows (N, T, I), each from a zero state. While
    calibrating (``op.calibrating``), the rows are one sequence instead, the
    state carried from each row to the next and from call to call, as
    TFLiteConverter's calibrator runs the representative samples."""
    x = _ordered(op, np.asarray(x, dtype=np.float64))
    n, T, H = x.shape[0], x.shape[1], op.n_cell
    if op.calibrating:
        h, c = op.calibration_state or (np.zeros((1, H)), np.zeros((1, H)))
        out, h, c = _sequence(op, x.reshape(1, n * T, -1), h, c, every=T)
        op.calibration_state = (h, c)
        out = out.reshape(n, T, H)
    else:
        out, _, _ = _sequence(op, x, np.zeros((n, H)), np.zeros((n, H)))
    return _output(op, out)


def float_step(op, g, xs, state) -> np.ndarray:
    """One invocation of a stateful Keras LSTM (stateful=True): from and to
    the state of its variable tensors."""
    hname, cname = op.inputs[1], op.inputs[2]
    x = _ordered(op, np.asarray(xs[0], dtype=np.float64).reshape(1, op.steps, -1))
    h0 = np.asarray(state[hname], dtype=np.float64).reshape(1, -1)
    c0 = np.asarray(state[cname], dtype=np.float64).reshape(1, -1)
    out, h, c = _sequence(op, x, h0, c0, every=op.steps)
    state[hname], state[cname] = h.reshape(np.shape(state[hname])), c.reshape(np.shape(state[cname]))
    return _output(op, out)


def cell_qparams(absmax: float) -> QParams:
    """int16, scale 2^(p - 15) with 2^p >= absmax, p >= 0."""
    p = 0
    while 2.0 ** p < absmax and p < 16:
        p += 1
    return QParams(2.0 ** (p - 15), 0)


def quantize_keras_lstm(op, g) -> None:
    """The op's int8 weights, int32 biases and state qparams (see the module)."""
    qi = g.q(op.inputs[0])
    H = op.n_cell
    w_in, w_rec, s_in, s_rec, bias = [], [], [], [], []
    for k in range(4):
        cols = slice(k * H, (k + 1) * H)
        wq, ws = quantize_per_channel(np.asarray(op.kernel_f)[:, cols].reshape(-1, 1), axis=1)
        w_in.append(wq.reshape(-1, H).T)
        s_in.append(ws[0])
        rq, rs = quantize_per_channel(np.asarray(op.recurrent_f)[:, cols].reshape(-1, 1), axis=1)
        w_rec.append(rq.reshape(-1, H).T)
        s_rec.append(rs[0])
        bias.append(quantize_bias(np.asarray(op.bias_f)[cols], qi.scale, np.full(H, ws[0], np.float32), H))
    op.w_in, op.w_rec = np.stack(w_in), np.stack(w_rec)
    op.w_in_scales, op.w_rec_scales = np.array(s_in, np.float32), np.array(s_rec, np.float32)
    op.bias = np.stack(bias).astype(np.int32)
    out = g.tensors[op.outputs[0]]
    # the output is a copy of the hidden state: its qparams, calibrated over
    # the hidden state of every step (state_output_range), are the state's
    op.h_q = out.q
    op.c_q = cell_qparams(op.cell_absmax)
    if not op.stateless:  # stateful=True: variable tensors, reset as TFLM resets them
        hidden, cell = g.tensors[op.inputs[1]], g.tensors[op.inputs[2]]
        hidden.q, hidden.reset_value = op.h_q, op.h_q.zero_point
        cell.q, cell.reset_value = op.c_q, 0


@recurrent_layer("LSTM")
def lstm_op(layer, name, inputs, outputs, unsupported, reverse_output=False, steps=None):
    """The op of a Keras LSTM layer over inputs[0] of (steps, features);
    inputs[1:] are its state tensors when stateful (from_keras makes them).
    Bidirectional builds its two layers with it (rnn_common's
    RECURRENT_BUILDERS), the backward one with reverse_output."""
    from .lstm import UnidirectionalSequenceLstm

    cfg = layer.get_config()
    if cfg.get("activation", "tanh") != "tanh" or cfg.get("recurrent_activation", "sigmoid") != "sigmoid":
        unsupported(f"activations {cfg.get('activation')!r} / {cfg.get('recurrent_activation')!r} "
                    "(TFLM's integer LSTM: tanh / sigmoid)")
    for key, what in (("return_state", "return_state=True"), ("time_major", "time_major=True")):
        if cfg.get(key):
            unsupported(what)
    weights = layer.get_weights()
    units = int(cfg["units"])
    bias = weights[2] if cfg.get("use_bias", True) and len(weights) > 2 else np.zeros(4 * units, np.float32)
    seq = bool(cfg.get("return_sequences", False))
    return UnidirectionalSequenceLstm(
        name=name, inputs=list(inputs), outputs=list(outputs),
        w_in=None, w_rec=None, bias=None, w_in_scales=None, w_rec_scales=None,
        time_major=False, batch=1, steps=int(steps), cell_clip=10.0,
        kernel_f=np.asarray(weights[0]), recurrent_f=np.asarray(weights[1]), bias_f=np.asarray(bias),
        stateless=len(inputs) == 1, last_only=not seq, go_backwards=bool(cfg.get("go_backwards", False)),
        reverse_output=bool(reverse_output and seq))


@keras_layer("LSTM")
def from_keras(layer, cx):
    cfg = layer.get_config()
    shape = cx.g.shape(cx.inputs[0])
    if len(shape) != 2:
        cx.unsupported(f"an input of shape {shape} (time steps, features expected)")
    units = int(cfg["units"])
    stateful = bool(cfg.get("stateful", False))
    batch = (tuple(getattr(layer, "input").shape) or (None,))[0] if stateful else 1
    if stateful and batch != 1:
        cx.unsupported(f"stateful=True with a batch size of {batch} (one stream of invocations: batch size 1)")
    inputs = [cx.inputs[0]]
    if stateful:  # the state kept between calls, as TFLM keeps it: variable tensors
        for suffix, dtype in (("hidden", "int8"), ("cell", "int16")):
            t = cx.g.add_tensor(f"{cx.output}/{suffix}", (units,), dtype)
            t.variable = True
            inputs.append(t.name)
    cx.add(lstm_op(layer, cx.name, inputs, [cx.output], cx.unsupported, steps=shape[0]))
