"""MEAN, SUM, REDUCE_MAX and REDUCE_MIN over every axis combination of a
rank-3 and a rank-4 tensor (batch axis included), keep_dims both ways, byte
for byte against TFLM, and the generated C (one sanitized host build for all
of them) against mcugen's reference.

One TFLiteConverter run per op and rank gives a base model; every other
case is that model with its axis constant, keep_dims, output shape and
qparams rewritten with the schema bindings. MEAN and SUM run with the input
and output sharing scale and a non-zero zero point (where TFLM's MEAN used to
have a truncating special path: a model with a MEAN over 3 values after a
TRANSPOSE differed from TFLM and LiteRT on a third of its bytes) and with
their own output qparams."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from conftest import edit_tflite
from host_bundle import run_host_bundle
from mcugen.compare import DIVERGENT
from mcugen.emit import render
from mcugen.oracles import run_oracle
from mcugen.reference import int8_output
from mcugen.tflite.loader import graph_from_tflite
from mcugen.tflite_quantizer import convert_keras

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SHAPES = {3: (5, 3), 4: (4, 3, 5)}  # without the batch
OPS = {"MEAN": "mean", "SUM": "sum", "REDUCE_MAX": "max", "REDUCE_MIN": "min"}
SAME_Q = ((0.02, 6), (0.02, 6))


def base_model(keras, opname: str, rank: int) -> bytes:
    fn = getattr(keras.ops, OPS[opname])

    class Reduce(keras.layers.Layer):
        def call(self, x):
            return fn(x, axis=-1)

    shape = SHAPES[rank]
    inp = keras.Input(shape)
    model = keras.Model(inp, Reduce()(inp))
    calib = np.random.default_rng(0).uniform(-1, 1, (16,) + shape).astype(np.float32)
    return convert_keras(model, calib)


def rewrite(model: bytes, axes, keep_dims: bool, qin, qout) -> bytes:
    """The one-op model reducing ``axes`` (of the shape with the batch)."""
    def change(S, m, sg):
        (op,) = sg.operators
        x, ax = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]]
        m.buffers[ax.buffer].data = np.asarray(axes, dtype="<i4").view(np.uint8)
        ax.shape = ax.shapeSignature = [len(axes)]
        op.builtinOptions.keepDims = keep_dims
        full = list(x.shape)
        out = [1 if i in axes else d for i, d in enumerate(full)] if keep_dims else \
            [d for i, d in enumerate(full) if i not in axes]
        y = sg.tensors[op.outputs[0]]
        y.shape = y.shapeSignature = out
        for t, (scale, zp) in ((x, qin), (y, qout)):
            t.quantization.scale, t.quantization.zeroPoint = [float(np.float32(scale))], [int(zp)]

    return edit_tflite(model, change)


def cases():
    for opname, rank, keep in itertools.product(OPS, (3, 4), (False, True)):
        for n in range(1, rank + 1):
            for axes in itertools.combinations(range(rank), n):
                count = int(np.prod([((1,) + SHAPES[rank])[a] for a in axes]))
                qs = [SAME_Q]
                if opname == "MEAN":
                    qs.append(((0.02, 6), (0.013, -5)))
                elif opname == "SUM":
                    qs.append(((0.02, -3), (0.02 * np.sqrt(count), 9)))
                for k, (qin, qout) in enumerate(qs):
                    yield opname, rank, axes, keep, qin, qout, k


@pytest.fixture(scope="module")
def all_cases(keras):
    bases = {(op, r): base_model(keras, op, r) for op in OPS for r in (3, 4)}
    rng = np.random.default_rng(5)
    out = []
    for i, (opname, rank, axes, keep, qin, qout, k) in enumerate(cases()):
        label = f"{opname}_r{rank}_ax{''.join(map(str, axes))}_{'keep' if keep else 'drop'}_q{k}"
        tm = graph_from_tflite(rewrite(bases[opname, rank], axes, keep, qin, qout), f"r{i}", label)
        assert tm.op_names == [opname], label
        shape = tm.graph.input.shape
        xq = np.concatenate([rng.integers(-128, 128, (12,) + shape), np.full((1,) + shape, -128),
                             np.full((1,) + shape, 127)]).astype(np.int8)
        out.append((label, tm, xq))
    return out


def test_case_count(all_cases):
    # 4 ops x (7 + 15 axis sets) x 2 keep_dims, MEAN and SUM twice (two qparams).
    assert len(all_cases) == 4 * 22 * 2 + 2 * 22 * 2


def test_every_axis_set_matches_tflm(all_cases):
    wrong = []
    for label, tm, xq in all_cases:
        ours = int8_output(tm.graph, xq)
        theirs = run_oracle("tflm", tm, xq).outputs
        if not np.array_equal(ours, theirs.reshape(ours.shape)):
            wrong.append(f"{label}: {np.mean(ours != theirs.reshape(ours.shape)):.0%}")
    assert not wrong, f"differ from TFLM: {wrong}"


def test_litert_agrees_except_on_sum(all_cases):
    """LiteRT's reference kernels give TFLM's bytes for MEAN, REDUCE_MAX and
    REDUCE_MIN. Its int8 SUM does not (float rescaling, no clamp:
    ``mcugen.compare.DIVERGENT``), and mcugen follows TFLM there."""
    wrong, sums_apart = [], 0
    for label, tm, xq in all_cases:
        ours = int8_output(tm.graph, xq)
        theirs = run_oracle("litert", tm, xq).outputs.reshape(ours.shape)
        if label.startswith("SUM"):
            sums_apart += not np.array_equal(ours, theirs)
        elif not np.array_equal(ours, theirs):
            wrong.append(label)
    assert not wrong, f"LiteRT differs: {wrong}"
    assert sums_apart > 0 and "SUM" in DIVERGENT["litert"]


def test_every_axis_set_host_c_equals_reference(all_cases):
    graphs = [tm.graph for _, tm, _ in all_cases]
    outs = run_host_bundle(graphs, [render(g) for g in graphs], [xq for _, _, xq in all_cases])
    wrong = [label for (label, tm, xq), got in zip(all_cases, outs)
             if not np.array_equal(got, int8_output(tm.graph, xq))]
    assert not wrong, f"C differs from the reference: {wrong}"


def test_mean_after_transpose_same_qparams(keras):
    """The real model's case: TRANSPOSE, then MEAN over the last axis (3
    values, keep_dims false) with input and output at one scale and zero
    point 6: both oracles round the mean (QuantizedMeanOrSum)."""
    class Mean(keras.layers.Layer):
        def call(self, x):
            return keras.ops.mean(x, axis=-1)

    inp = keras.Input((3, 5))
    model = keras.Model(inp, Mean()(keras.layers.Permute((2, 1))(inp)))
    data = convert_keras(model, np.random.default_rng(0).uniform(-1, 1, (16, 3, 5)).astype(np.float32))
    def same_quantization(S, m, sg):
        for t in sg.tensors:
            if t.quantization is not None and t.quantization.scale is not None and t.type == S.TensorType.INT8:
                t.quantization.scale, t.quantization.zeroPoint = [float(np.float32(0.02))], [6]

    tm = graph_from_tflite(edit_tflite(data, same_quantization), "mean_t", "mean_t")
    assert tm.op_names == ["TRANSPOSE", "MEAN"]
    xq = np.random.default_rng(1).integers(-128, 128, (200, 3, 5)).astype(np.int8)
    ours = int8_output(tm.graph, xq)
    for oracle in ("tflm", "litert"):
        assert np.array_equal(ours, run_oracle(oracle, tm, xq).outputs), oracle
    # The truncating division (sum / 3 toward zero) would differ here.
    x = xq.transpose(0, 2, 1).astype(int)
    assert not np.array_equal(ours, (np.sign(x.sum(-1)) * (np.abs(x.sum(-1)) // 3)).astype(np.int8))
