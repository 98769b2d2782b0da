"""Keras recurrent layers on mcugen's quantizer (mcugen/ops/gru.py,
simple_rnn.py, bidirectional.py): the float IR equals Keras, the C equals the
integer reference byte for byte under ASan/UBSan (every layer), the int8
output stays within a few steps of float; the int16 sigmoid and tanh equal
TFLM's on every int16 input; unsupported options and the TFLiteConverter path
are refused in one line."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from conftest import rand, roundtrip

ROOT = Path(__file__).resolve().parents[1]
L = None  # keras.layers, bound in the fixture

CASES = {
    "gru": ((8, 3), lambda x: L.GRU(5)(x)),
    "gru_reset_before": ((8, 3), lambda x: L.GRU(5, reset_after=False)(x)),
    "gru_nobias": ((6, 4), lambda x: L.GRU(3, use_bias=False)(x)),
    "gru_seq_backwards": ((7, 4), lambda x: L.GRU(6, return_sequences=True, go_backwards=True)(x)),
    "gru_backwards_last": ((7, 2), lambda x: L.GRU(4, go_backwards=True, reset_after=False)(x)),
    "gru_stacked_dense": ((10, 3), lambda x: L.Dense(3)(L.GRU(4)(L.GRU(6, return_sequences=True)(x)))),
    "gru_one_step": ((1, 5), lambda x: L.GRU(3)(x)),
    "simple_rnn": ((9, 2), lambda x: L.SimpleRNN(4)(x)),
    "simple_rnn_seq_backwards": ((6, 3), lambda x: L.SimpleRNN(5, return_sequences=True, go_backwards=True)(x)),
    "simple_rnn_stacked": ((8, 2), lambda x: L.SimpleRNN(3)(L.SimpleRNN(4, return_sequences=True)(x))),
    "bidir_gru_concat_seq": ((6, 3), lambda x: L.Bidirectional(L.GRU(4, return_sequences=True))(x)),
    "bidir_gru_ave": ((6, 3), lambda x: L.Bidirectional(L.GRU(4, reset_after=False), merge_mode="ave")(x)),
    "bidir_rnn_sum": ((6, 3), lambda x: L.Bidirectional(L.SimpleRNN(4), merge_mode="sum")(x)),
    "bidir_rnn_mul_seq": ((5, 2), lambda x: L.Bidirectional(L.SimpleRNN(3, return_sequences=True),
                                                            merge_mode="mul")(x)),
    "bidir_backwards_seq_explicit": ((5, 2), lambda x: L.Bidirectional(
        L.GRU(3, return_sequences=True, go_backwards=True),
        backward_layer=L.SimpleRNN(3, return_sequences=True))(x)),
    "bidir_then_gru": ((7, 3), lambda x: L.GRU(3)(L.Bidirectional(L.SimpleRNN(3, return_sequences=True))(x))),
}


@pytest.fixture(scope="module")
def layers(keras):
    global L
    L = keras.layers
    return L


def randomize_rnn(model, seed: int = 2) -> None:
    """Biases (GRU's (2, 3U) included) away from Keras' zeros."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([w if w.ndim > 1 and w.shape[0] > 2 else rng.normal(0, 0.2, w.shape).astype(np.float32)
                               for w in ws])


def build(keras, case):
    shape, make = CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, make(inp), name=case)
    randomize_rnn(model)
    return model, shape


@pytest.mark.parametrize("case", sorted(CASES))
def test_recurrent_layer(case, keras, layers):
    model, shape = build(keras, case)
    x_test = rand(shape, n=24, seed=4)
    x_calib = np.concatenate([rand(shape, n=64, seed=3), x_test])
    r = roundtrip(model, x_calib, x_test)
    assert r.float_err < 1e-5, f"float IR differs from Keras by {r.float_err}"
    assert r.exact, f"C differs from the integer reference, first at layer {r.first_mismatch!r}"
    assert r.int8_err_steps <= 3, f"int8 output {r.int8_err_steps:.2f} steps away from float"


def test_sigmoid_table_in_c_is_the_reference():
    from mcugen.ops.rnn_common import SIGMOID_TABLE

    text = (ROOT / "templates/kernels/rnn_act16.c.j2").read_text()
    body = text.split("mcg_sigmoid_table_u16[256] = {", 1)[1].split("};", 1)[0]
    values = [int(v) for v in re.findall(r"(\d+)u", body)]
    assert values == SIGMOID_TABLE.tolist()


def test_int16_sigmoid_and_tanh_equal_tflm_on_every_input(keras):
    """logistic16 / tanh16 against TFLM's LOGISTIC and TANH on int16 (16x8
    quantization) with the input scale set to 2^-12: TFLM's Prepare then
    calls Logistic(0, 0, ...) / Tanh(0, 0, ...), as its LSTM does."""
    import tensorflow as tf
    from tflite_micro.python.tflite_micro import runtime

    from conftest import edit_tflite
    from mcugen.ops.rnn_common import logistic16, tanh16

    x = np.arange(-32768, 32768, dtype=np.int16).reshape(-1, 1024)
    for act, fn in (("sigmoid", logistic16), ("tanh", tanh16)):
        inp = keras.Input((1024,))
        model = keras.Model(inp, keras.layers.Activation(act)(inp))
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([np.linspace(-8, 8, 1024, dtype=np.float32)[None]] for _ in range(2))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        conv.inference_input_type = conv.inference_output_type = tf.int16

        def q312(S, m, sg):
            t = sg.tensors[sg.inputs[0]]
            t.quantization.scale, t.quantization.zeroPoint = [2.0**-12], [0]
            assert list(sg.tensors[sg.outputs[0]].quantization.scale) == [2.0**-15]

        it = runtime.Interpreter.from_bytes(edit_tflite(bytes(conv.convert()), q312), arena_size=1 << 16)
        got = []
        for row in x:
            it.set_input(row[None], 0)
            it.invoke()
            got.append(it.get_output(0).reshape(-1))
        got, want = np.concatenate(got), fn(x.reshape(-1))
        assert got.dtype == np.int16 and np.array_equal(got, want), f"{act}: {int((got != want).sum())} differ"


@pytest.mark.parametrize("make, words", [
    (lambda L: L.GRU(4, activation="relu"), "activation='relu'"),
    (lambda L: L.GRU(4, recurrent_activation="hard_sigmoid"), "recurrent_activation='hard_sigmoid'"),
    (lambda L: L.SimpleRNN(4, activation="relu"), "activation='relu'"),
    (lambda L: L.Bidirectional(L.LSTM(4, activation="relu")), "activations 'relu'"),
])
def test_unsupported_options_refused_in_one_line(keras, layers, make, words):
    from mcugen.errors import McugenError
    from mcugen.keras_loader import graph_from_keras

    inp = keras.Input((5, 2))
    model = keras.Model(inp, make(layers)(inp))
    with pytest.raises(McugenError) as e:
        graph_from_keras(model, "m")
    msg = str(e.value)
    assert words in msg and "\n" not in msg, msg


def test_return_state_and_merge_none_refused(keras, layers):
    from mcugen.errors import McugenError
    from mcugen.keras_loader import graph_from_keras

    inp = keras.Input((5, 2))
    for out, words in ((layers.GRU(3, return_state=True)(inp)[0], "more than one output"),
                       (layers.Bidirectional(layers.GRU(3), merge_mode=None)(inp)[0], "more than one output")):
        with pytest.raises(McugenError) as e:
            graph_from_keras(keras.Model(inp, out), "m")
        assert words in str(e.value) and "\n" not in str(e.value), str(e.value)


@pytest.mark.parametrize("unroll", [False, True])
def test_tflite_quantizer_refuses_recurrent_naming_the_loop(keras, layers, unroll):
    """TFLiteConverter makes a WHILE loop (or, unrolled, a time-major
    TRANSPOSE) of a GRU: one line naming it and mcugen's own quantizer."""
    from mcugen.errors import McugenError
    from mcugen.tflite_quantizer import convert_keras

    inp = keras.Input((6, 2))
    model = keras.Model(inp, layers.Bidirectional(layers.GRU(3, unroll=unroll))(inp))
    with pytest.raises(McugenError) as e:
        convert_keras(model, rand((6, 2), 4))
    msg = str(e.value)
    assert ("TRANSPOSE" if unroll else "WHILE") in msg, msg
    assert "--quantizer mcugen" in msg and "\n" not in msg, msg


def test_tf_keras_h5_with_recurrent_layers(tmp_path, keras):
    """A tf.keras (Keras 2) .h5 file: its GRU and SimpleRNN configs carry
    time_major (Bidirectional's wrapped layer too), which Keras 3 rejects;
    mcugen reads it, its float IR equals tf.keras' own output and the C
    equals the integer reference."""
    import tf_keras as k2

    from mcugen.check import run_check
    from mcugen.pipeline import prepare
    from mcugen.reference import run_float

    inp = k2.Input((8, 3))
    y = k2.layers.Bidirectional(k2.layers.GRU(4, return_sequences=True), merge_mode="sum")(inp)
    y = k2.layers.SimpleRNN(3, go_backwards=True)(y)
    model = k2.Model(inp, k2.layers.Concatenate()([y, k2.layers.GRU(3, reset_after=False)(inp)]))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([w + rng.normal(0, 0.2, w.shape).astype(np.float32) for w in ws])
    path = tmp_path / "k2_rnn.h5"
    model.save(path)
    x = rand((8, 3), 32, seed=5)
    np.savez(tmp_path / "calib.npz", x=x)
    p = prepare(path, tmp_path / "calib.npz")
    assert [op.kind for op in p.graph.ops].count("gru") == 3
    got = run_float(p.graph, x)[p.graph.outputs[0]]
    assert np.max(np.abs(got - model.predict(x, verbose=0))) < 1e-5
    r = run_check(p, n=32)
    assert r.bit_exact == 32 and r.max_abs_diff == 0, r


# The streaming form: Keras stateful=True, the hidden state a variable tensor
# kept between invocations, a (T, F) input per invocation (T = 1: one step).
STATEFUL = {
    "gru_stream_one_step": (1, 2, lambda x: L.Dense(3)(L.GRU(5, stateful=True)(x))),
    "gru_stream_reset_before": (2, 3, lambda x: L.GRU(4, stateful=True, reset_after=False)(x)),
    "rnn_stream_seq_backwards": (3, 2, lambda x: L.SimpleRNN(4, stateful=True, return_sequences=True,
                                                             go_backwards=True)(x)),
}


def build_stateful(keras, case):
    t, f, make = STATEFUL[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(batch_shape=(1, t, f))
    model = keras.Model(inp, make(inp), name=case)
    randomize_rnn(model)
    return model, (t, f)


@pytest.mark.parametrize("case", sorted(STATEFUL))
def test_stateful_streaming(case, keras, layers):
    """Rows are invocations in order from a reset: the float IR equals Keras
    predicting them one batch of 1 after another (its state carried), the C
    equals the integer reference on every layer of the sequence, and the
    state does carry (a row's output depends on the rows before it)."""
    from mcugen.emit import render
    from mcugen.host import run_host
    from mcugen.keras_loader import graph_from_keras
    from mcugen.passes import optimize
    from mcugen.quantize import quantize_graph
    from mcugen.reference import run_float, run_int

    from conftest import edge_rows

    model, shape = build_stateful(keras, case)
    x = rand(shape, n=24, seed=4)
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_states()
    want = model.predict(x, batch_size=1, verbose=0)
    g = graph_from_keras(model, case)
    optimize(g)
    [state] = g.variables
    assert g.tensors[state].dtype == "int16" and g.tensors[state].variable
    assert np.max(np.abs(run_float(g, x)[g.outputs[0]] - want)) < 1e-5
    quantize_graph(g, x)
    xq = np.concatenate([g.input.q.quantize(x), edge_rows(g.input.shape)])
    ref = run_int(g, xq)
    host = run_host(g, render(g, case), xq)
    for op, got in zip(g.ops, host.layers):
        assert np.array_equal(got, ref[op.outputs[0]]), f"C differs at layer {op.name!r}"
    assert np.array_equal(host.outputs, ref[g.outputs[0]])
    for layer in model.layers:  # the float model on the inputs the int8 model saw
        if getattr(layer, "stateful", False):
            layer.reset_states()
    want_q = model.predict(g.input.q.dequantize(xq[:24]).astype(np.float32), batch_size=1, verbose=0)
    steps = np.max(np.abs(g.output.q.dequantize(ref[g.outputs[0]][:24]) - want_q)) / g.output.q.scale
    assert steps <= 6, f"int8 output {steps:.2f} steps away from float"  # test_ops' bound (a Dense follows)
    alone = run_int(g, xq[5:6])[g.outputs[0]]
    assert not np.array_equal(alone[0], ref[g.outputs[0]][5]), "row 5 alone gives what it gives after rows 0-4"


def test_q15_product_shortcut_is_the_general_requantization():
    """The kernels' mcg_mul_q15_s16 computes MultiplyByQuantizedMultiplier
    (p, 2^30, -14) as rounding_divide_by_pot((p + 1) >> 1, 14); the two agree
    on every product of two int16 values tried: each int16 times ~700
    others spread over the range (the edges included), and random ones."""
    from mcugen.ops.rnn_common import STATE_SCALE
    from mcugen.rounding import multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot

    m, s = quantize_multiplier(STATE_SCALE)
    assert (m, s) == (1 << 30, -14)
    a = np.arange(-32768, 32768, dtype=np.int64)
    bs = np.unique(np.concatenate([np.linspace(-32768, 32767, 600).astype(np.int64),
                                   [-32768, -32767, -2, -1, 0, 1, 2, 32766, 32767],
                                   np.random.default_rng(0).integers(-32768, 32768, 87)]))
    for b in np.array_split(bs, 16):
        p = a[:, None] * b[None, :]
        assert np.array_equal(rounding_divide_by_pot((p + 1) >> 1, 14), multiply_by_quantized_multiplier(p, m, s))


def test_too_many_units_for_the_int32_recurrent_sum_refused(keras, layers):
    from mcugen.errors import McugenError
    from mcugen.keras_loader import graph_from_keras
    from mcugen.quantize import quantize_graph

    inp = keras.Input((1, 1))
    g = graph_from_keras(keras.Model(inp, layers.SimpleRNN(520)(inp)), "m")
    with pytest.raises(McugenError) as e:
        quantize_graph(g, rand((1, 1), 4))
    assert "520 units could overflow the int32 accumulator" in str(e.value) and "\n" not in str(e.value)
