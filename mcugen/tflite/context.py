"""The view of one operator that a TFLite converter in ``mcugen/ops/`` gets:
its inputs (constants decoded, activations as IR tensor names), its
quantization, its options and its outputs. Op files see only this object,
never the front end's modules."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedLayer
from ..ir import QParams


def layer_name(tensor_name: str, opname: str) -> str:
    """A readable layer name from a TFLite tensor name such as
    'sequential/conv2d/Relu;sequential/conv2d/BiasAdd;...' -> 'conv2d'
    (the op's name for the converter's generic output names)."""
    first = tensor_name.split(";")[0]
    if first.startswith(("StatefulPartitionedCall", "PartitionedCall", "Identity")) or not first:
        return opname.lower()
    parts = [p for p in first.split("/") if p]
    if len(parts) >= 3:
        return parts[-2]
    if len(parts) == 2:
        return parts[1] if parts[0].startswith(("functional", "sequential", "model")) else parts[0]
    return first.split(":")[0] or "t"


class OpContext:
    """What a TFLite converter sees: one operator of the file, its inputs
    (constants decoded, activations as IR tensor names) and its output."""

    def __init__(self, loader: "Loader", index: int, opname: str, op):
        self.loader = loader
        self.g = loader.g
        self.index = index
        self.opname = opname
        self.op = op
        self.options = op.builtinOptions
        self.name = loader.op_name(op)
        self._inputs = [int(i) for i in (op.inputs if op.inputs is not None else [])]

    # --- inputs ----------------------------------------------------------
    def n_inputs(self) -> int:
        return len(self._inputs)

    def tensor_index(self, k: int) -> int:
        return self._inputs[k] if k < len(self._inputs) else -1

    def is_const(self, k: int) -> bool:
        return self.tensor_index(k) in self.loader.consts

    def const(self, k: int) -> np.ndarray | None:
        """Input k's constant value (None when the input is absent)."""
        i = self.tensor_index(k)
        if i < 0:
            return None
        if i not in self.loader.consts:
            self.unsupported(f"a run-time value as input {k} (a constant is expected there)")
        if self.loader.tensors[i].sparsity is not None:
            self.unsupported(f"a sparse constant as input {k}")
        return self.loader.consts[i]

    def input(self, k: int) -> str:
        """The IR tensor of run-time input k."""
        i = self.tensor_index(k)
        if i < 0 or i in self.loader.consts:
            self.unsupported(f"a constant as input {k} (a run-time tensor is expected there)")
        if self.loader.tensors[i].isVariable:
            self.unsupported(f"a variable tensor as input {k} (state kept between invocations)")
        return self.loader.ir_tensor(i)

    def variable(self, k: int) -> str:
        """The IR tensor of input k, a variable tensor (state the op reads and
        updates in place, kept between invocations: Tensor.variable)."""
        i = self.tensor_index(k)
        if i < 0 or i in self.loader.consts or not self.loader.tensors[i].isVariable:
            self.unsupported(f"input {k} that is not a variable tensor (the op's state is expected there)")
        return self.loader.ir_tensor(i)

    def dtype(self, k: int) -> str:
        """Input k's type name in the file: 'INT8', 'INT16', 'INT32', 'INT64' ..."""
        return self.loader.type_name(self.loader.tensors[self.tensor_index(k)].type)

    def output_dtype(self, j: int = 0) -> str:
        return self.loader.type_name(self.loader.tensors[int(self.op.outputs[j])].type)

    def tshape(self, k: int) -> tuple[int, ...]:
        """Input k's shape at run time, batch dimension included."""
        return self.loader.full_shape(self.tensor_index(k))

    def set_output_shape(self, full_shape) -> None:
        """The output's run-time shape (batch included), worked out by the
        converter: it must agree with the file's where the file fixes it."""
        out = int(self.op.outputs[0])
        full_shape = tuple(int(d) for d in full_shape)
        sig = self.loader.tensors[out].shapeSignature
        if sig is not None and any(int(d) < 0 for d in sig):  # the file leaves it to run time
            # TFLM allocates the recorded shape: recorded larger than what
            # the op computes, the ops after it read the extra rows (a
            # smaller one, as TFLiteConverter's placeholders (1, 1) of a
            # Dense on a rank-3 input, TFLM fails to allocate at all).
            rec = self.loader.tensors[out].shape
            rec = tuple(int(d) for d in rec) if rec is not None else ()
            if rec and int(np.prod(rec)) > int(np.prod(full_shape)):
                self.unsupported(f"output shape {full_shape} (the file records {rec}, with dynamic dimensions)")
            self.loader.inferred[out] = full_shape
        elif self.loader.full_shape(out) != full_shape:
            self.unsupported(f"output shape {full_shape} (the file records {self.loader.full_shape(out)})")

    def quant(self, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(float32 scales, zero points, quantized dimension) of input k."""
        t = self.loader.tensors[self.tensor_index(k)]
        q = t.quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            self.unsupported(f"input {k} ({t.name.decode(errors='replace')!r}) without quantization parameters")
        scales = np.asarray(q.scale, dtype=np.float32).reshape(-1)
        zps = np.asarray(q.zeroPoint if q.zeroPoint is not None else np.zeros(len(scales)), dtype=np.int64).reshape(-1)
        return scales, zps, int(q.quantizedDimension)

    def tensor_qparams(self, k: int) -> QParams:
        scales, zps, _ = self.quant(k)
        if len(scales) != 1:
            self.unsupported(f"per-axis quantization on input {k}")
        return QParams(float(scales[0]), int(zps[0]))

    def require_int8(self, k: int) -> None:
        t = self.loader.tensors[self.tensor_index(k)]
        if self.loader.type_name(t.type) != "INT8":
            self.unsupported(f"input {k} of type {self.loader.type_name(t.type)} (int8 expected)")

    def weights(self, k: int, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
        """Int8 weights of input k and their float32 scales, one per index of
        ``channel_axis`` (a per-tensor scale is repeated, as TFLite does)."""
        self.require_int8(k)
        w = np.asarray(self.const(k), dtype=np.int8)
        scales, zps, qdim = self.quant(k)
        if np.any(zps != 0):
            self.unsupported("weights with a non-zero zero point (TFLite's int8 weights are symmetric)")
        n = w.shape[channel_axis]
        if len(scales) == 1:
            scales = np.full(n, scales[0], dtype=np.float32)
        elif len(scales) != n or qdim != channel_axis:
            self.unsupported(f"weights quantized along axis {qdim} with {len(scales)} scales")
        return w, scales

    def bias(self, k: int, n: int) -> np.ndarray | None:
        b = self.const(k)
        if b is None:
            return None
        t = self.loader.tensors[self.tensor_index(k)]
        if self.loader.type_name(t.type) != "INT32":
            self.unsupported(f"a {self.loader.type_name(t.type)} bias (int32 expected)")
        # The options may declare the bias type too (0: not set); TFLM's kernels
        # act on it, so any type but int32 is not the arithmetic mcugen runs.
        declared = int(getattr(self.options, "quantizedBiasType", 0) or 0)
        if declared not in (0, self.loader.S.TensorType.INT32):
            self.unsupported(f"a bias declared {self.loader.type_name(declared)} in the options (int32 expected)")
        b = np.asarray(b, dtype=np.int32).reshape(-1)
        if b.size != n:
            self.unsupported(f"a bias of {b.size} values for {n} channels")
        return b

    # --- output ----------------------------------------------------------
    @property
    def outputs(self) -> list[str]:
        """The IR tensors of every output (an op with several outputs, such
        as SPLIT, becomes one IR op per output)."""
        return [self.loader.ir_tensor(int(i)) for i in self.op.outputs]

    @property
    def output(self) -> str:
        outs = [int(i) for i in self.op.outputs]
        if len(outs) != 1:
            self.unsupported(f"{len(outs)} outputs")
        return self.loader.ir_tensor(outs[0])

    @property
    def activation(self) -> str | None:
        """The fused activation as mcugen's Op.activation."""
        code = getattr(self.options, "fusedActivationFunction", 0) or 0
        name = self.loader.activation_names.get(code, str(code))
        if name == "NONE":
            return None
        if name in ("RELU", "RELU6"):
            return name.lower()
        self.unsupported(f"fused activation {name}")

    def tmp(self, shape, suffix: str, q: QParams, dtype: str = "int8") -> str:
        return self.loader.tmp_tensor(shape, f"{self.name}/{suffix}", q, dtype)

    def add(self, op) -> None:
        self.g.ops.append(op)
        self.loader.op_info[op.name] = (self.index, self.opname)

    def unsupported(self, detail: str):
        raise UnsupportedLayer(f"TFLite op #{self.index} {self.opname} ({self.name!r}): unsupported {detail}")
