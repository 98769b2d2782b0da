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

Both run one input at a time (batch 1, as the model was converted) and can
keep every intermediate tensor, so outputs can be compared layer by layer.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import McugenError, one_line
from .tflite_loader import TFLiteModel

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
    outputs: np.ndarray  # (N, *IR output shape) int8
    tensors: dict[int, np.ndarray]  # TFLite tensor index -> (N, *shape) int8, when asked for


class _Feeder:
    """Turns IR int8 inputs into what the file's input tensor takes, and reads
    the int8 output back (through DEQUANTIZE's input, or requantized)."""

    def __init__(self, tm: TFLiteModel):
        self.tm = tm
        g = tm.graph
        self.in_q, self.out_q = g.input.q, g.output.q
        self.out_ir_index = tm.tensor_index[g.outputs[0]]

    def feed(self, xq1: np.ndarray, shape) -> np.ndarray:
        if self.tm.input_is_float:
            return self.in_q.dequantize(xq1).astype(np.float32).reshape(shape)
        return np.asarray(xq1, dtype=np.int8).reshape(shape)

    def output(self, y: np.ndarray) -> np.ndarray:
        if self.tm.output_is_float:
            return self.out_q.quantize(y)
        return np.asarray(y, dtype=np.int8)


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


def run_litert(tm: TFLiteModel, xq: np.ndarray, tensors: list[int] = (), resolver: str = "reference") -> OracleRun:
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
        din = it.get_input_details()[0]
        dout = it.get_output_details()[0]
    except UnicodeDecodeError:  # LiteRT's Python wrapper decodes tensor names; TFLite does not require UTF-8
        raise McugenError("LiteRT cannot run the model: its Python interpreter cannot decode the name of the "
                          "input or output tensor (not UTF-8)") from None
    outs, layers = [], {i: [] for i in tensors}
    for x in xq:
        it.set_tensor(din["index"], feeder.feed(x, din["shape"]))
        it.invoke()
        outs.append(feeder.output(it.get_tensor(dout["index"])))
        for i in tensors:
            layers[i].append(np.array(it.get_tensor(i), dtype=np.int8))
    return _result(tm, outs, layers)


def run_tflm(tm: TFLiteModel, xq: np.ndarray, tensors: list[int] = ()) -> OracleRun:
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
    shape = it.get_input_details(0)["shape"]
    outs, layers = [], {i: [] for i in tensors}
    for x in xq:
        it.set_input(feeder.feed(x, shape), 0)
        it.invoke()
        outs.append(feeder.output(it.get_output(0)))
        for i in tensors:
            t = it.GetTensor(i, 0)  # {'dtype', 'shape', 'tensor_data'}
            layers[i].append(np.array(t["tensor_data"] if isinstance(t, dict) else t, dtype=np.int8))
    return _result(tm, outs, layers)


def _result(tm: TFLiteModel, outs, layers) -> OracleRun:
    g = tm.graph
    n = len(outs)
    outputs = np.stack(outs).reshape((n,) + g.output.shape) if n else np.zeros((0,) + g.output.shape, np.int8)
    return OracleRun(outputs, {i: np.stack(v).reshape(n, -1) for i, v in layers.items() if v})


def run_oracle(name: str, tm: TFLiteModel, xq: np.ndarray, tensors: list[int] = (), resolver: str = "reference") -> OracleRun:
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
