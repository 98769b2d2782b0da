"""Channels that batch normalization killed (weights ~1e-30 after folding)
are quantized as TFLiteConverter does: the weight range is at least 1e-6
(scale 1e-6 / 254), and where the bias would then exceed INT32_MAX / 2 steps
the weight scale grows to hold it. The bias stays exact instead of clipping
to +-2^31 and the layer is no longer refused. Scales, weights and biases
equal TFLiteConverter's exactly, given the same input scale (each quantizer
calibrates its own; mcugen's differs in the last float32 bits)."""
from __future__ import annotations

import numpy as np

from mcugen.ops.common import BIAS_MAX, quantize_weights_and_bias


def test_dead_channel_gets_a_tiny_scale_and_a_bounded_bias():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.1, (3, 3, 8, 4))
    w[..., 1] *= 1e-29  # dead, bias large for its scale
    w[..., 2] = 0.0  # all zero, small bias
    w[..., 3] *= 1e-29  # dead, no bias to speak of
    b = np.array([0.3, 0.5, 1e-12, 0.0])
    in_scale = 0.05
    w_q, scales, b_q = quantize_weights_and_bias(w, b, axis=3, in_scale=in_scale)
    assert np.all(w_q[..., 1:] == 0) and np.abs(w_q[..., 0]).max() == 127
    np.testing.assert_allclose(scales[0], np.abs(w[..., 0]).max() / 127, rtol=1e-7)
    assert scales[2] == scales[3] == np.float32(0.5e-6 / 127)  # TFLite's floor
    # Channel 1: 0.5 / (0.05 * 3.9e-9) would be 2.5e9 steps; the scale grows.
    np.testing.assert_allclose(scales[1], 0.5 / BIAS_MAX / in_scale, rtol=1e-7)
    assert abs(int(b_q[1]) - BIAS_MAX) <= 64  # float32 rounding of 2^30 steps: 64 apart
    # The bias is represented to half a step (float32's own rounding aside), not clipped.
    step = np.float32(in_scale) * scales.astype(np.float32)
    assert np.all(np.abs(b_q * step.astype(np.float64) - b) <= step * (0.5 + 2.0**-23 * np.abs(b_q)))


def test_dead_channels_quantize_like_tflite(keras, tmp_path):
    """64 channels, 40 % of them dead, biases from 1e-4 to 10: given
    TFLiteConverter's input scale, mcugen's quantizer gives its weight scales,
    int8 weights and int32 biases exactly."""
    from keras import layers as L

    from mcugen.pipeline import prepare

    rng = np.random.default_rng(0)
    c = 64
    inp = keras.Input((6, 6, 2))
    model = keras.Model(inp, L.Conv2D(c, 3, name="conv")(inp))
    w = rng.normal(0, 0.1, (3, 3, 2, c)).astype(np.float32)
    dead = rng.random(c) < 0.4
    w[..., dead] *= 1e-29
    b = (rng.normal(0, 1, c) * 10.0 ** rng.uniform(-4, 1, c)).astype(np.float32)
    model.get_layer("conv").set_weights([w, b])
    model.save(tmp_path / "dead.keras")
    np.save(tmp_path / "calib.npy", np.random.default_rng(1).uniform(-1, 1, (32, 6, 6, 2)).astype(np.float32))
    p = prepare(tmp_path / "dead.keras", tmp_path / "calib.npy", quantizer="tflite")
    theirs = p.graph.ops[0]
    in_scale = p.graph.q(theirs.inputs[0]).scale
    w_q, scales, b_q = quantize_weights_and_bias(w, b, axis=3, in_scale=in_scale)
    assert np.array_equal(scales, np.asarray(theirs.w_scales, np.float32))
    assert np.array_equal(w_q, theirs.w_q)
    assert np.array_equal(b_q, theirs.b_q), np.abs(b_q.astype(np.int64) - theirs.b_q).max()
    assert np.abs(b_q[dead].astype(np.int64)).max() >= 2**29  # the dead ones hold their bias


def test_dead_channels_after_batchnorm_build_exact(keras, tmp_path):
    """Conv2D + BatchNormalization with two dead channels: mcugen's quantizer
    (its own calibration) gives the same weights and, to the input scale's
    last bits, the same scales as TFLiteConverter; the C is bit-exact."""
    from keras import layers as L

    from conftest import roundtrip
    from mcugen.pipeline import prepare

    inp = keras.Input((6, 6, 2))
    x = L.Conv2D(4, 3, use_bias=False, name="conv")(inp)
    x = L.BatchNormalization(name="bn")(x)
    out = L.ReLU()(x)
    model = keras.Model(inp, out)
    bn = model.get_layer("bn")
    bn.set_weights([np.array([1.0, 1e-30, 0.8, 1e-30], np.float32), np.array([0.1, 0.7, -0.2, -0.4], np.float32),
                    np.zeros(4, np.float32), np.ones(4, np.float32)])
    path = tmp_path / "dead.keras"
    model.save(path)
    calib = tmp_path / "calib.npy"
    x = np.random.default_rng(1).uniform(-1, 1, (32, 6, 6, 2)).astype(np.float32)
    np.save(calib, x)
    mine = prepare(path, calib)
    theirs = prepare(path, calib, quantizer="tflite")
    m, t = mine.graph.ops[0], theirs.graph.ops[0]
    assert m.kind == t.kind == "conv2d"
    assert np.array_equal(m.w_q, t.w_q)
    # The live channels' scales are max|w| / 127 on both sides; the dead
    # ones' scale is bias / (2^30 x input scale), and the input scales differ
    # in their last bits (mcugen computes its range in float64).
    np.testing.assert_allclose(m.w_scales, t.w_scales, rtol=1e-6)
    # Given TFLite's input scale and weight scales, the biases are TFLite's exactly.
    t_in = theirs.graph.q(t.inputs[0]).scale
    from mcugen.ops.common import quantize_bias

    assert np.array_equal(quantize_bias(m.bias, t_in, np.asarray(t.w_scales, np.float32), 4), t.b_q)
    assert np.all(np.abs(m.b_q[[1, 3]].astype(np.int64)) >= 2**29)  # the dead ones hold their bias
    assert roundtrip(model, x, x[:8]).exact
