"""A fully int8-quantized ``.tflite`` file -> the quantized IR graph, operator
by operator through the converters registered in ``mcugen.ops``.

Everything quantized is taken from the file as it is: every activation
tensor's scale and zero point, int8 weights with their per-channel (or
per-tensor) scales, int32 biases. No calibration happens (``g.quantizer`` is
``"tflite"``); ``op.quantize`` only derives each op's multipliers, the way
TFLite Micro's Prepare functions do. Float weights on the IR ops are the
dequantized int8 ones, so the float forward pass of such a graph is only an
approximation of the model the file came from.

Each TFLite operator becomes one IR op (converters registered by builtin
name in ``mcugen.ops.TFLITE_CONVERTERS``) and each IR op's output is a tensor
of the file, so layers can be compared one by one with TFLite's interpreters.
Exceptions: the int32 shape arithmetic is folded to constants (``fold.py``),
and a float -> int8 QUANTIZE on the model input and an int8 -> float
DEQUANTIZE on its output are dropped: the generated C takes and returns int8,
like every mcugen model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import McugenError, UnsupportedLayer, naming_layer
from ..ir import Graph, QParams
from ..limits import read_input_file, shown
from ..passes import fold_space_to_batch
from ..ops import TFLITE_CONVERTERS
from ..shapes import check_op_shapes
from .context import OpContext, layer_name
from .fold import FOLDED_OPS, fold, is_shape_op
from .reader import TFLiteFile
from .validate import check_int8, check_ops, check_structure

# Ops only supported at the model's edges (float input / output).
EDGE_OPS = ("DEQUANTIZE",)
# Errors a converter meets on an inconsistent file that validation did not
# foresee: reported as one line naming the op, never a traceback.
CONVERTER_ERRORS = (IndexError, KeyError, ValueError, TypeError, AttributeError, ZeroDivisionError, OverflowError,
                    FloatingPointError, AssertionError)


def supported_tflite_ops() -> list[str]:
    return sorted(set(TFLITE_CONVERTERS) | set(FOLDED_OPS) | set(EDGE_OPS))


@dataclass
class TFLiteModel:
    """The loaded file: the quantized IR graph and how it maps to the file."""

    graph: Graph
    model_bytes: bytes
    tensor_index: dict[str, int]  # IR tensor -> TFLite tensor index
    op_info: dict[str, tuple[int, str]]  # IR op name -> (TFLite operator index, builtin name)
    input_index: int  # the model's input tensor (float32 when a QUANTIZE follows it)
    output_index: int
    input_is_float: bool = False
    output_is_float: bool = False
    op_names: list[str] = field(default_factory=list)  # builtin name of every operator, in order
    # Every input and output, in the file's order (the fields above: the first).
    input_indices: list[int] = field(default_factory=list)
    output_indices: list[int] = field(default_factory=list)
    inputs_float: list[bool] = field(default_factory=list)
    outputs_float: list[bool] = field(default_factory=list)


class Loader(TFLiteFile):
    """The file's tables (``TFLiteFile``) and the IR graph built from them."""

    def __init__(self, data: bytes, name: str, where: str):
        super().__init__(data, where)
        self.g = Graph(name=name, quantizer="tflite")
        self.ir_names: dict[int, str] = {}
        self.op_info: dict[str, tuple[int, str]] = {}
        self._used_op_names: set[str] = set()
        check_structure(self)
        # Full shapes (batch included) worked out while converting, for
        # tensors whose shape the file leaves dynamic (Dense on a rank-3 input).
        self.inferred: dict[int, tuple[int, ...]] = {}
        self.consts = self.constants()

    # --- IR tensors --------------------------------------------------------
    def full_shape(self, i: int) -> tuple[int, ...]:
        """The tensor's shape with the batch dimension (1), as it is at run time."""
        if i in self.inferred:
            return self.inferred[i]
        return super().full_shape(i)

    def ir_shape(self, i: int) -> tuple[int, ...]:
        shape = self.full_shape(i)
        if len(shape) >= 1 and shape[0] == 1:
            return shape[1:]  # the batch dimension
        return shape

    def qparams(self, i: int) -> QParams:
        t = self.tensors[i]
        q = t.quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            raise McugenError(f"{self.where}: int8 tensor {self.tensor_names[i]!r} has no quantization parameters")
        if len(q.scale) != 1:
            raise UnsupportedLayer(f"{self.where}: tensor {self.tensor_names[i]!r}: per-axis quantized activations")
        zp = int(np.asarray(q.zeroPoint).reshape(-1)[0]) if q.zeroPoint is not None and len(q.zeroPoint) else 0
        return QParams(float(np.float32(np.asarray(q.scale).reshape(-1)[0])), zp)

    def ir_tensor(self, i: int) -> str:
        if i in self.ir_names:
            return self.ir_names[i]
        name = self.tensor_names[i]
        if name in self.g.tensors:
            name = f"{name}#{i}"
        ft = self.tensors[i]
        dtype = "int16" if self.type_name(ft.type) == "INT16" else "int8"
        t = self.g.add_tensor(name, self.ir_shape(i), dtype)
        t.q = self.qparams(i)
        if ft.isVariable:  # state kept between invocations; reset as TFLM's ResetVariableTensors
            t.variable = True
            t.reset_value = t.q.zero_point if dtype == "int8" else 0
        self.ir_names[i] = name
        return name

    def tmp_tensor(self, shape, name: str, q: QParams, dtype: str = "int8") -> str:
        base, k = name, 1
        while name in self.g.tensors:
            k += 1
            name = f"{base}{k}"
        self.g.add_tensor(name, shape, dtype).q = q
        return name

    def op_name(self, op) -> str:
        outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
        opname = self.opname(op)
        base = layer_name(self.tensor_names[outs[0]], opname) if outs and outs[0] >= 0 else opname.lower()
        name, k = base, 1
        while name in self._used_op_names:
            k += 1
            name = f"{base}_{k}"
        self._used_op_names.add(name)
        return name

    def check_supported(self, layers: list[int], names: list[str]) -> None:
        """Every operator that becomes a layer has a converter; the refusal
        names each missing op once, with its first layer."""
        bad: dict[str, list[int]] = {}
        for k in layers:
            if names[k] not in TFLITE_CONVERTERS:
                bad.setdefault(names[k], []).append(k)
        if bad:
            def one(n: str, ks: list[int]) -> str:
                out = int(self.ops[ks[0]].outputs[0])
                on = (f" on {self.type_name(self.tensors[out].type).lower()} tensors (only int32 shape arithmetic "
                      "is folded)" if n in FOLDED_OPS else "")
                more = f", {len(ks)} in all" if len(ks) > 1 else ""
                return f"{n} (op #{ks[0]} {layer_name(self.tname(out), n)!r}{more}){on}"

            what = ", ".join(one(n, ks) for n, ks in bad.items())
            raise UnsupportedLayer(f"{self.where}: unsupported TFLite op{'s' if len(bad) > 1 else ''} {what}; "
                                   f"supported: {', '.join(supported_tflite_ops())}")

    # --- the whole graph ---------------------------------------------------
    def load(self) -> TFLiteModel:
        names = [self.opname(op) for op in self.ops]
        file_ins = [int(i) for i in (self.sg.inputs if self.sg.inputs is not None else [])]
        file_outs = [int(i) for i in (self.sg.outputs if self.sg.outputs is not None else [])]
        if not file_ins or not file_outs:
            raise McugenError(f"{self.where}: the model has {len(file_ins)} inputs and {len(file_outs)} outputs; "
                              "mcugen needs at least one of each")
        # A float input with a QUANTIZE as its only reader, a float output
        # written by a DEQUANTIZE: the edge op is dropped, the C takes and
        # returns int8 (each edge on its own, so inputs may mix float and int8).
        edges: set[int] = set()
        ir_ins, ir_outs, ins_float, outs_float, index_outs = [], [], [], [], []
        for i in file_ins:
            consumers = [k for k, op in enumerate(self.ops) if i in [int(j) for j in op.inputs]]
            is_edge = (self.type_name(self.tensors[i].type) == "FLOAT32" and len(consumers) == 1
                       and names[consumers[0]] == "QUANTIZE")
            edges.update(consumers if is_edge else [])
            ir_ins.append(int(self.ops[consumers[0]].outputs[0]) if is_edge else i)
            ins_float.append(is_edge)
        for i in file_outs:
            producers = [k for k, op in enumerate(self.ops) if i in [int(j) for j in op.outputs]]
            is_edge = (self.type_name(self.tensors[i].type) == "FLOAT32" and len(producers) == 1
                       and names[producers[0]] == "DEQUANTIZE")
            edges.update(producers if is_edge else [])
            ir_outs.append(int(self.ops[producers[0]].inputs[0]) if is_edge else i)
            outs_float.append(is_edge)
            # ARG_MAX writes an int32/int64 index, which mcugen returns as an
            # int8 byte (mcugen/ops/arg_max.py keeps it at the model's output).
            index_outs.append(bool(producers) and names[producers[0]] == "ARG_MAX")
        inner = [k for k in range(len(self.ops)) if k not in edges]
        layers = [k for k in inner if not is_shape_op(self, self.ops[k], names[k])]
        self.check_supported([k for k in layers if names[k] not in EDGE_OPS], names)
        check_int8(self, self.consts, names, [k for k in layers if names[k] != "ARG_MAX"],
                   ir_ins, [j for j, index in zip(ir_outs, index_outs) if not index])
        for k in layers:
            if names[k] in EDGE_OPS:
                raise UnsupportedLayer(f"{self.where}: TFLite op #{k} {names[k]} is only supported on the "
                                       "model's output")
        check_ops(self, names, inner)
        for i in ir_ins:
            self.g.inputs.append(self.ir_tensor(i))
        signature = self.signature_names()
        self.g.input_names = [signature.get(i) or io_name(self.tname(i), "input", k) for k, i in enumerate(file_ins)]
        self.g.output_names = [signature.get(i) or io_name(self.tname(i), "output", k)
                               for k, i in enumerate(file_outs)]
        for k, (op, name) in enumerate(zip(self.ops, names)):
            if k in edges:
                continue
            n_ops = len(self.g.ops)
            try:
                if is_shape_op(self, op, name):
                    fold(self, k, op, name)
                    continue
                TFLITE_CONVERTERS[name](OpContext(self, k, name, op))
                for new in self.g.ops[n_ops:]:
                    check_op_shapes(self.g, new)
            except McugenError:
                raise
            except CONVERTER_ERRORS as e:
                out = self.tname(int(op.outputs[0])) if op.outputs is not None and len(op.outputs) else "?"
                raise McugenError(f"{self.where}: TFLite op #{k} {name} (output {out!r}): inconsistent file "
                                  f"({type(e).__name__}: {shown(str(e).splitlines()[0] if str(e) else '')[:120]})"
                                  ) from None
        self.g.outputs.extend(self.ir_tensor(i) for i in ir_outs)
        if not self.g.ops:
            raise McugenError(f"{self.where}: the model computes nothing (no operator between input and output)")
        if all(t in self.g.inputs for t in self.g.outputs):
            raise McugenError(f"{self.where}: the model's output is its input (nothing is computed)"
                              if len(self.g.outputs) == 1 else
                              f"{self.where}: every output of the model is one of its inputs (nothing is computed)")
        fold_space_to_batch(self.g)  # prunes too
        for op in self.g.ops:
            try:
                op.quantize(self.g)
            except McugenError:
                raise
            except CONVERTER_ERRORS as e:
                raise McugenError(f"{self.where}: {shown(naming_layer(op.name, e))[:240]}") from None
        tensor_index = {name: i for i, name in self.ir_names.items() if name in self.g.tensors}
        return TFLiteModel(self.g, bytes(self.data), tensor_index, dict(self.op_info), file_ins[0], file_outs[0],
                           ins_float[0], outs_float[0], names, file_ins, file_outs, ins_float, outs_float)

    def signature_names(self) -> dict[int, str]:
        """Tensor index -> its key in the file's signature of subgraph 0 (the
        converter keys a Keras model's inputs and outputs by layer name)."""
        for sig in self.model.signatureDefs or []:
            if int(sig.subgraphIndex or 0) != 0:
                continue
            keys = {}
            for m in list(sig.inputs or []) + list(sig.outputs or []):
                if m.name:
                    keys[int(m.tensorIndex)] = shown(m.name.decode("utf-8", errors="replace"))[:200]
            return keys
        return {}


def io_name(tensor_name: str, kind: str, k: int) -> str:
    """An input's or output's name from its tensor's when the file has no
    signature: 'serving_default_image:0' -> 'image'; the converter's generic
    names ('StatefulPartitionedCall:0') -> 'output_0'."""
    name = tensor_name.split(":")[0]
    name = name[len("serving_default_"):] if name.startswith("serving_default_") else name
    if not name or name.startswith(("StatefulPartitionedCall", "PartitionedCall", "Identity")) or ";" in name:
        return f"{kind}_{k}"
    return name


def graph_from_tflite(data: bytes, name: str, where: str = "model") -> TFLiteModel:
    try:
        return Loader(data, name, where).load()
    except McugenError:
        raise
    except CONVERTER_ERRORS + (UnicodeError, MemoryError) as e:  # validation missed it: still one line
        raise McugenError(f"{where}: corrupt .tflite file ({type(e).__name__}: "
                          f"{shown(str(e).splitlines()[0] if str(e) else '')[:120]})") from None


def load_tflite(path: str | Path) -> TFLiteModel:
    path = Path(path)
    data = read_input_file(path, "model file")
    return graph_from_tflite(data, path.stem, shown(path))
