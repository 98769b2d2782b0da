"""The Keras LSTM layer with go_backwards, in Bidirectional (every merge
mode, with or without return_sequences, an explicit backward layer of
another kind) and stacked (return_sequences feeding another LSTM): the float
IR equals Keras, the C equals the integer reference on every layer under
ASan/UBSan (test inputs and raw edge rows), the int8 output stays close to
float; and the same models cross-compiled for AVR (templates/avr/kernels/
lstm.c.j2) run bit-exact in simavr."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import test_rnn
from conftest import edge_rows, rand, roundtrip

L = None  # keras.layers, bound in the fixture

CASES = {
    "lstm_backwards_seq": ((6, 3), lambda x: L.LSTM(4, return_sequences=True, go_backwards=True)(x)),
    "lstm_backwards_last": ((6, 3), lambda x: L.Dense(3)(L.LSTM(5, go_backwards=True)(x))),
    "bidir_lstm_concat": ((6, 3), lambda x: L.Bidirectional(L.LSTM(4))(x)),
    "bidir_lstm_concat_seq": ((5, 2), lambda x: L.Bidirectional(L.LSTM(3, return_sequences=True))(x)),
    "bidir_lstm_sum_seq": ((6, 3), lambda x: L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="sum")(x)),
    "bidir_lstm_ave": ((7, 2), lambda x: L.Bidirectional(L.LSTM(4), merge_mode="ave")(x)),
    "bidir_lstm_mul_seq": ((5, 3), lambda x: L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="mul")(x)),
    "bidir_lstm_gru_explicit": ((6, 2), lambda x: L.Bidirectional(
        L.LSTM(3, return_sequences=True),
        backward_layer=L.GRU(3, return_sequences=True, go_backwards=True))(x)),
    "lstm_stacked": ((8, 3), lambda x: L.Dense(3)(L.LSTM(3)(L.LSTM(5, return_sequences=True)(x)))),
    "lstm_stacked_seq": ((6, 2), lambda x: L.LSTM(3, return_sequences=True)(L.LSTM(4, return_sequences=True)(x))),
    "lstm_wide_input": ((1, 260), lambda x: L.LSTM(3)(x)),  # AVR: the dot product in runs of 255
    "bidir_lstm_then_lstm": ((7, 3), lambda x: L.LSTM(4)(L.Bidirectional(L.LSTM(3, return_sequences=True))(x))),
}


@pytest.fixture(scope="module")
def layers(keras):
    global L
    L = keras.layers
    return L


def build(keras, case):
    shape, make = CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, make(inp), name=case)
    test_rnn.randomize_rnn(model)
    return model, shape


@pytest.mark.parametrize("case", sorted(CASES))
def test_lstm_layers(case, keras, layers):
    model, shape = build(keras, case)
    x_test = rand(shape, n=24, seed=4)
    x_calib = np.concatenate([rand(shape, n=64, seed=3), x_test])
    r = roundtrip(model, x_calib, x_test)
    n_lstm = [op.kind for op in r.graph.ops].count("lstm")
    assert n_lstm == (2 - case.endswith("explicit") if "bidir" in case or "stacked" in case else 1) \
        + case.endswith("then_lstm"), [op.kind for op in r.graph.ops]
    assert r.float_err < 1e-5, f"float IR differs from Keras by {r.float_err}"
    assert r.exact, f"C differs from the integer reference, first at layer {r.first_mismatch!r}"
    # a few output steps, or (a narrow calibrated range: small steps) within
    # 0.01 of float on a hidden state in (-1, 1)
    err = r.int8_err_steps * r.graph.output.q.scale
    assert r.int8_err_steps <= 6 or err <= 0.01, f"int8 output {r.int8_err_steps:.2f} steps ({err:.4f}) from float"


def test_backward_layer_reads_the_sequence_from_its_end(keras, layers):
    """go_backwards is not a no-op: reversing the input's steps changes the
    output of an LSTM that reads backwards exactly as Keras says (the int8
    output of x reversed equals that of the model without go_backwards on x,
    same weights, same quantization)."""
    from mcugen.keras_loader import graph_from_keras
    from mcugen.passes import optimize
    from mcugen.quantize import quantize_graph
    from mcugen.reference import run_int8

    keras.utils.set_random_seed(2)
    outs = []
    x = rand((6, 3), n=16, seed=5)
    for back in (False, True):
        inp = keras.Input((6, 3))
        lstm = L.LSTM(4, go_backwards=back)
        model = keras.Model(inp, lstm(inp))
        if back:
            lstm.set_weights(weights)
        weights = lstm.get_weights()
        g = graph_from_keras(model, "m")
        optimize(g)
        xin = x[:, ::-1] if back else x
        quantize_graph(g, xin)
        outs.append(run_int8(g, g.input.q.quantize(xin))[g.outputs[0]])
    assert np.array_equal(outs[0], outs[1])


def test_lstm_layers_on_avr_bit_exact(keras, layers):
    """Every case above cross-compiled for the ATmega2560 (the Uno's AVR
    kernels, more SRAM for several models per firmware image) and run in
    simavr on 8 inputs each (4 calibration-like, 4 raw edge rows)."""
    from mcugen.boards import get_board
    from mcugen.emit import render
    from mcugen.keras_loader import graph_from_keras
    from mcugen.passes import optimize
    from mcugen.quantize import quantize_graph
    from mcugen.reference import int8_output
    from mcugen.targets import get_target
    from mcugen.targets.bundle import groups, run_bundle

    b = get_board("mega2560")
    target = get_target(b)
    items = []
    for i, case in enumerate(sorted(CASES)):
        model, shape = build(keras, case)
        g = graph_from_keras(model, f"l{i}_{case}")
        optimize(g)
        quantize_graph(g, rand(shape, 64, seed=3))
        xq = np.concatenate([g.input.q.quantize(rand(shape, 4, seed=4)), edge_rows(g.input.shape)[:4]])
        items.append((g, render(g, board=b), xq))
    wrong = []
    for grp in groups(items, lambda it: it[1].plan.arena_size + it[0].input.size, 4500):
        outs, _ = run_bundle(target, [g for g, _, _ in grp], [cm for _, cm, _ in grp], [xq for _, _, xq in grp])
        for (g, _, xq), got in zip(grp, outs):
            if not np.array_equal(got, int8_output(g, xq)):
                wrong.append(g.name)
    assert not wrong, f"differ in simavr: {wrong}"


def test_lstm_c_activations_equal_the_reference_on_every_input(tmp_path):
    """The kernels' mcg_lstm_sigmoid and mcg_lstm_tanh (lstm_common, as the
    host compiles them) equal the reference's sigmoid16 / tanh16 on all 65536
    int16 inputs, tanh at the gate scale and at cell scales 2^-15 .. 2^2."""
    import subprocess

    from mcugen.emit import environment
    from mcugen.ops.lstm import sigmoid16, tanh16, tanh_params

    root = Path(__file__).resolve().parents[1]
    powers = [-12] + list(range(-15, 3))
    calls = "\n".join(f"        printf(\"%d \", mcg_lstm_tanh((int16_t)x, {m}, {s}));"
                      for m, s in (tanh_params(p) for p in powers))
    src = environment().get_template("kernels/lstm_common.c.j2").render() + f"""
#include <stdio.h>
int main(void)
{{
    int32_t x;
    for (x = -32768; x < 32768; ++x) {{
        printf("%d ", mcg_lstm_sigmoid((int16_t)x));
{calls}
        printf("%d\\n", mcg_lstm_mul((int16_t)x, (int16_t)(x * 7), 1 << 30, -14, 0, -32768, 32767));
    }}
    return 0;
}}
"""
    (tmp_path / "act.c").write_text('#include "mcg_runtime.h"\n' + src)
    exe = tmp_path / "act"
    r = subprocess.run(["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
                        "-I", str(root / "firmware"), str(tmp_path / "act.c"), "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    got = np.loadtxt(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines(),
                     dtype=np.int64)
    x = np.arange(-32768, 32768, dtype=np.int64)
    assert got.shape == (65536, len(powers) + 2), got.shape
    assert np.array_equal(got[:, 0], sigmoid16(x))
    for k, p in enumerate(powers):
        assert np.array_equal(got[:, 1 + k], tanh16(x, p)), f"tanh at 2^{p}"
    from mcugen.rounding import multiply_by_quantized_multiplier

    p = x * ((x * 7 + 32768) % 65536 - 32768)
    assert np.array_equal(got[:, -1], np.clip(multiply_by_quantized_multiplier(p, 1 << 30, -14), -32768, 32767))
