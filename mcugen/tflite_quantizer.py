"""``--quantizer tflite``: quantize a Keras model with TFLiteConverter itself
(full int8: int8 input and output, per-channel weights, the calibration
samples as representative dataset) and build from the resulting flatbuffer,
so the generated C reproduces TFLite's own quantization byte for byte.

How it differs from mcugen's own quantizer (``mcugen/quantize.py``): the
converter picks activation ranges with its own calibration (and nudges some:
it gives a Concatenation's inputs its output's range, requantizing where
needed), keeps pooling and concatenation as TFLite ops, expresses
GlobalAveragePooling as MEAN (requantizing to its own output range), keeps an
unfused BatchNormalization as MUL + ADD, and stores its own per-channel
weight scales and int32 biases. mcugen's quantizer calibrates on the float IR
graph after folding and fusing, and uses its own kernels' rules (pooling at the
input's scale, BatchNormalization as a 1x1 depthwise convolution).
"""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np

from .errors import McugenError


# Keras recurrent layers that mcugen's own quantizer runs (mcugen/ops/gru.py,
# simple_rnn.py, bidirectional.py) and TFLiteConverter turns into a WHILE loop
# over TensorList ops (unroll=False) or a time-major TRANSPOSE with one
# UNPACK / PACK per step (unroll=True), neither of which mcugen runs.
RECURRENT_LAYERS = ("GRU", "SimpleRNN")
WAY_OUT = "build it with mcugen's own quantizer (--quantizer mcugen, the default), which runs LSTM, GRU, " \
    "SimpleRNN and Bidirectional"


def refuse_recurrent(model, option: str = "--quantizer tflite") -> None:
    """Refuse, naming the layer, the WHILE op and the way out, a model whose
    recurrent layers the converter would turn into what mcugen cannot run."""
    for layer in getattr(model, "layers", []):
        inner = getattr(layer, "forward_layer", layer)  # Bidirectional: its wrapped layer
        cls = type(inner).__name__
        if cls not in RECURRENT_LAYERS:
            continue
        what = ("a WHILE loop over TensorList ops" if not inner.get_config().get("unroll")
                else "one UNPACK/PACK per step around a time-major TRANSPOSE (unroll=True)")
        raise McugenError(f"{option}: layer {layer.name!r} ({type(layer).__name__}) converts to {what}, "
                          f"which mcugen does not run; {WAY_OUT}")


def convert_keras(model, samples, per_channel: bool = True, int16: bool = False) -> bytes:
    """A fully int8 ``.tflite`` flatbuffer of a Keras model, calibrated on
    ``samples`` (N, *input shape), or for a model with several inputs a list
    of such batches in ``model.inputs`` order. ``int16``: TFLite's 16x8
    instead (int16 activations, symmetric, zero point 0; int8 weights; int64
    biases), with int16 input and output."""
    from .oracles import import_tf
    from .keras_loader import _native_stderr_silenced

    option = f"--quantizer {'tflite-16x8' if int16 else 'tflite'}"
    refuse_recurrent(model, option)
    tf = import_tf()
    xs = [np.asarray(x, dtype=np.float32) for x in (samples if isinstance(samples, (list, tuple)) else [samples])]
    for layer in model.layers:
        # TFLiteConverter dies (SIGSEGV) on a Keras 3 LSTM whose batch size is fixed.
        if type(layer).__name__ == "LSTM" and type(layer).__module__.startswith("keras.") \
                and any(t.shape[0] is not None for t in model.inputs):
            raise McugenError(f"TFLiteConverter cannot convert layer {layer.name!r} (a Keras 3 LSTM with a fixed "
                              "batch size: the converter crashes on it)")

    # Several inputs: by name, since the converter's signature orders them its
    # own way (not as model.inputs); the keys are the Input layers' names.
    names = [t._keras_history[0].name for t in model.inputs] if len(xs) > 1 else []

    def representative():
        for i in range(len(xs[0])):
            yield dict(zip(names, (x[i : i + 1] for x in xs))) if names else [xs[0][i : i + 1]]

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _native_stderr_silenced():
        warnings.simplefilter("ignore")
        try:
            conv = tf.lite.TFLiteConverter.from_keras_model(model)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative
            if int16:
                conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
                conv.inference_input_type = conv.inference_output_type = tf.int16
            else:
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                conv.inference_input_type = conv.inference_output_type = tf.int8
            if not per_channel:
                conv._experimental_disable_per_channel = True
            return bytes(conv.convert())
        except Exception as e:  # the converter raises many kinds
            if "TensorList" in str(e):
                raise McugenError(f"{option}: TFLiteConverter turns a recurrent layer into a WHILE loop "
                                  f"over TensorList ops, which mcugen does not run; {WAY_OUT}") from None
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise McugenError(f"TFLiteConverter could not quantize the model: {first[:300]}") from None
