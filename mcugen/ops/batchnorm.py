"""BatchNormalization at inference: y = x * a + b per channel.

Folded into the preceding Conv2D / DepthwiseConv2D / Dense where it directly
follows one (``mcugen/passes.py``); elsewhere (after an activation, on the
model input) it stays as this op, which is a 1x1 depthwise convolution with
multiplier 1 and so reuses that kernel and its int8 reference."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import keras_layer
from .depthwise_conv2d import DepthwiseConv2D


@dataclass(kw_only=True)
class BatchNorm(DepthwiseConv2D):
    kind: ClassVar[str] = "batchnorm"
    fusable: ClassVar[bool] = True

    @property
    def scale(self) -> np.ndarray:
        return self.weights.reshape(-1)

    def macs(self, g):
        return g.tensors[self.outputs[0]].size

    def describe(self):
        return "affine"


@keras_layer("BatchNormalization")
def from_keras(layer, cx):
    cfg = layer.get_config()
    rank = len(cx.g.shape(cx.inputs[0]))
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis not in (-1, rank):
        cx.unsupported(f"axis={axis} (only the last axis is supported)")
    weights = list(layer.get_weights())
    n = cx.g.shape(cx.inputs[0])[-1]
    gamma = weights.pop(0) if cfg.get("scale", True) else np.ones(n, np.float32)
    beta = weights.pop(0) if cfg.get("center", True) else np.zeros(n, np.float32)
    mean, var = weights[0], weights[1]
    a = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + float(cfg.get("epsilon", 1e-3)))
    b = beta.astype(np.float64) - mean.astype(np.float64) * a
    cx.add(
        BatchNorm(
            name=cx.name,
            inputs=[cx.inputs[0]],
            outputs=[cx.output],
            weights=a.reshape(1, 1, n, 1),
            bias=b,
            strides=(1, 1),
            pads=((0, 0), (0, 0)),
        )
    )
