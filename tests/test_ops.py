"""Every supported op, one (or two) layers at a time, parametrized over shapes,
strides, padding and channel counts: the float IR equals Keras, the C equals
the int8 reference byte for byte (under ASan/UBSan), and the int8 output stays
within a few quantization steps of the float model."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import rand, randomize, roundtrip

L = None  # keras.layers, bound in the fixture


def conv(f, k, **kw):
    return lambda x: L.Conv2D(f, k, **kw)(x)


CASES = {
    # Conv2D: strides, padding, kernel shapes, bias, fused activations
    "conv2d_3x3_valid": ((9, 9, 3), conv(4, 3)),
    "conv2d_3x3_same_s2": ((9, 9, 3), conv(5, 3, strides=2, padding="same")),
    "conv2d_5x3_same_even": ((8, 10, 2), conv(3, (5, 3), padding="same")),
    "conv2d_1x1_nobias_relu": ((6, 6, 7), conv(6, 1, use_bias=False, activation="relu")),
    "conv2d_2x2_s2_relu6": ((8, 8, 4), conv(8, 2, strides=2, activation="relu6")),
    "conv2d_s2x1_valid": ((7, 9, 1), conv(2, 3, strides=(2, 1))),
    "conv2d_32ch": ((5, 5, 32), conv(16, 3, padding="same", activation="relu")),
    "conv2d_full_width": ((6, 4, 3), conv(5, (3, 4))),  # window rows contiguous: one run in place
    "conv2d_after_relu": ((6, 6, 5), lambda x: conv(7, 3, padding="same")(L.ReLU()(x))),  # input zp -128
    # Paths of the Cortex-M kernels (templates/arm_common, arm_dsp, arm_v7m): one
    # input channel with padding on every side and an odd output count, a patch
    # length that is no multiple of 4 and an odd pixel count, 1x1 convs as dense
    # with odd rows / inputs / outputs, channels left over after groups of 4,
    # 1-D kernels, pad value -128 (after a ReLU)
    "conv2d_1ch_5x4_same_s2": ((11, 7, 1), conv(5, (5, 4), strides=2, padding="same")),
    "conv2d_17ch_odd": ((5, 3, 17), conv(9, 3, padding="same", activation="relu")),
    "conv2d_after_relu_s2x1": ((6, 7, 5), lambda x: conv(3, (3, 1), strides=(2, 1), padding="same")(conv(6, 1, activation="relu")(x))),
    "pointwise_odd": ((3, 5, 13), conv(7, 1)),
    "dense_rows_odd_tail": ((5, 37), lambda x: L.Dense(11)(x)),
    "dense_1x4_tail": ((42,), lambda x: L.Dense(9)(x)),
    "depthwise_6ch_same": ((7, 6, 6), lambda x: L.DepthwiseConv2D(3, padding="same")(x)),
    "depthwise_8ch_s2_same": ((9, 8, 8), lambda x: L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)),
    "depthwise_1d_k5": ((12, 1, 12), lambda x: L.DepthwiseConv2D((5, 1))(x)),
    "depthwise_after_relu_5x5": ((6, 6, 3), lambda x: L.DepthwiseConv2D(5, padding="same")(conv(8, 1, activation="relu")(x))),
    # Conv1D
    "conv1d_valid": ((16, 3), lambda x: L.Conv1D(4, 3)(x)),
    "conv1d_same_s2": ((15, 4), lambda x: L.Conv1D(6, 5, strides=2, padding="same", activation="relu")(x)),
    "conv1d_causal": ((12, 2), lambda x: L.Conv1D(3, 3, padding="causal")(x)),
    # windows inside the input read in place, border windows copied: pairs of both, both mixed ways, odd width
    "conv1d_same_odd_width": ((21, 3), lambda x: L.Conv1D(7, 5, padding="same")(x)),
    "conv1d_k9_s3_same": ((40, 5), lambda x: L.Conv1D(6, 9, strides=3, padding="same", activation="relu")(x)),
    # DepthwiseConv2D and SeparableConv2D
    "depthwise_3x3_same": ((8, 8, 4), lambda x: L.DepthwiseConv2D(3, padding="same")(x)),
    "depthwise_s2_dm2": ((9, 9, 3), lambda x: L.DepthwiseConv2D(3, strides=2, depth_multiplier=2)(x)),
    "depthwise_dm3_relu6": ((6, 6, 2), lambda x: L.DepthwiseConv2D((3, 2), padding="same", depth_multiplier=3, activation="relu6")(x)),
    "depthwise_nobias": ((5, 5, 6), lambda x: L.DepthwiseConv2D(2, use_bias=False)(x)),
    "separable_same": ((8, 8, 3), lambda x: L.SeparableConv2D(6, 3, padding="same", activation="relu")(x)),
    "separable_s2_dm2": ((9, 9, 4), lambda x: L.SeparableConv2D(5, 3, strides=2, depth_multiplier=2)(x)),
    # Dense
    "dense": ((20,), lambda x: L.Dense(7)(x)),
    "dense_relu_nobias": ((33,), lambda x: L.Dense(12, activation="relu", use_bias=False)(x)),
    "dense_rank2": ((4, 6), lambda x: L.Dense(5)(x)),
    # ReLU folded into the clamp: on AVR a negative accumulator gives act_min without the requantization,
    # in the pair loop (rows 0-3), the single loop (row 4) and the chunked single loop (300 taps)
    "dense_rank2_relu": ((5, 6), lambda x: L.Dense(5, activation="relu")(x)),
    "dense_300_relu": ((300,), lambda x: L.Dense(9, activation="relu")(x)),
    "conv1d_relu_odd_width": ((22, 3), lambda x: L.Conv1D(5, 4, activation="relu")(x)),  # 19 outputs: pairs + one
    # 1100 taps of weight 127: accumulators past 2^24 (4 chunks of 256 on AVR, 32-bit requantization);
    # the 1100 values (about 0.5: x - zp near 128) come from a first dense layer, so the test input stays small
    "dense_1100_acc32": ((4,), lambda x: L.Dense(3, kernel_initializer="ones")(
        L.Dense(1100, activation="sigmoid", kernel_initializer="random_uniform")(x))),
    # Pooling
    "maxpool2d_2": ((8, 8, 3), lambda x: L.MaxPooling2D(2)(x)),
    "maxpool2d_3s2_same": ((9, 7, 2), lambda x: L.MaxPooling2D(3, strides=2, padding="same")(x)),
    "avgpool2d_2": ((8, 8, 3), lambda x: L.AveragePooling2D(2)(x)),
    "avgpool2d_3s1_same": ((6, 7, 2), lambda x: L.AveragePooling2D(3, strides=1, padding="same")(x)),
    "avgpool2d_3x2_s2": ((9, 8, 4), lambda x: L.AveragePooling2D((3, 2), strides=2)(x)),
    "maxpool1d": ((12, 3), lambda x: L.MaxPooling1D(2)(x)),
    "maxpool1d_same": ((11, 3), lambda x: L.MaxPooling1D(3, strides=2, padding="same")(x)),
    "avgpool1d": ((12, 3), lambda x: L.AveragePooling1D(3)(x)),
    "gap2d": ((5, 6, 4), lambda x: L.GlobalAveragePooling2D()(x)),
    "gap2d_keepdims": ((4, 4, 3), lambda x: L.GlobalAveragePooling2D(keepdims=True)(x)),
    "gmp2d": ((5, 6, 4), lambda x: L.GlobalMaxPooling2D()(x)),
    "gap1d": ((10, 5), lambda x: L.GlobalAveragePooling1D()(x)),
    "gmp1d": ((10, 5), lambda x: L.GlobalMaxPooling1D()(x)),
    # Shapes
    "flatten": ((4, 4, 3), lambda x: L.Dense(4)(L.Flatten()(conv(2, 3)(x)))),
    "reshape": ((24,), lambda x: L.Conv1D(3, 2)(L.Reshape((6, 4))(L.Dense(24)(x)))),
    "zeropad2d": ((5, 5, 2), lambda x: L.ZeroPadding2D(((1, 2), (0, 3)))(x)),
    "zeropad2d_conv": ((5, 5, 2), lambda x: conv(3, 3)(L.ZeroPadding2D(1)(x))),
    "zeropad1d": ((7, 3), lambda x: L.ZeroPadding1D((2, 1))(x)),
    "dropout": ((10,), lambda x: L.Dropout(0.5)(L.Dense(6)(x))),
    # BatchNormalization: folded, and standalone where it cannot be folded
    "bn_folded_conv": ((6, 6, 3), lambda x: L.BatchNormalization()(conv(4, 3, use_bias=False)(x))),
    "bn_folded_depthwise": ((6, 6, 3), lambda x: L.BatchNormalization()(L.DepthwiseConv2D(3, depth_multiplier=2)(x))),
    "bn_folded_dense": ((9,), lambda x: L.BatchNormalization()(L.Dense(5)(x))),
    "bn_after_relu": ((6, 6, 3), lambda x: L.BatchNormalization()(conv(4, 3, activation="relu")(x))),
    "bn_on_input_rank1": ((7,), lambda x: L.BatchNormalization()(x)),
    "bn_on_input_rank2": ((6, 3), lambda x: L.BatchNormalization()(x)),
    # Activations
    "relu_layer": ((5, 5, 2), lambda x: L.ReLU()(x)),
    "relu6_layer": ((20,), lambda x: L.ReLU(max_value=6.0)(L.Dense(8)(x))),
    "relu_threshold_slope": ((20,), lambda x: L.ReLU(negative_slope=0.1, threshold=0.2)(x)),
    "leaky_relu": ((4, 4, 3), lambda x: L.LeakyReLU(negative_slope=0.2)(conv(3, 3)(x))),
    "act_relu": ((12,), lambda x: L.Activation("relu")(x)),
    "act_relu6": ((12,), lambda x: L.Activation("relu6")(L.Dense(8)(x))),
    "act_sigmoid": ((12,), lambda x: L.Activation("sigmoid")(L.Dense(8)(x))),
    "act_tanh": ((12,), lambda x: L.Activation("tanh")(L.Dense(8)(x))),
    "act_softmax": ((12,), lambda x: L.Activation("softmax")(L.Dense(8)(x))),
    "act_linear": ((12,), lambda x: L.Activation("linear")(L.Dense(8)(x))),
    "dense_sigmoid_tanh": ((12,), lambda x: L.Dense(4, activation="tanh")(L.Dense(6, activation="sigmoid")(x))),
    "softmax_layer": ((3, 10), lambda x: L.Softmax()(x)),
    "act_elu": ((12,), lambda x: L.Activation("elu")(x)),
    "act_gelu": ((12,), lambda x: L.Activation("gelu")(x)),
    "act_silu": ((12,), lambda x: L.Activation("silu")(x)),
    "act_hard_sigmoid": ((12,), lambda x: L.Activation("hard_sigmoid")(x)),
    # Merges
    "add": ((6, 6, 3), lambda x: L.Add()([conv(4, 3, padding="same")(x), conv(4, 1)(x)])),
    "add_input": ((6, 6, 4), lambda x: L.Add()([x, conv(4, 3, padding="same", activation="relu")(x)])),
    "add_relu": ((10,), lambda x: L.ReLU()(L.Add()([L.Dense(5)(x), L.Dense(5)(x)]))),
    "concat_channels": ((6, 6, 3), lambda x: L.Concatenate()([conv(4, 3, padding="same")(x), conv(2, 1, activation="relu")(x)])),
    "concat_axis1": ((6, 4), lambda x: L.Concatenate(axis=1)([L.Conv1D(3, 1)(x), L.Conv1D(3, 3)(x)])),
    "concat_three": ((8,), lambda x: L.Concatenate()([L.Dense(3)(x), x, L.Dense(2, activation="relu")(x)])),
    # Permute (TFLite's TRANSPOSE): NCHW -> NHWC before a conv, and a rank-2 swap
    "permute_nchw_conv": ((3, 6, 5), lambda x: conv(4, 3)(L.Permute((2, 3, 1))(x))),
    "permute_rank2": ((4, 7), lambda x: L.Dense(3)(L.Permute((2, 1))(x))),
}


@pytest.fixture(scope="module")
def layers(keras):
    global L
    L = keras.layers
    return L


@pytest.mark.parametrize("case", sorted(CASES))
def test_op(case, keras, layers):
    shape, build = CASES[case]
    keras.utils.set_random_seed(1)
    inp = keras.Input(shape)
    model = keras.Model(inp, build(inp), name=case)
    randomize(model, seed=2)
    x_test = rand(shape, n=24, seed=4)
    # Calibrate on data that covers the test inputs, so clipping at the edges
    # of the calibrated range does not count as quantization error.
    x_calib = np.concatenate([rand(shape, n=64, seed=3), x_test])
    r = roundtrip(model, x_calib, x_test)
    assert r.float_err < 1e-5, f"float IR differs from Keras by {r.float_err}"
    assert r.exact, f"C differs from the int8 reference, first at layer {r.first_mismatch!r}"
    assert r.int8_err_steps <= 6, f"int8 output {r.int8_err_steps:.2f} steps away from float"
