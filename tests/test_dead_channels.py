"""Channels that batch normalization killed (weights ~1e-30 after folding)
are quantized as TFLiteConverter does: the weight range is at least 1e-6
(scale 1e-6 / 254), and where the bias would then exceed INT32_MAX / 2 steps
the weight scale grows to hold it. The bias stays exact instead of clipping
to +-2^31 and the layer is no longer refused."""
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
    assert abs(int(b_q[1]) - BIAS_MAX) <= 2
    # The bias is represented to half a step, not clipped.
    step = in_scale * scales.astype(np.float64)
    assert np.all(np.abs(b_q * step - b) <= step / 2 * (1 + 1e-9))


def test_dead_channels_quantize_like_tflite(keras, tmp_path):
    """Conv2D + BatchNormalization with two dead channels: mcugen's quantizer
    picks the same weight scales and (to TFLite's float32 rounding) the same
    biases as TFLiteConverter, and the C is bit-exact."""
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
    mine = prepare(path, calib).graph.ops[0]
    theirs = prepare(path, calib, quantizer="tflite").graph.ops[0]
    assert mine.kind == theirs.kind == "conv2d"
    np.testing.assert_allclose(mine.w_scales, theirs.w_scales, rtol=1e-6)
    np.testing.assert_allclose(mine.b_q.astype(np.float64), theirs.b_q.astype(np.float64), rtol=1e-6)
    assert np.all(np.abs(mine.b_q[[1, 3]].astype(np.int64)) >= 2**29)  # the dead ones hold their bias
    assert roundtrip(model, x, x[:8]).exact
