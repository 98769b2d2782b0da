"""The outside oracles: TFLite's own interpreters running a ``.tflite`` file.

* ``litert``: LiteRT's interpreter (``ai_edge_litert``, which imports in
  0.1 s; TensorFlow's ``tf.lite.Interpreter``, the same interpreter, when it
  is not installed or MCUGEN_LITERT=tensorflow) with
  ``OpResolverType.BUILTIN_REF``, i.e. TFLite's reference kernels, the ones
  the whole field (TFLM, CMSIS-NN) aims to agree with. The default resolver adds the XNNPACK delegate and LiteRT's optimized
  kernels, whose int8 requantization differs by one step on some bytes
  (measured in the README); ``LITERT_RESOLVERS`` selects them for comparison.
* ``tflm``: TFLite Micro's reference kernels on the host, through the
  ``tflite-micro`` package's Python interpreter.

Both run one sample at a time (batch 1, as the model was converted), set
every input and read every output in the subgraph's order (TFLM's input k
is the subgraph's k-th), and can keep every intermediate tensor, so outputs
can be compared layer by layer.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import McugenError, one_line
from .tflite.loader import TFLiteModel

ORACLES = ("litert", "tflm")
LITERT_RESOLVERS = ("reference", "builtin", "default")


def import_tf():
    """TensorFlow, imported with its native start-up logging silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .keras_loader import _native_stderr_silenced, import_keras

    import_keras()
    with _native_stderr_silenced():
        import tensorflow as tf
    return tf


@dataclass
class OracleRun:
    all_outputs: list[np.ndarray]  # per model output: (N, *IR output shape) int8 or int16
    tensors: dict[int, np.ndarray]  # TFLite tensor index -> (N, *shape) of its type, when asked for

    @property
    def outputs(self) -> np.ndarray:
        """The output of a one-output model."""
        if len(self.all_outputs) != 1:
            raise ValueError(f"the model has {len(self.all_outputs)} outputs: use all_outputs")
        return self.all_outputs[0]


class _Feeder:
    """Turns IR int8 inputs into what each of the file's input tensors takes,
    and reads each int8 output back (through DEQUANTIZE's input, or
    requantized). Inputs and outputs in the file's order, the IR's too."""

    def __init__(self, tm: TFLiteModel):
        self.tm = tm
        g = tm.graph
        self.in_q = [g.q(t) for t in g.inputs]
        self.out_q = [g.q(t) for t in g.outputs]
        self.in_types = [g.tensors[t].np_dtype for t in g.inputs]
        self.out_types = [g.tensors[t].dtype for t in g.outputs]
        self.in_float = tm.inputs_float or [tm.input_is_float]
        self.out_float = tm.outputs_float or [tm.output_is_float]

    def feed(self, k: int, xq1: np.ndarray, shape) -> np.ndarray:
        if self.in_float[k]:
            return self.in_q[k].dequantize(xq1).astype(np.float32).reshape(shape)
        return np.asarray(xq1).astype(self.in_types[k]).reshape(shape)

    def output(self, k: int, y: np.ndarray) -> np.ndarray:
        if self.out_float[k]:
            return self.out_q[k].quantize(y, self.out_types[k])
        return np.asarray(y)


def litert_api():
    """(Interpreter class, OpResolverType, which package): ai_edge_litert
    unless MCUGEN_LITERT=tensorflow or it is missing, then TensorFlow's."""
    if os.environ.get("MCUGEN_LITERT", "litert") != "tensorflow":
        try:
            from ai_edge_litert import interpreter as lite
        except ImportError:
            pass
        else:
            return lite.Interpreter, lite.OpResolverType, "ai_edge_litert"
    tf = import_tf()
    return tf.lite.Interpreter, tf.lite.experimental.OpResolverType, "tensorflow"


def run_litert(tm: TFLiteModel, xq, tensors: list[int] = (), resolver: str = "reference") -> OracleRun:
    for op in tm.graph.ops:  # kernels LiteRT would crash or stop on, refused before it runs
        why = op.litert_refusal(tm.graph) if hasattr(op, "litert_refusal") else None
        if why:
            raise McugenError(f"LiteRT cannot run the model: {why}")
    interpreter, types, _ = litert_api()
    kind = {"reference": types.BUILTIN_REF, "builtin": types.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            "default": types.AUTO}[resolver]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            it = interpreter(model_content=tm.model_bytes, experimental_op_resolver_type=kind,
                             experimental_preserve_all_tensors=bool(tensors))
            it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise McugenError(f"LiteRT cannot run the model: {one_line(e)}") from None
    feeder = _Feeder(tm)
    try:
        din = _by_file_order(it.get_input_details(), tm.input_indices or [tm.input_index])
        dout = _by_file_order(it.get_output_details(), tm.output_indices or [tm.output_index])
    except UnicodeDecodeError:  # LiteRT's Python wrapper decodes tensor names; TFLite does not require UTF-8
        raise McugenError("LiteRT cannot run the model: its Python interpreter cannot decode the name of an "
                          "input or output tensor (not UTF-8)") from None
    xs = tm.graph.input_arrays(xq)
    outs, layers = [[] for _ in dout], {i: [] for i in tensors}
    for n in range(len(xs[0])):
        for k, d in enumerate(din):
            it.set_tensor(d["index"], feeder.feed(k, xs[k][n], d["shape"]))
        it.invoke()
        for k, d in enumerate(dout):
            outs[k].append(feeder.output(k, it.get_tensor(d["index"])))
        for i in tensors:
            layers[i].append(np.array(it.get_tensor(i)))
    return _result(tm, outs, layers)


def _by_file_order(details: list[dict], indices: list[int]) -> list[dict]:
    """The interpreter's input (or output) details in the subgraph's order:
    LiteRT lists them by tensor index."""
    by_index = {int(d["index"]): d for d in details}
    if all(i in by_index for i in indices):
        return [by_index[i] for i in indices]
    return list(details)


def run_tflm(tm: TFLiteModel, xq, tensors: list[int] = ()) -> OracleRun:
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:  # pragma: no cover - a dependency
        raise McugenError("the tflite-micro package is not installed (pip install tflite-micro)") from None
    g = tm.graph
    arena = 1 << 20
    arena += 4 * sum(t.size for t in g.tensors.values()) + 4 * len(tm.model_bytes)
    config = runtime.InterpreterConfig.kPreserveAllTensors if tensors else runtime.InterpreterConfig.kAllocationRecording
    with _quiet_fd2():
        try:
            it = runtime.Interpreter.from_bytes(tm.model_bytes, arena_size=arena, intrepreter_config=config)
        except (RuntimeError, ValueError) as e:
            raise McugenError(f"TFLM cannot run the model: {one_line(e)}") from None
    feeder = _Feeder(tm)
    xs = g.input_arrays(xq)
    shapes = [it.get_input_details(k)["shape"] for k in range(len(xs))]
    outs, layers = [[] for _ in g.outputs], {i: [] for i in tensors}
    for n in range(len(xs[0])):
        for k, shape in enumerate(shapes):
            it.set_input(feeder.feed(k, xs[k][n], shape), k)
        it.invoke()
        for k in range(len(g.outputs)):
            outs[k].append(feeder.output(k, it.get_output(k)))
        for i in tensors:
            t = it.GetTensor(i, 0)  # {'dtype', 'shape', 'tensor_data'}
            layers[i].append(np.array(t["tensor_data"] if isinstance(t, dict) else t))
    return _result(tm, outs, layers)


def _result(tm: TFLiteModel, outs, layers) -> OracleRun:
    g = tm.graph
    results = []
    for t, ys in zip(g.output_tensors, outs):
        n = len(ys)
        results.append(np.stack(ys).reshape((n,) + t.shape) if n else np.zeros((0,) + t.shape, np.int8))
    n = len(outs[0]) if outs else 0
    return OracleRun(results, {i: np.stack(v).reshape(n, -1) for i, v in layers.items() if v})


def run_oracle(name: str, tm: TFLiteModel, xq, tensors: list[int] = (), resolver: str = "reference") -> OracleRun:
    if name == "litert":
        return run_litert(tm, xq, tensors, resolver)
    if name == "tflm":
        return run_tflm(tm, xq, tensors)
    raise McugenError(f"unknown oracle {name!r} (known: {', '.join(ORACLES)})")


@contextlib.contextmanager
def _quiet_fd2():
    """TFLM prints allocation notes on the C++ side's stderr."""
    from .keras_loader import _native_stderr_silenced

    with _native_stderr_silenced():
        yield
