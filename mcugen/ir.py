"""The intermediate representation: tensors, ops and the graph.

The same classes hold the float graph (straight from Keras) and the quantized
graph: quantization fills in ``Tensor.q`` and each op's integer constants, so
"float IR equals Keras" and "C equals the int8 reference" are two checks on one
structure. Shapes never include the batch dimension.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .rounding import round_half_away

# The precisions a tensor of the quantized graph can have: its value range,
# its numpy type and its C type. Weights are int8 in both; an int16 graph
# (TFLite's 16x8) has int16 activations.
DTYPE_LIMITS = {"int8": (-128, 127), "int16": (-32768, 32767)}
NP_DTYPES = {"int8": np.int8, "int16": np.int16}
C_TYPES = {"int8": "int8_t", "int16": "int16_t"}


@dataclass
class QParams:
    """Per-tensor affine quantization: real = scale * (q - zero_point)."""

    scale: float  # a float32 value, as TFLite stores it
    zero_point: int

    def quantize(self, x: np.ndarray, dtype: str = "int8") -> np.ndarray:
        # TFLite's Quantize: TfLiteRound(x / scale) in float32, then + zero point.
        v = np.asarray(x, dtype=np.float32) / np.float32(self.scale)
        q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)) + self.zero_point
        lo, hi = DTYPE_LIMITS[dtype]
        return np.clip(q, lo, hi).astype(NP_DTYPES[dtype])

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (np.asarray(q, dtype=np.float64) - self.zero_point) * self.scale


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    q: QParams | None = None
    dtype: str = "int8"  # of the quantized graph: "int8" or "int16" (DTYPE_LIMITS)
    # A variable tensor keeps its value from one invocation to the next
    # (TFLite's is_variable: SVDF's and LSTM's state). Its stateful op lists
    # it in its inputs and updates it in place; <model>_reset() sets it to
    # reset_value (TFLM's rule: an int8 variable's zero point, otherwise 0).
    variable: bool = False
    reset_value: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def itemsize(self) -> int:
        return np.dtype(NP_DTYPES[self.dtype]).itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def ctype(self) -> str:
        return C_TYPES[self.dtype]

    @property
    def np_dtype(self):
        return NP_DTYPES[self.dtype]

    @property
    def limits(self) -> tuple[int, int]:
        return DTYPE_LIMITS[self.dtype]


@dataclass
class CArray:
    """A constant array an op stores in flash (weights, biases, tables)."""

    suffix: str  # the C symbol is <model>_<op>_<suffix>
    ctype: str  # int8_t, int32_t, ...
    values: np.ndarray

    @property
    def nbytes(self) -> int:
        width = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4}[self.ctype]
        return int(self.values.size) * width


@dataclass(kw_only=True)
class Op:
    """One layer of the graph. Subclasses live one per file in ``mcugen/ops``."""

    kind: ClassVar[str] = "op"
    # Template stem of the kernel in templates/kernels/, None for ops that
    # emit no code (views such as Reshape).
    kernel: ClassVar[str | None] = None
    # TFLite's "same scale" ops: the output shares the input's qparams.
    shares_qparams: ClassVar[bool] = False
    # Can take a fused ReLU/ReLU6 as its output clamp.
    fusable: ClassVar[bool] = False
    # The scratch buffer's offset in the arena is a multiple of this (4: the
    # kernel keeps int32 values there).
    scratch_align: ClassVar[int] = 1

    name: str
    inputs: list[str]
    outputs: list[str]
    activation: str | None = None  # fused clamp: None, "relu" or "relu6"

    # --- float -------------------------------------------------------------
    def forward_float(self, g: "Graph", xs: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def apply_float_activation(self, y: np.ndarray) -> np.ndarray:
        if self.activation == "relu":
            return np.maximum(y, 0.0)
        if self.activation == "relu6":
            return np.clip(y, 0.0, 6.0)
        return y

    # --- quantization ------------------------------------------------------
    def fixed_output_qparams(self, g: "Graph") -> QParams | None:
        """Output qparams imposed by the op (softmax, sigmoid, tanh)."""
        return None

    def quantize(self, g: "Graph") -> None:
        """Compute the op's integer constants from its tensors' qparams."""

    def act_range(self, g: "Graph") -> tuple[int, int]:
        """TFLite's CalculateActivationRangeQuantized for the fused clamp."""
        out = g.tensors[self.outputs[0]]
        q = out.q
        lo, hi = out.limits
        if self.activation in ("relu", "relu6"):
            lo = max(lo, q.zero_point)
        if self.activation == "relu6":
            # 6.0f / scale in float32, as TFLite's Quantize() in kernel_util.cc.
            hi = min(hi, q.zero_point + round_half_away(float(np.float32(6.0) / np.float32(q.scale))))
        return lo, hi

    def forward_int(self, g: "Graph", xs: list[np.ndarray]) -> np.ndarray:
        """The integer reference (the executable specification of the C):
        batches of the inputs -> the batch of the output, of the output
        tensor's dtype (np.int8 or np.int16)."""
        raise NotImplementedError

    # --- state (ops that read and update variable tensors) --------------------
    def forward_int_state(self, g: "Graph", xs: list[np.ndarray], state: dict[str, np.ndarray]) -> np.ndarray:
        """One invocation of an op that keeps state: ``xs`` hold a batch of 1
        (a variable input: its current value); ``state`` maps each variable
        tensor (no batch dimension) to its value, which the op replaces with
        the updated one. Default: the op keeps no state."""
        return self.forward_int(g, xs)

    def forward_float_state(self, g: "Graph", xs: list[np.ndarray], state: dict[str, np.ndarray]) -> np.ndarray:
        return self.forward_float(g, xs)

    # --- shapes ------------------------------------------------------------
    def computed_shape(self, g: "Graph") -> tuple[int, ...] | None:
        """The output shape the op computes from its inputs and attributes
        (no batch dimension), checked against the shape a .tflite file
        records (the kernels loop over the output shape and index the input
        from it). None: the op is checked by kind in the loader, or not at all."""
        return None

    # --- code --------------------------------------------------------------
    def kernels(self, g: "Graph") -> list[str]:
        """Template stems of the kernels this op calls (the choice may depend
        on its shape: a 1x1 convolution runs the dense kernel)."""
        return [self.kernel] if self.kernel else []

    def scratch_bytes(self, g: "Graph") -> int:
        """Bytes of arena the kernel needs while it runs (counted in the plan)."""
        return 0

    def constants(self) -> list[CArray]:
        return []

    def specialize(self, families: tuple[str, ...]) -> None:
        """Called by render() before constants() and c_call() with the board's
        kernel families (() without a board): an op whose faster kernel on
        some family wants other constants picks them here. Both kernels of a
        stem still take the same arguments (a constant a family does not use
        is passed as NULL). Default: nothing depends on the family."""

    def c_call(self, g: "Graph", c: "CNames") -> str:
        """The C statement that runs this op (no trailing newline)."""
        raise NotImplementedError

    # --- report ------------------------------------------------------------
    def macs(self, g: "Graph") -> int:
        return 0

    def param_count(self) -> int:
        return 0

    def describe(self) -> str:
        """Short attribute text for the inspect table."""
        return ""


class CNames:
    """How an op refers to C symbols: tensor pointers and constant arrays."""

    def __init__(self, model: str, op_ids: dict[int, str], tensor_expr: dict[str, str],
                 scratch_expr: dict[int, str] | None = None):
        self.model = model
        self._op_ids = op_ids
        self._tensor_expr = tensor_expr
        self._scratch_expr = scratch_expr or {}

    def scratch(self, op: Op) -> str:
        return self._scratch_expr[id(op)]

    def const(self, op: Op, suffix: str) -> str:
        return f"{self.model}_{self._op_ids[id(op)]}_{suffix}"

    def tensor(self, name: str) -> str:
        return self._tensor_expr[name]


@dataclass
class Graph:
    name: str
    tensors: dict[str, Tensor] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    # "mcugen" or "tflite": who chose the quantization parameters.
    quantizer: str | None = None
    # The names the caller knows each input and output by, parallel to
    # inputs / outputs (Keras Input and output layer names, a .tflite file's
    # signature keys); empty: the tensor names.
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)

    @property
    def input(self) -> Tensor:
        """The input of a one-input model (a model with several has no "the input")."""
        if len(self.inputs) != 1:
            raise ValueError(f"the model has {len(self.inputs)} inputs: use g.inputs")
        return self.tensors[self.inputs[0]]

    @property
    def output(self) -> Tensor:
        """The output of a one-output model."""
        if len(self.outputs) != 1:
            raise ValueError(f"the model has {len(self.outputs)} outputs: use g.outputs")
        return self.tensors[self.outputs[0]]

    @property
    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[t] for t in self.inputs]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[t] for t in self.outputs]

    def io_names(self) -> tuple[list[str], list[str]]:
        """(input names, output names) as the caller knows them."""
        ins = self.input_names if len(self.input_names) == len(self.inputs) else list(self.inputs)
        outs = self.output_names if len(self.output_names) == len(self.outputs) else list(self.outputs)
        return list(ins), list(outs)

    def input_arrays(self, xs) -> list[np.ndarray]:
        """Batches, one per input, in the model's order: ``xs`` is a list
        (or tuple) of them or, for a one-input model, the array itself."""
        if isinstance(xs, (list, tuple)):
            if len(xs) != len(self.inputs):
                raise ValueError(f"{len(xs)} input arrays for a model with {len(self.inputs)} inputs")
            return list(xs)
        if len(self.inputs) != 1:
            raise ValueError(f"one input array for a model with {len(self.inputs)} inputs")
        return [xs]

    def quantize_inputs(self, xs) -> list[np.ndarray]:
        """Float batches -> integer batches, each in its input's quantization and dtype."""
        return [self.q(t).quantize(x, self.tensors[t].dtype) for t, x in zip(self.inputs, self.input_arrays(xs))]

    @property
    def variables(self) -> list[str]:
        """The variable tensors (state kept between invocations), in op order."""
        seen: list[str] = []
        for op in self.ops:
            seen += [t for t in op.inputs if self.tensors[t].variable and t not in seen]
        return seen

    def dequantize_outputs(self, ys: list[np.ndarray]) -> list[np.ndarray]:
        return [self.q(t).dequantize(y) for t, y in zip(self.outputs, ys)]

    def add_tensor(self, name: str, shape, dtype: str = "int8") -> Tensor:
        if name in self.tensors:
            raise ValueError(f"tensor {name!r} defined twice")
        t = Tensor(name, tuple(int(s) for s in shape), dtype=dtype)
        self.tensors[name] = t
        return t

    def producer(self, tensor: str) -> Op | None:
        for op in self.ops:
            if tensor in op.outputs:
                return op
        return None

    def consumers(self, tensor: str) -> list[Op]:
        return [op for op in self.ops if tensor in op.inputs]

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensors[name].shape

    def q(self, name: str) -> QParams:
        q = self.tensors[name].q
        if q is None:
            raise ValueError(f"tensor {name!r} is not quantized")
        return q

    def prune(self) -> None:
        """Drop tensors no op reads or writes."""
        used = set(self.inputs) | set(self.outputs)
        for op in self.ops:
            used.update(op.inputs)
            used.update(op.outputs)
        self.tensors = {k: v for k, v in self.tensors.items() if k in used}
